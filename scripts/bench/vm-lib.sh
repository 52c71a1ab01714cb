# SPDX-License-Identifier: GPL-2.0
#
# Sourced into each benchmark's VM script by scripts/bench/boot.sh, ahead of
# the script itself: what every benchmark run inside the test VM shares.
d=/kvm/bench

# load SET [KVM-PARAM]: the kvm and vendor modules of SET (stock or ours)
load() {
	rmmod "kvm_$VENDOR" 2>/dev/null
	rmmod kvm 2>/dev/null
	insmod "$d/$1/kvm.ko" ${2:+"$2"} || return 1
	insmod "$d/$1/kvm-$VENDOR.ko" nested=1
}

# The kprobe event name for function $1: GCC's clones have a "." in their
# names (prepare_vmcs02_rare.constprop.0), which event names may not.
probe_ev() { echo "$1" | tr . _; }

# MSR-bitmap (VMX) or MSRPM (SVM) merges that really ran: our modules
# report each merge and each skip with the kvm_nested_msr_bitmap
# tracepoint; stock 6.12 has none, and merges at every nested VM-entry
# that uses the bitmap, so its figure is the count of the function that
# merges (the caller's argument).  merges_on before the run; merges STOCK
# after it prints the count.
MERGE_EV=/sys/kernel/tracing/events/kvm/kvm_nested_msr_bitmap
merges_on() {
	[ -d $MERGE_EV ] || return 0
	echo 'merged == 1' >$MERGE_EV/filter
	echo >/sys/kernel/tracing/trace
	echo 1 >$MERGE_EV/enable
}
merges() {
	if [ ! -d $MERGE_EV ]; then
		echo "$1"
		return
	fi
	echo 0 >$MERGE_EV/enable
	grep -c 'kvm_nested_msr_bitmap:' /sys/kernel/tracing/trace
}

# Nested VMRUNs (SVM) that copied vmcb12's segments, GDTR/IDTR and DR7 in
# full, whatever its clean bits: our modules report each VMRUN with the
# kvm_nested_vmcb02 tracepoint.  Stock 6.12 has none and inlines the copy
# (nested_vmcb02_prepare_save()), so nothing counts it there: fulls prints
# -1, "not counted".  fulls_on after merges_on, which clears the buffer.
FULL_EV=/sys/kernel/tracing/events/kvm/kvm_nested_vmcb02
fulls_on() {
	[ -d $FULL_EV ] || return 0
	echo 'full == 1' >$FULL_EV/filter
	echo 1 >$FULL_EV/enable
}
fulls() {
	if [ ! -d $FULL_EV ]; then
		echo -1
		return
	fi
	echo 0 >$FULL_EV/enable
	grep -c 'kvm_nested_vmcb02:' /sys/kernel/tracing/trace
}
