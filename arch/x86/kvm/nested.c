// SPDX-License-Identifier: GPL-2.0-only
/*
 * Per-VM cache of nested (L2) contexts, keyed by the guest-physical address
 * of L1's control block.  See Documentation/virt/kvm/x86/nested-context.rst.
 *
 * The table is a hash of every context the VM owns plus an LRU list of the
 * detached ones.  One spinlock protects both; it is never held across a
 * vendor hook, so the hooks may sleep.  The number of contexts is bounded by
 * nested_context_ratio * online vCPUs, whatever L1 does.
 */
#include <linux/kvm_host.h>
#include <linux/list.h>
#include <linux/log2.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "nested.h"
#include "trace.h"

/*
 * At most 64 contexts per vCPU: an L1 that multiplexes more L2 vCPUs than
 * that over one of its own vCPUs recycles, it does not grow the cache.
 */
#define KVM_NESTED_CTX_RATIO_MAX	64
/* The smallest hash, allocated at the first load. */
#define KVM_NESTED_CTX_MIN_HASH_BITS	4

static unsigned int nested_context_ratio = 8;

static int nested_ctx_ratio_set(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, KVM_NESTED_CTX_RATIO_MAX);
}

static const struct kernel_param_ops nested_ctx_ratio_ops = {
	.set = nested_ctx_ratio_set,
	.get = param_get_uint,
};

module_param_cb(nested_context_ratio, &nested_ctx_ratio_ops,
		&nested_context_ratio, 0644);
MODULE_PARM_DESC(nested_context_ratio,
		 "Cached nested contexts per vCPU, 0 to 64 (0 = off), read at VM creation");

struct kvm_nested_ctx_table {
	/* Protects the fields below and the table fields of every context. */
	spinlock_t lock;
	/* 1 << hash_bits buckets; NULL until the first load. */
	struct hlist_head *buckets;
	unsigned int hash_bits;
	/* Random and odd: L1 cannot choose GPAs that share a bucket. */
	u64 hash_mul;
	/* Contexts in the hash plus allocations in flight; <= capacity. */
	unsigned int nr;
	unsigned int ratio;
	/* Detached contexts, least recently detached first. */
	struct list_head lru;
	/*
	 * Serializes resizing: one vCPU allocates the new buckets while the
	 * others wait, instead of each allocating its own.  Resizers hold it
	 * and the lock to change buckets and hash_bits.
	 */
	struct mutex grow_lock;
};

static const struct kvm_x86_nested_ops *nested_ctx_ops(void)
{
	return kvm_x86_ops.nested_ops;
}

/*
 * Multiply-shift hashing with a random odd multiplier: for any two GPAs the
 * chance that they share a bucket is at most 2 / buckets, whatever GPAs the
 * guest picks, so a hostile L1 cannot build long chains.
 */
static u32 nested_ctx_hash(struct kvm_nested_ctx_table *t, gpa_t gpa,
			   unsigned int bits)
{
	return (gpa * t->hash_mul) >> (64 - bits);
}

static struct hlist_head *nested_ctx_bucket(struct kvm_nested_ctx_table *t,
					    gpa_t gpa)
{
	return &t->buckets[nested_ctx_hash(t, gpa, t->hash_bits)];
}

static struct kvm_nested_context *nested_ctx_find(struct kvm_nested_ctx_table *t,
						  gpa_t gpa)
{
	struct kvm_nested_context *ctx;

	hlist_for_each_entry(ctx, nested_ctx_bucket(t, gpa), hnode)
		if (ctx->gpa == gpa)
			return ctx;
	return NULL;
}

/*
 * At least four buckets per unit of capacity: a successful lookup then reads
 * at most about 1.125 contexts on average, whatever the number of vCPUs.
 * The buckets cost 32 to 64 bytes per unit, little next to the contexts.
 */
static unsigned int nested_ctx_hash_bits(unsigned int cap)
{
	return max_t(unsigned int, order_base_2(cap) + 2,
		     KVM_NESTED_CTX_MIN_HASH_BITS);
}

/*
 * Resize the hash for @cap contexts, as vCPUs come online.  Called without
 * the lock; a failed allocation keeps the old hash, which is slower but
 * still correct.
 */
