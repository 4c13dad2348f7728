#!/usr/bin/env bash
# mmsync serve / read / stat --socket, end to end.
#   tests/serve_test.sh BUILD_TOOLS_DIR
set -euo pipefail
M=$1/mmsync
source "$(dirname "$0")/harness.sh"
harness_begin serve

sock=$tmp/sock
head -c 3000 /dev/urandom > "$tmp/data"
"$M" serve --socket "$sock" --capacity 4096 --name demo "$tmp/data" > "$tmp/serve.out" 2> "$tmp/serve.err" &
server=$!; pids+=("$server")
check "serve publishes the file" "wait_for 'grep -q \"published seq=1 bytes=3000\" $tmp/serve.out'"
# serve listens once the first version is published (and said so): wait.
check "serve made the socket" "wait_for '[ -S $sock ]'"
"$M" read --socket "$sock" > "$tmp/read1"
check "read gives the file byte for byte" "cmp -s '$tmp/data' '$tmp/read1'"

"$M" read --socket "$sock" --watch > "$tmp/watch.out" &
watcher=$!; pids+=("$watcher")
check "watch prints the first version" "wait_for 'grep -q \"^seq=1 bytes=3000 xxh3=\" $tmp/watch.out'"
want=$(xxhsum -H3 "$tmp/data" | awk '{print $NF}')
check "watch prints the payload's XXH3" "grep -q \"xxh3=$want\" '$tmp/watch.out'"

head -c 2000 /dev/urandom > "$tmp/data" # rewritten in place
check "a rewrite publishes again" "wait_for 'grep -q \"published seq=2 bytes=2000\" $tmp/serve.out'"
check "watch sees it" "wait_for 'grep -q \"^seq=2 bytes=2000 \" $tmp/watch.out'"
head -c 10000 /dev/urandom > "$tmp/new" && mv "$tmp/new" "$tmp/data" # replaced, larger than the capacity
check "a replacement publishes again" "wait_for 'grep -q \"published seq=3 bytes=10000\" $tmp/serve.out'"
check "watch follows into the new generation" "wait_for 'grep -q \"^seq=3 bytes=10000 \" $tmp/watch.out'"
"$M" read --socket "$sock" > "$tmp/read3"
check "read gives the replacement" "cmp -s '$tmp/data' '$tmp/read3'"

