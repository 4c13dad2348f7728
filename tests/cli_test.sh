#!/usr/bin/env bash
# Tests of the mmsync command and the hello examples.
# usage: tests/cli_test.sh BUILD_TOOLS_DIR VECTORS_DIR
# MMSYNC_BUILT_WITH_BPF=0 (from meson): the build has no BPF (-Dbpf=disabled).
# The hello examples use the fixed prefix /tmp/hello_world: do not run this
# test in parallel with anything else that uses it.
# shellcheck disable=SC2016 # single-quoted eval strings expand when the check runs
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 BUILD_TOOLS_DIR VECTORS_DIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd)
VEC=$(cd "$2" && pwd)/mmap-sync
MMSYNC=$BIN/mmsync
T=$(mktemp -d /dev/shm/mmsync-cli.XXXXXX)
bg=() # background processes, killed at exit
trap 'for p in "${bg[@]}"; do kill -9 "$p" 2>/dev/null || :; done; rm -rf "$T"; rm -f /tmp/hello_world_*' EXIT
rm -f /tmp/hello_world_*
umask 007 # state files must come out 0660, data files 0640

fails=0
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
	local d=$1; shift
	if "$@"; then echo "ok - $d"; else echo "not ok - $d"; fails=$((fails + 1)); fi
}
run() { # run COMMAND...: sets rc, stdout in $T/out, stderr in $T/err
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
}
eq() { # eq GOT WANT
	[[ $1 == "$2" ]] || { printf '#   got:  %q\n#   want: %q\n' "$1" "$2"; return 1; }
}
expect() { # expect RC [STDOUT]: the last run exited RC and printed exactly STDOUT + "\n"
	eq "$rc" "$1" || { sed 's/^/#   stderr: /' "$T/err"; return 1; }
	[[ $# -ge 2 ]] || return 0
	if [[ -z $2 ]]; then : >"$T/want"; else printf '%s\n' "$2" >"$T/want"; fi
	cmp -s "$T/out" "$T/want" || { eq "$(od -c "$T/out")" "$(od -c "$T/want")"; return 1; }
}
err_starts() { # err_starts TEXT: stderr of the last run starts with TEXT
	eq "$(head -c ${#1} "$T/err")" "$1"
}
wait_for() { # wait_for COMMAND...: until COMMAND succeeds, for up to 60 s
	local i
	for ((i = 0; i < 1200; i++)); do "$@" && return 0; sleep 0.05; done
	return 1
}

# 1. put / cat round trips
head -c 0 /dev/urandom >"$T/in0"
head -c 36 /dev/urandom >"$T/in36"
head -c $((3 << 20)) /dev/urandom >"$T/in3145728"
for n in 0 36 3145728; do
	run "$MMSYNC" put "$T/p$n" "$T/in$n"
	check "put $n-byte file prints 'written: $n bytes | reset: false'" \
		expect 0 "written: $n bytes | reset: false"
	run "$MMSYNC" cat "$T/p$n"
	check "cat after $n-byte put: exit 0" expect 0
	check "cat after $n-byte put: same bytes" cmp -s "$T/out" "$T/in$n"
done
run "$MMSYNC" stat "$T/p36"
check "no reader left counted after cat" eq "$(tail -n 1 "$T/out")" "readers: 0 0"
head -c 200000 /dev/urandom >"$T/in_stdin"
run "$MMSYNC" put "$T/dash" - <"$T/in_stdin"
check "put PREFIX - (stdin is a file)" expect 0 "written: 200000 bytes | reset: false"
run "$MMSYNC" cat "$T/dash"
check "cat after put PREFIX -: same bytes" cmp -s "$T/out" "$T/in_stdin"
run "$MMSYNC" put "$T/pipe" < <(cat "$T/in_stdin")
check "put PREFIX (stdin is a pipe)" expect 0 "written: 200000 bytes | reset: false"
run "$MMSYNC" cat "$T/pipe"
check "cat after put PREFIX from a pipe: same bytes" cmp -s "$T/out" "$T/in_stdin"

# --no-reset: a count on the copy the next put needs (copy 1: p36 has had
# one put) stands for a reader holding it; it is never reset
printf '\001\000\000\000' | dd of="$T/p36_state" bs=1 seek=12 conv=notrunc status=none
run "$MMSYNC" put --no-reset --grace-ms 10 "$T/p36" "$T/in0"
check "put --no-reset over a held copy fails" expect 1 ""
check "put --no-reset over a held copy: timed out" err_starts "mmsync: $T/p36: timed out"
run "$MMSYNC" cat "$T/p36"
check "put --no-reset over a held copy published nothing" cmp -s "$T/out" "$T/in36"
run "$MMSYNC" stat "$T/p36"
check "put --no-reset left the count" eq "$(tail -n 1 "$T/out")" "readers: 0 1"
run "$MMSYNC" put --grace-ms 0 "$T/p36" "$T/in0"
check "put --grace-ms 0 over a held copy resets at once" expect 0 "written: 0 bytes | reset: true"

# 2. stat, text and JSON; idx alternates
stat_re=$'^version: ([0-9]+)\nidx: ([01])\nsize: ([0-9]+)\nchecksum: 0x([0-9a-f]{6})\nreaders: 0 0$'
json_agrees() { # json_agrees VERSION IDX SIZE CHECKSUM < json: same values, consistent word
	python3 -c 'import json, sys
d = json.load(sys.stdin)
v, i, s, c = map(int, sys.argv[1:])
assert sorted(d) == ["checksum", "idx", "readers", "size", "version", "version_str"], d
assert d["readers"] == [0, 0], d
assert d["version_str"] == str(d["version"]), d  # exact where doubles round
assert [d["version"], d["idx"], d["size"], d["checksum"]] == [v, i, s, c], d
assert i == v & 1 and s == (v >> 1) & ((1 << 39) - 1) and c == v >> 40, d' "$@"
}
k=0
for idx in 0 1 0; do
	k=$((k + 1)); size=$((k * 10))
	head -c $size /dev/urandom >"$T/s$k"
	run "$MMSYNC" put "$T/st" "$T/s$k"
	run "$MMSYNC" stat "$T/st"
	check "stat after put #$k: exit 0" expect 0
	text=$(cat "$T/out")
	check "stat after put #$k: text format" eval '[[ $text =~ $stat_re ]]'
	if [[ $text =~ $stat_re ]]; then
		v=${BASH_REMATCH[1]} i=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]} c=${BASH_REMATCH[4]}
		check "stat after put #$k: idx $idx" eq "$i" "$idx"
		check "stat after put #$k: size $size" eq "$s" "$size"
		run "$MMSYNC" stat --json "$T/st"
		check "stat --json after put #$k agrees with the text" \
			json_agrees "$v" "$i" "$s" "$((16#$c))" <"$T/out"
	fi
