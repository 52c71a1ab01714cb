#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot KERNEL + INITRD under QEMU TCG with nested SVM (-cpu max) and wait for
# the guest to power off, or kill it after TIMEOUT seconds.
#
# usage: qemu.sh KERNEL INITRD CMDLINE SERIAL_LOG TIMEOUT
# exit: 0 on poweroff, 124 on timeout
set -uo pipefail

kernel=$1 initrd=$2 cmdline=$3 log=$4 limit=$5

# Single-threaded TCG: multi-threaded TCG oopses in the guest at random
# (../shared/EMULATORS.md).
#
# Hermetic: -nodefaults (no NIC, VGA, parallel or monitor), -no-user-config
# (no /etc/qemu), no display, and audio forced to the "none" driver so the
# PC speaker never opens a host sound device.
QEMU_AUDIO_DRV=none timeout -s KILL "$limit" qemu-system-x86_64 \
	-accel tcg,thread=single -cpu max -smp "${QEMU_SMP:-2}" -m "${QEMU_MEM:-2G}" \
	-nographic -no-reboot -nodefaults -no-user-config -serial "file:$log" \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 oops=panic rdinit=/init $cmdline" \
	</dev/null >/dev/null 2>"$log.stderr"
rc=$?
if [ $rc -eq 137 ] || [ $rc -eq 124 ]; then
	echo "qemu.sh: TIMEOUT after $limit s" >>"$log"
	exit 124
fi
[ $rc -eq 0 ] || cat "$log.stderr" >&2
exit $rc
