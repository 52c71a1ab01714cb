/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for tests of the per-VM nested context cache: its VM stats and its
 * kvm.ko module parameter.
 */
#ifndef SELFTEST_KVM_NESTED_CONTEXT_H
#define SELFTEST_KVM_NESTED_CONTEXT_H

#include <stdio.h>
#include <string.h>

#include "kvm_util.h"

#define NESTED_CTX_RATIO_PARAM	"/sys/module/kvm/parameters/nested_context_ratio"

/*
 * vm_get_stat() reads garbage for a name the VM does not have, so look the
 * descriptor up first.
 */
static inline bool vm_has_stat(struct kvm_vm *vm, const char *name)
{
	struct kvm_stats_header header;
	struct kvm_stats_desc *descs, *desc;
	bool found = false;
	int fd, i;

	fd = vm_get_stats_fd(vm);
	read_stats_header(fd, &header);
	descs = read_stats_descriptors(fd, &header);
	for (i = 0; i < header.num_desc; i++) {
		desc = get_stats_descriptor(descs, i, &header);
		if (!strcmp(desc->name, name)) {
			found = true;
			break;
		}
	}
	free(descs);
	close(fd);
	return found;
}

/* Read a nested context stat; fail the test if KVM does not have it. */
static inline uint64_t vm_nested_ctx_stat(struct kvm_vm *vm, const char *name)
{
	TEST_ASSERT(vm_has_stat(vm, name),
		    "VM stat '%s' missing: not a kvm.ko with the nested context cache",
		    name);
	return vm_get_stat(vm, name);
}

/* kvm.ko's nested_context_ratio, or -1 when the parameter does not exist. */
static inline int nested_ctx_ratio(void)
{
	FILE *f = fopen(NESTED_CTX_RATIO_PARAM, "r");
	int ratio = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &ratio) != 1)
		ratio = -1;
	fclose(f);
	return ratio;
}

#endif /* SELFTEST_KVM_NESTED_CONTEXT_H */
