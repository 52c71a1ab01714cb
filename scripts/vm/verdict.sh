#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn a VM run's results into verdicts, using tests/expected-results.
#
# usage: verdict.sh BACKEND LIST RESULTS
# Prints one line per test of LIST:  PASS|FAIL|SKIP|XFAIL|TIMEOUT secs name [# why]
# and a last line "totals P F S".  A FAIL or TIMEOUT's why is the line of
# the test's output that RESULTS' sibling file "why" (scripts/vm/run.sh)
# holds for it.
set -euo pipefail

backend=$1 list=$2 results=$3
here=$(cd "$(dirname "$0")" && pwd)
expected=$here/../../tests/expected-results

awk -v be="$backend" -v expf="$expected" -v res="$results" -v whyf="$(dirname "$results")/why" '
BEGIN {
	while ((getline l < expf) > 0) {
		if (l ~ /^#/ || l ~ /^[[:space:]]*$/) continue
		n = split(l, f, /[[:space:]]+/)
		if (f[1] != be) continue
		v[f[2]] = f[3]
		r = l; sub(/^[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+/, "", r)
		why[f[2]] = r
	}
	while ((getline l < res) > 0) {
		split(l, f, " ")
		name = l; sub(/^[^ ]+ [^ ]+ /, "", name)
		# A test may stand in the list more than once (e.g. before and
		# after a module reload): match the n-th result to the n-th run.
		k = name SUBSEP (++cnt[name])
		got[k] = f[1]; secs[k] = f[2]
		# run.sh'"'"'s why file, line by line with the results.
		if ((getline w < whyf) > 0 && w != "-")
			detail[k] = w
	}
}
/^#/ || /^[[:space:]]*$/ { next }
/^!(reload|boot)/ { ctx = $0; sub(/^![a-z]+[[:space:]]*/, "", ctx); ctx = " [" ctx "]"; next }
{
	name = $0
	k = name SUBSEP (++occ[name])
	if (v[$1] == "HANG") {
		printf "SKIP - %s%s # expected hang, not run: %s\n", name, ctx, why[$1]; s++; next
	}
	if (!(k in got)) {
		printf "FAIL - %s%s # no result (the VM died or timed out before it)\n", name, ctx; nf++; next
	}
	r = got[k]
	if (r == "PASS") { printf "PASS %s %s%s\n", secs[k], name, ctx; p++ }
	else if (r == "SKIP") { printf "SKIP %s %s%s\n", secs[k], name, ctx; s++ }
	else if (v[$1] == "FAIL") {
		printf "XFAIL %s %s%s # %s, as with stock: %s\n", secs[k], name, ctx, r, why[$1]; s++
	} else if (v[$1] == "FLAKY") {
		# Passes in some stock runs and fails or times out in others:
		# its result is reported, never gating.
		printf "XFAIL %s %s%s # %s, flaky with stock: %s\n", secs[k], name, ctx, r, why[$1]; s++
	} else {
		printf "%s %s %s%s%s\n", r, secs[k], name, ctx, (k in detail) ? " # " detail[k] : ""
		nf++
	}
}
END { printf "totals %d %d %d\n", p, nf, s }
' "$list"
