#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Nested SVM L2-switch benchmark under QEMU TCG.  In one boot it runs the
# same switch workload (svm_l2_switch_test -m bench: one L1 vCPU VMRUNs
# C L2s in turn) with Debian's stock kvm/kvm-amd and then with ours, and
# prints switches/s and, per switch, the calls to kvm_vcpu_map(),
# hva_to_pfn() and kvm_vcpu_read_guest() counted by kprobe events
# (kprobe_profile).  Calls made while setting up the VM are cancelled out
# by running the workload with S1 and S2 rounds and taking the difference.
#
#   svm-switch-bench.sh [-k KVMDIR] [-s KSFTDIR] [-c L2S] [-1 S1] [-2 S2]
#                       [-r RATIO] [-f "MORE FUNCTIONS TO COUNT"]
#
# KVMDIR holds arch/x86/kvm/{kvm,kvm-amd}.ko (default build/kvm), KSFTDIR
# the static selftests (default build/selftests).  A benchmark, not a test:
# TCG timings are only comparable within one run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kvmdir=$repo/build/kvm ksft=$repo/build/selftests c=8 s1=50 s2=550 ratio=8 more=
while getopts k:s:c:1:2:r:f: o; do
	case $o in
	k) kvmdir=$OPTARG ;;
	s) ksft=$OPTARG ;;
	c) c=$OPTARG ;;
	1) s1=$OPTARG ;;
	2) s2=$OPTARG ;;
	r) ratio=$OPTARG ;;
	f) more=$OPTARG ;;
	*) exit 2 ;;
	esac
done

script=$(mktemp /tmp/svm-bench.XXXXXX)
trap 'rm -f "$script"' EXIT
cat > "$script" <<GUEST
C=$c S1=$s1 S2=$s2 RATIO=$ratio MORE="$more"
GUEST
cat >> "$script" <<'GUEST'
T=/sys/kernel/tracing
FUNCS="kvm_vcpu_map hva_to_pfn kvm_vcpu_read_guest $MORE"

# run ROUNDS: prints "switches/s hits..." for one run of the workload
run() {
	echo > $T/kprobe_events
	for f in $FUNCS; do echo "p:svmb/$f $f" >> $T/kprobe_events; done
	echo 1 > $T/events/svmb/enable
	rate=$(/t/svm_l2_switch_test -m bench -c $C -s $1 2>&1 |
	       sed -n 's/.* \([0-9]*\) switches\/s$/\1/p')
	echo 0 > $T/events/svmb/enable
	hits=
	for f in $FUNCS; do
		h=$(awk -v f=$f '$1 == f || $1 == "svmb/" f { print $2; exit }' $T/kprobe_profile)
		hits="$hits ${h:-0}"
	done
	echo > $T/kprobe_events
	echo "${rate:-0}$hits"
}

bench() {
	a=$(run $S1)
	b=$(run $S2)
	n=$(( (S2 - S1) * C ))
	echo "BENCH $LABEL ${b%% *} $n $(echo "$a $b" | awk '{ h = NF / 2; for (i = 2; i <= h; i++) printf "%d ", $(i + h) - $i }')"
}

load_kvm stock
LABEL=stock bench
load_kvm ours nested_context_ratio=$RATIO
LABEL=ours bench
GUEST

out=$("$here/qemu-svm.sh" -t 900 -k "$kvmdir" -s "$ksft" "$script" 2>&1) || true
lines=$(printf '%s\n' "$out" | tr -d '\r' | grep '^BENCH ' || true)
if [ "$(printf '%s\n' "$lines" | grep -c '^BENCH [a-z]* [1-9]')" != 2 ]; then
	printf '%s\n' "$out" | tail -40
	echo "error: benchmark did not complete" >&2
	exit 1
fi
printf '%s\n' "$lines" | awk -v c="$c" -v more="$more" '
function rt(x, y) { return y ? sprintf("%.3f", x / y) : "-" }
{
	lab[NR] = $2; rate[NR] = $3; n[NR] = $4
	for (i = 5; i <= NF; i++) v[NR, i - 4] = $i / $4
	nf = NF - 4
}
END {
	split("vcpu_map hva_to_pfn read_guest " more, name, " ")
	printf "nested SVM L2 switches, %d L2s on one L1 vCPU, QEMU TCG, %d switches measured\n", c, n[1]
	printf "%-10s %11s", "modules", "switches/s"
	for (j = 1; j <= nf; j++) printf " %13s", name[j] "/sw"
	printf "\n"
	for (i = 1; i <= 2; i++) {
		printf "%-10s %11d", lab[i], rate[i]
		for (j = 1; j <= nf; j++) printf " %13.2f", v[i, j]
		printf "\n"
	}
	printf "%-10s %10.2fx", "ours/stock", rate[2] / rate[1]
	for (j = 1; j <= nf; j++) printf " %13s", rt(v[2, j], v[1, j])
	printf "\n"
}'