json=$("$M" stat --socket "$sock" --json)
check "stat --json has the figures" "python3 -c '
import json, sys
s = json.loads(sys.argv[1])
assert set(s) == {\"name\", \"seq\", \"version\", \"version_str\", \"idx\", \"size\", \"generation\", \"capacity\", \"readers\", \"live_slots\", \"evictions\", \"reclaimed\", \"disconnects\"}, s
assert s[\"version_str\"] == str(s[\"version\"]), s
assert s[\"name\"] == \"demo\" and s[\"seq\"] == 3 and s[\"size\"] == 10000 and s[\"generation\"] == 2 and s[\"capacity\"] >= 10000, s
assert s[\"idx\"] == s[\"version\"] & 1 and (s[\"version\"] >> 1) & ((1 << 39) - 1) == 10000, s
assert len(s[\"readers\"]) == 2 and s[\"live_slots\"] >= 1 and s[\"evictions\"] == 0, s
' '$json'"
text=$("$M" stat --socket "$sock")
check "stat text has the same seq and generation" "grep -qx 'seq: 3' <<<'$text' && grep -qx 'generation: 2' <<<'$text'"

# An idle watcher makes no system call but its wait: strace -f from its
# start; between the version it printed and the next, a second apart, one
# poll(2), which the publish ends.
strace -f -qq -o "$tmp/watch.strace" "$M" read --socket "$sock" --watch > "$tmp/watch3.out" &
straced=$!; pids+=("$straced")
check "a watcher under strace prints the version" "wait_for 'grep -q \"^seq=3 \" $tmp/watch3.out'"
sleep 1
head -c 3333 /dev/urandom > "$tmp/data"
check "and wakes for the next version" "wait_for 'grep -q \"^seq=4 bytes=3333 \" $tmp/watch3.out'"
cat > "$tmp/idle.py" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
last = max(i for i, l in enumerate(lines) if re.search(r'write\(1, "seq=3 ', l))
assert re.search(r'^\d+ +(poll|ppoll)\(.* = 1 ', lines[last + 1]), lines[last + 1:last + 3]
PY
check "idle, it made one system call: poll" "python3 '$tmp/idle.py' '$tmp/watch.strace'"
# strace leaves its tracee running when it is stopped: stop the tracee.
tracee=$(pgrep -P "$straced" || true)
[ -z "$tracee" ] || stop "$tracee" || true
stop "$straced" || true

# wait --socket: 0 when a version comes, 1 at the timeout, 2 on an error.
rc=0; "$M" wait --socket "$sock" --timeout 0.2 || rc=$?
check "wait --socket, nothing new: exit 1 at the timeout" "[ $rc -eq 1 ]"
"$M" wait --socket "$sock" --timeout 30 &
waiter=$!; pids+=("$waiter")
check "wait --socket sleeps in a futex" "wait_for 'grep -q futex /proc/$waiter/wchan'"
head -c 1234 /dev/urandom > "$tmp/data"
rc=0; wait "$waiter" || rc=$?
check "wait --socket: exit 0 after a publish" "[ $rc -eq 0 ]"
rc=0; "$M" wait --socket "$tmp/nothing" 2> "$tmp/wait.err" || rc=$?
check "wait --socket, no server: exit 2 with a message" "[ $rc -eq 2 ] && grep -q '^mmsync: $tmp/nothing: ' '$tmp/wait.err'"

stop "$watcher" || true
rc=0; stop "$server" TERM || rc=$?
check "serve stops cleanly on SIGTERM" "[ $rc -eq 0 ]"
check "and removes its socket" "[ ! -e '$sock' ]"

# A watcher outlives its server: a server SIGKILLed and started again on
# the same socket is found again by `read --watch`, by itself.
"$M" serve --socket "$sock" "$tmp/data" > /dev/null 2>&1 &
server=$!; pids+=("$server")
wait_for "[ -S '$sock' ]"
"$M" read --socket "$sock" --watch > "$tmp/watch2.out" 2> "$tmp/watch2.err" &
watcher=$!; pids+=("$watcher")
check "watch sees the first server" "wait_for 'grep -q \"^seq=1 \" $tmp/watch2.out'"
stop "$server" KILL || true
check "watch notices the writer has gone" "wait_for 'grep -q \"writer has gone\" $tmp/watch2.err'"
head -c 4321 /dev/urandom > "$tmp/data"
"$M" serve --socket "$sock" "$tmp/data" > /dev/null 2>&1 &
server=$!; pids+=("$server")
check "and follows the restarted one" "wait_for 'grep -q \"^seq=1 bytes=4321 \" $tmp/watch2.out'"
check "saying so" "grep -q reconnected '$tmp/watch2.err'"
stop "$watcher" || true
stop "$server" INT || true

# Refused peers: no descriptor, a clear error, the server goes on.
"$M" serve --socket "$sock" --allow-uid 12345 "$tmp/data" > /dev/null 2> "$tmp/serve2.err" &
server=$!; pids+=("$server")
wait_for "[ -S '$sock' ]"
rc=0; "$M" read --socket "$sock" > /dev/null 2> "$tmp/refused.err" || rc=$?
check "a peer outside the allow-list is refused" "[ $rc -eq 1 ] && grep -q 'refused' '$tmp/refused.err'"
check "and logged by the server" "wait_for 'grep -q \"refused peer\" $tmp/serve2.err'"
check "the server is still up" "kill -0 $server"
stop "$server" INT || true

# FILE replaced by a FIFO: refused at once, the server goes on serving.
cp "$tmp/data" "$tmp/fifo_src"
"$M" serve --socket "$sock" "$tmp/fifo_src" > "$tmp/serve3.out" 2> "$tmp/serve3.err" &
server=$!; pids+=("$server")
wait_for "grep -q 'published seq=1' '$tmp/serve3.out'"
rm "$tmp/fifo_src" && mkfifo "$tmp/fifo_src"
check "a FIFO in FILE's place is refused" "wait_for 'grep -q \"fifo_src: not a regular file\" $tmp/serve3.err'"
rc=0; timeout 10 "$M" read --socket "$sock" > "$tmp/read4" || rc=$?
check "and readers are still served" "[ $rc -eq 0 ] && cmp -s '$tmp/data' '$tmp/read4'"
stop "$server" INT || true

# A squatter: a server of another uid on the name. Refused unless trusted.
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$tmp" && chmod 644 "$tmp/data"
	setpriv --reuid 54321 --regid 54321 --clear-groups "$M" serve --socket @mmsync-squat-$$ "$tmp/data" \
		> /dev/null 2>&1 &
	server=$!; pids+=("$server")
	wait_for "'$M' read --socket @mmsync-squat-$$ --any-writer > /dev/null 2>&1"
	rc=0; "$M" read --socket @mmsync-squat-$$ > /dev/null 2> "$tmp/squat.err" || rc=$?
	check "a writer of another uid is refused" "[ $rc -eq 1 ] && grep -q 'runs as uid 54321' '$tmp/squat.err'"
	"$M" read --socket @mmsync-squat-$$ --trust 54321 > "$tmp/read5"
	check "read --trust UID reads it" "cmp -s '$tmp/data' '$tmp/read5'"
	"$M" read --socket @mmsync-squat-$$ --any-writer > "$tmp/read6"
	check "read --any-writer too" "cmp -s '$tmp/data' '$tmp/read6'"
	rc=0; "$M" stat --socket @mmsync-squat-$$ > /dev/null 2>&1 || rc=$?
	check "stat --socket refuses it too" "[ $rc -eq 1 ]"
	"$M" stat --socket @mmsync-squat-$$ --trust 54321 > /dev/null
	check "stat --socket --trust UID reads it" "[ $? -eq 0 ]"
	stop "$server" INT || true
elif [ "${MMSYNC_TEST_STRICT:-0}" = 1 ]; then
	check "a squatter of another uid needs root (strict)" false
fi

# Figures a reader asks for: the asker is always counted in live_slots,
# whenever the writer last refreshed them; readers that close are
# disconnects, readers that die are reclaimed.
"$M" serve --socket "$sock" --name "figures$$" "$tmp/data" > "$tmp/fig.out" 2>&1 &
server=$!; pids+=("$server")
wait_for "[ -S '$sock' ]"
figure() { # one stat --socket (a reader that closes), counted in $tmp/asks
	echo >> "$tmp/asks"
	"$M" stat --socket "$sock" --json | python3 -c "import json, sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"
}
bad=
for k in $(seq 30); do
	n=$(figure live_slots)
	[ "$n" = 1 ] || bad="$bad $k:$n"
	[ $((k % 3)) -ne 0 ] || sleep 0.05 # some just after a refresh (every 100 ms), some not
done
check "stat --socket, no other reader: live_slots 1 in 30 asks out of 30 (wrong:$bad)" "[ -z '$bad' ]"
"$M" read --socket "$sock" > /dev/null
"$M" read --socket "$sock" > /dev/null
check "two reads and 31 stats that closed: 33 disconnects, no dead reader" \
	"wait_for '[ \$(figure disconnects) = 33 ]' && [ \$(figure reclaimed) = 0 ]"
"$M" read --socket "$sock" --watch > "$tmp/killed.out" &
killed=$!; pids+=("$killed")
wait_for "grep -q '^seq=1 ' '$tmp/killed.out'"
check "a reader connected: live_slots 2 (it and the asker)" "[ \$(figure live_slots) = 2 ]"
kill -KILL "$killed"; wait "$killed" 2>/dev/null || true
check "a reader killed: one dead reader reclaimed" "wait_for '[ \$(figure reclaimed) = 1 ]'"
# disconnects seen by an ask: the 2 reads and the asks before it
check "and not counted as a disconnect: 2 reads and every earlier ask are all" \
	"wait_for '[ \$(figure disconnects) = \$((\$(wc -l < $tmp/asks) + 1)) ]'"
stop "$server" INT || true

# The socket's mode: 0660 by default, --mode OCTAL, and with an allow-list
# 0666 unless --mode says otherwise, so that the users listed reach it.
mode_of() { stat -c %a "$sock"; }
"$M" serve --socket "$sock" --mode 0640 "$tmp/data" > /dev/null 2>&1 &
server=$!; pids+=("$server")
check "--mode 0640: the socket is 0640" "wait_for '[ -S $sock ]' && [ \$(mode_of) = 640 ]"
stop "$server" INT || true
"$M" serve --socket "$sock" "$tmp/data" > /dev/null 2>&1 &
server=$!; pids+=("$server")
check "no --mode: 0660" "wait_for '[ -S $sock ]' && [ \$(mode_of) = 660 ]"
stop "$server" INT || true
rc=0; "$M" serve --socket "$sock" --mode 0999 "$tmp/data" 2> "$tmp/mode.err" || rc=$?
check "--mode 0999: a usage error naming it" "[ $rc -eq 2 ] && grep -q -- '--mode takes an octal' '$tmp/mode.err'"
if [ "$(id -u)" -eq 0 ]; then
	chmod 755 "$tmp" && chmod 644 "$tmp/data"
	as_nobody() { setpriv --reuid 65534 --regid 65534 --clear-groups "$@"; }
	"$M" serve --socket "$sock" --allow-uid 65534 "$tmp/data" > /dev/null 2>&1 &
	server=$!; pids+=("$server")
	check "--allow-uid 65534: the socket is 0666" "wait_for '[ -S $sock ]' && [ \$(mode_of) = 666 ]"
	rc=0; as_nobody "$M" read --socket "$sock" > "$tmp/nobody.out" 2> "$tmp/nobody.err" || rc=$?
	check "and uid 65534 reads through it" "[ $rc -eq 0 ] && cmp -s '$tmp/data' '$tmp/nobody.out' || { sed 's/^/#   /' '$tmp/nobody.err'; false; }"
	rc=0; setpriv --reuid 54321 --regid 54321 --clear-groups "$M" read --socket "$sock" > /dev/null 2> "$tmp/other.err" || rc=$?
	check "a uid not in the list reaches the socket and is refused by the writer" \
		"[ $rc -eq 1 ] && grep -q 'refused this peer' '$tmp/other.err'"
	stop "$server" INT || true
	"$M" serve --socket "$sock" --allow-uid 65534 --mode 0660 "$tmp/data" > /dev/null 2>&1 &
	server=$!; pids+=("$server")
	wait_for "[ -S '$sock' ]"
	rc=0; as_nobody "$M" read --socket "$sock" > /dev/null 2> "$tmp/nobody2.err" || rc=$?
	check "--allow-uid 65534 --mode 0660: that user cannot reach the socket (EACCES)" \
		"[ $rc -eq 1 ] && grep -q 'Permission denied' '$tmp/nobody2.err'"
	stop "$server" INT || true
	chmod 700 "$tmp"

	# A reader in a network namespace of its own (a sandbox: bwrap
	# --unshare-all) reaches a path socket, never an abstract one.
	"$M" serve --socket "$sock" --name "netns$$" "$tmp/data" > /dev/null 2>&1 &
	server=$!; pids+=("$server")
	"$M" serve --socket "@mmsync-netns-$$" --name "netnsa$$" "$tmp/data" > /dev/null 2>&1 &
	server2=$!; pids+=("$server2")
	wait_for "[ -S '$sock' ] && '$M' read --socket @mmsync-netns-$$ > /dev/null 2>&1"
	rc=0; unshare --net "$M" read --socket "$sock" > "$tmp/netns.out" || rc=$?
	check "a reader in its own network namespace reads a path socket" "[ $rc -eq 0 ] && cmp -s '$tmp/data' '$tmp/netns.out'"
	rc=0; unshare --net "$M" read --socket "@mmsync-netns-$$" > /dev/null 2> "$tmp/netns.err" || rc=$?
	check "but not an abstract one, and is told why" \
		"[ $rc -eq 1 ] && grep -q 'reachable only in the writer.s network namespace' '$tmp/netns.err'"
	stop "$server" INT || true
	stop "$server2" INT || true
elif [ "${MMSYNC_TEST_STRICT:-0}" = 1 ]; then
	check "readers of another uid need root (strict)" false
fi

# Progress of serve's first publish of a large file: on a terminal only.
head -c $((40 << 20)) /dev/urandom > "$tmp/big"
cat > "$tmp/pty.sh" <<SH
"$M" serve --socket "$tmp/big.sock" "$tmp/big" &
while [ ! -S "$tmp/big.sock" ]; do sleep 0.05; done
kill -INT \$!; wait \$!
SH
rc=0; timeout 60 script -qec "bash $tmp/pty.sh" /dev/null > "$tmp/pty.out" 2>&1 || rc=$?
check "serve on a terminal: progress of the first publish to 100 %, then published" \
	"[ $rc -eq 0 ] && grep -q 'mmsync: publishing: 40 / 40 MiB (100%)' '$tmp/pty.out' && grep -q 'published seq=1 bytes=41943040' '$tmp/pty.out'"
"$M" serve --socket "$tmp/big.sock" "$tmp/big" > "$tmp/big.out" 2> "$tmp/big.err" &
server=$!; pids+=("$server")
wait_for "[ -S '$tmp/big.sock' ]"
"$M" read --socket "$tmp/big.sock" > "$tmp/big.read"
check "not on a terminal: no progress, the same payload" "[ ! -s '$tmp/big.err' ] && cmp -s '$tmp/big' '$tmp/big.read'"
stop "$server" INT || true
rm -f "$tmp/big" "$tmp/big.read"

rc=0; "$M" read --socket "$tmp/nothing" 2> "$tmp/none.err" || rc=$?
check "no server: exit 1 with a message" "[ $rc -eq 1 ] && grep -q '^mmsync: $tmp/nothing: ' '$tmp/none.err'"
rc=0; "$M" serve --socket "$sock" --capacity $((1 << 40)) "$tmp/data" 2> "$tmp/cap.err" || rc=$?
check "--capacity past the largest payload: a usage error that names it" \
	"[ $rc -eq 2 ] && grep -q -- '--capacity is at most' '$tmp/cap.err'"
rc=0; "$M" serve "$tmp/data" 2>/dev/null || rc=$?
check "serve without --socket is a usage error" "[ $rc -eq 2 ]"

[ $failed -eq 0 ] && echo "# all checks passed"
exit $failed
