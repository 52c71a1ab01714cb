#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-nested: the L2-switch benchmarks, stock against ours in one boot
# each: nested SVM under QEMU TCG, nested VMX under Bochs; then, under QEMU,
# the invalidation benchmark: stock against ours at ratios 0, 8 and 64, in
# one boot; last, per back end, the switch benchmark on unmanaged memory
# (RAM hidden from the host kernel, mmapped from /dev/mem), stock against
# ours in one boot.  BENCH_BACKENDS selects (default: "qemu bochs").
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rc=0
for be in ${BENCH_BACKENDS:-qemu bochs}; do
	case $be in
	qemu) s="svm-switch.sh svm-inval.sh unmanaged.sh" ;;
	bochs) s="vmx-switch.sh unmanaged.sh" ;;
	*) echo "unknown backend $be" >&2; exit 2 ;;
	esac
	for b in $s; do
		echo "==> $be: $b ($(date +%T))"
		args=()
		[ "$b" = unmanaged.sh ] && args=("$be")
		"$here/bench/$b" ${args[@]+"${args[@]}"} || rc=1
		echo
	done
done
exit $rc
