#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the debug kernel of `make check-debug`: the pinned Debian source with
# Debian's cloud-amd64 config plus scripts/debug/debug.config (KASAN,
# lockdep, kmemleak, ...).  The build lives in the cache, keyed by the hash
# of both configs, and a finished build is reused.  Prints the build
# directory on the last line of stdout.
#
# usage: kernel.sh
# environment: KCACHE, KSRC, KVER, DEB_VERSION, KABI, JOBS
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
frag=$here/debug.config
cloud=${KABI%-amd64}-cloud-amd64
pkg=linux-headers-$cloud

# Debian's cloud config comes from its headers package (just the .config).
cfgdir=$KCACHE/cloud
if [ ! -f "$cfgdir/.config" ]; then
	mkdir -p "$cfgdir"
	echo "  FETCH   $pkg=$DEB_VERSION (for its .config)" >&2
	if ! (cd "$cfgdir" && apt-get download -q "$pkg=$DEB_VERSION" >/dev/null 2>apt.err); then
		cat "$cfgdir/apt.err" >&2
		echo "error: Debian no longer serves $pkg version $DEB_VERSION; see scripts/pin.mk" >&2
		exit 1
	fi
	dpkg -x "$cfgdir"/*.deb "$cfgdir/x"
	cp "$cfgdir/x/usr/src/$pkg/.config" "$cfgdir/.config"
	rm -rf "$cfgdir/x" "$cfgdir"/*.deb
fi

key=$(cat "$cfgdir/.config" "$frag" | sha256sum | cut -c1-12)
obj=$KCACHE/debug-$KABI-$key
if [ -f "$obj/.done" ]; then
	echo "  DEBUG   kernel $(cat "$obj/include/config/kernel.release") (cached in $obj)" >&2
	echo "$obj"
	exit 0
fi

rm -rf "$obj"
mkdir -p "$obj"
log=$obj/build.log
start=$(date +%s)
echo "  DEBUG   configuring $obj (cloud-amd64 + $(basename "$frag"))" >&2
"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$obj" "$cfgdir/.config" "$frag" >"$log" 2>&1
"$KSRC/scripts/config" --file "$obj/.config" \
	--set-str LOCALVERSION "-kvmdebug" --disable LOCALVERSION_AUTO \
	--set-str SYSTEM_TRUSTED_KEYS "" --set-str SYSTEM_REVOCATION_KEYS "" \
	--set-str MODULE_SIG_KEY ""
make -C "$KSRC" O="$obj" olddefconfig >>"$log" 2>&1

# Every option of the fragment must have survived olddefconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n)
		sym=${line%=n}
		! grep -q "^$sym=" "$obj/.config" || { echo "error: $sym still set" >&2; bad=1; } ;;
	CONFIG_*)
		grep -qx -- "$line" "$obj/.config" || { echo "error: $line did not take effect" >&2; bad=1; } ;;
	esac
done <"$frag"
[ $bad = 0 ] || { echo "error: see $obj/.config" >&2; exit 1; }

# Only the kernel, what out-of-tree modules need, and irqbypass.ko: the
# test VM loads no other module.
echo "  DEBUG   building bzImage with $JOBS jobs (about an hour cold on 2 cores; log $log)" >&2
make -C "$KSRC" O="$obj" -j"$JOBS" bzImage modules_prepare virt/lib/irqbypass.ko >>"$log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
	for _ in $(seq 60); do
		sleep 1
		kill -0 $pid 2>/dev/null || break
	done
	kill -0 $pid 2>/dev/null || break
	echo "  DEBUG   $(( ($(date +%s) - start) / 60 )) min, $(grep -c '^  CC ' "$log" || true) objects compiled" >&2
done
if ! wait $pid; then
	tail -30 "$log" >&2
	echo "error: debug kernel build failed; see $log" >&2
	exit 1
fi
grep -q irq_bypass_register_consumer "$obj/Module.symvers" ||
	{ echo "error: $obj/Module.symvers lacks irqbypass' exports" >&2; exit 1; }
echo "$(( $(date +%s) - start ))" >"$obj/.build-seconds"
touch "$obj/.done"
echo "  DEBUG   kernel $(cat "$obj/include/config/kernel.release") built in $(( ($(date +%s) - start) / 60 )) min" >&2
echo "$obj"
