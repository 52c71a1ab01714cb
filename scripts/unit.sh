#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The userspace tier: tools/testing/kvm_nested builds the real
# arch/x86/kvm/nested.c against shim headers and runs its unit tests,
# stress test and fuzzer (check), a long fuzz run (fuzz) or the benchmark
# (bench).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
"$here/deps.sh" unit

exec make --no-print-directory -C "$REPO/tools/testing/kvm_nested" OUT="$O/unit" "${1:-check}"
