#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot KERNEL + INITRD under Debian's Bochs 2.7 (headless, one VMX-capable
# CPU) and wait for the guest to power off, or kill Bochs after TIMEOUT
# seconds of wall-clock time.
#
# usage: bochs.sh KERNEL INITRD CMDLINE SERIAL_LOG TIMEOUT_SECONDS
#
#   KERNEL      a bzImage
#   INITRD      an initramfs: a plain newc cpio, or one compressed with gzip,
#               xz, zstd, bzip2, lzma or lz4 (decompressed here, see below)
#   CMDLINE     extra kernel command line, appended after ours, so a caller's
#               value wins for parameters where the last one counts
#   SERIAL_LOG  receives the guest's ttyS0 (created/truncated here)
#   TIMEOUT_SECONDS  hard wall-clock limit for the whole run
#
# exit: 0 when the guest powered off (ACPI S5, e.g. busybox "poweroff -f");
#       124 on timeout (Bochs is killed and "bochs.sh: TIMEOUT after N s" is
#       appended to SERIAL_LOG); 1 when the guest rebooted (panic=-1, triple
#       fault) or Bochs failed; 2 on bad usage or missing tools.
#
# environment:
#   BOCHS_CPU      Bochs CPU model (default corei7_skylake_x)
#   BOCHS_IPS      emulated instructions per second (default 100000000); the
#                  guest gets tsc_early_khz=BOCHS_IPS/1000 to match
#   BOCHS_MEGS     guest RAM in MB (default 2048)
#   BOCHS_WORKDIR  directory for the disk image, bochsrc and Bochs' own logs
#                  (bochs.log, bochs.out); kept if given, otherwise a mktemp
#                  directory under ${TMPDIR:-/tmp} that is removed at exit
#
# How it works (facts in ../shared/EMULATORS.md): Bochs cannot load a kernel
# itself, so the kernel and initramfs go on a FAT16 "superfloppy" disk image
# (no partition table) made with mformat/mcopy and made bootable with
# "syslinux --install"; neither root nor a loop device is needed.  Debian's
# bochs is a debugger build without a "nogui" display: it is run with
# "-q -rc FILE" (FILE says "c"), stdin from /dev/null, and the rfb display
# with "timeout=0" so it does not wait for a VNC client.  rfb listens on the
# first free TCP port from 5900 on, on all interfaces; when "unshare --net"
# works (root) Bochs runs in a private network namespace, so no port is
# opened on the host and concurrent runs cannot collide.
#
# The initramfs is handed to the kernel uncompressed: decompressing it inside
# Bochs costs far more emulated time than syslinux needs to read the extra
# bytes from the disk image.
set -uo pipefail

me=bochs.sh
die() { echo "$me: $*" >&2; exit "${rc_die:-1}"; }
usage() { echo "usage: $me KERNEL INITRD CMDLINE SERIAL_LOG TIMEOUT_SECONDS" >&2; exit 2; }

[ $# -eq 5 ] || usage
kernel=$1 initrd=$2 cmdline=$3 serial=$4 limit=$5

cpu=${BOCHS_CPU:-corei7_skylake_x}
ips=${BOCHS_IPS:-100000000}
megs=${BOCHS_MEGS:-2048}

rc_die=2
case "$limit" in ''|*[!0-9]*) die "TIMEOUT_SECONDS must be a positive integer, not '$limit'" ;; esac
[ "$limit" -gt 0 ] || die "TIMEOUT_SECONDS must be positive"
case "$ips" in ''|*[!0-9]*) die "BOCHS_IPS must be an integer, not '$ips'" ;; esac
[ "$ips" -ge 1000000 ] || die "BOCHS_IPS must be at least 1000000"
case "$megs" in ''|*[!0-9]*) die "BOCHS_MEGS must be an integer, not '$megs'" ;; esac
case "$cpu" in ''|*[!A-Za-z0-9_]*) die "bad BOCHS_CPU '$cpu'" ;; esac
for f in "$kernel" "$initrd"; do
	if [ ! -f "$f" ] || [ ! -r "$f" ]; then
		die "cannot read $f"
	fi
