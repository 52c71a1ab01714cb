#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-nested: the L2-switch benchmarks, stock against ours in one boot
# each: nested SVM under QEMU TCG, nested VMX under Bochs.  BENCH_BACKENDS
# selects (default: "qemu bochs").
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rc=0
for be in ${BENCH_BACKENDS:-qemu bochs}; do
	case $be in
	qemu) s=svm-switch.sh ;;
	bochs) s=vmx-switch.sh ;;
	*) echo "unknown backend $be" >&2; exit 2 ;;
	esac
	echo "==> $be: $s ($(date +%T))"
	"$here/bench/$s" || rc=1
	echo
done
exit $rc
