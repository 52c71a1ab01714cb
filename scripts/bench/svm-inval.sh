#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Invalidation benchmark under QEMU TCG (nested SVM).  One boot runs the
# same workload with Debian's stock kvm/kvm-amd, then with ours at
# nested_context_ratio 0, 8 and 64: every L1 vCPU VMRUNs its own vmcb12s,
# which leaves the table full of detached contexts, then the host times
# madvise(MADV_DONTNEED) of guest RAM that backs no cached page
# (svm_l2_switch_test -m inval).  A benchmark, not a test: TCG timings
# compare only within one run.
#
#   svm-inval.sh [-v VCPUS] [-c VMCB12S_PER_VCPU]
#
# environment: O, KVMTREE, KSFT, KMODDIR as for make.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
v=4 c=64
while getopts v:c: o; do
	case $o in
	v) v=$OPTARG ;;
	c) c=$OPTARG ;;
	*) exit 2 ;;
	esac
done

out=$O/bench-inval
"$here/boot.sh" "$out" qemu amd x86_64/svm_l2_switch_test svm-inval-vm.sh 900 \
	"V=$v" "C=$c"
if [ "$(grep -c '^BENCH [a-z0-9=_]* [1-9]' "$out/results")" != 4 ]; then
	echo "svm-inval: the benchmark did not complete, see $out/vm/serial.log" >&2
	exit 1
fi
awk -v v="$v" -v c="$c" '
{ lab[NR] = $2; ns[NR] = $3; ctx[NR] = $4 }
END {
	printf "madvise(MADV_DONTNEED) of guest RAM that backs no cached page, QEMU TCG,\n"
	printf "after %d L1 vCPUs VMRUN %d vmcb12s each (nested SVM)\n", v, c
	printf "%-16s %10s %9s %12s\n", "modules", "contexts", "ns/call", "vs stock"
	for (i = 1; i <= NR; i++)
		printf "%-16s %10s %9d %11.2fx\n", lab[i], ctx[i], ns[i], ns[i] / ns[1]
}' "$out/results" | tee "$out/table"
