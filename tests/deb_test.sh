#!/usr/bin/env bash
# The Debian packages (debian/): built with dpkg-buildpackage -b -us -uc from
# a copy of the tree in a scratch directory (it writes the .debs beside the
# tree), checked by lintian (errors fail, warnings are shown), then unpacked
# with dpkg -x into a scratch root - never installed on the machine - and
# used from there: each package holds what it must and nothing of another's,
# the C examples of libmmsync-dev build with its Makefile against the
# unpacked headers, pkg-config file and library and run (the native reader
# in the bubblewrap sandbox of sandboxed_reader.sh), the unpacked Python
# module writes and reads, and the unpacked CLI does a put/cat round trip.
#
#   tests/deb_test.sh [SOURCEDIR]        (default: this script's tree)
#
# What it needs (dpkg-dev, debhelper, dh-python, lintian, bubblewrap, and the
# Build-Depends) is installed by tools/setup.sh; tools/test.sh runs it as its
# stage "debian packages". The packages' own check is skipped (nocheck): the
# suite runs on its own.
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)

fail() { echo "not ok - $*" >&2; exit 1; }
for tool in dpkg-buildpackage dpkg-deb dh lintian bwrap make pkg-config git timeout; do
	command -v "$tool" >/dev/null || fail "$tool not found: run tools/setup.sh (as root) first"
done

