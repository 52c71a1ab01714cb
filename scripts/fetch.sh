#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fetch Debian's kernel packages for the pinned ABI into a cache and unpack
# them with dpkg -x.  Nothing is installed system-wide.  A repeat run finds
# the stamp file and does nothing.
#
# usage: fetch.sh CACHE_DIR KVER DEB_VERSION KABI
set -euo pipefail

cache=$1 kver=$2 debver=$3 kabi=$4
flavour=${kabi##*+deb12-}
common=${kabi%-"$flavour"}-common
pkgs=(
	"linux-source-$kver"
	"linux-headers-$kabi"
	"linux-headers-$common"
	"linux-kbuild-${kabi%-"$flavour"}"
	"linux-image-$kabi-unsigned"
)

stamp=$cache/.fetched-$debver-$kabi
[ -e "$stamp" ] && exit 0

mkdir -p "$cache/debs" "$cache/root"
cd "$cache/debs"
for p in "${pkgs[@]}"; do
	if ls "${p}_${debver//:/%3a}_"*.deb >/dev/null 2>&1; then
		continue
	fi
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
done

for deb in ./*.deb; do
	echo "  UNPACK  ${deb#./}"
	dpkg -x "$deb" "$cache/root"
done

# The headers package includes the -common Makefile by absolute path and its
# scripts/tools links point into /usr/lib/linux-kbuild-*: rewrite both to the
# unpacked copies so that nothing needs to be installed.
hdr=$cache/root/usr/src/linux-headers-$kabi
for l in scripts tools; do
	tgt=$(readlink "$hdr/$l" || true)
	case "$tgt" in
	/*) ln -sfn "$cache/root$tgt" "$hdr/$l" ;;
	esac
done
sed -i "s|/usr/src/linux-headers-$common|$cache/root/usr/src/linux-headers-$common|g" "$hdr/Makefile"
tar -C "$cache" -xf "$cache/root/usr/src/linux-source-$kver.tar.xz"
touch "$stamp"
