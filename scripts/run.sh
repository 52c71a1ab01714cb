#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make run: boot both emulators with our modules, run the L2-switch workload
# (tests/run-<backend>.list) and print the nested_context_* VM stats that the
# tests read through the binary stats fd inside the VM.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
"$here/deps.sh" vm || exit 1

rc=0
for be in ${RUN_BACKENDS:-qemu bochs}; do
	list=$REPO/tests/run-$be.list
	echo "==> $be: $(grep -c -v -e '^#' -e '^$' "$list") workload tests with our modules ($(date +%T))"
	t0=$(date +%s)
	"$here/vm/run.sh" --backend "$be" --list "$list" --out "$O/vm/run-$be" || rc=1
	echo "==> $be: $(($(date +%s) - t0)) s"
	"$here/vm/verdict.sh" "$be" "$list" "$O/vm/run-$be/results" | sed '$d'
	echo "    VM stats read through KVM_GET_STATS_FD in the guest:"
	tr -d '\r' <"$O/vm/run-$be/serial.log" |
		grep -E '^KVMNESTED: (RUN|MODULES)|^# .*(nested_context_|reuse)' |
		sed -e 's/^KVMNESTED: /    /' -e 's/^# /      /'
done
exit $rc
