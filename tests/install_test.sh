#!/usr/bin/env bash
# `meson install` gives a library that a program finds with pkg-config, and
# the shared object exports the public API and nothing else; the licence is
# installed, and the manual pages in a build with them (MMSYNC_MAN=1).
#   MMSYNC_VERSION=X.Y.Z tests/install_test.sh BUILDDIR SOURCEDIR "REQUIRES..." [PYTHON]
# REQUIRES: the packages mmsync.pc must list in Requires.private, those of
# the optional parts in this build (none in a build without them).
# MMSYNC_VERSION: the project version (meson.build), which the header's
# macros, pkg-config and mmsync --version must all say.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
want_requires=$(tr ' ' '\n' <<<"${3:-}" | sed '/^$/d' | sort)
version=${MMSYNC_VERSION:?meson passes MMSYNC_VERSION, the project version}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name mmsync.pc | head -n1)")
[ -n "$pc" ] || { echo "not ok - no mmsync.pc installed"; exit 1; }
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$tmp/root
flags=$(pkg-config --cflags --libs mmsync)
echo "ok - pkg-config --cflags --libs mmsync: $flags"
requires=$(pkg-config --print-requires-private mmsync | awk '{print $1}' | sort)
if [ "$requires" != "$want_requires" ]; then
	echo "not ok - Requires.private: '$(echo $requires)', this build links '$(echo $want_requires)'"
	exit 1
fi
echo "ok - Requires.private lists what this build links: '$(echo $requires)'"

cc -Wall -Wextra -Werror -o "$tmp/hello_writer" "$src/tools/examples/hello_writer.c" $flags
cc -Wall -Wextra -Werror -o "$tmp/hello_reader" "$src/tools/examples/hello_reader.c" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libmmsync.so.0' | head -n1)")
rm -f /tmp/hello_world_state /tmp/hello_world_data_0 /tmp/hello_world_data_1
LD_LIBRARY_PATH=$libdir "$tmp/hello_writer" >/dev/null
out=$(LD_LIBRARY_PATH=$libdir "$tmp/hello_reader")
rm -f /tmp/hello_world_state /tmp/hello_world_data_0 /tmp/hello_world_data_1
[ "$out" = 'version: 7 messages: ["Hello", "World", "!"]' ] || { echo "not ok - installed examples: $out"; exit 1; }
echo "ok - examples built against the installed library run"

incdir=$tmp/root$(pkg-config --variable=includedir mmsync | sed "s|^$tmp/root||")
for h in mmsync.h mmsync_read.h; do
	[ -f "$incdir/$h" ] || { echo "not ok - $h not installed"; exit 1; }
done
# The inline read path compiles cleanly in C++ programs too.
printf '#include <mmsync.h>\nint f(struct mmsync_reader *r) { struct mmsync_view v; int e = mmsync_read_begin(r, &v); return e ? e : mmsync_read_end(r, &v); }\n' >"$tmp/inline.cc"
c++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -I"$incdir" "$tmp/inline.cc" ||
	{ echo "not ok - mmsync.h in C++"; exit 1; }
echo "ok - the installed headers, in C and C++"
find "$tmp/root" -name 'libmmsync.a' | grep -q . || { echo "not ok - no static library"; exit 1; }

# One version number: pkg-config, the installed header, the command.
[ "$(pkg-config --modversion mmsync)" = "$version" ] ||
	{ echo "not ok - pkg-config --modversion: $(pkg-config --modversion mmsync), not $version"; exit 1; }
IFS=. read -r major minor patch <<<"$version"
printf '#include <mmsync.h>\n#include <stdio.h>\n_Static_assert(MMSYNC_VERSION_MAJOR == %s && MMSYNC_VERSION_MINOR == %s && MMSYNC_VERSION_PATCH == %s, "macros");\nint main(void) { puts(MMSYNC_VERSION_STRING); return 0; }\n' \
	"$major" "$minor" "$patch" >"$tmp/version.c"
cc -Wall -Wextra -Werror -o "$tmp/version" "$tmp/version.c" $flags ||
	{ echo "not ok - the installed header's version macros are not $version"; exit 1; }
[ "$("$tmp/version")" = "$version" ] || { echo "not ok - MMSYNC_VERSION_STRING"; exit 1; }
bindir=$(dirname "$(find "$tmp/root" -path '*/bin/mmsync' | head -n1)")
[ "$(LD_LIBRARY_PATH=$libdir "$bindir/mmsync" --version)" = "mmsync $version" ] ||
	{ echo "not ok - installed mmsync --version"; exit 1; }
echo "ok - one version, $version: pkg-config, the installed header's macros, mmsync --version"

# An installed `mmsync bench` finds its installed suite (libexecdir/mmsync,
# found from mmsync's own path: this install is under a DESTDIR). --rounds 0
# is the suite's own error: it ran, and stops at once.
out=$(LD_LIBRARY_PATH=$libdir "$bindir/mmsync" bench --rounds 0 2>&1) && rc=0 || rc=$?
if [ "$rc" != 1 ] || ! grep -q '^mmsync-bench-suite: --rounds takes a number' <<<"$out"; then
	echo "not ok - installed mmsync bench does not run the installed suite: $out"
	exit 1
fi
echo "ok - installed mmsync bench runs the installed suite"

# The example systemd units, with the documentation.
for u in mmsync@.socket mmsync@.service mmsync-metrics.service mmsync-metrics.timer; do
	find "$tmp/root" -path "*/share/doc/mmsync/examples/systemd/$u" | grep -q . ||
		{ echo "not ok - $u not installed under share/doc/mmsync/examples/systemd"; exit 1; }
