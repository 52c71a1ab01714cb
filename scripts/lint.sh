#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make lint: no new warnings, per checker.
#
#   checkpatch  --strict on every patch of the format-patch series (which
#               carries the new files too) and on each file of the userspace
#               harness: our lines only, so 0 is the bar
#   gcc-W=1     gcc W=1 build of the KVM modules
#   sparse      C=2 CF=-Wno-cast-truncate on the same build
#   clang       LLVM=1 W=1 build against a clang-configured tree
#
# Each build runs twice, on the stock KVM file set (the baseline, generated
# here and cached in $O/lint) and on ours.  Diagnostics are compared with
# paths and line numbers stripped; any diagnostic ours has more of than the
# baseline is new and fails the checker.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
"$here/deps.sh" build lint patchset || exit 1
make --no-print-directory -s -C "$REPO" tree || exit 1

L=$O/lint
mkdir -p "$L"
export LC_ALL=C
pass=0 fail=0

verdict() { # checker new-count detail-file
	if [ "$2" -eq 0 ]; then
		echo "lint: $1: 0 new warnings"
		pass=$((pass + 1))
	else
		echo "lint: $1: $2 new warnings:"
		sed 's/^/    /' "$3" | head -40
		fail=$((fail + 1))
	fi
}

# "path:line:col: warning: text" -> "file: warning: text"
normalize() {
	sed -nE 's|^(/[^ :]*/)?([^ :]+):[0-9]+(:[0-9]+)?: (warning\|error): |\2: \4: |p' |
		sed -E 's|^.*/(arch/x86/kvm/\|virt/kvm/\|include/)|\1|' | sort
}
# Diagnostics in $2 (sorted) beyond those in baseline $1 (sorted).
new_lines() {
	comm -13 "$1" "$2"
}