done

# 3. interop with files the Rust crate wrote, and the same files written by us
json_version() { python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' <"$T/out"; }
for case in hello36:17550808123327905864 ascii15:18427627964549038110; do
	name=${case%%:*} want=${case#*:} dir=$VEC/${case%%:*}
	cp "$dir/mmsvec_${name}_state" "$T/v${name}_state"
	cp "$dir/mmsvec_${name}_data_0" "$T/v${name}_data_0"
	run "$MMSYNC" cat "$T/v$name"
	check "$name: cat of the crate's files equals payload.bin" cmp -s "$T/out" "$dir/payload.bin"
	run "$MMSYNC" stat --json "$T/v$name"
	check "$name: stat --json version of the crate's files is $want" eq "$(json_version)" "$want"
	run "$MMSYNC" put "$T/f$name" "$dir/payload.bin"
	check "$name: put on a fresh prefix" expect 0 "written: $(stat -c %s "$dir/payload.bin") bytes | reset: false"
	check "$name: our state file equals the crate's" cmp -s "$T/f${name}_state" "$dir/mmsvec_${name}_state"
	check "$name: our data_0 equals payload.bin" cmp -s "$T/f${name}_data_0" "$dir/payload.bin"
	run "$MMSYNC" put "$T/v$name" "$T/in36"
	run "$MMSYNC" stat --json "$T/v$name"
	check "$name: put over the crate's files goes to copy 1" \
		python3 -c 'import json, sys; assert json.load(sys.stdin)["idx"] == 1' <"$T/out"
done

# 4. file modes under umask 007
check "state file is -rw-rw---- 16 bytes" eq "$(stat -c '%A %s' "$T/p36_state")" "-rw-rw---- 16"
check "data file is -rw-r-----" eq "$(stat -c '%A' "$T/p36_data_0")" "-rw-r-----"

# 5. errors
run "$MMSYNC" cat "$T/nothing"
check "cat of a missing prefix: exit 1" expect 1
check "cat of a missing prefix: stderr starts 'mmsync: PREFIX: '" err_starts "mmsync: $T/nothing: "
head -c 15 /dev/zero >"$T/short_state"
cp "$T/in36" "$T/short_data_0"
run "$MMSYNC" cat "$T/short"
check "cat with a 15-byte state file: exit 1" expect 1
check "cat with a 15-byte state file: stderr says damaged" grep -q damaged "$T/err"
run "$MMSYNC" put "$T/grace" "$T/in36" --grace-ms abc
check "put --grace-ms abc: exit 2, nothing written" eval 'expect 2 && [[ ! -e $T/grace_state ]]'
run "$MMSYNC" frobnicate "$T/p36"
check "unknown command: exit 2" expect 2
run "$MMSYNC"
check "no arguments: exit 2" expect 2
run "$MMSYNC" stat "$T/p36" "$T/p0"
check "stat with two prefixes: exit 2" expect 2
run "$MMSYNC" put --single-writer "$T/single" "$T/in36"
check "put --single-writer" expect 0 "written: 36 bytes | reset: false"
run "$MMSYNC" put "$T/p36" "$T/no-such-file"
check "put of a missing FILE: exit 1" expect 1
check "put of a missing FILE: stderr starts 'mmsync: FILE: '" err_starts "mmsync: $T/no-such-file: "
run "$MMSYNC" --help
check "--help: exit 0, usage on stdout" eval 'expect 0 && grep -q "^usage: mmsync" "$T/out"'
# With BPF, stat --all is bpf_test.sh's; without, it fails saying why.
if [[ ${MMSYNC_BUILT_WITH_BPF:-1} == 0 ]]; then
	run "$MMSYNC" stat --all
	check "stat --all in a build without BPF: exit 1, says so" \
		eval 'expect 1 "" && grep -q "built without BPF" "$T/err"'
fi

# 6. hostile surroundings
run "$MMSYNC" put "$T/closed" "$T/in36"
cp "$T/closed_state" "$T/closed_state.before"
rc=0; "$MMSYNC" cat "$T/closed" >&- 2>/dev/null || rc=$?
check "cat with stdout closed leaves the state file as it was" cmp -s "$T/closed_state" "$T/closed_state.before"
run "$MMSYNC" cat "$T/closed"
check "and the segment still reads back" cmp -s "$T/out" "$T/in36"
run "$MMSYNC" put "$T/dirin" "$T"
check "put of a directory: exit 1 (and nothing leaked under a sanitizer)" expect 1
ln -s "$T/in36" "$T/link_data_0"
run "$MMSYNC" put "$T/link" "$T/in3145728" # state and data_0 go to copy 0
check "put through a planted data symlink: exit 1" expect 1
check "naming the link" grep -q "link_data_0 is a symbolic link" "$T/err"
check "the link's target untouched" eq "$(stat -c %s "$T/in36")" 36
run "$MMSYNC" put "$T/fifo" "$T/in36"
run "$MMSYNC" put "$T/fifo" "$T/in36" # copy 1
rm "$T/fifo_data_1" && mkfifo "$T/fifo_data_1"
rc=0; timeout 10 "$MMSYNC" cat "$T/fifo" >"$T/out" 2>"$T/err" || rc=$?
check "cat of a FIFO data file: exit 1 at once, not a hang" expect 1
if [[ $(id -u) -eq 0 ]]; then
	run "$MMSYNC" put "$T/theirs" "$T/in36"
	chown 54321 "$T/theirs_state" "$T/theirs_data_0"
	run "$MMSYNC" cat "$T/theirs"
	check "cat of another user's files: exit 1" expect 1
	check "naming the owner" grep -q "theirs_state belongs to uid 54321" "$T/err"
	run "$MMSYNC" cat "$T/theirs" --trust 54321
	check "cat --trust UID reads them" eval 'expect 0 && cmp -s "$T/out" "$T/in36"'
	run "$MMSYNC" stat "$T/theirs" --trust 54321
	check "stat --trust UID too" expect 0
	run "$MMSYNC" put "$T/theirs" "$T/in36" --trust 54321
	check "put --trust UID too" expect 0 "written: 36 bytes | reset: false"
	run "$MMSYNC" put "$T/theirs" "$T/in36" --trust no-such-user-here
	check "--trust of an unknown user: usage error" expect 2
elif [[ ${MMSYNC_TEST_STRICT:-0} == 1 ]]; then
	check "owner checks need root (strict)" false
fi

# 7. hello examples (fixed prefix /tmp/hello_world)
run "$BIN/hello_writer"
check "hello_writer output" expect 0 "written: 36 bytes | reset: false"
run "$BIN/hello_reader"
check "hello_reader output" expect 0 'version: 7 messages: ["Hello", "World", "!"]'
check "hello_writer's data_0 equals the crate's payload" \
	cmp -s /tmp/hello_world_data_0 "$VEC/hello36/payload.bin"
check "hello_writer's state equals the crate's" \
	cmp -s /tmp/hello_world_state "$VEC/hello36/mmsvec_hello36_state"
check "hello files: modes and sizes" eq "$(stat -c '%A %s %n' /tmp/hello_world_*)" \
	"-rw-r----- 36 /tmp/hello_world_data_0"$'\n'"-rw-rw---- 16 /tmp/hello_world_state"
head -c 5 /dev/urandom >"$T/junk5"
run "$MMSYNC" put /tmp/hello_world "$T/junk5"
run "$BIN/hello_reader"
check "hello_reader on a 5-byte record: exit 1, no output" expect 1 ""
bad=0
for k in $(seq 50); do # random records: the reader must reject or print, never crash
	head -c $((12 + k)) /dev/urandom >"$T/junk"
	run "$MMSYNC" put /tmp/hello_world "$T/junk"
	[[ $rc -eq 0 ]] || { echo "#   put of a random record: exit $rc"; bad=1; }
	run "$BIN/hello_reader"
	[[ $rc -le 1 ]] || { echo "#   exit $rc on record $(od -An -tx1 "$T/junk" | tr -d ' \n')"; bad=1; }
done
check "hello_reader on 50 random records: exit 0 or 1" eq "$bad" 0

# 7. the native hello examples: a writer served by the library's thread (it
# has no event loop), its reader, and the CLI reading the same socket
NSOCK=$T/hello.sock
"$BIN/hello_native_writer" "$NSOCK" "hello-cli-$$" >"$T/nw_out" 2>"$T/nw_err" &
nw=$!
bg+=("$nw")
check "hello_native_writer serves" wait_for grep -q "^serving 36 bytes (seq 1) on $NSOCK\$" "$T/nw_out"
run "$BIN/hello_native_reader" "$NSOCK"
check "hello_native_reader output" expect 0 'version: 7 messages: ["Hello", "World", "!"]'
run "$BIN/hello_native_reader" "$NSOCK"
check "hello_native_reader again (the thread serves every reader)" \
	expect 0 'version: 7 messages: ["Hello", "World", "!"]'
run "$MMSYNC" read --socket "$NSOCK"
check "read --socket from hello_native_writer: the crate's HelloWorld payload" \
	eval 'expect 0 && cmp -s "$T/out" "$VEC/hello36/payload.bin"'
nrc=0
kill -TERM "$nw" && wait "$nw" || nrc=$?
check "hello_native_writer stops on SIGTERM: exit 0, socket removed" \
	eval '[[ $nrc -eq 0 && ! -e $NSOCK ]] || { sed "s/^/#   stderr: /" "$T/nw_err"; false; }'

# 8. a socket whose writer accepts nothing: the error says what to check
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1])
s.listen(8)
time.sleep(600)' "$T/mute.sock" &
bg+=($!)
check "a listener that never accepts" wait_for test -S "$T/mute.sock"
want='the writer accepted no connection in time: does it call mmsync_writer_dispatch() or run the service thread (MMSYNC_LISTEN_SERVE)?'
for sub in read stat; do
	run "$MMSYNC" "$sub" --socket "$T/mute.sock"
	check "$sub --socket, no writer accepting: exit 1, says what to check" \
		eval 'expect 1 "" && eq "$(cat "$T/err")" "mmsync: $T/mute.sock: $want"'
