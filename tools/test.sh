#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: a plain build, then
# AddressSanitizer+UndefinedBehaviorSanitizer and ThreadSanitizer builds,
# then 60 s of each libFuzzer target (clang).
# MMSYNC_TEST_STRICT=1 (as CI sets it) turns every skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMSYNC_TEST_STRICT=${MMSYNC_TEST_STRICT:-0}

# What the tests need of the machine: huge pages for the hugetlb copies.
if [ "$(id -u)" -eq 0 ] && [ "$(cat /proc/sys/vm/nr_hugepages)" -lt 16 ]; then
	echo 16 > /proc/sys/vm/nr_hugepages || true
fi

tools/setup.sh build
meson test -C build --print-errorlogs

# A build's output is shown only when it fails.
quiet() { "$@" > "$tmp_log" 2>&1 || { tail -n 60 "$tmp_log"; exit 1; }; }
tmp_log=$(mktemp)

quiet tools/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs

quiet tools/setup.sh build-tsan -Db_sanitize=thread
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --print-errorlogs

# libFuzzer targets (tests/fuzz), built with clang: each runs for 60 s from
# its seed corpus (and any crash-* reproducer there), writing what it finds
# to a temporary directory, never to the repository. A crash, a sanitizer
# report or a broken property fails the run; its input is kept in
# build-fuzz/fuzz-artifacts/.
quiet env CC=clang tools/setup.sh build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fuzz_tmp=$(mktemp -d)
trap 'rm -rf "$fuzz_tmp" "$tmp_log"' EXIT
mkdir -p build-fuzz/fuzz-artifacts
for t in handshake server compat_files native_header; do
	mkdir "$fuzz_tmp/$t"
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		build-fuzz/tests/fuzz/fuzz_$t -max_total_time=60 -rss_limit_mb=2048 -timeout=30 \
		-artifact_prefix=build-fuzz/fuzz-artifacts/fuzz_$t- \
		"$fuzz_tmp/$t" tests/fuzz/corpus/fuzz_$t >"$fuzz_tmp/$t.log" 2>&1; then
		grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$fuzz_tmp/$t.log" | tail -n 80
		echo "fuzz_$t failed: reproducer in build-fuzz/fuzz-artifacts/" >&2
		exit 1
	fi
	echo "fuzz_$t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$fuzz_tmp/$t.log")"
done

echo "all tests passed (plain, address+undefined, thread, fuzz)"
