#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The userspace tier: tools/testing/kvm_nested builds the real
# arch/x86/kvm/nested.c against shim headers and runs its unit tests,
# stress test and fuzzer (check), a long fuzz run (fuzz) or the benchmark
# (bench).  The harness is this repository's own tier, not part of the
# series.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
"$here/deps.sh" unit

# The harness includes the repository's arch/x86/kvm/nested.c, which holds
# exactly what the series ships (scripts/series.sh verify).
exec make --no-print-directory -C "$REPO/tools/testing/kvm_nested" OUT="$O/unit" "${1:-check}"
