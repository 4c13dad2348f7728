# What the shell tests share (sourced): a scratch directory under /dev/shm,
# background processes killed at exit, TAP-like checks.
#   harness_begin NAME   makes $tmp and the exit trap
#   pids+=($!)           a process to kill at exit
#   check DESCRIPTION COMMAND   "ok - " or "not ok - " (then $failed=1)
#   wait_for COMMAND     polls COMMAND for up to 4 s
harness_begin() {
	tmp=$(mktemp -d "/dev/shm/mmsync-$1-XXXXXX")
	pids=()
	failed=0
	trap harness_cleanup EXIT
}
harness_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; failed=1; fi; }
wait_for() { for _ in $(seq 1 200); do eval "$1" && return 0; sleep 0.02; done; return 1; }
