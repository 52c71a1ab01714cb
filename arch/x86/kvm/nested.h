/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef __ARCH_X86_KVM_NESTED_H
#define __ARCH_X86_KVM_NESTED_H

#include <linux/kvm_host.h>

/*
 * Per-VM cache of nested (L2) contexts, keyed by the guest-physical address
 * of L1's control block (the VMPTR on VMX, the vmcb12 GPA on SVM).  See
 * Documentation/virt/kvm/x86/nested-context.rst.
 *
 * A vendor context embeds struct kvm_nested_context.  A context is either
 * attached (owned by exactly one vCPU, ->vcpu != NULL, not on the LRU) or
 * detached (->vcpu == NULL, on the LRU, still findable by GPA).  Only the
 * table code touches these fields, under the table lock.
 */
struct kvm_nested_context {
	gpa_t gpa;
	struct hlist_node hnode;
	struct list_head lru;
	struct kvm_vcpu *vcpu;
};

/* Outcome of kvm_nested_ctx_load(), for the tracepoint. */
enum kvm_nested_ctx_outcome {
	KVM_NESTED_CTX_HIT,
	KVM_NESTED_CTX_ALLOC,
	KVM_NESTED_CTX_RECYCLE,
	KVM_NESTED_CTX_NONE,
};

int kvm_nested_ctx_table_init(struct kvm *kvm);
void kvm_nested_ctx_table_destroy(struct kvm *kvm);

struct kvm_nested_context *kvm_nested_ctx_load(struct kvm_vcpu *vcpu,
					       gpa_t gpa);
void kvm_nested_ctx_put(struct kvm_vcpu *vcpu, struct kvm_nested_context *ctx);
void kvm_nested_ctx_clear(struct kvm_vcpu *vcpu, gpa_t gpa);

#endif /* __ARCH_X86_KVM_NESTED_H */
