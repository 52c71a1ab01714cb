/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef __KVM_X86_VMX_NESTED_CTX_H
#define __KVM_X86_VMX_NESTED_CTX_H

#include <linux/kvm_host.h>

#include "../nested.h"

/*
 * The part of nested VMX state that belongs to one vmcs12 rather than to the
 * L1 vCPU running it: the guest pages that vmcs12 names, kept mapped in
 * gfn_to_pfn_caches across L2 switches.  mmu_notifier invalidation and the
 * memslot generation keep the caches correct, so a page is mapped again only
 * when it moved.  The caches whose pfn goes into vmcs02 are owned by the vCPU
 * that holds the context; invalidating them makes that vCPU re-load vmcs02
 * (KVM_REQ_GET_NESTED_STATE_PAGES) before its next VM-entry.
 *
 * A context is either one of the VM's table (struct kvm_nested_context, keyed
 * by the VMPTR) or the vCPU's private one, used when the table has none to
 * give.  Both behave the same.
 *
 * For an enlightened VMCS the context is keyed by the eVMCS GPA and @evmcs
 * maps the eVMCS page itself.  Only KVM reads and writes it, under the
 * cache's lock, so it is not owned by a vCPU.
 */
struct nested_vmx_ctx_hw;

struct vmx_nested_context {
	struct kvm_nested_context base;
	/*
	 * The vmcs02 kept for this vmcs12, owned by nested.c; NULL until the
	 * first VMPTRLD of it, and for the private context and an eVMCS.
	 */
	struct nested_vmx_ctx_hw *hw;
	struct gfn_to_pfn_cache msr_bitmap;
	struct gfn_to_pfn_cache apic_access;
	struct gfn_to_pfn_cache virtual_apic;
	struct gfn_to_pfn_cache pi_desc;
#ifdef CONFIG_KVM_HYPERV
	struct gfn_to_pfn_cache evmcs;
#endif
};

struct kvm_nested_context *nested_vmx_alloc_context(struct kvm_vcpu *vcpu);
void nested_vmx_free_context(struct kvm_nested_context *base);
void nested_vmx_reset_context(struct kvm_nested_context *base);

void nested_vmx_ctx_init_private(struct kvm_vcpu *vcpu);
void nested_vmx_ctx_free_private(struct kvm_vcpu *vcpu);
void nested_vmx_ctx_load(struct kvm_vcpu *vcpu, gpa_t vmptr);
void nested_vmx_ctx_put(struct kvm_vcpu *vcpu);

int nested_vmx_gpc_refresh(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			   unsigned long len);
bool nested_vmx_gpc_lock(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			 unsigned long len) __acquires(&gpc->lock);
hpa_t nested_vmx_gpc_hpa(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			 unsigned long len);

/*
 * With @gpc->lock read-held, at VM-entry: does @gpc map @gpa, for @len
 * bytes, in the current memslots?  If not, nested_vmx_gpc_refresh().
 */
static inline bool nested_vmx_gpc_check(struct gfn_to_pfn_cache *gpc,
					gpa_t gpa, unsigned long len)
{
	return gpc->gpa == gpa && kvm_gpc_check(gpc, len);
}

/*
 * With @gpc->lock read-held, for KVM's accesses outside VM-entry, which
 * cannot refresh: may @gpc->khva be used for @gpa?  A valid cache maps
 * memory that the primary MMU still backs; a memslot change is picked up
 * by the next VM-entry, as with the stock mappings.
 */
static inline bool nested_vmx_gpc_mapped(struct gfn_to_pfn_cache *gpc,
					 gpa_t gpa)
{
	return gpc->active && gpc->valid && gpc->gpa == gpa && gpc->khva;
}

#endif /* __KVM_X86_VMX_NESTED_CTX_H */
