#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the QEMU test VM (see scripts/bench/svm-switch.sh): for the
# stock and then our modules, run the switch workload of svm_l2_switch_test
# (-m bench: one L1 vCPU VMRUNs C L2s in turn) for S1 and for S2 rounds,
# counting calls with kprobes; the difference cancels the VM setup.
# Prints one "BENCH" line per module set and round.  boot.sh puts vm-lib.sh (load)
# ahead of it.
T=/sys/kernel/tracing
# Page mappings, then the work of a switch: the MSRPM merge (6.12 merges at
# every VMRUN that intercepts MSRs) and the control-area copy.
FUNCS="kvm_vcpu_map hva_to_pfn kvm_vcpu_read_guest nested_svm_vmrun_msrpm
	nested_vmcb02_prepare_control"

# run ROUNDS: prints "switches/s hits..." for one run of the workload
run() {
	echo >$T/kprobe_events
	for f in $FUNCS; do echo "p:svmb/$f $f" >>$T/kprobe_events; done
	echo 1 >$T/events/svmb/enable
	merges_on
	fulls_on
	rate=$($d/svm_l2_switch_test -m bench -c "$C" -s "$1" 2>&1 |
	       sed -n 's/.* \([0-9]*\) switches\/s$/\1/p')
	echo 0 >$T/events/svmb/enable
	hits=
	for f in $FUNCS; do
		h=$(awk -v f="$f" '$1 == f || $1 == "svmb/" f { print $2; exit }' $T/kprobe_profile)
		hits="$hits ${h:-0}"
		[ "$f" = nested_svm_vmrun_msrpm ] && msrpm=${h:-0}
	done
	echo >$T/kprobe_events
	# The last columns: MSRPM merges that ran and full save-area copies
	# (vm-lib.sh; -1 for stock: not counted).
	echo "${rate:-0}$hits $(merges "$msrpm") $(fulls)"
}

# ROUNDS rounds of stock then ours: the host's speed drifts over seconds,
# so the sets alternate and each round gives a paired ratio.
for r in $(seq "${ROUNDS:-3}"); do
	for set in stock ours; do
		load $set "$([ $set = ours ] && echo nested_context_ratio=$RATIO)" ||
			{ echo "BENCH $set: modules failed to load"; continue; }
		a=$(run "$S1")
		b=$(run "$S2")
		n=$(((S2 - S1) * C))
		echo "BENCH $set ${b%% *} $n $(echo "$a $b" |
			awk '{ h = NF / 2; for (i = 2; i <= h; i++) printf "%d ", $(i + h) < 0 ? -1 : $(i + h) - $i }')"
	done
done
