#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every tier, cheapest first, then one line of totals.
#
#   unit    userspace unit tests, stress test and seeded fuzzer of nested.c
#   build   kvm.ko, kvm-intel.ko, kvm-amd.ko (vermagic checked) and selftests
#   lint    checkpatch --strict, sparse, gcc W=1, clang: no new warnings
#   series  the format-patch series applies to the pristine tree in order,
#           every new file at the repository root is what the series ships,
#           and the tree builds (W=1, no warnings) after every commit
#   qemu    tests/qemu.list with our kvm-amd under QEMU TCG (nested SVM)
#   bochs   tests/bochs.list with our kvm-intel under Bochs (nested VMX)
#   kut     kvm-unit-tests inside the emulated L0, one inner QEMU per test:
#           svm.flat under QEMU (tests/kut-qemu.list), vmx.flat under Bochs
#           (tests/kut-bochs.list), each after that emulator's list;
#           CHECK_KUT=full (make check-kut) runs every test of both suites,
#           KUT_MODS=stock runs them with Debian's modules (the baseline);
#           kut-qemu or kut-bochs in CHECK_TIERS selects one of the two
#
# After each emulator list, tests/<backend>-stock.list runs our new tests
# with Debian's stock modules, where each must fail: a test that passes
# without the cache does not test it.  In the same boot,
# tests/<backend>-stock-pass.list runs their functional checks (-F), where
# each must pass: on unmanaged memory (-U) stock KVM is slower, not wrong,
# and what an L2 sees of its own state (the switch tests' GDTR limit) is
# the reference ours must match.  Both lists may hold !reload lines.
#
# The emulator lists boot with 256 MiB of RAM hidden from the kernel
# (run.sh --hidden), for the unmanaged-memory modes (-U); a -U test that
# SKIPs there (no hidden RAM, no /dev/mem) fails.
#
# CHECK_TIERS selects tiers (default: all).  The two emulator tiers run in
# parallel: each emulator uses one core.
#
# CHECK_KERNEL=debug (make check-debug) boots the debug kernel of
# scripts/debug/kernel.sh (KASAN, lockdep, kmemleak; built once and cached)
# instead of Debian's, sets panic_on_warn once it booted, and builds our
# modules against it with -Werror.  Its tiers are build, qemu and bochs;
# each list ends with a kmemleak scan, and there is no stock run (Debian's
# modules do not load into that kernel).
#
# CHECK_LISTS=churn (make check-churn) runs tests/churn-<backend>.list
# instead of the emulator lists: the concurrent churn test with its full
# count of switches, too long for make check.  Its tiers are build, qemu
# and bochs, with no stock run.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
cd "$REPO" || exit 1

debug=$([ "${CHECK_KERNEL:-}" = debug ] && echo 1 || true)
churn=$([ "${CHECK_LISTS:-}" = churn ] && echo 1 || true)
if [ -n "$debug" ]; then
	tiers=${CHECK_TIERS:-build qemu bochs}
	logdir=$O/check-debug
elif [ -n "$churn" ]; then
	tiers=${CHECK_TIERS:-build qemu bochs}
	logdir=$O/check-churn
else
	tiers=${CHECK_TIERS:-unit build lint series qemu bochs kut}
	logdir=$O/check
fi
mkdir -p "$logdir"
pass=0 fail=0 skip=0
summary=()

