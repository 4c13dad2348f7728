#!/usr/bin/env bash
# The example units (tools/systemd) and socket activation, where systemd is
# not PID 1: systemd-analyze verify on the units, then the service's own
# command line started by systemd-socket-activate on the socket unit's
# ListenSequentialPacket= path, a reader connecting; and a stream socket
# (ListenStream=) refused at once, naming ListenSequentialPacket=.
#   tests/systemd_test.sh BUILD_TOOLS_DIR SOURCE_SYSTEMD_DIR
set -euo pipefail
M=$1/mmsync
gen=$1/systemd # the units configured by the build (ExecStart=)
src=$2
source "$(dirname "$0")/harness.sh"
harness_begin systemd
strict() { [ "${MMSYNC_TEST_STRICT:-0}" = 1 ]; }

for tool in systemd-analyze systemd-socket-activate python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "missing $tool"
		strict && exit 1 || exit 77
	fi
done

# 1. The units, as instances of segment $i (its BPF pins must not meet
# another test's), with ExecStart= naming this build's mmsync (the
# configured path is where it would be installed).
i=sdtest$$
units=$tmp/units
mkdir "$units"
cp "$src/mmsync@.socket" "$units/mmsync@$i.socket"
cp "$gen/mmsync@.service" "$units/mmsync@$i.service"
cp "$gen/mmsync-metrics.service" "$src/mmsync-metrics.timer" "$units/"
sed -i "s|^ExecStart=[^ ]*/mmsync |ExecStart=$M |" "$units"/*.service
check "the configured units run mmsync from the install's bindir" \
	"grep -q '^ExecStart=/.*/bin/mmsync serve ' '$gen/mmsync@.service' && grep -q '^ExecStart=/.*/bin/mmsync stat --all --prom --output ' '$gen/mmsync-metrics.service'"
rc=0
(cd "$units" && systemd-analyze verify --man=no "mmsync@$i.socket" "mmsync@$i.service" \
	mmsync-metrics.service mmsync-metrics.timer) > "$tmp/verify.out" 2>&1 || rc=$?
check "systemd-analyze verify accepts the units, without a warning" \
	"[ $rc -eq 0 ] && [ ! -s '$tmp/verify.out' ] || { sed 's/^/#   /' '$tmp/verify.out'; false; }"

# 2. What the units do: the socket unit's path and the service's command
# line, moved under $tmp (/run/mmsync -> $tmp/run, /var/lib/mmsync -> $tmp/lib).
# systemd puts the instance name for %i.
listen=$(sed -n "s/^ListenSequentialPacket=//; T; s/%i/$i/g; p" "$units/mmsync@$i.socket")
exec_line=$(sed -n "s/^ExecStart=//; T; s/%i/$i/g; p" "$units/mmsync@$i.service")
check "the socket unit is a sequenced-packet socket" "[ '$listen' = /run/mmsync/$i.sock ]"
sock=${listen/\/run\/mmsync/$tmp/run}
read -r -a cmd <<< "${exec_line//\/var\/lib\/mmsync/$tmp/lib}"
mkdir "$tmp/run" "$tmp/lib"
head -c 5000 /dev/urandom > "$tmp/lib/$i"
systemd-socket-activate --seqpacket -l "$sock" "${cmd[@]}" > "$tmp/act.out" 2> "$tmp/act.err" &
act=$!; pids+=("$act")
check "systemd-socket-activate listens on the unit's path" "wait_for '[ -S $sock ]'"
check "mmsync serve is not started before a reader comes" "! grep -q published '$tmp/act.out'"
rc=0; timeout 20 "$M" read --socket "$sock" > "$tmp/read1" 2> "$tmp/read1.err" || rc=$?
check "the first reader starts mmsync serve on the passed socket and reads the file" \
	"[ $rc -eq 0 ] && cmp -s '$tmp/lib/$i' '$tmp/read1' || { sed 's/^/#   /' '$tmp/read1.err' '$tmp/act.err'; false; }"
check "serve runs as the unit's command (systemd-socket-activate exec'd it)" \
	"grep -q '^published seq=1 bytes=5000' '$tmp/act.out' && tr '\\0' ' ' < /proc/$act/cmdline | grep -q '^$M serve --name $i '"
head -c 6000 /dev/urandom > "$tmp/lib/$i"
check "a rewrite of the file is published" "wait_for 'grep -q \"^published seq=2 bytes=6000\" $tmp/act.out'"
"$M" read --socket "$sock" > "$tmp/read2"
check "and read by the next reader" "cmp -s '$tmp/lib/$i' '$tmp/read2'"
rc=0; stop "$act" TERM || rc=$?
check "serve stops cleanly on SIGTERM (systemctl stop)" "[ $rc -eq 0 ]"

# 3. A stream socket (a .socket unit with ListenStream=): serve fails at
# once, before it publishes, saying which directive the unit needs.
systemd-socket-activate -l "$tmp/stream.sock" "${cmd[@]}" > "$tmp/stream.out" 2> "$tmp/stream.err" &
act=$!; pids+=("$act")
wait_for "[ -S $tmp/stream.sock ]"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$tmp/stream.sock"
check "serve on a stream socket exits" "wait_for '! kill -0 $act 2>/dev/null'"
rc=0; wait "$act" || rc=$?
check "with status 1, naming ListenSequentialPacket=, nothing published" \
	"[ $rc -eq 1 ] && grep -q 'is SOCK_STREAM, not SOCK_SEQPACKET: its .socket unit must say ListenSequentialPacket=' '$tmp/stream.err' && ! grep -q published '$tmp/stream.out' || { sed 's/^/#   /' '$tmp/stream.err'; false; }"

# 4. No --socket and no socket from systemd: a usage error, at once.
rc=0; "$M" serve "$tmp/lib/$i" > /dev/null 2> "$tmp/none.err" || rc=$?
check "serve with neither --socket nor LISTEN_FDS: exit 2, says so" \
	"[ $rc -eq 2 ] && grep -q 'no --socket PATH, and no socket from systemd' '$tmp/none.err'"

[ $failed -eq 0 ] && echo "# all checks passed"
exit $failed