done

# wait on the compat layout: a put wakes it (MMSYNC_WAKE_WAITERS), a
# timeout exits 1, the version there at the start is not new.
"$MMSYNC" put "$T/w" "$T/in36" >/dev/null
run "$MMSYNC" wait "$T/w" --timeout 0.2
check "wait PREFIX, nothing new: exit 1 at the timeout" expect 1 ""
"$MMSYNC" wait "$T/w" --timeout 30 >"$T/wait.out" 2>&1 &
waiter=$!; bg+=("$waiter")
check "wait PREFIX sleeps in a futex" wait_for grep -q futex /proc/$waiter/wchan
"$MMSYNC" put "$T/w" "$T/in0" >/dev/null
rc=0; wait "$waiter" || rc=$?
check "wait PREFIX: exit 0 after a put" eq "$rc" 0
"$MMSYNC" wait "$T/nodir_w" --timeout 30 >/dev/null 2>&1 &
waiter=$!; bg+=("$waiter")
sleep 0.1
"$MMSYNC" put "$T/nodir_w" "$T/in36" >/dev/null
rc=0; wait "$waiter" || rc=$?
check "wait PREFIX before any file exists: exit 0 at the first put" eq "$rc" 0
run "$MMSYNC" wait
check "wait without PREFIX: usage, exit 2" expect 2 ""
run "$MMSYNC" wait "$T/w" --timeout soon
check "wait --timeout soon: usage, exit 2" eval 'expect 2 "" && grep -q -- "--timeout takes seconds" "$T/err"'
run "$MMSYNC" wait "$T/nowhere/x" --timeout 0
check "wait on a prefix whose directory is missing: exit 1 at the timeout" expect 1 ""