static void nested_ctx_grow(struct kvm_nested_ctx_table *t, unsigned int cap)
{
	unsigned int i, bits = nested_ctx_hash_bits(cap);
	struct hlist_head *new, *old = NULL;
	struct kvm_nested_context *ctx;
	struct hlist_node *tmp;

	mutex_lock(&t->grow_lock);
	/* buckets and hash_bits only change under grow_lock. */
	if (t->buckets && bits <= t->hash_bits)
		goto out;

	new = kvcalloc(1U << bits, sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		goto out;

	spin_lock(&t->lock);
	old = t->buckets;
	for (i = 0; old && i < (1U << t->hash_bits); i++) {
		hlist_for_each_entry_safe(ctx, tmp, &old[i], hnode) {
			hlist_del(&ctx->hnode);
			hlist_add_head(&ctx->hnode,
				       &new[nested_ctx_hash(t, ctx->gpa, bits)]);
		}
	}
	t->buckets = new;
	t->hash_bits = bits;
	spin_unlock(&t->lock);
out:
	mutex_unlock(&t->grow_lock);
	kvfree(old);
}

/*
 * Give a context found in the hash to @vcpu, if no vCPU holds it.  A vCPU
 * holds at most one context, its current one, and vendors put it before
 * they load or look up another GPA, and never look up the GPA they hold.
 */
static enum kvm_nested_ctx_outcome
nested_ctx_attach(struct kvm_nested_context *ctx, struct kvm_vcpu *vcpu)
{
	if (ctx->vcpu)
		return KVM_NESTED_CTX_BUSY;
	list_del_init(&ctx->lru);
	ctx->vcpu = vcpu;
	return KVM_NESTED_CTX_HIT;
}

/*
 * nested_ctx_attach() for a load, which the stats count: a hit is a reuse,
 * and a context held by another vCPU leaves the loading vCPU uncached,
 * which only nested_context_busy shows an operator.  A load of the GPA the
 * vCPU holds completes a lookup (SVM's VMRUN after its checks): a hit,
 * which counts the reuse that the lookup did not.  A lookup moves no stat.
 */
static enum kvm_nested_ctx_outcome
nested_ctx_attach_load(struct kvm *kvm, struct kvm_nested_context *ctx,
		       struct kvm_vcpu *vcpu)
{
	enum kvm_nested_ctx_outcome outcome = KVM_NESTED_CTX_HIT;

	if (ctx->vcpu != vcpu)
		outcome = nested_ctx_attach(ctx, vcpu);

	if (outcome == KVM_NESTED_CTX_BUSY)
		kvm->stat.nested_context_busy++;
	else
		kvm->stat.nested_context_reuse++;
	return outcome;
}

static bool nested_ctx_detach(struct kvm_nested_ctx_table *t,
			      struct kvm_nested_context *ctx,
			      struct kvm_vcpu *vcpu)
{
	if (ctx->vcpu != vcpu)
		return false;
	ctx->vcpu = NULL;
	list_add_tail(&ctx->lru, &t->lru);
	return true;
}

/*
 * A miss below capacity, with a slot reserved in t->nr.  The slot is given
 * back only once a losing allocation is freed, so that even in-flight
 * allocations never exceed capacity.
 */
static struct kvm_nested_context *
nested_ctx_alloc(struct kvm_nested_ctx_table *t, struct kvm_vcpu *vcpu,
		 gpa_t gpa, enum kvm_nested_ctx_outcome *outcome)
{
	struct kvm_nested_context *new, *ctx;
	struct kvm *kvm = vcpu->kvm;

	new = nested_ctx_ops()->alloc_context(vcpu);

	spin_lock(&t->lock);
	ctx = nested_ctx_find(t, gpa);
	if (new && !ctx) {
		new->gpa = gpa;
		new->vcpu = vcpu;
		INIT_LIST_HEAD(&new->lru);
		hlist_add_head(&new->hnode, nested_ctx_bucket(t, gpa));
		kvm->stat.nested_context_count++;
		spin_unlock(&t->lock);
		*outcome = KVM_NESTED_CTX_ALLOC;
		return new;
	}

	/* Another vCPU inserted @gpa while we allocated, or we are out of memory. */
	*outcome = ctx ? nested_ctx_attach_load(kvm, ctx, vcpu) :
			 KVM_NESTED_CTX_NOMEM;
	if (!new)
		t->nr--;
	spin_unlock(&t->lock);

	if (new) {
		nested_ctx_ops()->free_context(new);
		spin_lock(&t->lock);
		t->nr--;
		spin_unlock(&t->lock);
	}
	if (*outcome == KVM_NESTED_CTX_HIT)
		return ctx;
	return NULL;
}

/**
 * kvm_nested_ctx_load - get the context of @gpa for @vcpu
 * @vcpu: the vCPU that will own the context
 * @gpa: the GPA of L1's control block
 *
 * Returns a context attached to @vcpu, with ->gpa == @gpa, or NULL if the
 * cache is off, another vCPU holds the context of @gpa, every context is
 * attached at capacity, or memory ran out.  On NULL the caller uses a
 * private context.  The caller holds no context, or the one of @gpa that a
 * lookup gave it, which counts as a reuse now: it put any other one first.
 * A recycled context has been through ->reset_context().  May sleep.
 */
struct kvm_nested_context *kvm_nested_ctx_load(struct kvm_vcpu *vcpu, gpa_t gpa)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_nested_ctx_table *t = kvm->arch.nested_ctx_table;
	enum kvm_nested_ctx_outcome outcome;
	struct kvm_nested_context *ctx;
	unsigned int cap;
	gpa_t old_gpa;

	might_sleep();

	if (!t) {
		outcome = KVM_NESTED_CTX_NONE;
		ctx = NULL;
		goto out;
	}
	cap = t->ratio * (unsigned int)atomic_read(&kvm->online_vcpus);

	spin_lock(&t->lock);
	if (unlikely(!t->buckets || nested_ctx_hash_bits(cap) > t->hash_bits)) {
		spin_unlock(&t->lock);
		nested_ctx_grow(t, cap);
		spin_lock(&t->lock);
		if (!t->buckets) {
			spin_unlock(&t->lock);
			outcome = KVM_NESTED_CTX_NOMEM;
			ctx = NULL;
			goto out;
		}
	}

	ctx = nested_ctx_find(t, gpa);
	if (ctx) {
		outcome = nested_ctx_attach_load(kvm, ctx, vcpu);
		spin_unlock(&t->lock);
		if (outcome == KVM_NESTED_CTX_BUSY)
			ctx = NULL;
		goto out;
	}

	if (t->nr < cap) {
		t->nr++;
		spin_unlock(&t->lock);
		ctx = nested_ctx_alloc(t, vcpu, gpa, &outcome);
		goto out;
	}

	ctx = list_first_entry_or_null(&t->lru, struct kvm_nested_context, lru);
	if (!ctx) {
		spin_unlock(&t->lock);
		outcome = KVM_NESTED_CTX_FULL;
		goto out;
	}
	list_del_init(&ctx->lru);
	hlist_del(&ctx->hnode);
	old_gpa = ctx->gpa;
	ctx->gpa = gpa;
	ctx->vcpu = vcpu;
	hlist_add_head(&ctx->hnode, nested_ctx_bucket(t, gpa));
	kvm->stat.nested_context_recycle++;
	spin_unlock(&t->lock);

	trace_kvm_nested_ctx_recycle(vcpu->vcpu_id, old_gpa, gpa);
	nested_ctx_ops()->reset_context(ctx);
	outcome = KVM_NESTED_CTX_RECYCLE;
out:
	trace_kvm_nested_ctx_load(vcpu->vcpu_id, gpa, outcome);
	return ctx;
}
EXPORT_SYMBOL_GPL(kvm_nested_ctx_load);