done
case "$cmdline" in *[$'\n\r']*) die "CMDLINE must be one line" ;; esac

bochs_bin=$(command -v bochs-bin || command -v bochs) ||
	die "bochs not found (apt-get install bochs bochsbios vgabios)"
for t in mformat mcopy syslinux; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install syslinux syslinux-common mtools)"
done
bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/vgabios/vgabios.bin
[ -r "$bios" ] || die "$bios missing (apt-get install bochsbios)"
[ -r "$vgabios" ] || die "$vgabios missing (apt-get install vgabios)"

# The serial log exists (empty) from here on, whatever happens next.
serial_dir=$(dirname -- "$serial")
mkdir -p -- "$serial_dir" || die "cannot create $serial_dir"
: >"$serial" || die "cannot write SERIAL_LOG $serial"
serial_abs=$(cd -- "$serial_dir" && pwd)/$(basename -- "$serial")

rc_die=1
start=$(date +%s)
pid=
if [ -n "${BOCHS_WORKDIR:-}" ]; then
	work=$BOCHS_WORKDIR
	mkdir -p -- "$work" || die "cannot create BOCHS_WORKDIR $work"
	keep=1
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/bochs.XXXXXX") || die "mktemp failed"
	keep=
fi
work=$(cd -- "$work" && pwd)

# Kill the whole process group of Bochs (it is started as a session leader).
kill_bochs() {
	[ -n "$pid" ] || return 0
	kill -TERM -- "-$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	kill_bochs
	[ -n "$keep" ] || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'echo "$me: interrupted" >&2; exit 130' INT
trap 'echo "$me: terminated" >&2; exit 143' TERM HUP

# --- initramfs: make sure it is a plain cpio -------------------------------
magic=$(od -An -tx1 -N6 -- "$initrd" | tr -d ' \n')
case "$magic" in
30373037303[12]) decomp= ;;			# "07070[12]": newc cpio
1f8b*) decomp="gzip -dc" ;;
fd377a585a00) decomp="xz -dc" ;;
28b52ffd*) decomp="zstd -qdc" ;;
425a68*) decomp="bzip2 -dc" ;;
5d0000*) decomp="xz -dc --format=lzma" ;;
02214c18*) decomp="lz4 -dc" ;;
*) die "INITRD $initrd: unknown format (magic $magic)" ;;
esac
if [ -n "$decomp" ]; then
	command -v "${decomp%% *}" >/dev/null || die "${decomp%% *} needed to decompress $initrd"
	$decomp -- "$initrd" >"$work/initrd" 2>"$work/decomp.err" ||
		die "cannot decompress $initrd: $(cat "$work/decomp.err")"
	initrd=$work/initrd
fi

# --- disk image: FAT16 superfloppy, geometry C/16/63 ----------------------
heads=16 spt=63
cylbytes=$((heads * spt * 512))
ksize=$(stat -c %s -- "$kernel")
isize=$(stat -c %s -- "$initrd")
need=$(( (ksize + isize) * 105 / 100 + 4 * 1024 * 1024 ))
cyls=$(( (need + cylbytes - 1) / cylbytes ))
# >= 64 cylinders (~32 MB) so that mformat picks FAT16; FAT16 ends near 2 GB.
[ "$cyls" -ge 64 ] || cyls=64
[ "$cyls" -le 4000 ] || die "kernel + initramfs too large for a FAT16 image ($need bytes)"
img=$work/disk.img
rm -f -- "$img" "$img.lock"
truncate -s $((cyls * cylbytes)) -- "$img" || die "cannot create $img"
export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=1
mformat -i "$img" -t "$cyls" -h "$heads" -s "$spt" -H 0 -v BOCHS :: \
	>"$work/mkimage.log" 2>&1 || die "mformat failed: $(cat "$work/mkimage.log")"
syslinux --install "$img" >>"$work/mkimage.log" 2>&1 ||
	die "syslinux --install failed: $(cat "$work/mkimage.log")"

khz=$((ips / 1000))
append="console=ttyS0,115200 tsc_early_khz=$khz panic=-1 $cmdline"
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd
  APPEND $append
