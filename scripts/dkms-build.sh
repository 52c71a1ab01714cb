#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS build hook: the modules for kernel $1, from the installed Debian
# linux-source package (or $KSRC) and /lib/modules/$1/build.
set -euo pipefail

kver=$1
cd "$(dirname "$0")/.."
if [ -z "${KSRC:-}" ]; then
	tarball=$(ls /usr/src/linux-source-6.12.tar.xz 2>/dev/null || true)
	[ -n "$tarball" ] || { echo "error: install linux-source-6.12 or set KSRC" >&2; exit 1; }
	if [ ! -f build/linux-source-6.12/Makefile ]; then
		mkdir -p build
		tar -C build -xf "$tarball"
	fi
	KSRC=$PWD/build/linux-source-6.12
fi
exec make KSRC="$KSRC" KDIR="/lib/modules/$kver/build" KABI="$kver" modules