/**
 * kvm_nested_ctx_lookup - attach the context of @gpa to @vcpu, if it exists
 * @vcpu: the vCPU that will own the context
 * @gpa: the GPA of L1's control block
 *
 * Like kvm_nested_ctx_load(), but only for a GPA that already has a
 * context: a detached one is attached to @vcpu.  The caller holds no context
 * of @gpa; unlike a load, it may hold another one, which it puts only if
 * this returns a context.  Returns NULL, creating nothing, if the cache is
 * off, the table has no context for @gpa, or another vCPU holds it.  It
 * never allocates, recycles or resizes the hash and moves no stat, so an L1
 * that names many pages here neither fills the table nor moves its stats.
 * For instructions that use a control block without entering it, such as
 * VMLOAD and VMSAVE, and for reading a control block before the checks of
 * the instruction that enters it; a load after the checks counts the reuse.
 * Does not sleep.
 */
struct kvm_nested_context *kvm_nested_ctx_lookup(struct kvm_vcpu *vcpu,
						 gpa_t gpa)
{
	struct kvm_nested_ctx_table *t = vcpu->kvm->arch.nested_ctx_table;
	enum kvm_nested_ctx_outcome outcome = KVM_NESTED_CTX_NONE;
	struct kvm_nested_context *ctx = NULL;

	if (t) {
		spin_lock(&t->lock);
		ctx = t->buckets ? nested_ctx_find(t, gpa) : NULL;
		if (ctx)
			outcome = nested_ctx_attach(ctx, vcpu);
		else
			outcome = KVM_NESTED_CTX_MISS;
		spin_unlock(&t->lock);
		if (outcome == KVM_NESTED_CTX_BUSY)
			ctx = NULL;
	}

	trace_kvm_nested_ctx_lookup(vcpu->vcpu_id, gpa, outcome);
	return ctx;
}
EXPORT_SYMBOL_GPL(kvm_nested_ctx_lookup);