want() { [[ " $tiers " == *" $1 "* ]]; }
# The kut tier of one back end, or of both ("kut").
want_kut() { # [backend]
	if [ $# -eq 0 ]; then want kut || want kut-qemu || want kut-bochs; else want kut || want "kut-$1"; fi
}
stage() { echo "==> $* ($(date +%T))"; }
record() { # VERDICT name [why]
	case $1 in
	PASS) pass=$((pass + 1)) ;;
	FAIL|TIMEOUT) fail=$((fail + 1)) ;;
	*) skip=$((skip + 1)) ;;
	esac
	summary+=("$(printf '%-7s %s' "$1" "${*:2}")")
}
# A tier that prints "N passed, N failed[, N skipped]" as its last line.
counts() { # name log rc
	local line p f s
	line=$(grep -E '^[a-z-]*:? ?[0-9]+ passed, [0-9]+ failed' "$2" | tail -1)
	if [ -z "$line" ]; then
		record FAIL "$1: no totals line (exit $3), see $2"
		return
	fi
	p=$(echo "$line" | sed -E 's/.*\b([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.*\b([0-9]+) failed.*/\1/')
	s=$(echo "$line" | sed -nE 's/.*\b([0-9]+) skipped.*/\1/p')
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + ${s:-0}))
	[ "$3" -eq 0 ] || [ "$f" -gt 0 ] || { fail=$((fail + 1)); line="$line (exit $3)"; }
	summary+=("$(printf '%-7s %s: %s' "$([ "$f" -eq 0 ] && [ "$3" -eq 0 ] && echo PASS || echo FAIL)" "$1" "$line")")
}

t_start=$(date +%s)
stage "deps"
"$here/deps.sh" build lint vm unit patchset kut || { echo "0 passed, 1 failed"; exit 1; }

# The debug kernel, and where its modules and VM results go.
run_args=() mods_dir=$KVMTREE/arch/x86/kvm sfx=ours
# 100000 churn-test switches take about 4 minutes in either emulator; the
# timeout leaves room for a loaded machine.
[ -n "$churn" ] && run_args=(--timeout 3600) sfx=churn
if [ -n "$debug" ]; then
	stage "debug kernel: build or reuse (progress below)"
	t0=$(date +%s)
	if ! dobj=$("$here/debug/kernel.sh" 2> >(tee "$logdir/debug-kernel.log" >&2)) ||
	   [ ! -f "$dobj/.done" ]; then
		record FAIL "debug kernel: see $logdir/debug-kernel.log"
		echo "$pass passed, $fail failed, $skip skipped"
		exit 1
	fi
	record PASS "debug kernel: $(cat "$dobj/include/config/kernel.release"), $(($(date +%s) - t0)) s"
	export KIMAGE=$dobj/arch/x86/boot/bzImage KMODDIR=$dobj/virt/lib
	mods_dir=$O/kvm-debug/arch/x86/kvm sfx=debug
	run_args=(--mods "$mods_dir" --panic-on-warn --timeout 1200)
fi

if want unit; then
	stage "unit: userspace tests of nested.c"
	"$here/unit.sh" check 2>&1 | tee "$logdir/unit.log"
	counts unit "$logdir/unit.log" "${PIPESTATUS[0]}"
fi

built=0
if want build || want qemu || want bochs || want_kut; then
	stage "build: modules and selftests"
	t0=$(date +%s)
	if [ -n "$debug" ]; then
		set -- KDIR="$dobj" KVMTREE="$O/kvm-debug" MODULE_ABI="$(cat "$dobj/include/config/kernel.release")" \
			KBUILD_EXTRA=KCFLAGS=-Werror
	else
		set --
	fi
	if make --no-print-directory -C "$REPO" "$@" all >"$logdir/build.log" 2>&1; then
		record PASS "build: kvm.ko kvm-intel.ko kvm-amd.ko ($(modinfo -F vermagic "$mods_dir/kvm.ko" | cut -d' ' -f1)) + selftests, $(($(date +%s) - t0)) s"
		built=1
	else
		tail -30 "$logdir/build.log"
		record FAIL "build: see $logdir/build.log"
	fi
fi

kut_built=0
if want_kut; then
	stage "kut: build kvm-unit-tests (svm.flat, vmx.flat) and the VMM root"
	t0=$(date +%s)
	if "$here/kut/build.sh" >"$logdir/kut-build.log" 2>&1; then
		record PASS "kut: build: $(tail -1 "$logdir/kut-build.log" | sed 's/^ *KUT *//'), $(($(date +%s) - t0)) s"
		kut_built=1
	else
		tail -20 "$logdir/kut-build.log"
		record FAIL "kut: build: see $logdir/kut-build.log"
	fi
