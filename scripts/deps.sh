#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages a tier needs, when they are missing.  As
# non-root, print the apt-get line instead and fail.
#
# usage: deps.sh build|lint|vm|unit...
set -euo pipefail

declare -A need=(
	[build]="make gcc bc flex bison libelf-dev libssl-dev kmod rsync patch xz-utils cpio dwarves"
	[lint]="sparse clang llvm lld perl"
	[vm]="qemu-system-x86 bochs bochsbios vgabios busybox-static syslinux syslinux-common mtools cpio zstd"
	[unit]="clang libclang-rt-14-dev"
	[patchset]="git"
	# kvm-unit-tests (scripts/kut/build.sh) and the VMM it puts in the VM.
	[kut]="make gcc binutils patch xz-utils qemu-system-x86 qemu-system-data seabios"
)

missing=()
for tier in "$@"; do
	for p in ${need[$tier]}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "error: missing packages; as root run:" >&2
	echo "  apt-get update && $line" >&2
	exit 1
fi
echo "  APT     ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet.
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/kvm-nested-apt.log 2>&1; then
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/kvm-nested-apt.log 2>&1 || {
		tail -20 /tmp/kvm-nested-apt.log >&2
		exit 1
	}
fi
