# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Defaults for scripts run outside make: the same values as the Makefile,
# taken from scripts/pin.mk.  Anything already in the environment wins.

_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
eval "$(sed -n 's/^\([A-Z_]*\)[[:space:]]*?=[[:space:]]*\(.*\)$/: "${\1:=\2}"/p' "$_repo/scripts/pin.mk")"
: "${REPO:=$_repo}"
: "${O:=$REPO/build}"
: "${CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/kvm-nested}"
: "${KCACHE:=$CACHE/$DEB_VERSION}"
: "${KSRC:=$KCACHE/linux-source-$KVER}"
: "${KDIR:=$KCACHE/root/usr/src/linux-headers-$KABI}"
: "${KIMAGE:=$KCACHE/root/boot/vmlinuz-$KABI}"
: "${KMODDIR:=$KCACHE/root/lib/modules/$KABI}"
: "${TREE:=$O/src}"
: "${KVMTREE:=$O/kvm}"
: "${HDR:=$O/usr}"
: "${KSFT:=$O/selftests}"
: "${JOBS:=$(nproc)}"
export REPO O CACHE KCACHE KSRC KDIR KIMAGE KMODDIR KABI KVER DEB_VERSION TREE KVMTREE HDR KSFT JOBS