# 9. --version, and each subcommand's --help / -h: its usage on stdout,
# exit 0, nothing done (no "--help" taken for a PREFIX)
run "$MMSYNC" --version
check "--version prints the project version (meson.build)" \
	expect 0 "mmsync ${MMSYNC_VERSION:?meson passes MMSYNC_VERSION}"
for sub in put cat stat serve read wait bench; do
	for h in --help -h; do
		(cd "$T" && run "$MMSYNC" "$sub" "$h" && echo "$rc" >"$T/rc")
		rc=$(cat "$T/rc")
		check "$sub $h: exit 0, its usage on stdout, nothing on stderr" \
			eval 'expect 0 && [[ $(head -n 1 "$T/out") == "usage: mmsync $sub "* && ! -s $T/err ]]'
	done
	run "$MMSYNC" help "$sub"
	check "help $sub: the same usage" eval 'expect 0 && [[ $(head -n 1 "$T/out") == "usage: mmsync $sub "* ]]'
done
check "cat --help made no segment named --help" eval '! compgen -G "$T/--help*" >/dev/null'
run "$MMSYNC" cat "$T/p36" --help
check "cat PREFIX --help: usage, the segment not written out" \
	eval 'expect 0 && grep -q "^usage: mmsync cat" "$T/out"'
