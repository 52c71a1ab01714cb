// SPDX-License-Identifier: GPL-2.0-only
/*
 * For the benchmark: the real nested.c again, but with its hash pinned at
 * 256 buckets, i.e. a reproduction of a fixed DEFINE_HASHTABLE(.., 8) table,
 * under other names so that both link into one program.
 */
#define SHIM_TRACE_NOP
#define SHIM_FIXED_HASH_BITS	8
#define kvm_nested_ctx_table_init	fixed256_table_init
#define kvm_nested_ctx_table_destroy	fixed256_table_destroy
#define kvm_nested_ctx_load		fixed256_load
#define kvm_nested_ctx_put		fixed256_put
#define kvm_nested_ctx_lookup		fixed256_lookup

#include "shim/kvm_shim.h"
#include "../../../arch/x86/kvm/nested.c"
#include "bench256.h"

/* The buckets the table really has, so that the benchmark can check. */
unsigned int fixed256_nr_buckets(struct kvm *kvm)
{
	struct kvm_nested_ctx_table *t = kvm->arch.nested_ctx_table;

	return t->buckets ? 1U << t->hash_bits : 0;
}
