#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: a plain build, then
# AddressSanitizer+UndefinedBehaviorSanitizer and ThreadSanitizer builds.
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

tools/setup.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs

tools/setup.sh build-tsan -Db_sanitize=thread >/dev/null
TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --print-errorlogs

echo "all tests passed (plain, address+undefined, thread)"
