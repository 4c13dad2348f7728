#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: a plain build, the plain
# suite again with a CPU hog on every core, the Debian packages (built,
# unpacked into a scratch root and used), a build with every optional part
# left out (meson_options.txt) and its suite, an arm64 cross build (two of
# its tests run under qemu-user), then
# AddressSanitizer+UndefinedBehaviorSanitizer and ThreadSanitizer builds,
# then 60 s of each libFuzzer target (clang). Prints how long each stage took.
# Every build is configured with -Dwerror=true.
#
#   tools/test.sh            all of it (what CI runs)
#   tools/test.sh --loaded   the plain suite with a CPU hog on every core only
#
# MMSYNC_TEST_STRICT=1 (as CI sets it) turns every skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export MMSYNC_TEST_STRICT=${MMSYNC_TEST_STRICT:-0}

loaded_only=0
case "${1:-}" in
"") ;;
--loaded) loaded_only=1 ;;
*) echo "usage: $0 [--loaded]" >&2; exit 2 ;;
esac

hogs=() tmp_log="" fuzz_tmp=""
cleanup() {
	if ((${#hogs[@]})); then kill "${hogs[@]}" 2>/dev/null || true; fi
	rm -rf "$tmp_log" "$fuzz_tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # the EXIT trap kills the hogs

# Runs "$@" as stage $1 of the run and says how long it took.
stage() {
	local name=$1 t0=$SECONDS
	shift
	"$@"
	echo "test.sh: stage '$name' took $((SECONDS - t0)) s"
}

# The plain suite on a loaded machine: one busy-looping process per core
# (nproc), at the tests' own priority, for as long as the suite runs.
# Tests must hold there: what they assert may not depend on how soon the
# scheduler runs them. The spin model check is left out (it is CPU-bound,
# does not depend on timing, and would only double its 150 s); timeouts
# are doubled, as every test gets about half the CPU it gets alone.
loaded_suite() {
	local n t
	n=$(nproc)
	for _ in $(seq "$n"); do
		( while :; do :; done ) &
		hogs+=($!)
	done
	echo "test.sh: plain suite under load: $n CPU hogs (pids ${hogs[*]})"
	local tests=()
	for t in $(meson test -C build --list --no-rebuild 2>/dev/null); do
		[ "$t" = spin ] || tests+=("$t")
	done
	local rc=0
	meson test -C build --print-errorlogs --timeout-multiplier 2 "${tests[@]}" || rc=$?
	kill "${hogs[@]}" 2>/dev/null || true
	wait "${hogs[@]}" 2>/dev/null || true
	hogs=()
	return $rc
}

# What the tests need of the machine: huge pages for the hugetlb copies.
if [ "$(id -u)" -eq 0 ] && [ "$(cat /proc/sys/vm/nr_hugepages)" -lt 16 ]; then
	echo 16 > /proc/sys/vm/nr_hugepages || true
fi

# The optional parts: all of them in every build but build-minimal, which has
# none. Enabled, not auto: a part whose needs are missing fails the build
# instead of leaving its tests out. libFuzzer needs clang: the fuzz build's.
full=(-Dwerror=true -Dauto_features=enabled)
gcc_full=("${full[@]}" -Dfuzzers=disabled)

stage "plain build" tools/setup.sh build "${gcc_full[@]}"
if ((loaded_only)); then
	stage "plain suite, loaded" loaded_suite
	echo "plain suite passed with a CPU hog on every core"
	exit 0
fi
stage "plain suite" meson test -C build --print-errorlogs
stage "plain suite, loaded" loaded_suite

# The Debian packages (debian/), built from a copy of the tree in a scratch
# directory, unpacked there (dpkg -x, never installed) and used: the examples
# built against them, the CLI and the Python module run (tests/deb_test.sh).
stage "debian packages" tests/deb_test.sh

# A build's output is shown only when it fails.
quiet() { "$@" > "$tmp_log" 2>&1 || { tail -n 60 "$tmp_log"; exit 1; }; }
tmp_log=$(mktemp)

# Without the optional parts: BPF, io_uring and LMDB compiled out, their
# fallbacks always taken, their tests not built. The spin model checks and
# the benchmarks' smoke test are left out here: neither touches these parts
# (the plain suite runs them), and they are most of the suite's time.
minimal_suite() {
	local tests=() t
	for t in $(meson test -C build-minimal --list --no-rebuild 2>/dev/null); do
		case $t in spin | spin-compat | bench-quick) ;; *) tests+=("$t") ;; esac
	done
	meson test -C build-minimal --print-errorlogs "${tests[@]}"
}
stage "minimal build" quiet tools/setup.sh build-minimal -Dwerror=true -Dauto_features=disabled
stage "minimal suite" minimal_suite

# arm64: Debian's cross gcc, the arm64 libraries fetched into
# build-aarch64-libs/ (tools/cross/arm64-libs.sh: the machine's dpkg is left
# alone), every part built but the fuzzers. The layout and error tests then
# run under qemu-user; the others need what qemu-user does not emulate
# (io_uring, seccomp filters) or assert timings that emulation stretches.
cross_build() {
	tools/cross/arm64-libs.sh build-aarch64-libs
	tools/setup.sh build-aarch64 --cross-file tools/cross/aarch64-linux-gnu.ini \
		--cross-file build-aarch64-libs/libs.ini "${gcc_full[@]}" -Dpython=disabled
}
stage "arm64 cross build" quiet cross_build
stage "arm64 tests under qemu" meson test -C build-aarch64 --print-errorlogs layout errors

# The Python binding's tests run here too, with ASan's runtime preloaded
# into the interpreter (bindings/python/meson.build); not under TSan, whose
# runtime an interpreter not built with it cannot load, nor in the fuzz
# build, whose tests are not run.
stage "asan+ubsan build" quiet tools/setup.sh build-asan "${gcc_full[@]}" -Db_sanitize=address,undefined -Db_lundef=false
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	stage "asan+ubsan suite" meson test -C build-asan --print-errorlogs

stage "tsan build" quiet tools/setup.sh build-tsan "${gcc_full[@]}" -Db_sanitize=thread -Dpython=disabled
TSAN_OPTIONS=halt_on_error=1 stage "tsan suite" meson test -C build-tsan --print-errorlogs

# libFuzzer targets (tests/fuzz), built with clang: each runs for 60 s from
# its seed corpus (and any crash-* reproducer there), writing what it finds
# to a temporary directory, never to the repository. A crash, a sanitizer
# report or a broken property fails the run; its input is kept in
# build-fuzz/fuzz-artifacts/. (The build compiles the rest with clang too.)
stage "fuzz build" quiet env CC=clang tools/setup.sh build-fuzz "${full[@]}" -Db_sanitize=address,undefined -Db_lundef=false -Dpython=disabled
fuzz_tmp=$(mktemp -d)
mkdir -p build-fuzz/fuzz-artifacts
fuzz_t0=$SECONDS
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
echo "test.sh: stage 'fuzzers' took $((SECONDS - fuzz_t0)) s"

echo "all tests passed (plain, plain under load, debian packages, minimal, arm64, address+undefined, thread, fuzz) in $SECONDS s"
