#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Carry the series to another Debian point release of linux-source-6.12.
#
# patches/*.patch apply to the pinned release (scripts/pin.mk).  This script
# rebases them onto release DEB_VERSION with "git am -3" and stores a
# variant, patches/releases/DEB_VERSION/<patch>, of each patch that does not
# apply there as it is; the other patches need none.  The variant is the
# rebased commit: the same author, date and message, the diff against that
# release.  The new files of the series are the same for every release.
#
# How: a git repository in $O/rebase/DEB_VERSION holds the pristine pinned
# versions of every upstream file the series changes, with the series
# applied on top; a second root commit holds the same files of the target
# release, and the series is replayed onto it with "git am -3", which merges
# with the pinned versions where a patch's context moved.  A patch gets a
# variant unless applying the pinned patch (no fuzz) to the release gives
# exactly the rebased commit's tree.
#
# usage: release-rebase.sh DEB_VERSION
#            fetch that release, rebase, write its variants
#        release-rebase.sh --continue DEB_VERSION
#            after resolving a conflict the rebase stopped at (edit the
#            files, "git add" them, "git am --continue" in the directory it
#            names, repeat until the series is through), write the variants
#
# A conflict is not the only reason for a variant: where the release's own
# code differs in meaning (e.g. before 6.12.117 the vendor code, not x86.c,
# reports a failed get_nested_state_pages() to userspace), edit the rebased
# commit in that directory ("git rebase -i base-release") and run
# --continue.  Conflict resolutions are replayed by git rerere on the next
# run; such edits are not, so a run that rewrites a variant says so.
#
# Then build and test the release: make check-releases RELEASES=DEB_VERSION.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
O=${O:-$repo/build}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-nested}

