#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the QEMU test VM (see scripts/bench/svm-inval.sh), after
# vm-lib.sh (load): ROUNDS rounds, each of which runs svm_l2_switch_test -m
# inval with the stock modules and then ours at nested_context_ratio 0, 8
# and 64, and prints one "BENCH" line per run:
# "BENCH <modules> <round> <ns per madvise> <contexts>".  Interleaving the
# module sets spreads the emulator's slow spells over all of them.

for round in $(seq "$ROUNDS"); do
	for run in stock ours:0 ours:8 ours:64; do
		set=${run%%:*}
		params=
		label=$set
		if [ "$set" = ours ]; then
			params="nested_context_ratio=${run#*:}"
			label="ours_ratio=${run#*:}"
		fi
		load "$set" "$params" ||
			{ echo "BENCH $label $round 0 -"; continue; }
		line=$($d/svm_l2_switch_test -m inval -v "$V" -c "$C" 2>&1 | grep 'inval:')
		ns=$(echo "$line" | sed -n 's/.*; \([0-9]*\) ns per.*/\1/p')
		ctx=$(echo "$line" | sed -n 's/.*vCPUs, \([0-9a-z]*\) contexts.*/\1/p')
		echo "BENCH $label $round ${ns:-0} ${ctx:--}"
	done
done
