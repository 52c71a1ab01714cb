#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-releases: the series on every Debian point release of
# linux-source-<KVER> that the archive serves (apt-cache madison), or on
# RELEASES="<Debian version> ...".  For each release, in a build directory
# of its own ($O/releases/<version>) and with that version's own cache
# entry:
#   applies   the series applies (its variants for that release where it
#             has them: patches/releases/, scripts/release-rebase.sh)
#   builds    the modules and static selftests build against that release's
#             headers
#   series    every commit builds on its own with W=1 and no warning (make
#             series-build), make patchset emits the series, and checkpatch
#             --strict (with scripts/checkpatch.ignore, as make lint) finds
#             nothing in it
#   qemu      that release's own kernel boots in QEMU with the modules and
#             runs tests/releases-qemu.list (nested SVM)
#   bochs     the same in Bochs with tests/releases-bochs.list (nested VMX)
# The two emulators run in parallel, one release after another.
#
# Prints a matrix of every release checked so far in $O (also kept in
# $O/releases/matrix.md, as the README's table) and the totals line of
# this run.  CHECK_RELEASES_SERIES=0 leaves out the series
# column, the longest.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# make exports the pinned release's paths: each release here derives its
# own from DEB_VERSION and KABI.
unset KSRC KDIR KIMAGE KMODDIR KCACHE TREE KVMTREE HDR KSFT MODULE_ABI DEB_VERSION KABI
O=${O:-$repo/build}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-nested}
export CACHE

pin() { sed -n "s/^$1[[:space:]]*?=[[:space:]]*//p" "$repo/scripts/pin.mk"; }
kver=$(pin KVER) pkabi=$(pin KABI)

"$here/deps.sh" build vm >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
releases=${RELEASES:-$(apt-cache madison "linux-source-$kver" | awk '{print $3}' | sort -uV)}
[ -n "$releases" ] || {
	echo "error: the archive serves no linux-source-$kver (apt-get update?); set RELEASES=" >&2
	echo "0 passed, 1 failed"
	exit 1
}

top=$O/releases
mkdir -p "$top"
matrix=$top/matrix.md
t_start=$(date +%s)
pass=0 fail=0 skip=0
cols=(applies builds series qemu bochs)
declare -A cell

note() { echo "==> $* ($(date +%H:%M:%S))"; }

# mk VERSION LOG TARGET...: make for one release, in its build directory.
mk() {
	local v=$1 log=$2
	shift 2
	O=$top/$v make --no-print-directory -C "$repo" DEB_VERSION="$v" \
		KABI="${v%%-*}+${pkabi#*+}" "$@" >>"$log" 2>&1
}

# checkpatch --strict on a release's emitted series, as scripts/lint.sh runs
# it on the pinned one; prints what it finds.
checkpatch() { # version
	local ign=$repo/scripts/checkpatch.ignore global p
	global=$(sed -n '/^\[shim\]/q; /^[A-Z_]/p' "$ign" | paste -sd, -)
	for p in "$top/$1"/patchset/*.patch; do
		perl "$CACHE/$1/linux-source-$kver/scripts/checkpatch.pl" --strict --no-tree \
			--terse --show-types --showfile --ignore "$global" "$p" |
			{ grep -E ': (ERROR|WARNING|CHECK):' || true; } | sed "s|^|$(basename "$p"): |"
	done
}

vm() { # version backend
	local v=$1 be=$2 d=$top/$1 kabi=${1%%-*}+${pkabi#*+} res
	KIMAGE=$CACHE/$v/root/boot/vmlinuz-$kabi KMODDIR=$CACHE/$v/root/lib/modules/$kabi \
		"$here/vm/run.sh" --backend "$be" --list "$repo/tests/releases-$be.list" \
		--mods "$d/kvm/arch/x86/kvm" --selftests "$d/selftests" --out "$d/vm/$be" \
		--quiet >"$d/$be.log" 2>&1
	"$here/vm/verdict.sh" "$be" "$repo/tests/releases-$be.list" "$d/vm/$be/results" >"$d/$be.verdict"
	res=$(awk '$1 == "totals" { print ($3 == 0 && $2 > 0) ? "PASS " $2 "/" $2+$3 : "FAIL " $2 "/" $2+$3 }' "$d/$be.verdict")
	echo "${res:-FAIL no results}" >"$d/$be.cell"
}

for v in $releases; do
	d=$top/$v
	rm -rf "$d/vm" "$d"/*.log "$d"/*.cell
	mkdir -p "$d"
	t0=$(date +%s)
	note "$v: fetch, apply, build"
	for c in "${cols[@]}"; do cell[$v,$c]="-"; done
	if ! mk "$v" "$d/build.log" fetch; then
		cell[$v,applies]="FAIL fetch"
	elif ! mk "$v" "$d/build.log" tree; then
		cell[$v,applies]=FAIL
	else
		n=$(find "$repo/patches/releases/$v" -name '*.patch' 2>/dev/null | wc -l)
		cell[$v,applies]="PASS ($n variants)"
		if mk "$v" "$d/build.log" modules selftests; then
			cell[$v,builds]=PASS
		else
			cell[$v,builds]=FAIL
		fi
	fi
	if [ "${cell[$v,builds]}" = PASS ]; then
		note "$v: QEMU and Bochs smoke lists"
		vm "$v" qemu &
		vm "$v" bochs &
		wait
		cell[$v,qemu]=$(cat "$d/qemu.cell")
		cell[$v,bochs]=$(cat "$d/bochs.cell")
		if [ "${CHECK_RELEASES_SERIES:-1}" = 0 ]; then
			cell[$v,series]="SKIP"
		else
			note "$v: build after every commit, patchset"
			if mk "$v" "$d/series.log" series-build && mk "$v" "$d/series.log" patchset &&
			   checkpatch "$v" >"$d/checkpatch.txt" && [ ! -s "$d/checkpatch.txt" ]; then
				cell[$v,series]=PASS
			else
				cell[$v,series]=FAIL
			fi
		fi
	fi
	for c in "${cols[@]}"; do
		case ${cell[$v,$c]} in
		PASS*) pass=$((pass + 1)) ;;
		SKIP*) skip=$((skip + 1)) ;;
		*) fail=$((fail + 1)) ;;
		esac
	done
	echo "    $v: $(for c in "${cols[@]}"; do printf '%s=%s  ' "$c" "${cell[$v,$c]}"; done)$(($(date +%s) - t0)) s"
	# This release's row of the matrix, kept for later runs of others.
	{
		printf '| %s%s |' "$v" "$([ "${v%%-*}+${pkabi#*+}" = "$pkabi" ] && echo ' (pinned)')"
		for c in "${cols[@]}"; do printf ' %s |' "${cell[$v,$c]}"; done
		printf ' %s, %s s |\n' "$(date -u +%Y-%m-%d)" "$(($(date +%s) - t0))"
	} >"$d/row.md"
done

# The matrix: every release checked so far, this run's and earlier runs'
# (RELEASES= checks some and keeps the others' rows).
{
	echo "| Debian release | applies | builds | series (W=1 each commit, patchset, checkpatch) | QEMU (nested SVM) | Bochs (nested VMX) | checked, time |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	find "$top" -mindepth 2 -maxdepth 2 -name row.md | sort -V | xargs -r cat
	echo
	echo "This run: ${releases//$'\n'/ } in $(($(date +%s) - t_start)) s."
} >"$matrix"
echo
cat "$matrix"
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
