#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Emit the whole change as a git format-patch series against the kernel
# tree: one commit per line of patches/series, each applying that patch and
# adding the new files the line names.  The result applies with "git am" to
# a linux-6.12 tree.
#
# usage: patchset.sh PRISTINE_SRC OUTDIR [--verify]
#   --verify  apply the emitted series in order to a copy of the pristine
#             tree ("git apply --check", then apply) and check that the
#             result equals the tree that "make" builds
set -euo pipefail

pristine=$(cd "$1" && pwd) outdir=$(realpath -m "$2") verify=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

"$here/series.sh" check "$repo"
work=$(mktemp -d "${TMPDIR:-/tmp}/kvm-nested-patchset.XXXXXX")
trap 'rm -rf "$work"' EXIT

# A git repo holding the pristine versions of every upstream file the series
# touches is enough to generate patches against the whole tree.
git init -q "$work/git"
cd "$work/git"
"$here/series.sh" list "$repo" | while read -r p _; do
	sed -n 's|^--- a/||p' "$("$here/series.sh" patch "$repo" "$p" "$pristine")"
done | sort -u | while read -r f; do
	if [ -f "$pristine/$f" ]; then
		mkdir -p "$(dirname "$f")"
		cp "$pristine/$f" "$f"
	fi
done
git add -A
git -c user.name=base -c user.email=base@localhost commit -q --allow-empty -m "linux $(make -s -C "$pristine" kernelversion 2>/dev/null || echo 6.12)"
base=$(git rev-parse HEAD)

"$here/series.sh" list "$repo" | while read -r p files; do
	pf=$("$here/series.sh" patch "$repo" "$p" "$pristine")
	git mailinfo "$work/msg" "$work/diff" <"$pf" >"$work/info"
	author=$(sed -n 's/^Author: //p' "$work/info")
	email=$(sed -n 's/^Email: //p' "$work/info")
	date=$(sed -n 's/^Date: //p' "$work/info")
	subject=$(sed -n 's/^Subject: //p' "$work/info")
	[ -n "$subject" ] || { echo "error: ${pf#"$repo"/} has no Subject" >&2; exit 1; }
	if [ -s "$work/diff" ]; then
		git apply --index "$work/diff" || { echo "error: ${pf#"$repo"/} does not apply" >&2; exit 1; }
	fi
	for f in $files; do
		mkdir -p "$(dirname "$f")"
		cp "$repo/$f" "$f"
		git add "$f"
	done
	{ echo "$subject"; echo; cat "$work/msg"; } >"$work/commitmsg"
	[ -n "$date" ] && export GIT_AUTHOR_DATE=$date || unset GIT_AUTHOR_DATE
	GIT_AUTHOR_NAME=$author GIT_AUTHOR_EMAIL=$email \
		git -c user.name="$author" -c user.email="$email" \
		commit -q --allow-empty -F "$work/commitmsg"
done

rm -rf "$outdir"
mkdir -p "$outdir"
git format-patch -q --no-signature -o "$outdir" "$base..HEAD"
n=$(find "$outdir" -name '*.patch' | wc -l)

if [ "$verify" = --verify ]; then
	cp -al "$pristine" "$work/tree"
	for p in "$outdir"/*.patch; do
		git -C "$work/tree" apply --check "$p" 2>/dev/null ||
			(cd "$work/tree" && git apply --check "$p") ||
			{ echo "error: $(basename "$p") does not apply in order" >&2; exit 1; }
		# patch(1) replaces files instead of writing through the hard links.
		patch -p1 -s -N --no-backup-if-mismatch -d "$work/tree" <"$p" >/dev/null
	done
	"$here/mktree.sh" "$pristine" "$work/ref" "$repo"
	if ! diff -r -q "$work/tree" "$work/ref" >"$work/diffs"; then
		cat "$work/diffs" >&2
		echo "error: the series does not reproduce the build tree" >&2
		exit 1
	fi
	echo "$n patches apply in order to $pristine and reproduce the build tree"
else
	echo "$n patches in $outdir"
fi
