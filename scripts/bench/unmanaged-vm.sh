#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the test VM (see scripts/bench/unmanaged.sh): for the stock
# and then our modules, run each workload ($TEST with the arguments of
# SCHED_A and SCHED_B, then MIGRATE_A and MIGRATE_B: the same workload,
# short and long) with its pages in unmanaged memory (-U), counting with
# kprobes the calls of memremap, memunmap, kvm_vcpu_map, of $SWITCH, the
# handler that counts a switch, of $RARE (VMX: prepare_vmcs02_rare; none on
# SVM) and of $MERGE_FN, the function that merges L1's MSR bitmap or MSRPM
# in stock 6.12, the merges that ran and the full vmcb12 save-area copies
# (vm-lib.sh; -1: not counted).  Prints one "BENCH" line per module set and
# workload: "BENCH set mode cs rc hits... merges fulls / cs rc hits...
# merges fulls" for the two runs.  boot.sh puts vm-lib.sh (load)
# ahead of it.
T=/sys/kernel/tracing
PROBES="memremap memunmap kvm_vcpu_map $SWITCH ${RARE:-none} $MERGE_FN"

log() { echo "bench: $*" >/dev/console; }

uptime_cs() { read -r up _ </proc/uptime; echo "${up%.*}${up#*.}"; }

# one ARGS...: "centiseconds exit-code hits..." of one run
one() {
	echo 0 >$T/events/kprobes/enable 2>/dev/null
	echo >$T/kprobe_events
	for p in $PROBES; do
		echo "p:u_$(probe_ev "$p") $p" >>$T/kprobe_events 2>/dev/null
	done
	echo 1 >$T/events/kprobes/enable
	merges_on
	fulls_on
	t0=$(uptime_cs)
	timeout -s KILL 900 "$d/$TEST" "$@" >/tmp/bench.out 2>&1
	rc=$?
	t1=$(uptime_cs)
	echo 0 >$T/events/kprobes/enable
	line="$((t1 - t0)) $rc"
	for p in $PROBES; do
		h=$(awk -v p="u_$(probe_ev "$p")" '$1 == p { print $2 }' $T/kprobe_profile)
		line="$line ${h:-x}"
		[ "$p" = "$MERGE_FN" ] && m=${h:-0}
	done
	line="$line $(merges "$m") $(fulls)"
	echo >$T/kprobe_events
	[ $rc -eq 0 ] || log "$TEST $*: exit $rc: $(tail -3 /tmp/bench.out)"
	echo "$line"
}

for set in stock ours; do
	log "loading $set"
	load $set "$([ $set = ours ] && echo nested_context_ratio=8)" ||
		{ echo "BENCH $set: modules failed to load"; continue; }
	for mode in sched migrate; do
		if [ $mode = sched ]; then a=$SCHED_A b=$SCHED_B; else a=$MIGRATE_A b=$MIGRATE_B; fi
		log "$set $mode: $TEST $a, then $b"
		# shellcheck disable=SC2086
		x=$(one $a)
		# shellcheck disable=SC2086
		y=$(one $b)
		echo "BENCH $set $mode $x / $y"
		log "BENCH $set $mode $x / $y"
	done
done
load ours
# Let the console drain before the VM powers off.
sleep 3