fi

if want lint; then
	stage "lint: checkpatch, sparse, W=1, clang"
	"$here/lint.sh" 2>&1 | tee "$logdir/lint.log"
	counts lint "$logdir/lint.log" "${PIPESTATUS[0]}"
fi

if want series; then
	stage "series: format-patch series against the pristine tree"
	if "$here/patchset.sh" "$KSRC" "$O/patchset" --verify >"$logdir/series.log" 2>&1; then
		record PASS "series: $(tail -1 "$logdir/series.log")"
	else
		tail -20 "$logdir/series.log"
		record FAIL "series: see $logdir/series.log"
	fi
	# One source of truth: what the series ships is what the repository
	# holds, and no patch modifies a file the series adds (series.sh check,
	# run by the tree build and by patchset.sh).
	if make --no-print-directory -s -C "$REPO" tree >"$logdir/series-files.log" 2>&1 &&
	   "$here/series.sh" verify "$REPO" "$TREE" >>"$logdir/series-files.log" 2>&1; then
		record PASS "series: $(tail -1 "$logdir/series-files.log")"
	else
		tail -20 "$logdir/series-files.log"
		record FAIL "series: new files, see $logdir/series-files.log"
	fi
	"$here/series-build.sh" 2>&1 | tee "$logdir/series-build.log"
	counts series-build "$logdir/series-build.log" "${PIPESTATUS[0]}"
fi

