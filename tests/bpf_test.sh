#!/usr/bin/env bash
# Observability as an operator sees it, with mmsync serve as the writer:
# cat of the pinned iterator, promtool on it and on `mmsync stat --prom`,
# bpftool's JSON dump of the state map, pins removed at exit.
#   tests/bpf_test.sh BUILD_TOOLS_DIR
set -euo pipefail
M=$1/mmsync
name=bpftest$$
pins=/sys/fs/bpf/mmsync/$name
source "$(dirname "$0")/harness.sh"
harness_begin bpf
strict() { [ "${MMSYNC_TEST_STRICT:-0}" = 1 ]; }

for tool in promtool bpftool python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "missing $tool"
		strict && exit 1 || exit 77
	fi
done

head -c 5000 /dev/urandom > "$tmp/data"
"$M" serve --socket "@$name" --name "$name" "$tmp/data" > "$tmp/serve.out" 2>&1 &
pids+=($!)
server=$!
check "serve publishes" "wait_for 'grep -q \"published seq=1\" $tmp/serve.out'"
if [ ! -e "$pins/metrics" ]; then
	echo "no pins: the writer has no BPF here ($(cat "$tmp/serve.out"))"
	strict && exit 1 || exit 77
fi
head -c 7000 /dev/urandom > "$tmp/data"
check "a second publish" "wait_for 'grep -q \"published seq=2 bytes=7000\" $tmp/serve.out'"

cat "$pins/metrics" > "$tmp/iter.txt"
check "the iterator prints every family" "for m in mmsync_info mmsync_write_seq mmsync_payload_bytes mmsync_readers mmsync_reader_slots_live mmsync_evictions_total mmsync_dead_readers_reclaimed_total mmsync_reader_disconnects_total mmsync_last_publish_timestamp_seconds; do grep -q \"^# TYPE \$m \" $tmp/iter.txt || exit 1; grep -q \"^\$m{name=\\\"$name\\\"\" $tmp/iter.txt || exit 1; done"
check "with the figures of the last publish" "grep -qx 'mmsync_write_seq{name=\"$name\"} 2' $tmp/iter.txt && grep -qx 'mmsync_payload_bytes{name=\"$name\"} 7000' $tmp/iter.txt"
check "promtool accepts the iterator's text" "promtool check metrics < $tmp/iter.txt"

"$M" stat --all --prom > "$tmp/all.txt"
check "stat --all --prom from the pin: the iterator's lines, line for line" "diff <(grep -F 'name=\"$name\"' $tmp/all.txt) <(grep -F 'name=\"$name\"' $tmp/iter.txt)"
check "promtool accepts stat --all --prom" "promtool check metrics < $tmp/all.txt"
# node_exporter's textfile collector: --output writes a temporary file in
# the directory and renames it over mmsync.prom, which promtool accepts.
textfile=$tmp/textfile
mkdir "$textfile"
echo stale > "$textfile/mmsync.prom"
ino=$(stat -c %i "$textfile/mmsync.prom")
rc=0; "$M" stat --all --prom --output "$textfile/mmsync.prom" > "$tmp/out.stdout" || rc=$?
check "stat --all --prom --output FILE: exit 0, nothing on stdout" "[ $rc -eq 0 ] && [ ! -s $tmp/out.stdout ]"
check "FILE replaced by a rename (a new inode), no temporary file left" \
	"[ \$(stat -c %i $textfile/mmsync.prom) != $ino ] && [ \$(ls -A $textfile) = mmsync.prom ]"
check "FILE has this segment's lines of the iterator" "diff <(grep -F 'name=\"$name\"' $textfile/mmsync.prom | grep -v -e ^mmsync_last_publish -e ^mmsync_reader_slots_live -e ^mmsync_reader_disconnects) <(grep -F 'name=\"$name\"' $tmp/iter.txt | grep -v -e ^mmsync_last_publish -e ^mmsync_reader_slots_live -e ^mmsync_reader_disconnects)"
check "promtool accepts FILE" "promtool check metrics < $textfile/mmsync.prom"
check "FILE is readable by the collector's user (0644 under umask 022)" \
	"[ \$(stat -c %a $textfile/mmsync.prom) = \$(printf %o \$((0666 & ~\$(umask)))) ]"
"$M" stat --all --json > "$tmp/all.json"
check "stat --all --json: one JSON document, an array with this segment" "python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))
assert isinstance(a, list), a
s = [x for x in a if x[\"name\"] == sys.argv[2]]
assert len(s) == 1 and s[0][\"seq\"] == 2 and s[0][\"version_str\"] == str(s[0][\"version\"]), s
' $tmp/all.json $name"

"$M" stat --socket "@$name" --prom > "$tmp/sock.txt"
check "promtool accepts stat --socket --prom" "promtool check metrics < $tmp/sock.txt"
check "stat --socket --prom has the same families, in order" "diff <(grep '^#' $tmp/sock.txt) <(grep '^#' $tmp/iter.txt)"

bpftool -j map dump pinned "$pins/state" > "$tmp/dump.json"
json=$("$M" stat --socket "@$name" --json)
check "bpftool's JSON parses and names the fields; its version is the one published" "python3 -c '
import json, sys
dump = json.load(open(sys.argv[1]))
v = dump[0][\"formatted\"][\"value\"]  # with BTF, bpftool adds the fields by name
s = json.loads(sys.argv[2])
assert v[\"name\"] == sys.argv[3], v[\"name\"]
assert v[\"version\"] == s[\"version\"] and v[\"seq\"] == s[\"seq\"] == 2, (v[\"version\"], s)
li = v[\"li\"]
assert v[\"copy\"][li][\"version\"] == s[\"version\"] and v[\"copy\"][li][\"seq\"] == 2
assert v[\"magic\"] == 0x31564e434e59534d and v[\"capacity\"] == s[\"capacity\"]
' $tmp/dump.json '$json' $name"

stop "$server" TERM || true
check "the pins go with the writer" "[ ! -e $pins ]"

[ $failed -eq 0 ] && echo "# all checks passed"
exit $failed
