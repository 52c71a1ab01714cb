#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Nested SVM L2-switch benchmark under QEMU TCG.  One boot runs the same
# switch workload with Debian's stock kvm/kvm-amd and then with ours, and
# prints switches/s and, per switch, the calls to kvm_vcpu_map(),
# hva_to_pfn() and kvm_vcpu_read_guest() (kprobe_profile hit counts).  A
# benchmark, not a test: TCG timings compare only within one run.
#
#   svm-switch.sh [-c L2S] [-1 S1] [-2 S2] [-r RATIO]
#
# environment: O, KVMTREE, KSFT, KMODDIR as for make.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
c=8 s1=50 s2=550 ratio=8
while getopts c:1:2:r: o; do
	case $o in
	c) c=$OPTARG ;;
	1) s1=$OPTARG ;;
	2) s2=$OPTARG ;;
	r) ratio=$OPTARG ;;
	*) exit 2 ;;
	esac
done

out=$O/bench-svm
"$here/boot.sh" "$out" qemu amd x86_64/svm_l2_switch_test svm-switch-vm.sh 900 \
	"C=$c" "S1=$s1" "S2=$s2" "RATIO=$ratio"
if [ "$(grep -c '^BENCH [a-z]* [1-9]' "$out/results")" != 2 ]; then
	echo "svm-switch: the benchmark did not complete, see $out/vm/serial.log" >&2
	exit 1
fi
awk -v c="$c" '
function rt(x, y) { return y ? sprintf("%.3f", x / y) : "-" }
{
	lab[NR] = $2; rate[NR] = $3; n[NR] = $4
	for (i = 5; i <= NF; i++) v[NR, i - 4] = $i / $4
	nf = NF - 4
}
END {
	split("kvm_vcpu_map hva_to_pfn kvm_vcpu_read_guest", name, " ")
	printf "nested SVM, %d L2s on one L1 vCPU, QEMU TCG, %d switches measured\n", c, n[1]
	printf "%-10s %11s", "modules", "switches/s"
	for (j = 1; j <= nf; j++) printf " %20s", name[j] "/switch"
	printf "\n"
	for (i = 1; i <= 2; i++) {
		printf "%-10s %11d", lab[i], rate[i]
		for (j = 1; j <= nf; j++) printf " %20.2f", v[i, j]
		printf "\n"
	}
	printf "%-10s %10.2fx", "ours/stock", rate[2] / rate[1]
	for (j = 1; j <= nf; j++) printf " %20s", rt(v[2, j], v[1, j])
	printf "\n"
}' "$out/results" | tee "$out/table"
