#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test VM's initramfs: busybox-static, the modules the KVM modules
# under test depend on (irqbypass.ko, and ccp.ko for a kvm-amd with SEV) from
# KMODDIR, the KVM modules, the selftests named by the test list, and
# scripts/vm/init.
#
# usage: mkinitramfs.sh OUT.cpio
# environment: VENDOR (amd|intel), MODS (dir with kvm*.ko, or "stock"),
#   KMODDIR (the image's /lib/modules/<abi>, or any directory that holds
#   irqbypass.ko), KSFT_DIR (built selftests),
#   LIST (test list), KVM_PARAMS, VENDOR_PARAMS, TEST_TIMEOUT, BENCH_DIR,
#   PANIC_ON_WARN (1: a WARN after boot panics the VM),
#   EXTRA_ROOT (a directory merged into the initramfs' root: the VMM and
#   .flat files of the kvm-unit-tests tier, scripts/kut/build.sh)
set -euo pipefail

out=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/kvm-nested-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,kvm/modules,kvm/tests,kvm/bench}
cp /bin/busybox "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod +x "$root/init"

stock_ko() {
	"$here/stock-ko.sh" "$1" "$root/kvm/modules/$1.ko"
}

if [ "$MODS" = stock ]; then
	for m in kvm "kvm-$VENDOR"; do stock_ko "$m"; done
	modset=stock
else
	cp "$MODS/kvm.ko" "$MODS/kvm-$VENDOR.ko" "$root/kvm/modules/"
	modset=ours
fi
# What kvm and kvm-$VENDOR need besides each other (init loads them).
for m in $(modinfo -F depends "$root/kvm/modules/kvm.ko" "$root/kvm/modules/kvm-$VENDOR.ko" |
	   tr ',' '\n' | grep -v -x -e kvm -e '' | sort -u); do
	case $m in
	irqbypass|ccp) stock_ko "$m" ;;
	*) echo "error: kvm modules need $m, which the VM's init does not load" >&2; exit 1 ;;
	esac
done

grep -v -e '^#' -e '^$' "$LIST" >"$root/kvm/list" || true
for t in $(awk '$1 !~ /^!/ {print $1}' "$root/kvm/list" | sort -u); do
	[ -x "$KSFT_DIR/$t" ] || { echo "error: selftest $t not built in $KSFT_DIR" >&2; exit 1; }
	mkdir -p "$root/kvm/tests/$(dirname "$t")"
	cp "$KSFT_DIR/$t" "$root/kvm/tests/$t"
done
[ -z "${BENCH_DIR:-}" ] || cp -r "$BENCH_DIR/." "$root/kvm/bench/"
[ -z "${EXTRA_ROOT:-}" ] || cp -a "$EXTRA_ROOT/." "$root/"

cat >"$root/kvm/config" <<CFG
VENDOR=$VENDOR
MODSET=$modset
KVM_PARAMS="${KVM_PARAMS:-}"
VENDOR_PARAMS="${VENDOR_PARAMS:-}"
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
PANIC_ON_WARN=${PANIC_ON_WARN:-0}
CFG

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out"