tmp=$(mktemp -d /tmp/mmsync-deb-XXXXXX)
shm=$(mktemp -d /dev/shm/mmsync-deb-XXXXXX)
writer_pid=""
cleanup() {
	if [ -n "$writer_pid" ]; then kill "$writer_pid" 2>/dev/null || true; wait "$writer_pid" 2>/dev/null || true; fi
	rm -rf "$tmp" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The tree as it is on disk (tracked files and new ones, not what .gitignore
# leaves out: no build directory), so that uncommitted changes are tested.
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 || fail "$src is not a git checkout (its files are taken from git ls-files)"
mkdir -p "$tmp/src/mmsync"
git -C "$src" ls-files -z --cached --others --exclude-standard |
	tar -C "$src" --null -T - --ignore-failed-read -c 2>/dev/null | tar -C "$tmp/src/mmsync" -x
[ -f "$tmp/src/mmsync/debian/control" ] || fail "no debian/control in the copy of $src"

t0=$SECONDS
if ! (cd "$tmp/src/mmsync" &&
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" DEB_BUILD_PROFILES=nocheck \
		timeout 1800 dpkg-buildpackage -b -us -uc) >"$tmp/build.log" 2>&1; then
	tail -n 80 "$tmp/build.log"
	fail "dpkg-buildpackage -b -us -uc failed (its last lines above)"
fi
version=$(cd "$src" && dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
echo "ok - dpkg-buildpackage -b -us -uc built $version in $((SECONDS - t0)) s"

pkgs=(libmmsync0 libmmsync-dev mmsync python3-mmsync)
for p in "${pkgs[@]}"; do
	[ -f "$tmp/src/${p}_${version}_$arch.deb" ] || fail "no ${p}_${version}_$arch.deb built"
done
# Every binary package of debian/control, and no other (but their -dbgsym).
built=$(cd "$tmp/src" && ls ./*.deb | sed 's|^\./||; s|_.*||' | grep -v -- '-dbgsym$' | sort | tr '\n' ' ')
[ "$built" = "$(printf '%s\n' "${pkgs[@]}" | sort | tr '\n' ' ')" ] || fail "packages built: $built"

# lintian: an error fails, warnings and the rest are shown. The maintainer
# address is on localhost (the project has no mail host): its two tags are
# left out.
if ! timeout 600 lintian --fail-on error --tag-display-limit 0 \
	--suppress-tags bogus-mail-host,bogus-mail-host-in-debian-changelog \
	"$tmp/src"/*.deb >"$tmp/lintian.log" 2>&1; then
	cat "$tmp/lintian.log"
	fail "lintian reports errors"
fi
if [ -s "$tmp/lintian.log" ]; then sed 's/^/# lintian: /' "$tmp/lintian.log"; fi
echo "ok - lintian: no errors ($(grep -c '^W:' "$tmp/lintian.log" || true) warnings)"

# Each package alone (what it holds) and all of them in one root (using them).
root=$tmp/root
mkdir -p "$root" "$tmp/pkg"
for p in "${pkgs[@]}"; do
	dpkg -x "$tmp/src/${p}_${version}_$arch.deb" "$tmp/pkg/$p"
	dpkg -x "$tmp/src/${p}_${version}_$arch.deb" "$root"
done

# The files (and symlinks) of package $1, one a line, without the leading ./
files_of() { (cd "$tmp/pkg/$1" && find . ! -type d | sed 's|^\./||' | sort); }
# holds PKG PATH...: each PATH (a basic regular expression, of a whole path)
# matches a file of PKG.
holds() {
	local p=$1 f
	shift
	for f in "$@"; do
		grep -qx -- "$f" <<<"$(files_of "$p")" || fail "$p has no $f"
	done
}
# only PKG REGEX...: every file of PKG matches one of the extended regexes.
only() {
	local p=$1 stray
	shift
	stray=$(files_of "$p" | grep -Evx "$(IFS='|'; echo "$*")" || true)
	[ -z "$stray" ] || fail "$p holds what is not its own: $(echo $stray)"
}
ex=usr/share/doc/libmmsync-dev/examples
holds libmmsync0 "usr/lib/$ma/libmmsync\.so\.0" "usr/lib/$ma/libmmsync\.so\.0\.[0-9.]*"
only libmmsync0 "usr/lib/$ma/libmmsync\.so\.0(\.[0-9.]+)?" 'usr/share/doc/libmmsync0/.*'
holds libmmsync-dev usr/include/mmsync\.h usr/include/mmsync_read\.h usr/include/mmsync_version\.h \
	"usr/lib/$ma/libmmsync\.so" usr/share/man/man3/mmsync_write\.3\.gz \
	usr/share/man/man3/mmsync_read_end\.3\.gz \
	"usr/lib/$ma/libmmsync\.a" "usr/lib/$ma/pkgconfig/mmsync\.pc" \
	"$ex/hello_writer\.c" "$ex/hello_reader\.c" "$ex/hello_record\.h" \
	"$ex/hello_native_writer\.c" "$ex/hello_native_reader\.c" "$ex/sandboxed_reader\.sh" \
	"$ex/Makefile" "$ex/README"
only libmmsync-dev 'usr/include/mmsync(_read|_version)?\.h' "usr/lib/$ma/libmmsync\.(so|a)" \
	"usr/lib/$ma/pkgconfig/mmsync\.pc" 'usr/share/doc/libmmsync-dev/.*' 'usr/share/man/man3/.*'
holds mmsync usr/bin/mmsync "usr/share/doc/mmsync/protocol\.md\(\.gz\)\{0,1\}" \
	usr/share/man/man1/mmsync\.1\.gz usr/share/man/man7/mmsync\.7\.gz \
	usr/libexec/mmsync/mmsync-bench-suite usr/share/doc/mmsync/examples/systemd/mmsync@\.socket
only mmsync 'usr/bin/.*' 'usr/libexec/.*' 'usr/share/doc/mmsync/.*' 'usr/share/man/man[17]/.*'
py=usr/lib/python3/dist-packages/mmsync
holds python3-mmsync "$py/__init__\.py" "$py/reader\.py" "$py/writer\.py" "$py/_ext\.cpython-[^/]*\.so" \
	usr/share/doc/python3-mmsync/examples/reader\.py usr/share/doc/python3-mmsync/examples/writer\.py
only python3-mmsync "$py/.*" 'usr/share/doc/python3-mmsync/.*'
for p in "${pkgs[@]}"; do holds "$p" "usr/share/doc/$p/copyright"; done
[ -x "$root/$ex/sandboxed_reader.sh" ] || fail "$ex/sandboxed_reader.sh is not executable"
echo "ok - each package holds its files and no other's"

# Dependencies: the library's from the symbols file, Python's from dh-python.
depends() { dpkg-deb -f "$tmp/src/${1}_${version}_$arch.deb" Depends; }
grep -q 'libmmsync0 (>= 0\.' <<<"$(depends mmsync)" || fail "mmsync does not depend on libmmsync0: $(depends mmsync)"
grep -q 'libmmsync0 (>= 0\.' <<<"$(depends python3-mmsync)" ||
	fail "python3-mmsync does not depend on libmmsync0: $(depends python3-mmsync)"
grep -q 'python3 (>= 3\.' <<<"$(depends python3-mmsync)" ||
	fail "python3-mmsync has no python3 dependency (dh-python): $(depends python3-mmsync)"
grep -q "libmmsync0 (= $version)" <<<"$(depends libmmsync-dev)" ||
	fail "libmmsync-dev does not depend on libmmsync0 (= $version): $(depends libmmsync-dev)"
echo "ok - dependencies: mmsync and python3-mmsync on libmmsync0 (symbols), python3-mmsync on python3 (dh-python)"

# The C examples, built with their Makefile (pkg-config) against the unpacked
# -dev and run with the unpacked library.
libdir=$root/usr/lib/$ma
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root LD_LIBRARY_PATH=$libdir
cp -r "$root/$ex" "$tmp/examples"
make -s -C "$tmp/examples" CFLAGS='-O2 -Wall -Wextra -Werror' >"$tmp/make.log" 2>&1 ||
	{ cat "$tmp/make.log"; fail "the examples do not build with their Makefile against the packages"; }
grep -q "=> $libdir/libmmsync\.so\.0" <<<"$(ldd "$tmp/examples/hello_reader")" ||
	fail "hello_reader does not load the unpacked library: $(ldd "$tmp/examples/hello_reader")"
# The HelloWorld pair's fixed prefix /tmp/hello_world, in a private /tmp
# (bwrap): other users of the machine and other tests are left alone.
out=$(timeout 60 bwrap --dev-bind / / --tmpfs /tmp --bind "$tmp" "$tmp" \
	sh -c '"$1" >/dev/null && "$2"' sh "$tmp/examples/hello_writer" "$tmp/examples/hello_reader" 2>&1) ||
	fail "hello_writer, hello_reader: $out"
[ "$out" = 'version: 7 messages: ["Hello", "World", "!"]' ] || fail "hello_reader printed: $out"
echo "ok - hello_writer and hello_reader, built by the examples' Makefile against the packages, run"

# The native pair, the reader in the sandbox of sandboxed_reader.sh: there
# it sees /usr only, so it links the unpacked libmmsync.a (the rest of what
# it needs is the machine's own, in /usr).
cc -O2 -Wall -Wextra -Werror -o "$tmp/examples/hello_native_reader_static" \
	"$tmp/examples/hello_native_reader.c" $(pkg-config --cflags mmsync) \
	"$libdir/libmmsync.a" $(pkg-config --static --libs mmsync | sed 's/-lmmsync\b//') ||
	fail "hello_native_reader does not link the unpacked libmmsync.a"
sock=$tmp/hello.sock
"$tmp/examples/hello_native_writer" "$sock" "mmsync-deb-test-$$" >"$tmp/writer.log" 2>&1 &
writer_pid=$!
for _ in $(seq 300); do
	[ -S "$sock" ] && break
	kill -0 "$writer_pid" 2>/dev/null || { cat "$tmp/writer.log"; fail "hello_native_writer exited"; }
	sleep 0.1
done
[ -S "$sock" ] || fail "hello_native_writer did not serve $sock in 30 s"
out=$(timeout 60 "$tmp/examples/hello_native_reader" "$sock" 2>&1) || fail "hello_native_reader: $out"
[ "$out" = 'version: 7 messages: ["Hello", "World", "!"]' ] || fail "hello_native_reader printed: $out"
out=$(timeout 60 "$root/$ex/sandboxed_reader.sh" "$tmp/examples/hello_native_reader_static" "$sock" 2>&1) ||
	fail "sandboxed_reader.sh: $out"
[ "$out" = 'version: 7 messages: ["Hello", "World", "!"]' ] || fail "the sandboxed reader printed: $out"
kill "$writer_pid"
wait "$writer_pid" || fail "hello_native_writer did not exit cleanly on SIGTERM: $(cat "$tmp/writer.log")"
writer_pid=""
echo "ok - hello_native_writer and hello_native_reader run, the reader also in sandboxed_reader.sh's sandbox"

# The CLI.
mmsync=$root/usr/bin/mmsync
timeout 30 "$mmsync" --help >"$tmp/help.log" 2>&1 || fail "mmsync --help: $(cat "$tmp/help.log")"
grep -q 'mmsync put' "$tmp/help.log" || fail "mmsync --help does not print the usage"
printf 'from the package\n' | timeout 30 "$mmsync" put "$shm/cli" - >/dev/null || fail "mmsync put"
out=$(timeout 30 "$mmsync" cat "$shm/cli") || fail "mmsync cat"
[ "$out" = 'from the package' ] || fail "mmsync cat printed: $out"
echo "ok - the unpacked mmsync: --help, and put then cat"

# The Python module, the unpacked one (not one the machine may have).
out=$(cd "$tmp" && PYTHONPATH=$root/usr/lib/python3/dist-packages PYTHONDONTWRITEBYTECODE=1 \
	timeout 60 /usr/bin/python3 -c "
import mmsync
assert mmsync.__file__.startswith('$root/'), mmsync.__file__
assert mmsync._ext.__file__.startswith('$root/'), mmsync._ext.__file__
with mmsync.Writer('$shm/py') as w, mmsync.Reader('$shm/py') as r:
    w.write(b'packaged')
    with r.read() as v:
        print(bytes(v).decode())
" 2>&1) || fail "the unpacked Python module: $out"
[ "$out" = packaged ] || fail "the unpacked Python module read: $out"
echo "ok - the unpacked Python module imports, writes and reads"