# --- checkpatch --------------------------------------------------------------
"$here/patchset.sh" "$KSRC" "$L/patchset" >/dev/null || exit 1
ign=$REPO/scripts/checkpatch.ignore
global=$(sed -n '/^\[shim\]/q; /^[A-Z_]/p' "$ign" | paste -sd, -)
shim=$(sed -n '/^\[shim\]/,$p' "$ign" | grep '^[A-Z_]' | paste -sd'|' -)
: >"$L/checkpatch.txt"
for p in "$L"/patchset/*.patch; do
	perl "$KSRC/scripts/checkpatch.pl" --strict --no-tree --terse --show-types \
		--showfile --ignore "$global" "$p" | grep -E ': (ERROR|WARNING|CHECK):' |
		grep -v -E "^tools/testing/kvm_nested/shim/.*: [A-Z]+:($shim):" |
		sed "s|^|$(basename "$p"): |" >>"$L/checkpatch.txt"
done
# The userspace harness is not in the series: check its files as files.
for f in $(cd "$REPO" && git ls-files 'tools/testing/kvm_nested/*.[ch]'); do
	perl "$KSRC/scripts/checkpatch.pl" --strict --no-tree --terse --show-types \
		--ignore "$global" -f "$REPO/$f" | grep -E ': (ERROR|WARNING|CHECK):' |
		sed "s|^$REPO/||" |
		grep -v -E "^tools/testing/kvm_nested/shim/.*: [A-Z]+:($shim):" >>"$L/checkpatch.txt"
done
verdict checkpatch "$(wc -l <"$L/checkpatch.txt")" "$L/checkpatch.txt"

# --- gcc W=1 and sparse --------------------------------------------------------
# build NAME TREE KBUILD_DIR MAKEFLAGS... : build the KVM set of TREE, log to $L/NAME.log
build() {
	local name=$1 tree=$2 kdir=$3
	shift 3
	rm -rf "$L/$name"
	"$here/kvmset.sh" sync "$tree" "$L/$name"
	cp "$here/kbuild/Kbuild" "$L/$name/Kbuild"
	cp "$here/kbuild/kvm.Kbuild" "$L/$name/arch/x86/kvm/Kbuild"
	make -C "$kdir" M="$L/$name" KVM_TREE="$L/$name" -j"$JOBS" "$@" modules \
		>"$L/$name.out" 2>"$L/$name.log"
}

gcc_flags=(W=1 C=2 CF=-Wno-cast-truncate)
echo "  LINT    gcc W=1 + sparse (stock baseline, then ours)"
if [ ! -f "$L/baseline-gcc.done" ]; then
	build stock-gcc "$KSRC" "$KDIR" "${gcc_flags[@]}" || { echo "lint: stock build failed" >&2; cat "$L/stock-gcc.log" | tail; exit 1; }
	normalize <"$L/stock-gcc.log" >"$L/baseline-gcc.diag"
	touch "$L/baseline-gcc.done"
fi
if build ours-gcc "$TREE" "$KDIR" "${gcc_flags[@]}"; then
	normalize <"$L/ours-gcc.log" >"$L/ours-gcc.diag"
	new_lines "$L/baseline-gcc.diag" "$L/ours-gcc.diag" >"$L/new-gcc.diag"
	grep -e '\[-W' "$L/new-gcc.diag" >"$L/new-W1.diag"
	grep -v -e '\[-W' "$L/new-gcc.diag" >"$L/new-sparse.diag"
	verdict "gcc W=1" "$(wc -l <"$L/new-W1.diag")" "$L/new-W1.diag"
	verdict "sparse C=2" "$(wc -l <"$L/new-sparse.diag")" "$L/new-sparse.diag"
else
	tail -20 "$L/ours-gcc.log"
	echo "lint: gcc W=1: build failed"
	echo "lint: sparse C=2: build failed"
	fail=$((fail + 2))
fi

# --- clang ---------------------------------------------------------------------
# Debian's headers are configured for gcc; configure a tree of the same
# source and config for clang (cached, diagnostics only).
ctree=$KCACHE/clang-$KABI
if [ ! -f "$ctree/.done" ]; then
	echo "  LINT    configuring a clang tree in $ctree (once, a few minutes)"
	rm -rf "$ctree"
	mkdir -p "$ctree"
	cp "$KDIR/.config" "$ctree/.config"
	"$KSRC/scripts/config" --file "$ctree/.config" \
		--set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
		--disable DEBUG_INFO_BTF --disable MODULE_SIG_ALL
	if make -C "$KSRC" O="$ctree" LLVM=1 olddefconfig modules_prepare -j"$JOBS" \
		>"$L/clang-prepare.log" 2>&1; then
		touch "$ctree/.done"
	else
		tail -20 "$L/clang-prepare.log"
	fi
fi
# The configured tree has no Module.symvers: unresolved symbols are expected.
clang_flags=(LLVM=1 W=1 KBUILD_MODPOST_WARN=1)
if [ -f "$ctree/.done" ]; then
	echo "  LINT    clang W=1 (stock baseline, then ours)"
	if [ ! -f "$L/baseline-clang.done" ]; then
		build stock-clang "$KSRC" "$ctree" "${clang_flags[@]}" || { tail "$L/stock-clang.log"; exit 1; }
		normalize <"$L/stock-clang.log" >"$L/baseline-clang.diag"
		touch "$L/baseline-clang.done"
	fi
	if build ours-clang "$TREE" "$ctree" "${clang_flags[@]}"; then
		normalize <"$L/ours-clang.log" >"$L/ours-clang.diag"
		new_lines "$L/baseline-clang.diag" "$L/ours-clang.diag" >"$L/new-clang.diag"
		verdict "clang W=1" "$(wc -l <"$L/new-clang.diag")" "$L/new-clang.diag"
	else
		tail -20 "$L/ours-clang.log"
		echo "lint: clang: build failed"
		fail=$((fail + 1))
	fi
else
	echo "lint: clang: could not configure a clang tree (see $L/clang-prepare.log)"
	fail=$((fail + 1))
fi

echo "lint: $pass passed, $fail failed"
[ $fail -eq 0 ]