vm_tier() { # backend list
	local be=$1 list=$2
	if [ $built -ne 1 ]; then
		echo "totals 0 1 0" >"$logdir/$be.verdict"
		return
	fi
	if [ -n "$debug" ]; then
		# KASAN and lockdep make the churn test several times slower
		# (Bochs: 5000 switches did not finish in the 1200 s timeout);
		# what it adds on this kernel is its concurrency, not its
		# count: each churn line runs a fifth of its switches.
		{
			awk '!/^#/ && /nested_context_churn_test/ {
				for (i = 1; i < NF; i++)
					if ($i == "-n")
						$(i + 1) = int($(i + 1) / 5)
			} 1' "$list"
			printf '# Leaks of the whole run.\n!kmemleak\n'
		} >"$logdir/$be.list"
		list=$logdir/$be.list
	fi
	local extra=()
	# Bochs' CPUID fails the kernel's XSAVE consistency check at boot;
	# the kernel then runs without XSAVE, but its fpstate sizes stay
	# inconsistent and KASAN reports fpu_alloc_guest_fpstate() writing
	# out of bounds at every vCPU creation.  Boot the debug kernel
	# without XSAVE from the start.
	[ -n "$debug" ] && [ "$be" = bochs ] && extra=(--cmdline noxsave)
	"$here/vm/run.sh" --backend "$be" --list "$list" --out "$O/vm/$be-$sfx" --hidden 256 \
		${run_args[@]+"${run_args[@]}"} ${extra[@]+"${extra[@]}"} >"$logdir/$be.log" 2>&1
	"$here/vm/verdict.sh" "$be" "$list" "$O/vm/$be-$sfx/results" >"$logdir/$be.verdict"
	[ -n "$debug$churn" ] && return
	cat "tests/$be-stock.list" "tests/$be-stock-pass.list" >"$logdir/$be-stock.list"
	"$here/vm/run.sh" --backend "$be" --mods stock --list "$logdir/$be-stock.list" \
		--hidden 256 >>"$logdir/$be.log" 2>&1
}
# kvm-unit-tests in the emulated L0 (scripts/kut/build.sh): each test is a
# script in $O/kut/tests that boots the .flat in the L0's QEMU.  The
# per-test timeout counts L0 seconds (Bochs' L0 clock runs slow).
kut_tier() { # backend
	local be=$1 list mods=${KUT_MODS:-ours} args=()
	if [ "${CHECK_KUT:-}" = full ]; then
		list=$O/kut/$([ "$be" = qemu ] && echo svm || echo vmx)-full.list
	else
		list=tests/kut-$be.list
	fi
	if [ $built -ne 1 ] || [ $kut_built -ne 1 ]; then
		echo "totals 0 1 0" >"$logdir/kut-$be.verdict"
		return
	fi
	[ "$mods" = stock ] && args=(--mods stock)
	# "!boot <kvm.ko params>" in a kut list starts a part that runs in a
	# fresh boot of the L0 with those parameters (under QEMU TCG a reload
	# of kvm_amd makes L1 take spurious #DBs at VMRUN, with Debian's
	# stock modules too, so tests/kut-qemu.list boots again instead).
	# Per test, in L0 seconds: msr_intercept_check takes 37 to 55 s under
	# QEMU on an idle machine, but 91 to 109 s, with stock modules as with
	# ours, while another emulator and a build share the 2 cores; so 150 s
	# under QEMU.  Bochs' L0 clock runs slow: 90 s there.
	local dir=$O/vm/kut-$be-$mods p n boot
	local timeout=${KUT_TIMEOUT:-$([ "$be" = qemu ] && echo 150 || echo 90)}
	rm -rf "$dir"
	mkdir -p "$dir"
	awk -v d="$dir" 'BEGIN { n = 0; printf "" >(d "/part0.list"); printf "\n" >(d "/part0.params") }
		/^!boot/ { n++; p = $0; sub(/^!boot[[:space:]]*/, "", p)
			   printf "" >(d "/part" n ".list"); print p >(d "/part" n ".params"); next }
		{ print >>(d "/part" n ".list") }' "$list"
	: >"$dir/results"
	: >"$dir/why"
	: >"$logdir/kut-$be.log"
	for p in "$dir"/part*.list; do
		p=${p%.list}
		n=$(grep -c -v -e '^!' -e '^#' -e '^$' "$p.list")
		[ "$n" -gt 0 ] || continue
		# The hard wall-clock limit: boot, plus KUT_WALL s per test on
		# average (measured: 7-9 s under QEMU, 6-7 s under Bochs,
		# including the tests that run into their timeout), plus two
		# whole timeouts.  Under Bochs it is what stops an L0 that hangs
		# as a whole (its IF=0 bug), so it stays near what the list
		# takes, not ntests x timeout.
		boot=$([ "$be" = qemu ] && echo 60 || echo 300)
		"$here/vm/run.sh" --backend "$be" --list "$p.list" --selftests "$O/kut/tests" \
			--root "$O/kut/root" --timeout "$timeout" --out "$p" \
			--kvm-params "$(cat "$p.params")" \
			--limit $((boot + n * ${KUT_WALL:-20} + 2 * timeout * 4)) \
			${args[@]+"${args[@]}"} >>"$logdir/kut-$be.log" 2>&1
		cat "$p/results" >>"$dir/results" 2>/dev/null
		cat "$p/why" >>"$dir/why" 2>/dev/null
	done
	"$here/vm/verdict.sh" "$be" "$list" "$dir/results" >"$logdir/kut-$be.verdict"
}
kutmods=${KUT_MODS:-our}
pids=()
logs=()
for be in qemu bochs; do
	if want $be; then
		: >"$logdir/$be.log"
		logs+=("$logdir/$be.log")
	fi
	if want_kut $be; then
		: >"$logdir/kut-$be.log"
		logs+=("$logdir/kut-$be.log")
	fi
done
if want qemu || want_kut qemu; then
	stage "qemu: nested SVM list, then kvm-unit-tests svm.flat ($kutmods modules) (progress: $logdir/qemu.log, kut-qemu.log)"
	{ ! want qemu || vm_tier qemu "tests/${CHECK_LISTS:+$CHECK_LISTS-}qemu.list"; ! want_kut qemu || kut_tier qemu; } &
	pids+=($!)
