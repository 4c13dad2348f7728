#!/usr/bin/env bash
# The demo: set up, build, then one writer publishing and readers reading.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build >/dev/null
bin=build/tools
umask 007 # readers in the group may count themselves in the state file

echo "== the HelloWorld example (files at /tmp/hello_world_*)"
rm -f /tmp/hello_world_state /tmp/hello_world_data_0 /tmp/hello_world_data_1
"$bin/hello_writer"
"$bin/hello_reader"
stat -c '%A %s %n' /tmp/hello_world_*

echo
echo "== a writer publishing 20 versions while two readers read"
dir=$(mktemp -d /dev/shm/mmsync-demo-XXXXXX)
trap 'rm -rf "$dir"' EXIT
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
echo "== read and write cost of a 36-byte payload (median of 21 rounds)"
"$bin/mmsync-bench"
