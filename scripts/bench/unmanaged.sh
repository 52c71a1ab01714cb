#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The L2-switch benchmark on unmanaged memory: the emulated host boots with
# 256 MiB of RAM hidden from its kernel (run.sh --hidden), and the switch
# tests' -U mode puts every page the nested context cache maps there,
# mmapped from /dev/mem (VM_PFNMAP, no struct page).  One boot runs the
# sched and migrate workloads with Debian's stock modules and then with
# ours, and prints, per switch, the calls of memremap(), memunmap() and
# kvm_vcpu_map() (kprobe_profile hit counts), the work of a switch
# (prepare_vmcs02_rare on VMX, full vmcb12 save-area copies on SVM: "-"
# for stock, which has no event for them; merges), and switches per second.
# Each workload runs short and long; the figures are the differences, so
# they are those of a switch to an L2 whose context is cached (a reused
# switch), without the VM's setup.  A benchmark, not a test: emulator
# timings compare only within one boot.
#
#   unmanaged.sh qemu|bochs
#
# qemu: nested SVM (svm_l2_switch_test; a switch is a nested VMRUN, counted
# at nested_svm_vmrun); sched is -m bench (one L1 vCPU VMRUNs 8 L2s in
# turn), migrate is -m migrate (L2s move between 2 L1 vCPUs, which also
# VMSAVE and VMLOAD a save area of their own around each VMRUN, as KVM does
# as L1).  bochs: nested VMX (vmx_l2_switch_test -p; a switch is a VMPTRLD,
# counted at handle_vmptrld), 2 L1 vCPUs x 8 L2s.
#
# environment: O, KVMTREE, KSFT, KMODDIR as for make.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
be=${1:-qemu}
case $be in
qemu)
	vendor=amd test=svm_l2_switch_test timeout=900
	vars=("SWITCH=nested_svm_vmrun" "MERGE_FN=nested_svm_vmrun_msrpm"
	      "SCHED_A='-U -m bench -c 8 -s 10'" "SCHED_B='-U -m bench -c 8 -s 510'"
	      "MIGRATE_A='-k -U -F -m migrate -c 4 -s 4'" "MIGRATE_B='-k -U -F -m migrate -c 4 -s 104'")
	what="nested SVM under QEMU TCG" ;;
bochs)
	vendor=intel test=vmx_l2_switch_test timeout=1800
	vars=("SWITCH=handle_vmptrld" "RARE=prepare_vmcs02_rare.constprop.0"
	      "MERGE_FN=nested_get_vmcs12_pages"
	      "SCHED_A='-k -U -F -p -m sched -c 8 -s 64'" "SCHED_B='-k -U -F -p -m sched -c 8 -s 320'"
	      "MIGRATE_A='-k -U -F -p -m migrate -c 8 -s 40'" "MIGRATE_B='-k -U -F -p -m migrate -c 8 -s 200'")
	what="nested VMX under Bochs" ;;
*) echo "usage: unmanaged.sh qemu|bochs" >&2; exit 2 ;;
esac

out=$O/bench-unmanaged-$be
BOOT_HIDDEN=256 "$here/boot.sh" "$out" "$be" "$vendor" "x86_64/$test" unmanaged-vm.sh "$timeout" \
	"TEST=$test" "${vars[@]}"
if [ "$(grep -c '^BENCH [a-z]* [a-z]* [0-9]* 0 .* / [0-9]* 0 ' "$out/results")" != 4 ]; then
	echo "unmanaged-$be: the benchmark did not complete, see $out/vm/serial.log" >&2
	cat "$out/results" >&2
	exit 1
fi
# Per workload: stock, ours, ours/stock.  Fields of a run: cs rc memremap
# memunmap kvm_vcpu_map switches rare merge-function merges fulls ("x": no
# such function, as prepare_vmcs02_rare on SVM; fulls -1: not counted).
# The "rare" column is prepare_vmcs02_rare on VMX and the full copies on
# SVM: what rebuilds L2's state at a switch.
awk -v what="$what" '
function d(i) { return $(i + 11) - $(i) }
function r(a, b) { return b ? sprintf("%.3f", a / b) : "-" }
{
	k = $2 "," $3
	n[k] = d(9); cs[k] = d(4); norare[k] = ($10 == "x"); nofull[k] = ($13 < 0)
	split("6 7 8 10 12", f, " ")
	if (norare[k]) f[4] = 13
	for (j = 1; j <= 5; j++) c[k, j] = n[k] ? d(f[j]) / n[k] : 0
}
END {
	printf "unmanaged memory, %s: per reused switch (long run minus short run)\n", what
	printf "%-8s %-11s %9s %11s %16s %16s %16s %14s %14s\n", "mode", "modules", "switches",
		"switches/s", "memremap/switch", "memunmap/switch", "kvm_vcpu_map/sw",
		norare["stock,sched"] ? "full/switch" : "rare/switch", "merges/switch"
	split("sched migrate", modes, " ")
	for (m = 1; m <= 2; m++) {
		for (s = 1; s <= 2; s++) {
			k = (s == 1 ? "stock" : "ours") "," modes[m]
			rate[s] = cs[k] > 0 ? 100 * n[k] / cs[k] : 0
			printf "%-8s %-11s %9d %11.1f %16.2f %16.2f %16.2f %14s %14.2f\n", modes[m],
				(s == 1 ? "stock" : "ours"), n[k], rate[s], c[k, 1], c[k, 2], c[k, 3],
				norare[k] && nofull[k] ? "-" : sprintf("%.2f", c[k, 4]), c[k, 5]
		}
		ks = "stock," modes[m]; ko = "ours," modes[m]
		printf "%-8s %-11s %9s %10.2fx %16s %16s %16s %14s %14s\n", modes[m], "ours/stock", "",
			rate[1] ? rate[2] / rate[1] : 0, r(c[ko, 1], c[ks, 1]), r(c[ko, 2], c[ks, 2]),
			r(c[ko, 3], c[ks, 3]), norare[ks] && nofull[ks] ? "-" : r(c[ko, 4], c[ks, 4]), r(c[ko, 5], c[ks, 5])
	}
}' "$out/results" | tee "$out/table"
