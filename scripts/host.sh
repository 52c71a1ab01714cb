#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make install / make load, for a real host running the kernel the modules
# were built for.
#
#   host.sh install MODULE.ko...   copy to /lib/modules/<abi>/updates/, depmod
#   host.sh load                   replace the running kvm modules with ours
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/env.sh
. "$here/env.sh"

running=$(uname -r)
if [ "$running" != "$KABI" ]; then
	cat >&2 <<MSG
error: the running kernel is $running, but the modules are built for $KABI.
       They would not load (vermagic).  Boot $KABI, or build for the running
       kernel with:  make KABI=$running KDIR=/lib/modules/$running/build
MSG
	exit 1
fi
# The same ABI name can cover two Debian versions of different code: the
# headers the modules were built against (checked against their source by
# scripts/version-check.sh) must be the running kernel's Debian version too.
run_deb=$(uname -v | sed -n 's/.* Debian \([^ ]*\) .*/\1/p')
mod_deb=$("$here/version-check.sh" --id "$KDIR" | sed -n 's/.* Debian //p')
if [ -n "$run_deb" ] && [ "$run_deb" != "$mod_deb" ]; then
	cat >&2 <<MSG
error: the running kernel is Debian $run_deb, but the modules are built
       against the headers of Debian ${mod_deb:-(unknown)} (KDIR=$KDIR).
       Build with the running kernel's own headers and source:
         make DEB_VERSION=$run_deb KABI=$running
MSG
	exit 1
fi
[ "$(id -u)" = 0 ] || { echo "error: run as root" >&2; exit 1; }

case "$1" in
install)
	shift
	dest=/lib/modules/$KABI/updates/kvm-nested
	mkdir -p "$dest"
	install -m 0644 "$@" "$dest/"
	depmod -a "$KABI"
	echo "installed $* in $dest (they take precedence over the stock modules)"
	;;
load)
	vendor=$(grep -qw vmx /proc/cpuinfo && echo intel || echo amd)
	for m in kvm_intel kvm_amd kvm; do
		if [ -d "/sys/module/$m" ]; then
			rmmod "$m" || { echo "error: cannot unload $m: stop all VMs first" >&2; exit 1; }
		fi
	done
	modprobe "kvm_$vendor"
	echo "loaded: kvm nested_context_ratio=$(cat /sys/module/kvm/parameters/nested_context_ratio 2>/dev/null || echo '?'), kvm_$vendor nested=$(cat "/sys/module/kvm_$vendor/parameters/nested")"
	;;
*)
	echo "usage: host.sh install MODULE.ko... | load" >&2
	exit 2
	;;
esac
