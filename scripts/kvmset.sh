#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The KVM file set: what an out-of-tree build of kvm, kvm-intel and kvm-amd
# takes from the kernel tree.  Patches may change nothing else, apart from
# the selftests, the unit harness and the documentation.
#
#   kvmset.sh files  TREE        list the set (tree-relative)
#   kvmset.sh sync   TREE DEST   copy the set to DEST, touching only files
#                                whose content changed
#   kvmset.sh allowed PATH...    fail for a path a patch may not change
set -euo pipefail

patterns=(
	'arch/x86/kvm/*'
	'virt/kvm/*'
	'include/linux/kvm_*.h'
	'include/kvm/iodev.h'
	'include/uapi/linux/kvm*.h'
	'include/trace/events/kvm.h'
	'arch/x86/include/asm/kvm*.h'
	'arch/x86/include/asm/svm.h'
	'arch/x86/include/asm/vmx.h'
	'arch/x86/include/asm/vmxfeatures.h'
	'arch/x86/include/uapi/asm/kvm*.h'
	'arch/x86/include/uapi/asm/svm.h'
	'arch/x86/include/uapi/asm/vmx.h'
)
# Copied for the build, never patched: CREATE_TRACE_POINTS includes
# arch/x86/kvm/trace.h again relative to define_trace.h's own directory, so
# define_trace.h must come from the set, not from a full kernel source tree
# (as KDIR is for make check-debug) whose trace.h is stock.
build_only=(
	'include/trace/define_trace.h'
)
extra=(
	'tools/testing/selftests/kvm/*'
	'tools/testing/kvm_nested/*'
	'Documentation/virt/kvm/*'
)

match() {
	local p
	for p in "$@"; do
		# shellcheck disable=SC2053
		[[ $path == $p ]] && return 0
	done
	return 1
}

case "$1" in
files)
	cd "$2"
	find arch/x86/kvm virt/kvm include arch/x86/include -type f | sort |
		while read -r path; do
			if match "${patterns[@]}" "${build_only[@]}"; then echo "$path"; fi
		done
	;;
sync)
	tree=$2 dest=$3
	mkdir -p "$dest"
	"$0" files "$tree" | rsync -rlp --checksum --files-from=- "$tree/" "$dest/"
	;;
allowed)
	shift
	rc=0
	for path in "$@"; do
		match "${patterns[@]}" "${extra[@]}" || {
			echo "error: $path is outside the KVM file set: it cannot take effect against a stock kernel" >&2
			rc=1
		}
	done
	exit $rc
	;;
*)
	echo "usage: kvmset.sh files|sync|allowed ..." >&2
	exit 2
	;;
esac
