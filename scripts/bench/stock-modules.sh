#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Copy Debian's stock modules NAME... from the image into DIR, decompressed.
#
# usage: stock-modules.sh DIR NAME...
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
dir=$1
shift
for m in "$@"; do
	f=$(find "$KMODDIR/kernel" -name "$m.ko*" | head -1)
	[ -n "$f" ] || { echo "error: $m.ko not in $KMODDIR" >&2; exit 1; }
	case "$f" in
	*.xz) xz -dc "$f" ;;
	*.zst) zstd -qdc "$f" ;;
	*) cat "$f" ;;
	esac >"$dir/$m.ko"
done
