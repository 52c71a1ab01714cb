// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested VMX contexts: the pages a vmcs12 names, kept in gfn_to_pfn_caches
 * that live as long as the context does, in the VM's nested context table.
 * See Documentation/virt/kvm/x86/nested-context.rst.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kvm_host.h>
#include <linux/slab.h>

#include "vmx.h"
#include "nested_ctx.h"

/*
 * The caches whose pfn vmcs02 hands to the CPU: their owner must re-load
 * vmcs02 when they are invalidated.
 */
static void nested_vmx_ctx_init(struct vmx_nested_context *ctx,
				struct kvm_vcpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;

	kvm_gpc_init(&ctx->msr_bitmap, kvm);
	kvm_gpc_init_for_vcpu(&ctx->apic_access, kvm, vcpu,
			      KVM_REQ_GET_NESTED_STATE_PAGES);
	kvm_gpc_init_for_vcpu(&ctx->virtual_apic, kvm, vcpu,
			      KVM_REQ_GET_NESTED_STATE_PAGES);
	kvm_gpc_init_for_vcpu(&ctx->pi_desc, kvm, vcpu,
			      KVM_REQ_GET_NESTED_STATE_PAGES);
#ifdef CONFIG_KVM_HYPERV
	kvm_gpc_init(&ctx->evmcs, kvm);
#endif
}

/* Apply @fn to each of @ctx's caches. */
static void nested_vmx_ctx_each_gpc(struct vmx_nested_context *ctx,
				    void (*fn)(struct gfn_to_pfn_cache *))
{
	fn(&ctx->msr_bitmap);
	fn(&ctx->apic_access);
	fn(&ctx->virtual_apic);
	fn(&ctx->pi_desc);
#ifdef CONFIG_KVM_HYPERV
	fn(&ctx->evmcs);
#endif
}

/* Drop every mapping; the caches are re-activated at the next use. */
static void nested_vmx_ctx_deactivate(struct vmx_nested_context *ctx)
{
	nested_vmx_ctx_each_gpc(ctx, kvm_gpc_deactivate);
}

static void nested_vmx_ctx_set_vcpu(struct vmx_nested_context *ctx,
				    struct kvm_vcpu *vcpu)
{
	kvm_gpc_set_vcpu(&ctx->apic_access, vcpu);
	kvm_gpc_set_vcpu(&ctx->virtual_apic, vcpu);
	kvm_gpc_set_vcpu(&ctx->pi_desc, vcpu);
}

/*
 * A detached context keeps its mappings, off the mmu_notifier path: an
 * invalidation walks only the caches of attached contexts.  The next use
 * of a cache refreshes it (see kvm_gpc_park()).
 */
static void nested_vmx_ctx_park(struct vmx_nested_context *ctx)
{
	nested_vmx_ctx_each_gpc(ctx, kvm_gpc_park);
}

static struct vmx_nested_context *to_vmx_ctx(struct kvm_nested_context *base)
{
	return container_of(base, struct vmx_nested_context, base);
}

/* kvm_x86_nested_ops.alloc_context: a miss below capacity. */
struct kvm_nested_context *nested_vmx_alloc_context(struct kvm_vcpu *vcpu)
{
	struct vmx_nested_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return NULL;

	nested_vmx_ctx_init(ctx, vcpu);
	return &ctx->base;
}

/* kvm_x86_nested_ops.free_context: ->vcpu may be gone, don't follow it. */
void nested_vmx_free_context(struct kvm_nested_context *base)
{
	struct vmx_nested_context *ctx = to_vmx_ctx(base);

	nested_vmx_ctx_deactivate(ctx);
	kfree(ctx);
}

/*
 * kvm_x86_nested_ops.reset_context: a detached context is recycled for
 * another VMPTR and ->vcpu is its new owner.  Nobody uses the caches, so
 * unmapping them leaves nothing of the old vmcs12 reachable.
 */
void nested_vmx_reset_context(struct kvm_nested_context *base)
{
	struct vmx_nested_context *ctx = to_vmx_ctx(base);

	nested_vmx_ctx_deactivate(ctx);
	nested_vmx_ctx_set_vcpu(ctx, base->vcpu);
}

/* At VMXON: the vCPU starts on its private context. */
void nested_vmx_ctx_init_private(struct kvm_vcpu *vcpu)
{
	struct nested_vmx *nested = &to_vmx(vcpu)->nested;

	memset(&nested->private_ctx, 0, sizeof(nested->private_ctx));
	nested_vmx_ctx_init(&nested->private_ctx, vcpu);
	nested->ctx = &nested->private_ctx;
}

