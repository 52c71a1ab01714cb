#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# One benchmark boot: lay out OUT/bench (bench-dir.sh: stock and our modules
# of VENDOR, and the selftest TEST), put VM-SCRIPT there behind the given
# VAR=VALUE lines and vm-lib.sh, boot BACKEND once to run it (TIMEOUT seconds at most) and
# leave the "# BENCH " lines of its serial log, without the prefix, in
# OUT/results.  OUT is emptied first.  BOOT_HIDDEN=MIB boots with that much
# RAM hidden from the kernel (run.sh --hidden).
#
# usage: boot.sh OUT BACKEND VENDOR TEST VM-SCRIPT TIMEOUT [VAR=VALUE ...]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=$1 be=$2 vendor=$3 test=$4 script=$5 timeout=$6
shift 6

rm -rf "$out"
"$here/bench-dir.sh" "$out/bench" "$vendor" "$test"
{
	echo "$*"
	echo "VENDOR=$vendor"
	cat "$here/vm-lib.sh"
	cat "$here/$script"
} >"$out/bench/$script"
echo "!bench $script" >"$out/list"

"$here/../vm/run.sh" --backend "$be" --list "$out/list" --bench "$out/bench" \
	--timeout "$timeout" --out "$out/vm" ${BOOT_HIDDEN:+--hidden "$BOOT_HIDDEN"} --quiet || true

tr -d '\r' <"$out/vm/serial.log" | sed -n 's/^# BENCH /BENCH /p' >"$out/results"
