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
# One source of truth: a new file at the top of the repository holds its
# final content, exactly as the series ships it.  The commit that adds it
# carries that final form, and no patch of the series modifies it.
#
# tools/testing/kvm_nested, the userspace harness of nested.c, is this
# repository's own test tier: it builds the repository's nested.c and is
# not part of the series.
#
#   series.sh list   REPO       print "patch files..." per commit
#   series.sh check  REPO       every new file in the repo is in exactly one
#                               commit, every listed file/patch exists, and
#                               no patch modifies a file the series adds
#   series.sh verify REPO TREE  every file the series adds is, in TREE (the
#                               series applied), byte for byte the repo's
#   series.sh patch  REPO PATCH SRC
#                               the file of PATCH to apply to the pristine
#                               source SRC: its variant for SRC's Debian
#                               version if there is one, else patches/PATCH
#
# Other point releases.  patches/*.patch apply to the pinned release
# (scripts/pin.mk).  A patch whose context differs in another Debian release
# has a variant, patches/releases/<Debian version>/<patch>, with the same
# commit message and the same change rebased onto that release by
# scripts/release-rebase.sh; every other patch of the series applies there
# as it is.  The new files are the same for every release.
set -euo pipefail

cmd=$1 repo=$2
series=$repo/patches/series
# Not part of the series (see above).
local_dirs=(tools/testing/kvm_nested)

list() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$series"
}

# The local directory that holds @f, if any.
local_dir() { # f
	local d
	for d in "${local_dirs[@]}"; do
		case $1 in "$d"/*) echo "$d"; return ;; esac
	done
}

# The Debian version of a pristine source tree, as scripts/version-check.sh
# reads it.
src_debian() { # src
	"$repo/scripts/version-check.sh" --id "$1" | sed -n 's/^Linux .* Debian //p'
}

case "$cmd" in
list)
	list
	;;
patch)
	p=$3 v=$(src_debian "$4")
	if [ -n "$v" ] && [ -f "$repo/patches/releases/$v/$p" ]; then
		echo "$repo/patches/releases/$v/$p"
	else
		echo "$repo/patches/$p"
	fi
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
	# The files patch @1 (repo-relative) changes: only the KVM file set,
	# none the series adds, none outside the series.
	check_paths() { # patch
		local paths f d
		paths=$(sed -n 's|^+++ b/||p; s|^--- a/||p' "$repo/$1" | sort -u)
		# shellcheck disable=SC2086
		"$repo/scripts/kvmset.sh" allowed $paths || rc=1
		for f in $paths; do
			if grep -qxF "$f" <<<"$listed"; then
				echo "error: $1 modifies $f, which the series adds: put its final content in the file itself" >&2
				rc=1
			fi
			d=$(local_dir "$f")
			[ -z "$d" ] || { echo "error: $1 touches $f: $d is not part of the series" >&2; rc=1; }
		done
	}
	while read -r p _; do
		[ -f "$repo/patches/$p" ] && check_paths "patches/$p"
	done < <(list)
	# A release's variants stand for patches of the series, under the same
	# rules.
	names=$(list | awk '{print $1}')
	for v in "$repo"/patches/releases/*/*; do
		[ -e "$v" ] || continue
		p=${v##*/} rel=${v%/*} rel=${rel##*/}
		if ! grep -qxF "$p" <<<"$names"; then
			echo "error: patches/releases/$rel/$p is no patch of patches/series" >&2
			rc=1
			continue
		fi
		check_paths "patches/releases/$rel/$p"
	done
	# shellcheck disable=SC2086
	[ -z "$listed" ] || "$repo/scripts/kvmset.sh" allowed $listed || rc=1
	for f in $listed; do
		[ -f "$repo/$f" ] || { echo "error: patches/series names missing $f" >&2; rc=1; }
	done
	for f in $listed; do
		d=$(local_dir "$f")
		[ -z "$d" ] || { echo "error: patches/series adds $f: $d is not part of the series" >&2; rc=1; }
	done
	# A DKMS copy in /usr/src is no git checkout: list the files instead.
	if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		present=$(cd "$repo" && git ls-files --cached --others --exclude-standard \
			arch virt include tools Documentation | sort)
	else
		# find fails for a directory the copy lacks; list the rest.
		present=$(cd "$repo" && { find arch virt include tools Documentation \
			-type f 2>/dev/null || true; } | sort)
	fi
	for d in "${local_dirs[@]}"; do
		present=$(printf '%s\n' "$present" | grep -v "^$d/" || true)
	done
	extra=$(comm -13 <(printf '%s\n' "$listed") <(printf '%s\n' "$present") | sed '/^$/d')
	[ -z "$extra" ] || { printf 'error: new files not in patches/series:\n%s\n' "$extra" >&2; rc=1; }
	exit $rc
	;;
verify)
	tree=$3 rc=0 n=0
	for f in $(list | awk '{for (i = 2; i <= NF; i++) print $i}'); do
		n=$((n + 1))
		cmp -s "$repo/$f" "$tree/$f" ||
			{ echo "error: $tree/$f differs from the repository's $f" >&2; rc=1; }
	done
	[ $rc -ne 0 ] || echo "$n new files: the tree's copies equal the repository's"
	exit $rc
	;;
*)
	echo "usage: series.sh list|check REPO | verify REPO TREE | patch REPO PATCH SRC" >&2
	exit 2
	;;
esac
