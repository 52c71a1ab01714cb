#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian's kernel packages of one version into that version's cache
# directory and unpack them with dpkg -x.  Nothing is installed system-wide.
# A repeat run finds the stamp file and does nothing.
#
# Each Debian version gets a directory of its own (debs/, root/ and
# linux-source-<kver>/ under DIR = $(CACHE)/<DEB_VERSION>): unpacking two
# versions into one tree mixes one release's source with the other's
# headers.  Flavours of the same version (amd64, cloud-amd64) share it: they
# are one build of one source.
#
# usage: fetch.sh DIR KVER DEB_VERSION KABI
set -euo pipefail

dir=$1 kver=$2 debver=$3 kabi=$4
flavour=${kabi##*+deb12-}
common=${kabi%-"$flavour"}-common
pkgs=(
	"linux-source-$kver"
	"linux-headers-$kabi"
	"linux-headers-$common"
	"linux-kbuild-${kabi%-"$flavour"}"
	"linux-image-$kabi-unsigned"
)

stamp=$dir/.fetched-$kabi
[ -e "$stamp" ] && exit 0

mkdir -p "$dir/debs" "$dir/root"
cd "$dir/debs"
shopt -s nullglob
debs=()
for p in "${pkgs[@]}"; do
	found=("${p}_${debver//:/%3a}_"*.deb)
	if [ ${#found[@]} -eq 0 ]; then
		echo "  FETCH   $p=$debver"
		if ! apt-get download -q "$p=$debver" >/dev/null 2>apt.err; then
			cat apt.err >&2
			cat >&2 <<MSG

error: Debian no longer serves $p version $debver.
       The kernel base is pinned in scripts/pin.mk: set DEB_VERSION and KABI
       to a version that 'apt-cache policy linux-source-$kver' lists (run
       'apt-get update' first), or point KSRC= and KDIR= at your own kernel
       source and headers.
MSG
			exit 1
		fi
		found=("${p}_${debver//:/%3a}_"*.deb)
	fi
	deb=${found[0]}
	# What is unpacked here must be the version this directory is for.
	v=$(dpkg-deb -f "$deb" Version)
	[ "$v" = "$debver" ] || { echo "error: $deb is version $v, not $debver" >&2; exit 1; }
	debs+=("$deb")
done

# Only this fetch's packages: re-extracting another flavour's headers would
# undo the Makefile rewrite below.
for deb in "${debs[@]}"; do
	echo "  UNPACK  $deb"
	dpkg -x "$deb" "$dir/root"
done

# The headers package includes the -common Makefile by absolute path and its
# scripts/tools links point into /usr/lib/linux-kbuild-*: rewrite both to the
# unpacked copies so that nothing needs to be installed.
hdr=$dir/root/usr/src/linux-headers-$kabi
for l in scripts tools; do
	tgt=$(readlink "$hdr/$l" || true)
	case "$tgt" in
	/*) ln -sfn "$dir/root$tgt" "$hdr/$l" ;;
	esac
done
sed -i "s|^include /usr/src/linux-headers-$common|include $dir/root/usr/src/linux-headers-$common|" "$hdr/Makefile"

# The source tarball carries no Debian version: record the package's, for
# scripts/version-check.sh.  Unpacked beside and moved into place, so that
# an interrupted run leaves no tree without its version.
src=$dir/linux-source-$kver
if [ ! -f "$src/.debian-version" ]; then
	echo "  UNPACK  linux-source-$kver.tar.xz"
	rm -rf "$src" "$dir/src.new"
	mkdir -p "$dir/src.new"
	tar -C "$dir/src.new" -xf "$dir/root/usr/src/linux-source-$kver.tar.xz"
	dpkg-deb -f "${debs[0]}" Version >"$dir/src.new/linux-source-$kver/.debian-version"
	mv "$dir/src.new/linux-source-$kver" "$src"
	rmdir "$dir/src.new"
fi
touch "$stamp"
