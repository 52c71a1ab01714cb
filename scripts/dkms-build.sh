#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS build hook: the modules for kernel $1 (DKMS's ${kernelver}), against
# /lib/modules/$1/build, from the linux-source package of exactly that
# kernel's Debian version.  Never from another: when a host upgrades its
# kernel and the old source stays installed, the old release's KVM code
# would pass the vermagic check of the new release's headers.  Debian
# installs one linux-source-<series> version at a time, as
# /usr/src/linux-source-<series>.tar.xz, so a kernel whose version is not the
# installed one gets the apt-get line that installs it.
#
# With KSRC in the environment, that tree is used instead; the build's
# scripts/version-check.sh refuses it too if its version is not $1's.
set -euo pipefail

kver=$1
cd "$(dirname "$0")/.."

installed_version() { # PACKAGE: its version if installed, else nothing
	# dpkg-query fails for a package it has never seen: that is "nothing".
	{ dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null || true; } |
		sed -n 's/^installed //p'
}

if [ -z "${KSRC:-}" ]; then
	# The Debian version of kernel $kver: its headers package, which DKMS
	# needs anyway, or its image package.
	debver=
	for p in "linux-headers-$kver" "linux-image-$kver" "linux-image-$kver-unsigned"; do
		debver=$(installed_version "$p")
		[ -z "$debver" ] || break
	done
	if [ -z "$debver" ]; then
		echo "error: no installed Debian package is kernel $kver (linux-headers-$kver); set KSRC= to its source" >&2
		exit 1
	fi
	series=$(echo "$kver" | sed -n 's/^\([0-9]\+\.[0-9]\+\).*/\1/p')
	src=linux-source-$series
	have=$(installed_version "$src")
	tarball=/usr/src/$src.tar.xz
	if [ "$have" != "$debver" ] || [ ! -f "$tarball" ]; then
		cat >&2 <<MSG
error: kvm-nested for kernel $kver (Debian $debver) is built only
       from $src of the same version, and $src is ${have:+version }${have:-not installed}.
       As root run:
  apt-get install $src=$debver
MSG
		if ! apt-cache show "$src=$debver" >/dev/null 2>&1; then
			echo "       (apt lists no such version: run apt-get update; Debian keeps every old version on snapshot.debian.org)" >&2
		fi
		exit 1
	fi
	# One tree per version: after the source package is upgraded, a tree
	# unpacked for an earlier build is another version's.
	KSRC=$PWD/build/$src-$debver
	if [ ! -f "$KSRC/.debian-version" ]; then
		rm -rf build/"$src"-* build/"$src"
		mkdir -p build/unpack.new
		tar -C build/unpack.new -xf "$tarball"
		# The tarball carries no Debian version: record the package's.
		echo "$debver" >"build/unpack.new/$src/.debian-version"
		mv "build/unpack.new/$src" "$KSRC"
		rmdir build/unpack.new
	fi
fi
exec make KSRC="$KSRC" KDIR="/lib/modules/$kver/build" KABI="$kver" modules
