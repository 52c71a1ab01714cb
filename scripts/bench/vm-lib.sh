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
