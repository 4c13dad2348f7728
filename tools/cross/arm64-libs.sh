#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The arm64 libraries a cross build of mmsync links, from Debian's archive,
# unpacked into DIR/root, and DIR/libs.ini, the cross file that makes meson
# use them (with tools/cross/aarch64-linux-gnu.ini). The machine is left as
# it is: apt works on a state of its own under DIR (no dpkg --add-architecture,
# nothing installed), with the machine's Debian sources. Idempotent.
#
#   tools/cross/arm64-libs.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
dir=$(cd "$1" && pwd)

# The -dev packages and what their .so files need at link time.
pkgs=(
	libxxhash-dev libxxhash0 libcmocka-dev libcmocka0
	liburing-dev liburing2 liblmdb-dev liblmdb0
	libbpf-dev libbpf1 libelf-dev libelf1 zlib1g-dev zlib1g
)
stamp=$dir/root/.packages
if [ "$(cat "$stamp" 2>/dev/null)" != "${pkgs[*]}" ]; then
	rm -rf "$dir/apt" "$dir/debs" "$dir/root"
	mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs" "$dir/root"
	: > "$dir/apt/status"
	apt=(apt-get -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64
		-o Dir::State::Lists="$dir/apt/lists" -o Dir::State::status="$dir/apt/status"
		-o Dir::Cache="$dir/apt/cache")
	"${apt[@]}" update >/dev/null
	# apt's download user cannot write here (root's directory): it warns so.
	(cd "$dir/debs" && "${apt[@]}" download "${pkgs[@]}" 2>&1 >/dev/null | grep -v 'unsandboxed' >&2 || true)
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root"
	done
	[ "$(ls "$dir"/debs/*.deb | wc -l)" -eq ${#pkgs[@]} ] ||
		{ echo "arm64-libs: not every package was fetched: ${pkgs[*]}" >&2; exit 1; }
	echo "${pkgs[*]}" > "$stamp"
fi

lib=$dir/root/usr/lib/aarch64-linux-gnu
lib2=$dir/root/lib/aarch64-linux-gnu # zlib1g's place
cat > "$dir/libs.ini" <<EOF
# Written by tools/cross/arm64-libs.sh: arm64 libraries in $dir/root.
[properties]
sys_root = '$dir/root'
pkg_config_libdir = ['$lib/pkgconfig', '$dir/root/usr/share/pkgconfig']

[built-in options]
# libbpf's own dependencies (libelf, zlib) are found here at link time.
c_link_args = ['-Wl,-rpath-link,$lib:$lib2']

[binaries]
# arm64 programs run under qemu-user, with the cross toolchain's C library
# and these libraries (meson test, for the tests that can run there).
exe_wrapper = ['qemu-aarch64', '-L', '/usr/aarch64-linux-gnu', '-E', 'LD_LIBRARY_PATH=$lib:$lib2']
EOF
echo "arm64-libs: $dir/root, cross file $dir/libs.ini"
