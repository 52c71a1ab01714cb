#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot Debian's kernel under QEMU TCG (nested SVM) with a busybox initramfs
# and run a shell script inside it, with our KVM modules and/or the stock
# ones available.
#
#   qemu-svm.sh [-t SECONDS] [-k KVMDIR] [-s KSFTDIR] SCRIPT
#
# Inside the guest:
#   /mods/ours/{kvm,kvm-amd}.ko   the modules from KVMDIR (if given)
#   /mods/stock/{kvm,kvm-amd}.ko  Debian's modules
#   /t/...                        the static selftests from KSFTDIR/x86_64
#   load_kvm ours|stock [kvm.ko params...]   (re)load kvm + kvm-amd
# SCRIPT runs with sh -x-less /bin/sh; its output goes to the console,
# which is printed on stdout.  The guest powers off when SCRIPT ends.
set -euo pipefail

timeout=300 kvmdir='' ksft=''
while getopts t:k:s: o; do
	case $o in
	t) timeout=$OPTARG ;;
	k) kvmdir=$OPTARG ;;
	s) ksft=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
script=${1:?usage: qemu-svm.sh [-t secs] [-k kvmdir] [-s ksftdir] script}

cache=${CACHE:-$HOME/.cache/kvm-nested}
kabi=${KABI:-6.12.117+deb12-amd64}
kimage=${KIMAGE:-$cache/root/boot/vmlinuz-$kabi}
kmod=${KMODDIR:-$cache/root/lib/modules/$kabi}

work=$(mktemp -d /tmp/qemu-svm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,mods/ours,mods/stock,t}
cp /bin/busybox "$root/bin/busybox"
for a in sh mount umount insmod rmmod lsmod cat echo sleep poweroff ls grep \
	 mkdir timeout date awk sed wc tr seq kill ps dmesg head tail cut sort; do
	ln -sf busybox "$root/bin/$a"
done

xzko() { xz -dc "$1" > "$2"; }
xzko "$kmod/kernel/virt/lib/irqbypass.ko.xz" "$root/mods/irqbypass.ko"
xzko "$kmod/kernel/drivers/crypto/ccp/ccp.ko.xz" "$root/mods/ccp.ko"
xzko "$kmod/kernel/arch/x86/kvm/kvm.ko.xz" "$root/mods/stock/kvm.ko"
xzko "$kmod/kernel/arch/x86/kvm/kvm-amd.ko.xz" "$root/mods/stock/kvm-amd.ko"
if [ -n "$kvmdir" ]; then
	cp "$kvmdir/arch/x86/kvm/kvm.ko" "$kvmdir/arch/x86/kvm/kvm-amd.ko" "$root/mods/ours/"
fi
if [ -n "$ksft" ]; then
	cp "$ksft"/x86_64/* "$root/t/" 2>/dev/null || true
	find "$ksft" -maxdepth 1 -type f -perm -u+x -exec cp {} "$root/t/" \;
fi
cp "$script" "$root/script.sh"

cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
insmod /mods/irqbypass.ko
insmod /mods/ccp.ko
load_kvm() {
	set=$1; shift
	rmmod kvm_amd 2>/dev/null; rmmod kvm 2>/dev/null
	insmod /mods/$set/kvm.ko "$@" || echo "QEMU-SVM: insmod $set/kvm.ko failed"
	insmod /mods/$set/kvm-amd.ko || echo "QEMU-SVM: insmod $set/kvm-amd.ko failed"
}
echo "QEMU-SVM: start"
. /script.sh
echo "QEMU-SVM: end"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) > "$work/initrd"

timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -accel tcg,thread=single -cpu max \
	-smp 2 -m 2G -nographic -no-reboot -kernel "$kimage" -initrd "$work/initrd" \
	-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4" </dev/null
