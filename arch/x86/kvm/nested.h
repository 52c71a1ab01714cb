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
 * table code writes these fields, under the table lock; the owner of an
 * attached context may read ->gpa and ->vcpu.
 */
struct kvm_nested_context {
	gpa_t gpa;
	struct hlist_node hnode;
	struct list_head lru;
	struct kvm_vcpu *vcpu;
};

/*
 * Outcome of kvm_nested_ctx_load() and kvm_nested_ctx_lookup(), for the
 * tracepoints.  HIT, ALLOC and RECYCLE return a context; the others return
 * NULL.  A lookup ends in HIT, BUSY, MISS or NONE only.
 */
enum kvm_nested_ctx_outcome {
	KVM_NESTED_CTX_HIT,	/* a detached context, or the caller's */
	KVM_NESTED_CTX_ALLOC,	/* a miss below capacity, newly allocated */
	KVM_NESTED_CTX_RECYCLE,	/* a miss at capacity, the LRU head reset */
	KVM_NESTED_CTX_NONE,	/* the VM has no table (cache off) */
	KVM_NESTED_CTX_BUSY,	/* attached to another vCPU */
	KVM_NESTED_CTX_FULL,	/* at capacity, every context attached */
	KVM_NESTED_CTX_NOMEM,	/* allocation failed */
	KVM_NESTED_CTX_MISS,	/* lookup only: no context for the GPA */
};

/* Outcome of kvm_nested_ctx_put(), for its tracepoint. */
enum kvm_nested_ctx_release {
	KVM_NESTED_CTX_DETACHED,	/* moved to the LRU tail */
	KVM_NESTED_CTX_NOT_OWNER,	/* not held by this vCPU: left alone */
};

int kvm_nested_ctx_table_init(struct kvm *kvm);
void kvm_nested_ctx_table_destroy(struct kvm *kvm);

struct kvm_nested_context *kvm_nested_ctx_load(struct kvm_vcpu *vcpu,
					       gpa_t gpa);
struct kvm_nested_context *kvm_nested_ctx_lookup(struct kvm_vcpu *vcpu,
						 gpa_t gpa);
void kvm_nested_ctx_put(struct kvm_vcpu *vcpu, struct kvm_nested_context *ctx);

#endif /* __ARCH_X86_KVM_NESTED_H */
