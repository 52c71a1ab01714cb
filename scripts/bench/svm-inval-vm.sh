#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the QEMU test VM (see scripts/bench/svm-inval.sh): for the
# stock modules and then ours at nested_context_ratio 0, 8 and 64, run
# svm_l2_switch_test -m inval and print one "BENCH" line each:
# "BENCH <modules> <ns per madvise> <contexts>".
d=/kvm/bench

load() {
	rmmod kvm_amd 2>/dev/null
	rmmod kvm 2>/dev/null
	insmod "$d/$1/kvm.ko" ${2:+"$2"} || return 1
	insmod "$d/$1/kvm-amd.ko" nested=1
}

for run in stock ours:0 ours:8 ours:64; do
	set=${run%%:*}
	params=
	label=$set
	if [ "$set" = ours ]; then
		params="nested_context_ratio=${run#*:}"
		label="ours_ratio=${run#*:}"
	fi
	load "$set" "$params" || { echo "BENCH $label: modules failed to load"; continue; }
	line=$($d/svm_l2_switch_test -m inval -v "$V" -c "$C" 2>&1 | grep 'inval:')
	ns=$(echo "$line" | sed -n 's/.*; \([0-9]*\) ns per.*/\1/p')
	ctx=$(echo "$line" | sed -n 's/.*vCPUs, \([0-9a-z]*\) contexts.*/\1/p')
	echo "BENCH $label ${ns:-0} ${ctx:--}"
done
