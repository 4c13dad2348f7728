# What the shell tests share (sourced): a scratch directory under /dev/shm,
# background processes killed at exit, TAP-like checks.
#   harness_begin NAME   makes $tmp and the exit trap
#   pids+=($!)           a process to kill at exit
#   check DESCRIPTION COMMAND   "ok - " or "not ok - " (then $failed=1)
#   wait_for COMMAND     polls COMMAND until it succeeds, for up to
#                        $WAIT_S (30) seconds: what another process must do
#                        may take long on a loaded machine; a pass is quick
#                        (2 s once a check has failed)
#   stop PID [SIGNAL]    signals PID (TERM) and waits for it, up to $WAIT_S
#                        seconds, then kills it; its exit status
harness_begin() {
	tmp=$(mktemp -d "/dev/shm/mmsync-$1-XXXXXX")
	pids=()
	failed=0
	trap harness_cleanup EXIT
	trap 'exit 143' TERM INT # meson's timeout: the EXIT trap still runs
}
harness_cleanup() { # TERM (a server removes its pins), then KILL what is left
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		WAIT_S=5 wait_for "! kill -0 $p 2>/dev/null" || kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
WAIT_S=${WAIT_S:-30}
check() { if eval "$2"; then echo "ok - $1"; else echo "not ok - $1"; failed=1; fi; }
wait_for() { # after a failed check, briefly: the test fails, and at once
	local end=$((SECONDS + (failed ? 2 : WAIT_S)))
	until eval "$1"; do
		((SECONDS < end)) || return 1
		sleep 0.02
	done
}
stop() {
	local rc=0
	kill "-${2:-TERM}" "$1" 2>/dev/null || true
	if ! wait_for "! kill -0 $1 2>/dev/null"; then
		echo "# process $1 did not stop in $WAIT_S s: killed"
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || rc=$?
	return $rc
}
