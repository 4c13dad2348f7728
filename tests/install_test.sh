#!/usr/bin/env bash
# `meson install` gives a library that a program finds with pkg-config, and
# the shared object exports the public API and nothing else.
#   tests/install_test.sh BUILDDIR SOURCEDIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name mmsync.pc | head -n1)")
[ -n "$pc" ] || { echo "not ok - no mmsync.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs mmsync)
echo "ok - pkg-config --cflags --libs mmsync: $flags"

cc -Wall -Wextra -Werror -o "$tmp/hello_writer" "$src/tools/examples/hello_writer.c" $flags
cc -Wall -Wextra -Werror -o "$tmp/hello_reader" "$src/tools/examples/hello_reader.c" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libmmsync.so.0' | head -n1)")
rm -f /tmp/hello_world_state /tmp/hello_world_data_0 /tmp/hello_world_data_1
LD_LIBRARY_PATH=$libdir "$tmp/hello_writer" >/dev/null
out=$(LD_LIBRARY_PATH=$libdir "$tmp/hello_reader")
rm -f /tmp/hello_world_state /tmp/hello_world_data_0 /tmp/hello_world_data_1
[ "$out" = 'version: 7 messages: ["Hello", "World", "!"]' ] || { echo "not ok - installed examples: $out"; exit 1; }
echo "ok - examples built against the installed library run"

[ -f "$tmp/root$(pkg-config --variable=includedir mmsync | sed "s|^$tmp/root||")/mmsync.h" ] ||
	{ echo "not ok - mmsync.h not installed"; exit 1; }
find "$tmp/root" -name 'libmmsync.a' | grep -q . || { echo "not ok - no static library"; exit 1; }

exported=$(nm -D --defined-only "$libdir/libmmsync.so.0" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
declared=$(grep -o 'mmsync_[a-z_]*(' "$src/include/mmsync.h" | tr -d '(' | sort -u |
	grep -v -e '^mmsync_version_idx$' -e '^mmsync_version_size$' -e '^mmsync_version_checksum$')
if [ "$exported" != "$declared" ]; then
	echo "not ok - exported symbols differ from the header:"
	diff <(echo "$declared") <(echo "$exported") || true
	exit 1
fi
echo "ok - the shared object exports exactly the $(echo "$exported" | wc -l) functions of mmsync.h"
