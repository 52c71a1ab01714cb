#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Lay out a benchmark directory for scripts/vm/run.sh --bench: Debian's
# stock kvm and kvm-VENDOR (decompressed) in DIR/stock, ours in DIR/ours,
# and the selftest TEST in DIR; with BENCH_BEFORE set, the kvm.ko and
# kvm-VENDOR.ko in that directory in DIR/before.  DIR is emptied first.
#
# usage: bench-dir.sh DIR amd|intel TEST
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
dir=$1 vendor=$2 test=$3

rm -rf "$dir"
mkdir -p "$dir/stock" "$dir/ours"
for m in kvm "kvm-$vendor"; do
	"$here/../vm/stock-ko.sh" "$m" "$dir/stock/$m.ko"
	cp "$KVMTREE/arch/x86/kvm/$m.ko" "$dir/ours/"
done
if [ -n "${BENCH_BEFORE:-}" ]; then
	mkdir -p "$dir/before"
	cp "$BENCH_BEFORE/kvm.ko" "$BENCH_BEFORE/kvm-$vendor.ko" "$dir/before/"
fi
cp "$KSFT/$test" "$dir/"
