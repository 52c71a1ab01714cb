#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Read patches/series.  Each line names one commit of the series:
#
#   <patch file>  [new file ...]
#
# The patch changes upstream files; the new files (repo-relative, kernel-tree
# layout) are added by the same commit.  Blank lines and '#' comments are
# ignored.
#
#   series.sh list  REPO   print "patch files..." per commit
#   series.sh check REPO   every new file in the repo is in exactly one
#                          commit, and every listed file/patch exists
set -euo pipefail

cmd=$1 repo=$2
series=$repo/patches/series

list() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series"
}

case "$cmd" in
list)
	list
	;;
check)
	rc=0
	listed=$(list | awk '{for (i = 2; i <= NF; i++) print $i}' | sort)
	dups=$(printf '%s\n' "$listed" | uniq -d)
	[ -z "$dups" ] || { echo "error: in more than one commit of patches/series: $dups" >&2; rc=1; }
	while read -r p _; do
		[ -f "$repo/patches/$p" ] ||
			{ echo "error: patches/series names missing patches/$p" >&2; rc=1; }
	done < <(list)
	while read -r p _; do
		[ -f "$repo/patches/$p" ] || continue
		paths=$(sed -n 's|^+++ b/||p; s|^--- a/||p' "$repo/patches/$p" | sort -u)
		# shellcheck disable=SC2086
		"$repo/scripts/kvmset.sh" allowed $paths || rc=1
	done < <(list)
	# shellcheck disable=SC2086
	[ -z "$listed" ] || "$repo/scripts/kvmset.sh" allowed $listed || rc=1
	for f in $listed; do
		[ -f "$repo/$f" ] || { echo "error: patches/series names missing $f" >&2; rc=1; }
	done
	present=$(cd "$repo" && git ls-files --cached --others --exclude-standard \
		arch virt include tools Documentation 2>/dev/null | sort)
	extra=$(comm -13 <(printf '%s\n' "$listed") <(printf '%s\n' "$present") | sed '/^$/d')
	[ -z "$extra" ] || { printf 'error: new files not in patches/series:\n%s\n' "$extra" >&2; rc=1; }
	exit $rc
	;;
*)
	echo "usage: series.sh list|check REPO" >&2
	exit 2
	;;
esac