fi
if want bochs || want_kut bochs; then
	stage "bochs: nested VMX list, then kvm-unit-tests vmx.flat ($kutmods modules) (progress: $logdir/bochs.log, kut-bochs.log)"
	{ ! want bochs || vm_tier bochs "tests/${CHECK_LISTS:+$CHECK_LISTS-}bochs.list"; ! want_kut bochs || kut_tier bochs; } &
	pids+=($!)
fi
if [ ${#pids[@]} -gt 0 ]; then
	# Show which test runs where while the emulators work.
	tail -n +1 -F "${logs[@]}" 2>/dev/null | grep --line-buffered "  VM  " &
	tailpid=$!
	wait "${pids[@]}"
	kill $tailpid 2>/dev/null
	wait $tailpid 2>/dev/null
fi
# One summary line per test of a verdict file (scripts/vm/verdict.sh):
# "VERDICT secs test [# why]", ended by a "totals" line.
record_verdicts() { # prefix verdict-file log
	local v secs rest
	while read -r v secs rest; do
		[ "$v" = totals ] && continue
		[ "$secs" = - ] && secs= || secs="[${secs}s] "
		# The run gave the -U modes hidden RAM: a SKIP is a failure.
		if [ "$v" = SKIP ] && [[ " ${rest%% # *} " == *" -U "* ]]; then
			record FAIL "$1: ${rest%% # *} $secs# SKIP in a boot with hidden RAM (see $3)"
			continue
		fi
		record "$v" "$1: ${rest%% # *} $secs${rest#"${rest%% # *}"}"
	done <"$2"
	grep -q "^totals" "$2" || record FAIL "$1: no verdict (see $3)"
}
for be in qemu bochs; do
	want $be || continue
	record_verdicts "$be" "$logdir/$be.verdict" "$logdir/$be.log"
	[ -n "$debug$churn" ] && continue
	# With stock modules, every one of our tests must fail.
	stock=$O/vm/$be-stock/results
	while read -r t; do
		r=$(grep -F " $t" "$stock" 2>/dev/null | grep -m1 -E "^[A-Z]+ [0-9.]+ $t\$" | cut -d' ' -f1)
		case $r in
		FAIL) record PASS "$be-stock: $t fails with stock modules, as it must" ;;
		'') record FAIL "$be-stock: $t: no result with stock modules (see $logdir/$be.log)" ;;
		*) record FAIL "$be-stock: $t: $r with stock modules: it does not test the cache" ;;
		esac
	done < <(grep -v -e '^#' -e '^$' -e '^!' "tests/$be-stock.list")
	# ...and their functional checks on unmanaged memory must pass.
	while read -r t; do
		r=$(grep -F " $t" "$stock" 2>/dev/null | grep -m1 -E "^[A-Z]+ [0-9.]+ $t\$" | cut -d' ' -f1)
		case $r in
		PASS) record PASS "$be-stock: $t passes with stock modules, as it must" ;;
		'') record FAIL "$be-stock: $t: no result with stock modules (see $logdir/$be.log)" ;;
		*) record FAIL "$be-stock: $t: $r with stock modules, which must pass its functional checks (see $O/vm/$be-stock/serial.log)" ;;
		esac
	done < <(grep -v -e '^#' -e '^$' -e '^!' "tests/$be-stock-pass.list")
done

for be in qemu bochs; do
	want_kut $be || continue
	record_verdicts "kut-$be" "$logdir/kut-$be.verdict" "$logdir/kut-$be.log"
done

echo
echo "==> summary ($(($(date +%s) - t_start)) s)"
printf '%s\n' "${summary[@]}"
# CI keeps only the end of the output: repeat what failed right above
# the totals.
if [ $fail -gt 0 ]; then
	echo
	echo "==> failed"
	printf '%s\n' "${summary[@]}" | grep -E '^(FAIL|TIMEOUT) '
fi
echo
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
