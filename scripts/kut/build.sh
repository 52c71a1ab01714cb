#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build kvm-unit-tests' x86/svm.flat and x86/vmx.flat, and stage what the
# emulated L0 needs to run them, all under $O/kut:
#
#   src/     the suite, unpacked from $KUT_TARBALL (default
#            $REPO/../shared/kvm-unit-tests.tar.xz: a build input, never
#            copied into this repository) with scripts/kut/*.patch applied
#   root/    merged into the test VM's initramfs (run.sh --root): Debian's
#            qemu-system-x86_64, the libraries ldd lists, its firmware,
#            the two .flat files and scripts/kut/run
#   tests/   one tiny script per kvm-unit-tests test, kut/svm/<name> and
#            kut/vmx/<name>, for run.sh --selftests: the test lists name
#            them like selftests, so results, KTAP, tests/expected-results
#            and the verdicts work unchanged
#   svm-full.list, vmx-full.list   every test of each suite (make check-kut)
#
# Rebuilt only when the tarball, a patch, this script or scripts/kut/run
# changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"

tarball=${KUT_TARBALL:-$REPO/../shared/kvm-unit-tests.tar.xz}
out=$O/kut
[ -f "$tarball" ] || { echo "kut: no $tarball (CI and the development machine have ../shared next to the clone)" >&2; exit 1; }

stamp=$( { sha256sum "$tarball" "$here"/*.patch "$here/build.sh" "$here/run" | cut -d' ' -f1
	   command -v qemu-system-x86_64; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
	echo "  KUT     $out (up to date)"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out"

echo "  KUT     unpack $(basename "$tarball"), apply $(cd "$here" && echo *.patch)"
tar -C "$out" -xf "$tarball"
mv "$out"/kvm-unit-tests* "$out/src"
for p in "$here"/*.patch; do
	patch -d "$out/src" -p1 -s --no-backup-if-mismatch <"$p"
done
echo "  KUT     build x86/svm.flat x86/vmx.flat"
(cd "$out/src" && ./configure >"$out/build.log" 2>&1 &&
	make -j"$JOBS" x86/svm.flat x86/vmx.flat >>"$out/build.log" 2>&1) || {
	tail -20 "$out/build.log" >&2
	exit 1
}

# The VMM inside L0: Debian's QEMU, the libraries it links (at the paths
# ldd prints: the initramfs has no /usr merge of its own), and the
# firmware a -kernel multiboot boot reads.  bios-256k.bin lives in
# /usr/share/seabios on the host; QEMU also searches /usr/share/qemu.
root=$out/root
qemu=$(command -v qemu-system-x86_64)
mkdir -p "$root/usr/bin" "$root/usr/share/qemu" "$root/kvm/kut"
cp "$qemu" "$root/usr/bin/"
for lib in $(ldd "$qemu" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
for fw in bios-256k.bin kvmvapic.bin multiboot_dma.bin linuxboot_dma.bin; do
	f=
	for d in /usr/share/qemu /usr/share/seabios; do
		[ -f "$d/$fw" ] && { f=$d/$fw; break; }
	done
	[ -n "$f" ] || { echo "kut: no firmware $fw (qemu-system-data, seabios)" >&2; exit 1; }
	cp -L "$f" "$root/usr/share/qemu/$fw"
done
cp "$out/src/x86/svm.flat" "$out/src/x86/vmx.flat" "$root/kvm/kut/"
# The address of svm.flat's VMRUN instruction, as its exception handler
# prints it (scripts/kut/run retries a #DB taken there).
nm "$out/src/x86/svm.elf" | awk '$3 == "vmrun_rip" {print $1}' >"$root/kvm/kut/svm.vmrun_rip"
[ -s "$root/kvm/kut/svm.vmrun_rip" ] || { echo "kut: no vmrun_rip in svm.elf" >&2; exit 1; }
install -m 755 "$here/run" "$root/kvm/kut/run"

# Test names, from the suites' own tables.  A test is selected by its
# name with spaces as underscores (test_wanted() in x86/svm.c and
# x86/vmx.c); a script's file name also has "/" as "-".  vmx.c's
# instruction-level tests (test_vmptrld, test_vmclear, test_vmcs_lifecycle,
# ...) run before vmx_tests[] and are selected the same way.
names() { # file table
	sed -n "/^struct $2 $2s\[\] = {/,/^};/p" "$1" |
		grep -oE '^[[:space:]]*\{ *"[^"]+"|TEST\([A-Za-z0-9_]+\)' |
		sed -E 's/.*"(.*)"/\1/; s/TEST\((.*)\)/\1/; s/ /_/g'
}
vmx_insn=$(grep -oE 'test_wanted\("test_[a-z_]+"' "$out/src/x86/vmx.c" | sed 's/.*("//; s/"//')
for suite in svm vmx; do
	d=$out/tests/kut/$suite
	mkdir -p "$d"
	{ [ $suite = vmx ] && echo "$vmx_insn"; names "$out/src/x86/${suite}_tests.c" "${suite}_test"; } |
	while read -r sel; do
		f=${sel//\//-}
		printf '#!/bin/sh\nexec /kvm/kut/run %s %s\n' "$suite" "'$sel'" >"$d/$f"
		chmod 755 "$d/$f"
		echo "kut/$suite/$f"
	done >"$out/$suite-full.list"
	[ -s "$out/$suite-full.list" ] || { echo "kut: no $suite tests found in the source" >&2; exit 1; }
done
echo "$stamp" >"$out/.stamp"
echo "  KUT     $(wc -l <"$out/svm-full.list") svm tests, $(wc -l <"$out/vmx-full.list") vmx tests," \
	"VMM root $(du -sm "$root" | cut -f1) MB"