done
grep -q "^ExecStart=$(pkg-config --variable=prefix mmsync | sed "s|^$tmp/root||")/bin/mmsync serve " \
	"$(find "$tmp/root" -name 'mmsync@.service')" ||
	{ echo "not ok - mmsync@.service does not run the installed mmsync"; exit 1; }
echo "ok - the example systemd units are installed, running the installed mmsync"

# The examples, as documentation: the C ones build with their Makefile
# (pkg-config, as set above) against the installed library.
examples=$tmp/root$(pkg-config --variable=prefix mmsync | sed "s|^$tmp/root||")/share/doc/mmsync/examples
for f in hello_writer.c hello_reader.c hello_record.h hello_native_writer.c hello_native_reader.c \
	sandboxed_reader.sh Makefile README; do
	[ -f "$examples/$f" ] || { echo "not ok - example $f not installed in share/doc/mmsync/examples"; exit 1; }
done
[ -x "$examples/sandboxed_reader.sh" ] || { echo "not ok - sandboxed_reader.sh installed not executable"; exit 1; }
cp -r "$examples" "$tmp/examples"
make -s -C "$tmp/examples" CFLAGS='-O2 -Wall -Wextra -Werror' >"$tmp/make.log" 2>&1 ||
	{ cat "$tmp/make.log"; echo "not ok - the installed examples' Makefile"; exit 1; }
for p in hello_writer hello_reader hello_native_writer hello_native_reader; do
	[ -x "$tmp/examples/$p" ] || { echo "not ok - the examples' Makefile did not build $p"; exit 1; }
done
echo "ok - the examples, installed in share/doc/mmsync/examples, build with their Makefile"

exported=$(nm -D --defined-only "$libdir/libmmsync.so.0" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort)
declared=$(grep -h -o '^MMSYNC_API [^(]*(' "$src/include/mmsync.h" "$src/include/mmsync_read.h" |
	grep -o 'mmsync_[a-z_]*($' | tr -d '(' | sort -u)
if [ "$exported" != "$declared" ]; then
	echo "not ok - exported symbols differ from the header:"
	diff <(echo "$declared") <(echo "$exported") || true
	exit 1
fi
echo "ok - the shared object exports exactly the $(echo "$exported" | wc -l) functions the headers declare"

# The Python binding (a 4th argument, the interpreter, in a build with it):
# installed into that interpreter's site-packages, importable from there
# with the installed library, and working.
if [ -n "${4:-}" ]; then
	site=$("$4" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
	pkg=$tmp/root$site/mmsync
	for f in __init__.py reader.py writer.py stat.py exception.py _ext.pyi py.typed; do
		[ -f "$pkg/$f" ] || { echo "not ok - $f not installed in $site/mmsync"; exit 1; }
	done
	for f in reader.py writer.py; do
		[ -x "$examples/python/$f" ] || { echo "not ok - example python/$f not installed"; exit 1; }
	done
	ls "$pkg"/_ext.*.so >/dev/null 2>&1 || { echo "not ok - no extension in $site/mmsync"; exit 1; }
	seg=$(mktemp -d /dev/shm/mmsync-install-XXXXXX)
	out=$(cd "$tmp" && PYTHONPATH=$tmp/root$site LD_LIBRARY_PATH=$libdir "$4" -c "
import mmsync
assert mmsync.__file__.startswith('$tmp/root'), mmsync.__file__
with mmsync.Writer('$seg/feed') as w, mmsync.Reader('$seg/feed') as r:
    w.write(b'installed')
    with r.read() as v:
        print(bytes(v).decode())
") || { rm -rf "$seg"; echo "not ok - the installed binding does not work"; exit 1; }
	rm -rf "$seg"
	[ "$out" = installed ] || { echo "not ok - the installed binding read '$out'"; exit 1; }
	echo "ok - the Python binding, installed in $site/mmsync, imports and works"
fi

docdir=$(find "$tmp/root" -type d -path '*/doc/mmsync' | head -n1)
for f in LICENSE protocol.md; do
	[ -f "$docdir/$f" ] || { echo "not ok - $f not installed in share/doc/mmsync"; exit 1; }
done
cmp -s "$docdir/LICENSE" "$src/LICENSE" || { echo "not ok - the installed LICENSE is not the source's"; exit 1; }
echo "ok - LICENSE and protocol.md in $(sed "s|^$tmp/root||" <<<"$docdir")"

if [ "${MMSYNC_MAN:-0}" = 1 ]; then
	mandir=$(dirname "$(find "$tmp/root" -type d -path '*/man/man7' | head -n1)")
	if [ ! -d "$mandir/man1" ] || [ ! -d "$mandir/man3" ]; then
		echo "not ok - no man1, man3 and man7 installed"
		exit 1
	fi
	# man finds each page by its name, a family's other names included.
	for page in 1:mmsync 7:mmsync 3:mmsync_write 3:mmsync_read_end 3:mmsync_version_idx 3:MMSYNC_OPTS \
		3:mmsync_hold_release; do
		MANPATH=$mandir man -w "${page%%:*}" "${page#*:}" >/dev/null 2>&1 ||
			{ echo "not ok - man ${page%%:*} ${page#*:} finds no page in $mandir"; exit 1; }
		MANPATH=$mandir MANWIDTH=80 man "${page%%:*}" "${page#*:}" 2>&1 | grep -q "^NAME" ||
			{ echo "not ok - man ${page%%:*} ${page#*:} shows no NAME section"; exit 1; }
	done
	n=$(find "$mandir/man3" -name '*.3' | wc -l)
	echo "ok - the manual pages installed ($(find "$mandir/man1" "$mandir/man7" -type f | wc -l) in man1 and man7, $n names in man3), man finds them"
fi