run "$MMSYNC" cat
check "a usage error prints that command's usage only" \
	eval 'expect 2 "" && grep -q "^usage: mmsync cat" "$T/err" && ! grep -q "usage: mmsync put" "$T/err"'

# 10. errors name the real cause: a missing directory is not a missing segment
run "$MMSYNC" put "$T/nodir/x" "$T/in36"
check "put into a missing directory: names the directory" \
	eval 'expect 1 "" && eq "$(cat "$T/err")" "mmsync: $T/nodir/x: $T/nodir: No such file or directory"'
run "$MMSYNC" cat "$T/nodir/x"
check "cat in a missing directory: names the directory" \
	eval 'expect 1 "" && eq "$(cat "$T/err")" "mmsync: $T/nodir/x: $T/nodir: No such file or directory"'
run "$MMSYNC" cat "$T/nothing"
check "cat of a missing segment in a directory that exists: no such segment" \
	eval 'expect 1 "" && grep -q "no such segment" "$T/err"'
run "$MMSYNC" read --socket "$T/nodir/s"
check "read --socket in a missing directory: names the directory" \
	eval 'expect 1 "" && eq "$(cat "$T/err")" "mmsync: $T/nodir/s: $T/nodir: No such file or directory"'
run "$MMSYNC" read --socket "$T/nosock"
check "read --socket where no socket is: says so, not 'no such segment'" \
	eval 'expect 1 "" && eq "$(cat "$T/err")" "mmsync: $T/nosock: no socket at this path: is the writer serving it?"'

