#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Refuse to build the modules from one kernel's source against another
# kernel's headers.  The vermagic check after the build compares only the
# headers' release string, so such modules load and then run another
# release's KVM code; between two releases whose APIs happen to agree the
# build does not even fail.  Both the upstream version (VERSION.PATCHLEVEL.
# SUBLEVEL) and the Debian package version must be equal: Debian can change
# the code without changing the upstream version or the ABI name.
#
# usage: version-check.sh KSRC KDIR   check, print one line; exit 1 and name
#                                     both versions on a mismatch
#        version-check.sh --id DIR    "Linux <version> Debian <version>" of
#                                     a source tree or headers directory
#
# Where the versions come from:
#   source   VERSION/PATCHLEVEL/SUBLEVEL of KSRC/Makefile; the Debian version
#            from KSRC/debian/changelog (a Debian source tree, e.g. from
#            "apt-get source linux") or KSRC/.debian-version, which
#            scripts/fetch.sh and scripts/dkms-build.sh write when they
#            unpack linux-source-<kver>.tar.xz (the tarball carries none)
#   headers  include/config/kernel.release (or utsrelease.h), cross-checked
#            with the Makefile's VERSION lines; the Debian version from
#            include/generated/package.h, which Debian's build fills in
#            (" Debian 6.12.117-1~deb12u1"), else as for a source tree, else
#            from the tree a kernel "O=" build directory's "source" link
#            names (the debug kernel of make check-debug)
set -euo pipefail

# VERSION.PATCHLEVEL.SUBLEVEL of a kernel Makefile.  Debian's per-flavour
# headers Makefile and an O= build directory's Makefile only include the real
# one by absolute path: follow such an include.
make_version() {
	local mk=$1 v inc n=0
	while [ -f "$mk" ] && [ $n -lt 4 ]; do
		v=$(awk -F' *= *' '
			$1 == "VERSION" && v == "" { v = $2 }
			$1 == "PATCHLEVEL" && p == "" { p = $2 }
			$1 == "SUBLEVEL" && s == "" { s = $2 }
			END { if (v != "" && p != "") print v "." p "." (s == "" ? 0 : s) }' "$mk")
		if [ -n "$v" ]; then
			echo "$v"
			return
		fi
		inc=$(sed -n 's|^include[[:space:]]\+\(/[^[:space:]]*\)[[:space:]]*$|\1|p' "$mk" | head -1)
		[ -n "$inc" ] || return 0
		mk=$inc n=$((n + 1))
	done
}

# The release the headers build for (what vermagic will say).
headers_release() {
	local d=$1
	if [ -f "$d/include/config/kernel.release" ]; then
		head -1 "$d/include/config/kernel.release"
	elif [ -f "$d/include/generated/utsrelease.h" ]; then
		sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$d/include/generated/utsrelease.h"
	fi
}

tree_debian() {
	local d=$1
	if [ -f "$d/debian/changelog" ]; then
		sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$d/debian/changelog"
	elif [ -f "$d/.debian-version" ]; then
		head -1 "$d/.debian-version"
	fi
}

headers_debian() {
	local d=$1 v=
	if [ -f "$d/include/generated/package.h" ]; then
		v=$(sed -n 's/^#define LINUX_PACKAGE_ID " *Debian \([^ "]*\) *"$/\1/p' "$d/include/generated/package.h")
	fi
	[ -n "$v" ] || v=$(tree_debian "$d")
	if [ -z "$v" ] && [ -L "$d/source" ]; then
		v=$(tree_debian "$d/source")
	fi
	echo "$v"
}

if [ "${1:-}" = --id ]; then
	d=$2
	rel=$(headers_release "$d")
	if [ -n "$rel" ]; then
		echo "Linux $rel Debian $(headers_debian "$d")"
	else
		echo "Linux $(make_version "$d/Makefile") Debian $(tree_debian "$d")"
	fi
	exit 0
fi

[ $# -eq 2 ] || { echo "usage: version-check.sh KSRC KDIR | --id DIR" >&2; exit 2; }
ksrc=$1 kdir=$2

sv=$(make_version "$ksrc/Makefile")
[ -n "$sv" ] || { echo "error: no kernel source at KSRC=$ksrc (no Makefile with VERSION)" >&2; exit 1; }
rel=$(headers_release "$kdir")
[ -n "$rel" ] || { echo "error: no kernel headers at KDIR=$kdir (no include/config/kernel.release)" >&2; exit 1; }
hv=$(echo "$rel" | sed -n 's/^\([0-9]\+\.[0-9]\+\.[0-9]\+\).*/\1/p')
hmv=$(make_version "$kdir/Makefile")
if [ -n "$hmv" ] && [ "$hmv" != "$hv" ]; then
	echo "error: KDIR=$kdir is inconsistent: its Makefile says $hmv, its kernel.release $rel" >&2
	exit 1
fi
sd=$(tree_debian "$ksrc")
hd=$(headers_debian "$kdir")

if [ "$sv" = "$hv" ] && [ "$sd" = "$hd" ]; then
	if [ -n "$sd" ]; then
		echo "  VERSION source and headers are both Linux $sv, Debian $sd ($rel)"
	else
		echo "  VERSION source and headers are both Linux $sv ($rel); neither records a Debian version"
	fi
	exit 0
fi

cat >&2 <<MSG
error: the kernel source and the headers are different versions:
         source   Linux $sv, Debian ${sd:-(none recorded)}
                  KSRC=$ksrc
         headers  Linux $hv ($rel), Debian ${hd:-(none recorded)}
                  KDIR=$kdir
       Modules built from one release's source against another's headers pass
       the vermagic check but run the wrong KVM code; refusing to build.
       Leave KSRC and KDIR unset to use the cache entry of DEB_VERSION, or
       point both at the same version.
MSG
if [ -z "$sd" ] && [ -n "$hd" ] && [ "$sv" = "$hv" ]; then
	cat >&2 <<MSG
       KSRC records no Debian version (no debian/changelog, no .debian-version).
       If it is the linux-source package of Debian $hd, say so with:
         echo $hd > $ksrc/.debian-version
MSG
fi
exit 1
