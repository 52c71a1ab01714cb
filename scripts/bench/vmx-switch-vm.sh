#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the Bochs test VM (see scripts/bench/vmx-switch.sh): for the
# stock and then our modules, run the L2-switch workload of
# vmx_l2_switch_test and count, with kprobes, the calls per switch of the
# functions that map guest pages.  Prints one "BENCH" line per module set
# and workload.  vmx-switch.sh puts vm-lib.sh (load) ahead of it.
T=/sys/kernel/tracing
SCHED_ARGS="-k -p -m sched -c 8 -s ${SCHED_SWITCHES:-1000}"
MIGRATE_ARGS="-k -p -m migrate -c 8 -s ${MIGRATE_SWITCHES:-400}"
# The work of a switch: prepare_vmcs02_rare() (its GCC clone), the entries
# that go through nested_get_vmcs12_pages() (which merges the MSR bitmap
# in 6.12's), shadow VMCS syncs, and the vmcs12 read at VMPTRLD and written
# back at release (4 KiB each).  Event names: probe_ev() (vm-lib.sh).
PROBES="kvm_vcpu_map __kvm_vcpu_map hva_to_pfn kvm_gpc_refresh
	prepare_vmcs02_rare prepare_vmcs02_rare.constprop.0
	nested_get_vmcs12_pages nested_sync_vmcs12_to_shadow
	kvm_read_guest_cached kvm_vcpu_write_guest_page"

log() { echo "bench: $*" >/dev/console; }

uptime_cs() { read -r up _ </proc/uptime; echo "${up%.*}${up#*.}"; }

probes_on() {
	echo 0 >$T/events/kprobes/enable 2>/dev/null
	echo >$T/kprobe_events
	# A function that does not exist (e.g. __kvm_vcpu_map in 6.12) is
	# refused and reported as n/a.
	for p in $PROBES; do
		echo "p:b_$(probe_ev "$p") $p" >>$T/kprobe_events 2>/dev/null
	done
	echo 1 >$T/events/kprobes/enable
}

hits() {
	awk -v p="b_$(probe_ev "$1")" '$1 == p { print $2 }' $T/kprobe_profile
}

run() {	# set name args switches
	log "$1 $2: probes"
	probes_on
	merges_on
	log "$1 $2: vmx_l2_switch_test $3"
	t0=$(uptime_cs)
	# The stock modules fail the stats assertion after the switches.
	timeout -s KILL 300 $d/vmx_l2_switch_test $3 >/tmp/bench.out 2>&1
	t1=$(uptime_cs)
	cs=$((t1 - t0))
	[ $cs -gt 0 ] || cs=1
	line="BENCH $1 $2 switches=$4 seconds=$((cs / 100)).$(printf %02d $((cs % 100)))"
	line="$line switches_per_s=$((100 * $4 / cs))"
	for p in $PROBES; do
		h=$(hits $p)
		p=$(probe_ev "$p")
		[ -n "$h" ] || { line="$line $p=n/a"; continue; }
		line="$line $p=$h per_switch_x1000_$p=$((1000 * h / $4))"
	done
	# MSR-bitmap merges that ran (vm-lib.sh): every L2 here uses a bitmap.
	h=$(merges "$(hits nested_get_vmcs12_pages)")
	line="$line msr_bitmap_merges=$h per_switch_x1000_msr_bitmap_merges=$((1000 * h / $4))"
	echo "$line"
	log "$line"
	echo 0 >$T/events/kprobes/enable
	echo >$T/kprobe_events
}

for set in stock ours; do
	log "loading $set"
	load $set || { echo "BENCH $set: modules failed to load"; continue; }
	# Two L1 vCPUs do SCHED_SWITCHES switches each; migrate counts moves.
	run $set sched "$SCHED_ARGS" $((2 * ${SCHED_SWITCHES:-1000}))
	run $set migrate "$MIGRATE_ARGS" ${MIGRATE_SWITCHES:-400}
done
load ours
# Let the console drain before the VM powers off.
sleep 3
