#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-all.sh OUT "cmd args" ...: run each command, show its output, and add
# up the "<name>: N passed, N failed" lines they print.  A command that exits
# non-zero counts at least one failure, even without such a line (a sanitizer
# abort).  Prints "unit: N passed, N failed" last; exits non-zero on failure.
set -u

out=$1
shift
log=$out/check.log
: >"$log"
passed=0 failed=0

for cmd in "$@"; do
	echo "== $cmd" | tee -a "$log"
	# shellcheck disable=SC2086
	res=$($cmd 2>&1)
	rc=$?
	printf '%s\n' "$res" | tee -a "$log"
	line=$(printf '%s\n' "$res" | grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' | tail -n 1)
	if [ -n "$line" ]; then
		p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
	else
		p=0 f=0
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "== $cmd: exit status $rc" | tee -a "$log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done

echo "unit: $passed passed, $failed failed" | tee -a "$log"
[ "$failed" -eq 0 ]
