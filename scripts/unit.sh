#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The userspace tier: tools/testing/kvm_nested builds the real
# arch/x86/kvm/nested.c against shim headers and runs its unit tests,
# stress test and fuzzer (check), a long fuzz run (fuzz) or the benchmark
# (bench), in the patched tree (build/src).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"
"$here/deps.sh" unit

# Test the patched tree, not the repository's copies: a later commit of the
# series may patch the files that an earlier one adds (core-05 patches
# nested.c and the tests), and it is the end of the series that ships.
make --no-print-directory -C "$REPO" tree >&2
exec make --no-print-directory -C "$TREE/tools/testing/kvm_nested" OUT="$O/unit" "${1:-check}"
