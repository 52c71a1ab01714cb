#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Smoke test of scripts/vm/bochs.sh: boot the kernel with a tiny busybox
# initramfs that loads the STOCK irqbypass, kvm and kvm-intel modules of the
# image, and check that the CPU has VMX, kvm_intel loads with nested=Y and the
# guest powers off.  Prints the wall-clock seconds to each step.
#
# usage: selftest.sh KERNEL MODDIR [TIMEOUT_SECONDS]
#   MODDIR  the image's lib/modules/<abi> directory
# exit: 0 on success; bochs.sh's status, or 1, otherwise
set -uo pipefail

[ $# -ge 2 ] || { echo "usage: selftest.sh KERNEL MODDIR [TIMEOUT_SECONDS]" >&2; exit 2; }
kernel=$1 moddir=$2 limit=${3:-600}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bochs-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,proc,sys,dev,ko}
cp /bin/busybox "$root/bin/busybox"

for m in irqbypass kvm kvm-intel; do
	f=$(find "$moddir/kernel" -name "$m.ko*" | head -1)
	[ -n "$f" ] || { echo "selftest.sh: $m.ko not in $moddir" >&2; exit 1; }
	case "$f" in
	*.xz) xz -dc "$f" ;;
	*.zst) zstd -qdc "$f" ;;
	*.gz) gzip -dc "$f" ;;
	*) cat "$f" ;;
	esac >"$root/ko/$m.ko"
done

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "HELLO-BOCHS uptime=$(cut -d' ' -f1 /proc/uptime)"
echo "VMX-CPUS $(grep -c vmx /proc/cpuinfo)"
for m in irqbypass kvm kvm-intel; do
	insmod /ko/$m.ko || echo "INSMOD-FAILED $m"
	echo "LOADED $m uptime=$(cut -d' ' -f1 /proc/uptime)"
done
echo "NESTED $(cat /sys/module/kvm_intel/parameters/nested 2>&1)"
dmesg | grep -i kvm
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$tmp/initrd.cpio"

log=$tmp/serial.log
start=$(date +%s)
"$here/../bochs.sh" "$kernel" "$tmp/initrd.cpio" "quiet" "$log" "$limit" &
pid=$!
seen=
while kill -0 "$pid" 2>/dev/null; do
	for mark in HELLO-BOCHS "LOADED kvm-intel"; do
		case "$seen" in *"|$mark|"*) continue ;; esac
		if grep -aq "^$mark" "$log" 2>/dev/null; then
			seen="$seen|$mark|"
			echo "selftest.sh: $mark after $(( $(date +%s) - start )) s"
		fi
	done
	sleep 0.5
done
wait "$pid"
rc=$?
echo "selftest.sh: bochs.sh exited $rc after $(( $(date +%s) - start )) s"
tr -d '\r' <"$log" | grep -aE '^(HELLO-BOCHS|VMX-CPUS|LOADED|INSMOD-FAILED|NESTED)|kvm|TIMEOUT'
[ "$rc" -eq 0 ] || exit "$rc"
if ! grep -aq '^VMX-CPUS [1-9]' "$log" || ! grep -aq '^NESTED Y' "$log" ||
	grep -aq '^INSMOD-FAILED' "$log"; then
	echo "selftest.sh: FAIL" >&2
	exit 1
fi
echo "selftest.sh: PASS"
