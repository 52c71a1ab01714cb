#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the QEMU test VM (see scripts/bench/svm-inval.sh), after
# vm-lib.sh (load): ROUNDS rounds, each of which runs svm_l2_switch_test -m
# inval with the stock modules, then ours at nested_context_ratio 0, 8 and
# 64, then the modules in $d/before (if any) at ratio 64, and prints one
# "BENCH" line per run: "BENCH <modules> <round> <ns per madvise of a
# present page> <of an empty page> <contexts>".  Interleaving the module
# sets spreads the emulator's slow spells over all of them.
sets="stock ours:0 ours:8 ours:64"
[ -d "$d/before" ] && sets="$sets before:64"

for round in $(seq "$ROUNDS"); do
	for run in $sets; do
		set=${run%%:*}
		params=
		label=$set
		if [ "$set" != stock ]; then
			params="nested_context_ratio=${run#*:}"
			label="${set}_ratio=${run#*:}"
		fi
		load "$set" "$params" ||
			{ echo "BENCH $label $round 0 0 -"; continue; }
		line=$($d/svm_l2_switch_test -m inval -v "$V" -c "$C" 2>&1 | grep 'inval:')
		full=$(echo "$line" | sed -n 's/.*; \([0-9]*\) ns per.*/\1/p')
		empty=$(echo "$line" | sed -n 's/.*page, \([0-9]*\) of an empty.*/\1/p')
		ctx=$(echo "$line" | sed -n 's/.*vCPUs, \([0-9a-z]*\) contexts.*/\1/p')
		echo "BENCH $label $round ${full:-0} ${empty:-0} ${ctx:--}"
	done
done
