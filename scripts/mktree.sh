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

[ -f "$pristine/Makefile" ] || { echo "error: no kernel source at $pristine (set KSRC=)" >&2; exit 1; }

"$repo/scripts/series.sh" check "$repo"

rm -rf "$out.new"
mkdir -p "$(dirname "$out")"
cp -al "$pristine" "$out.new"

"$repo/scripts/series.sh" list "$repo" | while read -r patch files; do
	pf=$("$repo/scripts/series.sh" patch "$repo" "$patch" "$pristine")
	if grep -q '^+++ ' "$pf"; then
		# No fuzz: a patch whose context differs in this release needs a
		# variant (scripts/release-rebase.sh), not a guess.
		patch -p1 -s -N -F0 --no-backup-if-mismatch -d "$out.new" <"$pf" || {
			echo "error: ${pf#"$repo"/} does not apply to $pristine" \
				"($("$repo/scripts/version-check.sh" --id "$pristine"));" \
				"see README, Other point releases" >&2
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