cont=
[ "${1:-}" = --continue ] && { cont=1; shift; }
[ $# -eq 1 ] || { echo "usage: release-rebase.sh [--continue] DEB_VERSION" >&2; exit 2; }
target=$1

pin() { sed -n "s/^$1[[:space:]]*?=[[:space:]]*//p" "$repo/scripts/pin.mk"; }
kver=$(pin KVER) pinned=$(pin DEB_VERSION) pkabi=$(pin KABI)
case "$target" in
"$kver".[0-9]*-*) ;;
*) echo "error: $target is no Debian version of linux-source-$kver (e.g. $pinned)" >&2; exit 2 ;;
esac
[ "$target" != "$pinned" ] || { echo "error: $target is the pinned release: patches/*.patch are its series" >&2; exit 2; }
# The ABI name follows the upstream version: 6.12.115-2~deb12u1 builds
# 6.12.115+deb12-amd64.
tkabi=${target%%-*}+${pkabi#*+}

W=$O/rebase/$target
dest=$repo/patches/releases/$target
git_() { git -C "$W" -c user.name=kvm-nested -c user.email=kvm-nested@localhost "$@"; }

# The upstream files the series changes, from the pinned patches.
series_files() {
	"$here/series.sh" list "$repo" | while read -r p _; do
		sed -n 's|^--- a/||p' "$repo/patches/$p"
	done | sort -u
}

# A root commit holding @src's versions of the series' files.
commit_base() { # src message
	local f
	git_ rm -rqf --ignore-unmatch . >/dev/null
	series_files | while read -r f; do
		[ -f "$1/$f" ] || continue
		mkdir -p "$W/$(dirname "$f")"
		cp "$1/$f" "$W/$f"
	done
	git_ add -A
	git_ commit -q --allow-empty -m "$2"
}

start() {
	local ksrc_p=$CACHE/$pinned/linux-source-$kver ksrc_t=$CACHE/$target/linux-source-$kver p
	for v in "$pinned:$pkabi" "$target:$tkabi"; do
		make --no-print-directory -s -C "$repo" fetch DEB_VERSION="${v%%:*}" KABI="${v#*:}"
	done
	"$here/series.sh" check "$repo"

	rm -rf "$W" "$W.queue"
	mkdir -p "$W" "$O/rebase/rr-cache"
	git_ init -q
	# Conflict resolutions are recorded (git rerere) in one cache for all
	# releases: the same conflict in another release, or in a later run,
	# is resolved as before.
	git_ config rerere.enabled true
	git_ config rerere.autoUpdate true
	ln -s "$O/rebase/rr-cache" "$W/.git/rr-cache"
	commit_base "$ksrc_p" "linux-source $pinned"
	git_ tag base-pinned
	: >"$W.names"
	while read -r p _; do
		grep -q '^+++ ' "$repo/patches/$p" || continue
		git_ am -q --keep-cr "$repo/patches/$p" ||
			{ echo "error: patches/$p does not apply to $pinned" >&2; exit 1; }
		echo "$p" >>"$W.names"
	done < <("$here/series.sh" list "$repo")
	git_ branch -q pinned

	git_ checkout -q --orphan release
	commit_base "$ksrc_t" "linux-source $target"
	git_ tag base-release
	git_ format-patch -q --zero-commit --no-signature -o "$W.queue" base-pinned..pinned
	echo "  REBASE  $(wc -l <"$W.names") patches onto $target ($W)"
	git_ am -q -3 --keep-cr "$W.queue"/*.patch || true
	# Go on past the conflicts that rerere resolved.
	while [ -d "$W/.git/rebase-apply" ] &&
	      [ -z "$(git_ diff --name-only --diff-filter=U)" ] &&
	      ! git_ diff | grep '^[ +-]*[<>=]\{7\}' >/dev/null; do
		echo "  RERERE  $(git_ am --show-current-patch=raw 2>/dev/null | sed -n 's/^Subject: //p' | head -1)"
		git_ am -q --continue || true
	done
	if [ -d "$W/.git/rebase-apply" ]; then
		cat >&2 <<MSG

The rebase onto $target stopped at a conflict (above).  Resolve it:
  cd $W
  (edit the conflicted files)  git add <files>  git am --continue
repeat until the series is through, then write the variants with
  scripts/release-rebase.sh --continue $target
MSG
		exit 1
	fi
}

collect() {
	local idx=$W/.git/rebase-check.idx names commits i c p n=0
	[ ! -d "$W/.git/rebase-apply" ] ||
		{ echo "error: the rebase in $W is not finished: git am --continue there first" >&2; exit 1; }
	mapfile -t names <"$W.names"
	mapfile -t commits < <(git_ rev-list --reverse base-release..HEAD)
	[ ${#names[@]} -eq ${#commits[@]} ] ||
		{ echo "error: $W holds ${#commits[@]} commits on the release, the series ${#names[@]}" >&2; exit 1; }
	# What an earlier run wrote may hold a change a person made for this
	# release beyond a conflict (not replayed by rerere): compare below.
	rm -rf "$W.old"
	[ ! -d "$dest" ] || cp -a "$dest" "$W.old"
	rm -rf "$dest"
	mkdir -p "$dest"
	for i in "${!names[@]}"; do
		c=${commits[$i]} p=${names[$i]}
		rm -f "$idx"
		GIT_INDEX_FILE=$idx git_ read-tree "$c^"
		if GIT_INDEX_FILE=$idx git_ apply --cached "$repo/patches/$p" 2>/dev/null &&
		   [ "$(GIT_INDEX_FILE=$idx git_ write-tree)" = "$(git_ rev-parse "$c^{tree}")" ]; then
			continue
		fi
		git_ format-patch -1 --stdout --no-signature --zero-commit "$c" >"$dest/$p"
		echo "  VARIANT patches/releases/$target/$p"
		n=$((n + 1))
	done
	rm -f "$idx"
	for p in "$W.old"/*.patch; do
		[ -e "$p" ] || continue
		p=${p##*/}
		if ! cmp -s "$W.old/$p" "$dest/$p"; then
			echo "  CHANGED patches/releases/$target/$p: review 'diff $W.old/$p' and carry over any change made by hand (git rebase -i base-release in $W, then --continue)"
		fi
	done
	# No variant: the release takes the series as it is.
	if rmdir "$dest" 2>/dev/null; then
		rmdir "$repo/patches/releases" 2>/dev/null || true
	fi
	echo "$target: $n of ${#names[@]} patches need a variant; the rest apply as they are"
}

[ -n "$cont" ] || start
collect
