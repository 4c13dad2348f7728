#!/usr/bin/env bash
# The demo: set up, build, then one writer publishing and readers reading.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build >/dev/null
bin=build/tools
umask 007 # readers in the group may count themselves in the state file

# Everything under a directory of this run's own: not the fixed
# /tmp/hello_world that another user's run (or the examples run by hand)
# may hold.
dir=$(mktemp -d /dev/shm/mmsync-demo-XXXXXX)
bg=() # background processes, stopped at exit
trap 'for p in "${bg[@]}"; do kill -INT "$p" 2>/dev/null || :; done; rm -rf "$dir"' EXIT

echo "== the HelloWorld example (files at $dir/hello_world_*)"
"$bin/hello_writer" "$dir/hello_world"
"$bin/hello_reader" "$dir/hello_world"
stat -c '%A %s %n' "$dir"/hello_world_*

echo
echo "== a writer publishing 20 versions while two readers read"
prefix=$dir/ticker
(
	for i in $(seq 1 20); do
		printf 'version %02d written at %s' "$i" "$(date +%T.%N)" | "$bin/mmsync" put "$prefix" >/dev/null
		sleep 0.1
	done
) &
writer=$!
for r in 1 2; do
	(
		last=
		while kill -0 "$writer" 2>/dev/null; do
			now=$("$bin/mmsync" cat "$prefix" 2>/dev/null) || continue
			[ "$now" != "$last" ] && echo "reader $r sees: $now"
			last=$now
			sleep 0.05
		done
	) &
done
wait
echo
echo "== mmsync stat $prefix"
"$bin/mmsync" stat "$prefix"

echo
echo "== the native layout: mmsync serve, two readers watching over the socket"
printf 'first version\n' > "$dir/routes"
"$bin/mmsync" serve --socket "$dir/sock" --capacity 4096 "$dir/routes" &
server=$!
while [ ! -S "$dir/sock" ]; do sleep 0.05; done
for r in 1 2; do
	"$bin/mmsync" read --socket "$dir/sock" --watch > >(sed -u "s/^/reader $r watches: /") &
	bg+=($!)
done
sleep 0.3
for i in 2 3; do
	printf 'version %d, rewritten at %s\n' "$i" "$(date +%T.%N)" > "$dir/routes"
	sleep 0.3
done
head -c 100000 /dev/urandom > "$dir/routes.new" && mv "$dir/routes.new" "$dir/routes" # > capacity: a new generation
sleep 0.3
echo "-- mmsync stat --socket"
"$bin/mmsync" stat --socket "$dir/sock"
printf 'short again\n' > "$dir/routes"; sleep 0.3
echo "-- after one more rewrite, mmsync read --socket prints:"

"$bin/mmsync" read --socket "$dir/sock"
for p in "${bg[@]}"; do kill -INT "$p" 2>/dev/null || :; done
bg=()
kill -INT "$server"; wait "$server" 2>/dev/null || true
echo
echo "== read and write cost of a 36-byte payload: compat, native with a fenceless and with a fenced
   reader (median of 21 rounds; \`mmsync bench\` compares with the alternatives)"
"$bin/mmsync-bench"
