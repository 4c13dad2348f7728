#!/usr/bin/env bash
# Installs what mmsync builds and tests with (Debian packages), then
# configures and builds it with meson in ./build. Idempotent: packages
# already there are not fetched again. Run as root (or with sudo).
#
#   tools/setup.sh [BUILDDIR [MESON OPTIONS...]]
#
# With a --cross-file among the options, the arm64 cross compiler and
# qemu-user are installed too (the arm64 libraries: tools/cross/arm64-libs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	meson ninja-build pkg-config gcc g++ clang llvm libc6-dev libclang-rt-14-dev
	liburing-dev libbpf-dev libelf-dev zlib1g-dev bpftool
	libcmocka-dev libxxhash-dev liblmdb-dev
	spin xxhash prometheus python3 util-linux procps strace
	python3-dev python3-numpy python3-pytest python3-lmdb
	scdoc groff-base man-db
	dpkg-dev debhelper dh-python lintian bubblewrap
)
for a in "$@"; do
	case $a in --cross-file*) cross=1 ;; esac
done
if ((${cross:-0})); then
	packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

builddir=${1:-build}
shift || true
if [ -d "$builddir/meson-private" ]; then
	# Options given now change those of the existing directory (others
	# stay as set before); --reconfigure, not `meson configure`, so that
	# options added to meson_options.txt since it was set up are known.
	meson setup --reconfigure "$builddir" "$@" >/dev/null
else
	meson setup "$builddir" "$@"
fi
ninja -C "$builddir"
