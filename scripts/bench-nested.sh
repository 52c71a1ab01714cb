#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-nested: the L2-switch benchmarks, stock against ours in one boot
# each: nested SVM under QEMU TCG, nested VMX under Bochs; then, under QEMU,
# the invalidation benchmark: stock against ours at ratios 0, 8 and 64, in
# one boot.  BENCH_BACKENDS selects (default: "qemu bochs").
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rc=0
for be in ${BENCH_BACKENDS:-qemu bochs}; do
	case $be in
	qemu) s="svm-switch.sh svm-inval.sh" ;;
	bochs) s=vmx-switch.sh ;;
	*) echo "unknown backend $be" >&2; exit 2 ;;
	esac
	for b in $s; do
		echo "==> $be: $b ($(date +%T))"
		"$here/bench/$b" || rc=1
		echo
	done
done
exit $rc
