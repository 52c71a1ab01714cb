#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Invalidation benchmark under QEMU TCG (nested SVM).  One boot runs the
# same workload with Debian's stock kvm/kvm-amd, then with ours at
# nested_context_ratio 0, 8 and 64 (and, with -b, with the kvm.ko and
# kvm-amd.ko in DIR at ratio 64, e.g. a build of an older series), and
# does that -r times over (default 3), interleaved: every L1 vCPU VMRUNs
# its own vmcb12s, which leaves the table full of detached contexts, then
# the host times madvise(MADV_DONTNEED) of guest RAM that backs no cached
# page, present and empty (svm_l2_switch_test -m inval).  Each module
# set's figure is its best round; the table also shows the slowest.  A
# benchmark, not a test: TCG timings compare only within one run.
#
#   svm-inval.sh [-v VCPUS] [-c VMCB12S_PER_VCPU] [-r ROUNDS] [-b DIR]
#
# environment: O, KVMTREE, KSFT, KMODDIR as for make.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
v=4 c=64 r=3 before=
while getopts v:c:r:b: o; do
	case $o in
	v) v=$OPTARG ;;
	c) c=$OPTARG ;;
	r) r=$OPTARG ;;
	b) before=$OPTARG ;;
	*) exit 2 ;;
	esac
done

out=$O/bench-inval
sets=4
if [ -n "$before" ]; then
	export BENCH_BEFORE=$before
	sets=5
fi
"$here/boot.sh" "$out" qemu amd x86_64/svm_l2_switch_test svm-inval-vm.sh \
	$((300 + 60 * sets * r)) "V=$v" "C=$c" "ROUNDS=$r"
if [ "$(grep -c '^BENCH [a-z0-9=_]* [0-9]* [1-9][0-9]* [1-9]' "$out/results")" != $((sets * r)) ]; then
	echo "svm-inval: the benchmark did not complete, see $out/vm/serial.log" >&2
	exit 1
fi
awk -v v="$v" -v c="$c" -v r="$r" '
function keep(a, b) { return (b < a) ? b : a }
!($2 in bp) { lab[++n] = $2; bp[$2] = $4; be[$2] = $5; wp[$2] = $4; we[$2] = $5 }
{
	bp[$2] = keep(bp[$2], $4); be[$2] = keep(be[$2], $5)
	if ($4 > wp[$2]) wp[$2] = $4
	if ($5 > we[$2]) we[$2] = $5
	ctx[$2] = $6
}
END {
	printf "madvise(MADV_DONTNEED) of guest RAM that backs no cached page, QEMU TCG,\n"
	printf "after %d L1 vCPUs VMRUN %d vmcb12s each (nested SVM); ns per call, best of\n", v, c
	printf "%d rounds (slowest round in brackets)\n", r
	printf "%-18s %8s %19s %9s %19s %9s\n", "modules", "contexts", "present page", "vs stock", "empty page", "vs stock"
	for (i = 1; i <= n; i++) {
		l = lab[i]
		printf "%-18s %8s %8d (%8d) %8.2fx %8d (%8d) %8.2fx\n", l, ctx[l],
		       bp[l], wp[l], bp[l] / bp[lab[1]], be[l], we[l], be[l] / be[lab[1]]
	}
}' "$out/results" | tee "$out/table"
