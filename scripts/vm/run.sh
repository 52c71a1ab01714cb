#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the Debian kernel in an emulator with a set of KVM modules, run a test
# list inside, and collect the results.  See scripts/vm/README.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/../env.sh"

backend=qemu mods= ksft=$KSFT list= kvm_params= timeout= out= bench_dir= quiet= cmdline= panic_on_warn=0 extra_root= limit= hidden=
while [ $# -gt 0 ]; do
	case "$1" in
	--backend) backend=$2; shift ;;
	--mods) mods=$2; shift ;;
	--selftests) ksft=$2; shift ;;
	--list) list=$2; shift ;;
	--kvm-params) kvm_params=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--out) out=$2; shift ;;
	--bench) bench_dir=$2; shift ;;
	--cmdline) cmdline=$2; shift ;;
	--panic-on-warn) panic_on_warn=1 ;;
	--root) extra_root=$2; shift ;;
	--limit) limit=$2; shift ;;
	--hidden) hidden=$2; shift ;;
	--quiet) quiet=1 ;;
	*) echo "usage: run.sh --backend qemu|bochs --list FILE [--mods DIR|stock] [--selftests DIR] [--kvm-params P] [--timeout S] [--out DIR] [--bench DIR] [--cmdline ARGS] [--panic-on-warn] [--root DIR] [--limit S] [--hidden MIB]" >&2; exit 2 ;;
	esac
	shift
done
: "${mods:=$KVMTREE/arch/x86/kvm}"
[ -n "$list" ] || { echo "run.sh: --list is required" >&2; exit 2; }

case "$backend" in
qemu) vendor=amd; boot_allow=120; : "${timeout:=300}" ;;
bochs) vendor=intel; boot_allow=900; : "${timeout:=300}" ;;
*) echo "run.sh: unknown backend $backend" >&2; exit 2 ;;
esac
modset=$([ "$mods" = stock ] && echo stock || echo ours)

# --hidden MIB: that much RAM the emulated host's kernel does not map
# (unmanaged memory, for the tests' -U modes): the emulator gets MIB more
# than the kernel may use, and mem= hides the rest.  QEMU: 2 GiB plus MIB,
# mem=2G; Bochs (at most 2048 MiB): 2048, mem=2048-MIB M.
if [ -n "$hidden" ]; then
	case $hidden in ''|*[!0-9]*|0) echo "run.sh: --hidden takes MiB, not '$hidden'" >&2; exit 2 ;; esac
	if [ "$backend" = qemu ]; then
		export QEMU_MEM=$((2048 + hidden))M
		cmdline="mem=2048M${cmdline:+ $cmdline}"
	else
		[ "$hidden" -lt 1024 ] || { echo "run.sh: --hidden $hidden: Bochs has 2048 MiB in all" >&2; exit 2; }
		export BOCHS_MEGS=2048
		cmdline="mem=$((2048 - hidden))M${cmdline:+ $cmdline}"
	fi
fi
# Next to the selftests' build dir, so that runs of other trees never collide.
: "${out:=$(dirname "$(realpath "$ksft")")/vm/$backend-$modset}"
mkdir -p "$out"
[ -f "$KIMAGE" ] || { echo "run.sh: no kernel image $KIMAGE (make fetch)" >&2; exit 1; }

# Tests expected to hang the emulated host are not run at all.
hangs=$(awk -v be="$backend" '$1 == be && $3 == "HANG" {print $2}' "$here/../../tests/expected-results")
awk -v h="$hangs" 'BEGIN { n = split(h, a, "\n"); for (i = 1; i <= n; i++) skip[a[i]] = 1 }
	!($1 in skip)' "$list" >"$out/list"
list=$out/list

VENDOR=$vendor MODS=$mods KSFT_DIR=$ksft LIST=$list KVM_PARAMS=$kvm_params \
	TEST_TIMEOUT=$timeout BENCH_DIR=$bench_dir PANIC_ON_WARN=$panic_on_warn EXTRA_ROOT=$extra_root \
	"$here/mkinitramfs.sh" "$out/initramfs.cpio"

ntests=$(grep -c -v -e '^!reload' -e '^#' -e '^$' "$list" || true)
# The hard wall-clock limit of the whole run: what init's per-test
# timeout allows, unless the caller knows better (--limit).
: "${limit:=$((boot_allow + ntests * (timeout + 5)))}"
log=$out/serial.log
: >"$log"

"$here/$backend.sh" "$KIMAGE" "$out/initramfs.cpio" "quiet loglevel=4${cmdline:+ $cmdline}" "$log" "$limit" &
pid=$!
if [ -z "$quiet" ]; then
	tail -n +1 -F --pid=$pid "$log" 2>/dev/null |
		sed -un "s/^KVMNESTED: \(RUN .*\)/  VM      $backend\/$modset: \1/p; s/^KVMNESTED: \(MODULES .*\)/  VM      $backend\/$modset: \1/p; s/^KVMNESTED: \(BOOTED .*\)/  VM      $backend\/$modset: \1/p" &
fi
rc=0
wait $pid || rc=$?
wait 2>/dev/null || true

# results, and line by line with it why: the test's "KVMNESTED: WHY"
# line, or "-".  One pass writes both, so they cannot get out of step.
tr -d '\r' <"$log" | awk -v res="$out/results" -v why="$out/why" '
	BEGIN { printf "" >res; printf "" >why }
	/^KVMNESTED: WHY / { w = $0; sub(/^KVMNESTED: WHY /, "", w); next }
	/^KVMNESTED: RESULT / { r = $0; sub(/^KVMNESTED: RESULT /, "", r)
				print r >res; print (w == "" ? "-" : w) >why; w = "" }'
tr -d '\r' <"$log" | sed -n '/^KTAP version/,$p' | grep -E '^(KTAP|[0-9]+\.\.|ok |not ok |#)' >"$out/ktap" || true
if ! grep -q '^KVMNESTED: DONE' "$log"; then
	echo "run.sh: the $backend VM did not finish (exit $rc); see $log" >&2
	exit 1
fi
if grep -q '^KVMNESTED: MODULES FAILED' "$log"; then
	echo "run.sh: modules failed to load in $backend; see $log" >&2
	exit 1
fi
exit 0