EOF
{ mcopy -i "$img" -- "$kernel" ::vmlinuz &&
	mcopy -i "$img" -- "$initrd" ::initrd &&
	mcopy -i "$img" -- "$work/syslinux.cfg" ::syslinux.cfg; } >>"$work/mkimage.log" 2>&1 ||
	die "mcopy failed: $(cat "$work/mkimage.log")"
[ "$initrd" != "$work/initrd" ] || rm -f -- "$work/initrd"

# --- bochsrc ---------------------------------------------------------------
# Hermetic: nothing depends on the host's sound, display or network.  Bochs
# 2.7's sound mixer thread aborts ("buffer overflow detected") on a host
# whose ALSA finds no card, even with the speaker off, so every sound driver
# is the dummy one.  The display is rfb with no client, in a private network
# namespace when possible (below).
# Paths are relative to $work (Bochs runs there), so that no path with
# spaces or commas reaches the bochsrc parser; serial.log links to SERIAL_LOG.
ln -sfn -- "$serial_abs" "$work/serial.log"
cat >"$work/bochsrc" <<EOF
megs: $megs
cpu: model=$cpu, count=1, ips=$ips, ignore_bad_msrs=1
clock: sync=none, time0=local
pci: enabled=1, chipset=i440fx
romimage: file=$bios
vgaromimage: file=$vgabios
ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14
ata0-master: type=disk, path=disk.img, mode=flat, cylinders=$cyls, heads=$heads, spt=$spt
boot: disk
com1: enabled=1, mode=file, dev=serial.log
display_library: rfb, options="timeout=0"
mouse: enabled=0
speaker: enabled=0
sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy
log: bochs.log
debug: action=ignore
info: action=report
error: action=report
panic: action=fatal
EOF
echo c >"$work/rc"

netns=
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
	netns="unshare --net"
fi

# --- run -------------------------------------------------------------------
# setsid: Bochs runs in its own session and process group, which is killed
# as a whole.  timeout(1) is only a backstop for when this script itself is
# SIGKILLed; the loop below enforces the limit.
cd "$work" || die "cannot enter $work"
# shellcheck disable=SC2086
setsid timeout -s KILL $((limit + 10)) $netns "$bochs_bin" -q -f bochsrc -rc rc -unlock \
	</dev/null >bochs.out 2>&1 &
pid=$!

result=
while :; do
	if ! kill -0 "$pid" 2>/dev/null; then
		# (2>/dev/null: Bochs 2.7 sometimes segfaults after the poweroff.)
		wait "$pid" 2>/dev/null
		brc=$?
		pid=
		break
	fi
	now=$(date +%s)
	if [ $((now - start)) -ge "$limit" ]; then
		result=timeout
		break
	fi
	# A guest reboot (panic=-1, triple fault, reset) would boot again from
	# the disk: stop at the first one.
	resets=$(grep -c 'bx_pc_system_c::Reset(' bochs.log 2>/dev/null)
	if [ "${resets:-0}" -gt 1 ]; then
		result=reboot
		break
	fi
	sleep 0.5
done

case "$result" in
timeout)
	kill_bochs
	echo "$me: TIMEOUT after $limit s" >>"$serial"
	exit 124
	;;
reboot)
	kill_bochs
	echo "$me: the guest rebooted (kernel panic with panic=-1, triple fault or reboot); see $serial" >&2
	exit 1
	;;
esac

if grep -q 'ACPI control: soft power off' bochs.log 2>/dev/null; then
	exit 0
fi
# A guest reboot (the kernel resets through the keyboard controller) makes
# this Bochs triple-fault in its BIOS and quit; report it as a reboot.
resets=$(grep -c 'bx_pc_system_c::Reset(' bochs.log 2>/dev/null)
if [ "${resets:-0}" -gt 1 ]; then
	echo "$me: the guest rebooted (kernel panic with panic=-1, triple fault or reboot); see $serial" >&2
	exit 1
fi
echo "$me: Bochs exited ($brc) without a guest poweroff; last lines of its output:" >&2
tail -n 15 bochs.out >&2
tail -n 15 bochs.log >&2 2>/dev/null
exit 1