/* At VMXOFF and vCPU teardown, after nested_vmx_ctx_put(). */
void nested_vmx_ctx_free_private(struct kvm_vcpu *vcpu)
{
	nested_vmx_ctx_deactivate(&to_vmx(vcpu)->nested.private_ctx);
}

/**
 * nested_vmx_ctx_load - make the context of @vmptr the vCPU's current one
 * @vcpu: the vCPU, in VMX operation
 * @vmptr: the new current-VMCS pointer
 *
 * Takes the context of @vmptr from the VM's table, or falls back to the
 * private context, emptied of the previous vmcs12's pages.
 */
void nested_vmx_ctx_load(struct kvm_vcpu *vcpu, gpa_t vmptr)
{
	struct nested_vmx *nested = &to_vmx(vcpu)->nested;
	struct kvm_nested_context *base;

	nested_vmx_ctx_put(vcpu);

	base = kvm_nested_ctx_load(vcpu, vmptr);
	if (base) {
		nested->ctx = to_vmx_ctx(base);
		nested_vmx_ctx_set_vcpu(nested->ctx, vcpu);
	} else {
		nested_vmx_ctx_deactivate(&nested->private_ctx);
	}
}

/**
 * nested_vmx_ctx_put - detach the vCPU's current context
 * @vcpu: the vCPU
 *
 * When the vCPU stops using its current vmcs12 (VMPTRLD of another one,
 * VMCLEAR, VMXOFF, leaving nested).  A context of the table stays mapped on
 * the table's LRU; the vCPU is back on its private context.
 */
void nested_vmx_ctx_put(struct kvm_vcpu *vcpu)
{
	struct nested_vmx *nested = &to_vmx(vcpu)->nested;
	struct vmx_nested_context *ctx = nested->ctx;

	if (!ctx || ctx == &nested->private_ctx)
		return;

	nested->ctx = &nested->private_ctx;
	nested_vmx_ctx_set_vcpu(ctx, NULL);
	nested_vmx_ctx_park(ctx);
	kvm_nested_ctx_put(vcpu, &ctx->base);
}

/**
 * nested_vmx_gpc_refresh - make @gpc map @gpa again
 * @gpc: a cache of a nested context
 * @gpa: the guest-physical address vmcs12 names
 * @len: the length accessed at @gpa, within one page
 *
 * Called without @gpc->lock when nested_vmx_gpc_check() failed.  May sleep.
 * Returns an error for a GPA without a usable mapping: no memslot, MMIO
 * that cannot be mapped, or a GPA that L1 or userspace made invalid.
 */
int nested_vmx_gpc_refresh(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			   unsigned long len)
{
	/* INVALID_GPA would WARN in kvm_gpc_activate(). */
	if (kvm_is_error_gpa(gpa))
		return -EINVAL;

	if (gpc->active && gpc->gpa == gpa)
		return kvm_gpc_refresh(gpc, len);

	return kvm_gpc_activate(gpc, gpa, len);
}

/**
 * nested_vmx_gpc_lock - read-lock @gpc for @gpa, refreshing it if stale
 * @gpc: a cache of a nested context
 * @gpa: the guest-physical address vmcs12 names
 * @len: the length accessed at @gpa, within one page
 *
 * An invalidation or a memslot change may make @gpc stale at any moment;
 * that means "refresh and retry", never "unmapped".  Refreshing may sleep.
 * Returns with @gpc->lock read-held whatever the result: true if @gpc maps
 * @gpa, false if @gpa has no usable mapping.
 */
bool nested_vmx_gpc_lock(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			 unsigned long len)
	__acquires(&gpc->lock)
{
	read_lock(&gpc->lock);
	while (!nested_vmx_gpc_check(gpc, gpa, len)) {
		read_unlock(&gpc->lock);
		if (nested_vmx_gpc_refresh(gpc, gpa, len)) {
			read_lock(&gpc->lock);
			return false;
		}
		read_lock(&gpc->lock);
	}
	return true;
}

/*
 * The host-physical address for vmcs02 of the page at @gpa, or INVALID_PAGE.
 * The cache's owner is kicked and re-loads vmcs02 if the pfn goes away.
 */
hpa_t nested_vmx_gpc_hpa(struct gfn_to_pfn_cache *gpc, gpa_t gpa,
			 unsigned long len)
{
	hpa_t hpa = INVALID_PAGE;

	if (nested_vmx_gpc_lock(gpc, gpa, len))
		hpa = pfn_to_hpa(gpc->pfn) + offset_in_page(gpa);
	read_unlock(&gpc->lock);

	return hpa;
}
