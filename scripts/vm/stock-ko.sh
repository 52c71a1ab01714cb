#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Copy the module NAME from KMODDIR (the kernel image's /lib/modules/<abi>,
# or any directory holding it) to OUT, decompressed: busybox insmod takes
# plain ELF, and the signature sits inside the compressed file and
# survives.
#
# usage: stock-ko.sh NAME OUT
set -euo pipefail

name=$1 out=$2
f=$(find "$KMODDIR" -name "$name.ko*" | head -1)
[ -n "$f" ] || { echo "error: $name.ko not in $KMODDIR" >&2; exit 1; }
case "$f" in
*.xz) xz -dc "$f" ;;
*.zst) zstd -qdc "$f" ;;
*.gz) gzip -dc "$f" ;;
*) cat "$f" ;;
esac >"$out"
