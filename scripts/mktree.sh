#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Assemble the patched kernel tree: a hard-linked copy of the pristine
# source, the patch series applied in order, and the project's new files
# copied in.  patch(1) and cp --remove-destination replace files instead of
# writing through the links, so the pristine tree is never modified.
#
# usage: mktree.sh PRISTINE_SRC OUT_TREE REPO
set -euo pipefail

pristine=$1 out=$2 repo=$3
series=$repo/patches/series

[ -f "$pristine/Makefile" ] || { echo "error: no kernel source at $pristine (set KSRC=)" >&2; exit 1; }

"$repo/scripts/series.sh" check "$repo"

rm -rf "$out.new"
mkdir -p "$(dirname "$out")"
cp -al "$pristine" "$out.new"

"$repo/scripts/series.sh" list "$repo" | while read -r patch files; do
	if grep -q '^+++ ' "$repo/patches/$patch"; then
		patch -p1 -s -N --no-backup-if-mismatch -d "$out.new" \
			<"$repo/patches/$patch" || {
			echo "error: patches/$patch does not apply" >&2
			exit 1
		}
	fi
	for f in $files; do
		mkdir -p "$out.new/$(dirname "$f")"
		cp --remove-destination "$repo/$f" "$out.new/$f"
	done
done

rm -rf "$out"
mv "$out.new" "$out"