/**
 * kvm_nested_ctx_put - detach a context that @vcpu holds
 * @vcpu: the owner
 * @ctx: a context returned by kvm_nested_ctx_load() to @vcpu, or NULL
 *
 * The context goes to the LRU tail and stays findable by its GPA.  Nothing
 * happens for NULL.  A context that @vcpu does not hold is left alone and
 * traced as "not-owner": vendors put only their current context, so that
 * would be a vendor bug, and detaching another vCPU's context would let two
 * vCPUs use it.  Private (fallback) contexts never reach here.
 */
void kvm_nested_ctx_put(struct kvm_vcpu *vcpu, struct kvm_nested_context *ctx)
{
	struct kvm_nested_ctx_table *t = vcpu->kvm->arch.nested_ctx_table;
	enum kvm_nested_ctx_release outcome;
	gpa_t gpa;

	if (!t || !ctx)
		return;

	spin_lock(&t->lock);
	gpa = ctx->gpa;
	outcome = nested_ctx_detach(t, ctx, vcpu) ? KVM_NESTED_CTX_DETACHED :
						    KVM_NESTED_CTX_NOT_OWNER;
	spin_unlock(&t->lock);

	trace_kvm_nested_ctx_put(vcpu->vcpu_id, gpa, outcome);
}
EXPORT_SYMBOL_GPL(kvm_nested_ctx_put);

/**
 * kvm_nested_ctx_table_init - set up the table of a new VM
 * @kvm: the VM
 *
 * Reads nested_context_ratio.  The VM gets no table if the ratio is 0 or the
 * vendor has no context hooks; the hash itself is sized at the first load,
 * when the number of vCPUs is known.
 */
int kvm_nested_ctx_table_init(struct kvm *kvm)
{
	const struct kvm_x86_nested_ops *ops = nested_ctx_ops();
	unsigned int ratio = READ_ONCE(nested_context_ratio);
	struct kvm_nested_ctx_table *t;

	if (!ratio || !ops || !ops->alloc_context || !ops->free_context ||
	    !ops->reset_context)
		return 0;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	spin_lock_init(&t->lock);
	mutex_init(&t->grow_lock);
	INIT_LIST_HEAD(&t->lru);
	t->ratio = ratio;
	t->hash_mul = get_random_u64() | 1;
	kvm->arch.nested_ctx_table = t;
	return 0;
}

/**
 * kvm_nested_ctx_table_destroy - free the table and every context in it
 * @kvm: the VM, whose vCPUs are gone
 *
 * Attached contexts are freed too; their ->vcpu is cleared first, so that
 * ->free_context() cannot follow it to a freed vCPU.
 */
void kvm_nested_ctx_table_destroy(struct kvm *kvm)
{
	struct kvm_nested_ctx_table *t = kvm->arch.nested_ctx_table;
	struct kvm_nested_context *ctx;
	struct hlist_node *tmp;
	unsigned int i;

	if (!t)
		return;
	kvm->arch.nested_ctx_table = NULL;

	for (i = 0; t->buckets && i < (1U << t->hash_bits); i++) {
		hlist_for_each_entry_safe(ctx, tmp, &t->buckets[i], hnode) {
			hlist_del_init(&ctx->hnode);
			list_del_init(&ctx->lru);
			ctx->vcpu = NULL;
			nested_ctx_ops()->free_context(ctx);
		}
	}
	kvm->stat.nested_context_count = 0;
	mutex_destroy(&t->grow_lock);
	kvfree(t->buckets);
	kfree(t);
}