# 11. progress of a large put: on a terminal only
head -c $((32 << 20)) /dev/urandom >"$T/in32m"
run "$MMSYNC" put "$T/big" "$T/in32m"
check "a 32 MiB put, stderr not a terminal: no progress" \
	eval 'expect 0 "written: 33554432 bytes | reset: false" && [[ ! -s $T/err ]]'
rc=0; timeout 60 script -qec "$MMSYNC put $T/bigtty $T/in32m" /dev/null >"$T/pty.out" 2>&1 || rc=$?
check "a 32 MiB put on a terminal: progress to 100 %, then the result" \
	eval '[[ $rc -eq 0 ]] && grep -q "mmsync: put: 32 / 32 MiB (100%)" "$T/pty.out" && grep -q "written: 33554432 bytes" "$T/pty.out"'
run "$MMSYNC" cat "$T/bigtty"
check "the put shown in progress published the payload" cmp -s "$T/out" "$T/in32m"
rm -f "$T"/in32m "$T"/big_* "$T"/bigtty_*

# 12. stat --output FILE: written whole, then renamed over FILE
"$MMSYNC" put "$T/o" "$T/in36" >/dev/null
run "$MMSYNC" stat "$T/o" --json --output "$T/o.json"
check "stat --output: nothing on stdout, FILE has the JSON" \
	eval 'expect 0 "" && python3 -c "import json, sys; assert json.load(open(sys.argv[1]))[\"size\"] == 36" "$T/o.json"'
check "stat --output: FILE readable as the umask allows (not mkstemp's 0600)" \
	eq "$(stat -c %a "$T/o.json")" 660
cp "$T/o.json" "$T/o.json.before"
run "$MMSYNC" stat "$T/nothing" --json --output "$T/o.json"
check "a failed stat --output leaves FILE as it was, and no temporary file" \
	eval 'expect 1 "" && cmp -s "$T/o.json" "$T/o.json.before" && ! compgen -G "$T/.o.json.*" >/dev/null'
# A reader of FILE never sees it empty or half written while it is replaced.
python3 -c '
import json, os, sys, time
path, stop = sys.argv[1], sys.argv[2]
n = 0
while not os.path.exists(stop):
    with open(path) as f:
        json.loads(f.read())  # raises on an empty or partial file
    n += 1
print(n)' "$T/o.json" "$T/o.stop" >"$T/o.reads" 2>"$T/o.readerr" &
reader=$!; bg+=("$reader")
for i in $(seq 100); do "$MMSYNC" stat "$T/o" --json --output "$T/o.json"; done
touch "$T/o.stop"
rc=0; wait "$reader" || rc=$?
check "a reader looping over FILE during 100 replacements read it whole each time" \
	eval '[[ $rc -eq 0 && $(cat "$T/o.reads") -gt 0 ]] || { sed "s/^/#   /" "$T/o.readerr"; false; }'

# 13. the examples take a prefix (the demo's private one); by hand, /tmp/hello_world
rm -f /tmp/hello_world_*
run "$BIN/hello_writer" "$T/hw"
check "hello_writer PREFIX writes there, not at /tmp/hello_world" \
	eval 'expect 0 && [[ -e $T/hw_state && ! -e /tmp/hello_world_state ]]'
run "$BIN/hello_reader" "$T/hw"
check "hello_reader PREFIX reads it" expect 0 'version: 7 messages: ["Hello", "World", "!"]'

[[ $fails -eq 0 ]] || { echo "# $fails check(s) failed"; exit 1; }
echo "# all checks passed"
