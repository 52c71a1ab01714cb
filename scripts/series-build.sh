#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make series-build: apply the series one commit at a time to a copy of the
# pristine tree and build after each: the KVM modules when the commit
# touches the kernel side (with W=1 and no warning), the selftests when it
# touches them.  Every commit must build on its own.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"

W=$O/series-build
rm -rf "$W"
mkdir -p "$W"
cp -al "$KSRC" "$W/src"
make --no-print-directory -s -C "$REPO" "$HDR/.stamp" >/dev/null 2>&1 || true

n=0 fail=0
while read -r patch files; do
	n=$((n + 1))
	pf=$("$here/series.sh" patch "$REPO" "$patch" "$KSRC")
	subject=$(git mailinfo /dev/null /dev/null <"$pf" | sed -n 's/^Subject: //p')
	if grep -q '^+++ ' "$pf"; then
		patch -p1 -s -N -F0 --no-backup-if-mismatch -d "$W/src" <"$pf" ||
			{ echo "FAIL $n $patch: does not apply"; fail=$((fail + 1)); break; }
	fi
	for f in $files; do
		mkdir -p "$W/src/$(dirname "$f")"
		cp --remove-destination "$REPO/$f" "$W/src/$f"
	done
	touched=$( (sed -n 's|^+++ b/||p' "$pf"; printf '%s\n' $files) | sort -u)
	what=
	if grep -q -e '^arch/' -e '^virt/' -e '^include/' <<<"$touched"; then
		"$here/kvmset.sh" sync "$W/src" "$W/kvm"
		cp "$here/kbuild/Kbuild" "$W/kvm/Kbuild"
		cp "$here/kbuild/kvm.Kbuild" "$W/kvm/arch/x86/kvm/Kbuild"
		if make -C "$KDIR" M="$W/kvm" KVM_TREE="$W/kvm" -j"$JOBS" W=1 modules \
			>"$W/$n.log" 2>&1 && ! grep -q 'warning:' "$W/$n.log"; then
			what="$what modules"
		else
			grep -E 'error|warning:' "$W/$n.log" | head -5
			echo "FAIL $n $subject: modules (see $W/$n.log)"
			fail=$((fail + 1))
			continue
		fi
	fi
	if grep -q '^tools/testing/selftests/kvm/' <<<"$touched"; then
		if make -C "$W/src/tools/testing/selftests/kvm" ARCH=x86_64 OUTPUT="$W/ksft" \
			INSTALL_HDR_PATH="$HDR" KHDR_INCLUDES="-isystem $HDR/include" \
			EXTRA_CFLAGS=-static -j"$JOBS" >"$W/$n-ksft.log" 2>&1; then
			what="$what selftests"
		else
			echo "FAIL $n $subject: selftests (see $W/$n-ksft.log)"
			fail=$((fail + 1))
			continue
		fi
	fi
	echo "ok   $n $subject:${what:- nothing to build}"
done < <("$here/series.sh" list "$REPO")

echo "series-build: $((n - fail)) passed, $fail failed"
[ $fail -eq 0 ]
