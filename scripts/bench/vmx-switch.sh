#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Nested VMX L2-switch benchmark: one Bochs boot runs the switch workload
# of vmx_l2_switch_test (sched and migrate modes, 2 L1 vCPUs x 8 L2s) with
# Debian's stock modules and then with ours, and prints switches per second
# and calls per switch (kprobe_profile hit counts), with the ratio
# ours/stock: of kvm_vcpu_map / __kvm_vcpu_map / hva_to_pfn /
# kvm_gpc_refresh (page mappings), and of the work of a switch:
# prepare_vmcs02_rare, nested_get_vmcs12_pages (6.12 merges the MSR bitmap
# there at every entry of an L2 that uses one), nested_sync_vmcs12_to_shadow
# (shadow VMCS), kvm_read_guest_cached and kvm_vcpu_write_guest_page (the
# 4 KiB vmcs12 read at VMPTRLD and written back at release), and the
# MSR-bitmap merges that ran (ours: the kvm_nested_msr_bitmap tracepoint;
# stock merges in every nested_get_vmcs12_pages() here).
#
# usage: scripts/bench/vmx-switch.sh
#   environment: O, KVMTREE, KSFT, KMODDIR as for make; SCHED_SWITCHES,
#   MIGRATE_SWITCHES
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"
runner=$here/../vm
out=$O/bench-vmx
bench=$out/bench
rm -rf "$out"
"$here/bench-dir.sh" "$bench" intel x86_64/vmx_l2_switch_test
{
	echo "SCHED_SWITCHES=${SCHED_SWITCHES:-1000}"
	echo "MIGRATE_SWITCHES=${MIGRATE_SWITCHES:-400}"
	echo "VENDOR=intel"
	cat "$here/vm-lib.sh"
	cat "$here/vmx-switch-vm.sh"
} >"$bench/vmx-switch-vm.sh"
echo '!bench vmx-switch-vm.sh' >"$out/list"

"$runner/run.sh" --backend bochs --mods "$KVMTREE/arch/x86/kvm" \
	--selftests "$KSFT" --list "$out/list" --bench "$bench" \
	--timeout 1800 --out "$out/vm" --quiet || true

grep -a '^bench: BENCH' "$out/vm/serial.log" | sed 's/^bench: //' | tr -d '\r' >"$out/results" || true
[ -s "$out/results" ] || { echo "vmx-switch: no results, see $out/vm/serial.log" >&2; exit 1; }

# Table: per workload, stock vs ours, and ours/stock.
awk '
function val(line, key,   n, i, kv) {
	n = split(line, kv, " ")
	for (i = 1; i <= n; i++)
		if (index(kv[i], key "=") == 1)
			return substr(kv[i], length(key) + 2)
	return ""
}
{ r[$2 "," $3] = $0 }
END {
	nk = split("switches_per_s per_switch_x1000_kvm_vcpu_map per_switch_x1000___kvm_vcpu_map per_switch_x1000_hva_to_pfn per_switch_x1000_kvm_gpc_refresh per_switch_x1000_prepare_vmcs02_rare per_switch_x1000_prepare_vmcs02_rare_constprop_0 per_switch_x1000_nested_get_vmcs12_pages per_switch_x1000_nested_sync_vmcs12_to_shadow per_switch_x1000_kvm_read_guest_cached per_switch_x1000_kvm_vcpu_write_guest_page per_switch_x1000_msr_bitmap_merges", keys, " ")
	printf "%-8s %-62s %12s %12s %8s\n", "mode", "figure", "stock", "ours", "ours/stock"
	split("sched migrate", modes, " ")
	for (m = 1; m <= 2; m++) {
		for (k = 1; k <= nk; k++) {
			s = val(r["stock," modes[m]], keys[k]); o = val(r["ours," modes[m]], keys[k])
			if ((s == "" || s == "n/a") && (o == "" || o == "n/a")) continue
			name = keys[k]; sub("per_switch_x1000_", "calls/switch x1000 ", name)
			ratio = (s + 0 > 0) ? sprintf("%.3f", o / s) : "-"
			printf "%-8s %-62s %12s %12s %8s\n", modes[m], name, s, o, ratio
		}
	}
}' "$out/results" | tee "$out/table"
