// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of arch/x86/kvm/nested.c, the real file, compiled against the
 * shims in shim/.  Run under ASan and UBSan by "make check".
 */
#include "shim/kvm_shim.h"
#include "../../../arch/x86/kvm/nested.c"
#include "harness.h"

#define PAGE	0x1000ULL

static struct kvm_nested_context *ld(struct vm *vm, int v, gpa_t gpa)
{
	return kvm_nested_ctx_load(vm->vcpu[v], gpa);
}

static struct kvm_nested_context *lk(struct vm *vm, int v, gpa_t gpa)
{
	return kvm_nested_ctx_lookup(vm->vcpu[v], gpa);
}

static void put(struct vm *vm, int v, struct kvm_nested_context *ctx)
{
	kvm_nested_ctx_put(vm->vcpu[v], ctx);
}

/* The GPAs on the LRU list, head first (white box). */
static int lru_gpas(struct vm *vm, gpa_t *out, int max)
{
	struct kvm_nested_context *ctx;
	int n = 0;

	list_for_each_entry(ctx, &vm_table(vm)->lru, lru) {
		if (n < max)
			out[n] = ctx->gpa;
		n++;
	}
	return n;
}

/* Contexts in the hash (white box). */
static int hashed(struct vm *vm)
{
	struct kvm_nested_ctx_table *t = vm_table(vm);
	struct kvm_nested_context *ctx;
	unsigned int i;
	int n = 0;

	for (i = 0; t->buckets && i < (1U << t->hash_bits); i++)
		hlist_for_each_entry(ctx, &t->buckets[i], hnode)
			n++;
	return n;
}

static void test_hit_and_miss(void)
{
	struct vm *vm = vm_create(8, 1, 1);
	struct kvm_nested_context *a, *b, *c;

	a = ld(vm, 0, 1 * PAGE);
	CHECK(a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_ALLOC);
	CHECK_EQ(a->gpa, 1 * PAGE);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);

	put(vm, 0, a);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_DETACHED);
	CHECK(!a->vcpu);

	b = ld(vm, 0, 2 * PAGE);
	CHECK(b && b != a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_ALLOC);
	put(vm, 0, b);

	c = ld(vm, 0, 1 * PAGE);
	CHECK(c == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK(c->vcpu == vm->vcpu[0]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 2);
	CHECK_EQ(fv.allocs, 2);
	CHECK_EQ(to_fake(c)->resets, 0);
	vm_destroy(vm);
	CHECK_EQ(fv.live, 0);
}

/*
 * A lookup of the GPA the caller itself holds (which vendors never do) is
 * busy like any held context: NULL, the context stays the caller's.  A load
 * of it (SVM's VMRUN after a lookup) is a hit that counts one reuse.  Either
 * way nothing is allocated, recycled or moved, even at capacity.
 */
static void test_own_gpa(void)
{
	struct vm *vm = vm_create(1, 1, 1);
	struct kvm_nested_context *a, *b;
	long puts0[NR_RELEASE_OUTCOMES], recycles0;
	gpa_t lru[2];

	b = ld(vm, 0, 2 * PAGE);
	put(vm, 0, b);
	/* At capacity: the one context recycled, held by the caller. */
	a = ld(vm, 0, PAGE);
	CHECK(a == b);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_RECYCLE);
	memcpy(puts0, tr.puts, sizeof(puts0));
	recycles0 = tr.recycles;

	CHECK(ld(vm, 0, PAGE) == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK_EQ(tr.load_gpa, PAGE);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_busy, 0);
	CHECK(!lk(vm, 0, PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_BUSY);
	CHECK_EQ(tr.lookup_gpa, PAGE);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);

	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(a->gpa, PAGE);
	CHECK_EQ(to_fake(a)->resets, 1);
	CHECK_EQ(lru_gpas(vm, lru, 2), 0);
	CHECK_EQ(hashed(vm), 1);
	CHECK_EQ(vm_table(vm)->nr, 1);
	CHECK_EQ(fv.alloc_calls, 1);
	CHECK_EQ(tr.recycles, recycles0);
	CHECK(!memcmp(puts0, tr.puts, sizeof(puts0)));
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 1);

	/* The caller still holds it, and puts it as usual. */
	put(vm, 0, a);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_DETACHED);
	CHECK_EQ(lru_gpas(vm, lru, 2), 1);
	CHECK_EQ(lru[0], PAGE);
	vm_destroy(vm);
}

/* Recycling takes the least recently detached context, strictly. */
static void test_lru_recycle_order(void)
{
	static const int order[8] = { 5, 2, 7, 0, 3, 6, 1, 4 };
	struct kvm_nested_context *ctx[8], *r;
	struct vm *vm = vm_create(8, 1, 1);
	gpa_t lru[8];
	int i;

	for (i = 0; i < 8; i++)
		ctx[i] = ld(vm, 0, (i + 1) * PAGE);
	for (i = 0; i < 8; i++)
		put(vm, 0, ctx[order[i]]);
	CHECK_EQ(lru_gpas(vm, lru, 8), 8);
	for (i = 0; i < 8; i++)
		CHECK_EQ(lru[i], (order[i] + 1) * PAGE);

	/* A hit moves the context out of the LRU, a put to its tail. */
	r = ld(vm, 0, (order[0] + 1) * PAGE);
	CHECK(r == ctx[order[0]]);
	put(vm, 0, r);

	for (i = 0; i < 8; i++) {
		int want = order[(i + 1) % 8];

		r = ld(vm, 0, (100 + i) * PAGE);
		CHECK(r == ctx[want]);
		CHECK_EQ(tr.load, KVM_NESTED_CTX_RECYCLE);
		CHECK_EQ(tr.recycle_old, (want + 1) * PAGE);
		CHECK_EQ(tr.recycle_new, (100 + i) * PAGE);
		CHECK_EQ(r->gpa, (100 + i) * PAGE);
		CHECK(r->vcpu == vm->vcpu[0]);
		/* reset_context saw the new owner and the new GPA. */
		CHECK_EQ(to_fake(r)->resets, 1);
		CHECK_EQ(to_fake(r)->reset_gpa, (100 + i) * PAGE);
		CHECK(to_fake(r)->reset_vcpu == vm->vcpu[0]);
	}
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 8);
	CHECK_EQ(fv.allocs, 8);
	/* The old GPAs are gone from the hash. */
	for (i = 0; i < 8; i++) {
		CHECK(!lk(vm, 0, (i + 1) * PAGE));
		CHECK_EQ(tr.lookup, KVM_NESTED_CTX_MISS);
	}
	vm_destroy(vm);
}

/* A hostile L1 loading a million GPAs gets at most ratio * vCPUs contexts. */
static void test_capacity_never_exceeded(void)
{
	struct vm *vm = vm_create(3, 2, 4);
	struct kvm_nested_context *ctx;
	int i;

	fv.live_bound = 6;
	for (i = 0; i < 100000; i++) {
		ctx = ld(vm, i % 2, (gpa_t)i * PAGE);
		CHECK(ctx);
		put(vm, i % 2, ctx);
		CHECK(vm->kvm.stat.nested_context_count <= 6);
	}
	CHECK_EQ(fv.allocs, 6);
	CHECK_EQ(fv.max_live, 6);
	CHECK_EQ(hashed(vm), 6);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 100000 - 6);

	/* More vCPUs online: more capacity, and no more. */
	atomic_set(&vm->kvm.online_vcpus, 4);
	fv.live_bound = 12;
	for (i = 0; i < 1000; i++)
		put(vm, 3, ld(vm, 3, (gpa_t)(i + 200000) * PAGE));
	CHECK_EQ(fv.allocs, 12);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 12);
	vm_destroy(vm);
}

/* At capacity with every context attached, load returns NULL cleanly. */
static void test_full_all_attached(void)
{
	struct vm *vm = vm_create(2, 2, 2);
	struct kvm_nested_context *c[4];
	int i;

	for (i = 0; i < 4; i++)
		CHECK(c[i] = ld(vm, i % 2, (i + 1) * PAGE));
	CHECK(!ld(vm, 0, 10 * PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_FULL);
	CHECK_EQ(fv.alloc_calls, 4);
	/* Nothing changed hands. */
	for (i = 0; i < 4; i++)
		CHECK(c[i]->vcpu == vm->vcpu[i % 2]);
	put(vm, 1, c[1]);
	CHECK(ld(vm, 0, 10 * PAGE) == c[1]);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_RECYCLE);
	vm_destroy(vm);
}

/* The same GPA on two vCPUs: the second never gets the first one's context. */
static void test_same_gpa_two_vcpus(void)
{
	struct vm *vm = vm_create(8, 2, 2);
	struct kvm_nested_context *a;

	a = ld(vm, 0, PAGE);
	CHECK(a);
	CHECK(!ld(vm, 1, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_BUSY);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(fv.alloc_calls, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	/* A put by the wrong vCPU does nothing. */
	put(vm, 1, a);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_NOT_OWNER);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK(!ld(vm, 1, PAGE));

	put(vm, 0, a);
	CHECK(ld(vm, 1, PAGE) == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK(a->vcpu == vm->vcpu[1]);
	CHECK(!ld(vm, 0, PAGE));
	vm_destroy(vm);
}

/* An L2 moving to another L1 vCPU: put on one, load on the other. */
static void test_put_then_load_other(void)
{
	struct vm *vm = vm_create(8, 2, 2);
	struct kvm_nested_context *a;

	a = ld(vm, 0, PAGE);
	/* Until vCPU 0 puts it, vCPU 1 cannot have it. */
	CHECK(!ld(vm, 1, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_BUSY);
	CHECK(a->vcpu == vm->vcpu[0]);

	put(vm, 0, a);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_DETACHED);
	CHECK_EQ(tr.put_gpa, PAGE);
	CHECK(!a->vcpu);
	CHECK(ld(vm, 1, PAGE) == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK(a->vcpu == vm->vcpu[1]);
	CHECK_EQ(a->gpa, PAGE);
	CHECK_EQ(to_fake(a)->resets, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);

	/*
	 * And back, by a lookup (SVM's VMRUN before its checks), which counts
	 * nothing, and the load that completes it, which counts the reuse.
	 */
	put(vm, 1, a);
	CHECK(lk(vm, 0, PAGE) == a);
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_HIT);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK(ld(vm, 0, PAGE) == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK_EQ(to_fake(a)->resets, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 2);
	CHECK_EQ(fv.alloc_calls, 1);
	vm_destroy(vm);
}

static void test_alloc_failure(void)
{
	struct vm *vm = vm_create(2, 1, 1);
	struct kvm_nested_context *a, *b;

	/* The vendor allocation fails: NULL, and the slot is given back. */
	fv.fail_allocs = 1;
	CHECK(!ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_NOMEM);
	CHECK_EQ(vm_table(vm)->nr, 0);
	CHECK(a = ld(vm, 0, PAGE));
	CHECK(b = ld(vm, 0, 2 * PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_ALLOC);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 2);
	vm_destroy(vm);

	/* The hash allocation fails at the first load. */
	vm = vm_create(2, 1, 1);
	fv_reset();
	shim_fail_kvcalloc = 1;
	CHECK(!ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_NOMEM);
	CHECK_EQ(fv.alloc_calls, 0);
	/* No hash yet: a lookup finds nothing, and sizes nothing. */
	CHECK(!lk(vm, 0, PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_MISS);
	CHECK(!vm_table(vm)->buckets);
	CHECK(ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_ALLOC);
	vm_destroy(vm);
}

/* The longest hash chain of the table. */
static unsigned int longest_chain(struct kvm_nested_ctx_table *t)
{
	struct kvm_nested_context *ctx;
	unsigned int i, chain, longest = 0;

	for (i = 0; i < (1U << t->hash_bits); i++) {
		chain = 0;
		hlist_for_each_entry(ctx, &t->buckets[i], hnode)
			chain++;
		longest = max(longest, chain);
	}
	return longest;
}

/* Growing the hash as vCPUs come online; a failed grow keeps the old one. */
static void test_hash_growth(void)
{
	struct vm *vm = vm_create(8, 1, 64);
	struct kvm_nested_context *ctx;
	struct kvm_nested_ctx_table *t;
	int n;

	for (n = 0; n < 8; n++)
		put(vm, 0, ld(vm, 0, (n + 1) * PAGE));
	t = vm_table(vm);
	/* Four buckets per unit of capacity: 8 contexts, 32 buckets. */
	CHECK_EQ(t->hash_bits, 5);

	atomic_set(&vm->kvm.online_vcpus, 32);
	shim_fail_kvcalloc = 1;
	CHECK(ctx = ld(vm, 1, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK_EQ(t->hash_bits, 5);
	put(vm, 1, ctx);

	for (n = 8; n < 256; n++)
		put(vm, 1, ld(vm, 1, (n + 1) * PAGE));
	/* 256 contexts, 1024 buckets. */
	CHECK_EQ(t->hash_bits, 10);
	CHECK_EQ(hashed(vm), 256);
	/* Everything is still found after the rehash. */
	for (n = 0; n < 256; n++) {
		CHECK(ctx = ld(vm, 2, (n + 1) * PAGE));
		CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
		put(vm, 2, ctx);
	}
	CHECK(longest_chain(t) <= 8);
	CHECK_EQ(fv.allocs, 256);
	vm_destroy(vm);
}

/*
 * GPAs a hostile L1 might pick to share a bucket (large power-of-two
 * strides) still spread: the hash multiplier is random, per VM.
 */
static void test_hash_spread(void)
{
	struct kvm_nested_ctx_table *t;
	unsigned int i, max_chain, shift;
	struct vm *vm, *vm2;

	for (shift = 12; shift <= 44; shift += 4) {
		vm = vm_create(8, 32, 32);
		t = vm_table(vm);
		for (i = 0; i < 256; i++)
			put(vm, 0, ld(vm, 0, (gpa_t)i << shift));
		CHECK_EQ(t->hash_bits, 10);
		max_chain = longest_chain(t);
		/* Random hashing gives about 4; a bad hash up to 256. */
		if (max_chain > 12)
			fprintf(stderr, "  stride 1 << %u: chain of %u\n", shift, max_chain);
		CHECK(max_chain <= 12);
		CHECK_EQ(fv.live, 256);
		vm2 = vm_create(8, 1, 1);
		CHECK((t->hash_mul & 1) && vm_table(vm2)->hash_mul != t->hash_mul);
		vm_destroy(vm2);
		vm_destroy(vm);
	}
}

static struct vm *race_vm;
static int race_vcpu;
static gpa_t race_gpa;
static bool race_put;
static struct kvm_nested_context *race_ctx;

static void racing_load(struct kvm_vcpu *vcpu)
{
	race_ctx = ld(race_vm, race_vcpu, race_gpa);
	if (race_put)
		put(race_vm, race_vcpu, race_ctx);
}

/* Another vCPU inserts the same GPA while this one allocates unlocked. */
static void test_racing_insert(void)
{
	struct kvm_nested_context *a;
	struct vm *vm;

	/* The other vCPU still holds it: we get NULL, our copy is freed. */
	vm = vm_create(8, 2, 2);
	race_vm = vm;
	race_vcpu = 1;
	race_gpa = PAGE;
	race_put = false;
	fv.during_alloc = racing_load;
	CHECK(!ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_BUSY);
	CHECK(race_ctx && race_ctx->vcpu == vm->vcpu[1]);
	CHECK_EQ(fv.allocs, 2);
	CHECK_EQ(fv.frees, 1);
	CHECK_EQ(vm_table(vm)->nr, 1);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 1);
	vm_destroy(vm);

	/* The other vCPU put it back: we reuse its context. */
	vm = vm_create(8, 2, 2);
	race_vm = vm;
	fv_reset();
	race_put = true;
	fv.during_alloc = racing_load;
	a = ld(vm, 0, PAGE);
	CHECK(a && a == race_ctx);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK_EQ(fv.frees, 1);
	CHECK_EQ(vm_table(vm)->nr, 1);
	vm_destroy(vm);

	/*
	 * Our reservation counts against capacity while we allocate: with one
	 * slot left, the racing vCPU finds the table full.
	 */
	vm = vm_create(1, 2, 2);
	race_vm = vm;
	put(vm, 1, ld(vm, 1, 5 * PAGE));
	race_gpa = 2 * PAGE;
	race_put = false;
	fv.live_bound = 2;
	fv.during_alloc = racing_load;
	a = ld(vm, 0, PAGE);
	CHECK(a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_ALLOC);
	/* The racer recycled the detached context instead of allocating. */
	CHECK(race_ctx && race_ctx->gpa == 2 * PAGE);
	CHECK(race_ctx->vcpu == vm->vcpu[1]);
	CHECK(a->gpa == PAGE && a->vcpu == vm->vcpu[0]);
	CHECK_EQ(fv.max_live, 2);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 1);
	vm_destroy(vm);
}

static void test_ratio_zero_and_param(void)
{
	struct vm *vm;

	vm = vm_create(0, 1, 1);
	CHECK(!vm_table(vm));
	CHECK(!ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_NONE);
	CHECK(!lk(vm, 0, PAGE));
	put(vm, 0, NULL);
	CHECK_EQ(fv.alloc_calls, 0);
	vm_destroy(vm);

	/* Bounded to 0..64. */
	CHECK_EQ(set_ratio_param("65"), -EINVAL);
	CHECK_EQ(set_ratio_param("-1"), -EINVAL);
	CHECK_EQ(set_ratio_param("x"), -EINVAL);
	CHECK_EQ(set_ratio_param("4294967304"), -EINVAL);
	CHECK_EQ(set_ratio_param("64"), 0);
	CHECK_EQ(get_ratio_param(), 64);
	/* A rejected value leaves the parameter as it was... */
	CHECK_EQ(set_ratio_param("65"), -EINVAL);
	CHECK_EQ(get_ratio_param(), 64);
	/* ...which is the only bound: the table takes the ratio as it is. */
	vm = vm_create(64, 1, 1);
	CHECK_EQ(vm_table(vm)->ratio, 64);
	vm_destroy(vm);

	/* Read at VM creation: a later change does not affect the VM. */
	vm = vm_create(1, 1, 1);
	CHECK_EQ(set_ratio_param("0"), 0);
	CHECK(ld(vm, 0, PAGE));
	CHECK(!ld(vm, 0, 2 * PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_FULL);
	vm_destroy(vm);
	CHECK_EQ(set_ratio_param("8"), 0);
}

/* A vendor without the hooks gets no table. */
static void test_no_vendor_hooks(void)
{
	struct vm *vm;

	kvm_x86_ops.nested_ops = &no_ctx_nested_ops;
	vm = vm_create(8, 1, 1);
	CHECK(!vm_table(vm));
	CHECK(!ld(vm, 0, PAGE));
	vm_destroy(vm);
}

/* Destroy with attached and detached contexts: all freed, no vCPU touched. */
static void test_destroy_mixed(void)
{
	struct vm *vm = vm_create(4, 2, 2);
	struct kvm_nested_context *a;
	int i;

	for (i = 0; i < 8; i++) {
		a = ld(vm, i % 2, (i + 1) * PAGE);
		if (i & 2)
			put(vm, i % 2, a);
	}
	CHECK_EQ(fv.live, 8);
	CHECK_EQ(lru_gpas(vm, NULL, 0), 4);
	/* vm_destroy() frees the vCPUs first, so ASan catches any use. */
	vm_destroy(vm);
	CHECK_EQ(fv.live, 0);
	CHECK_EQ(fv.frees, 8);

	/* And a VM that never loaded anything. */
	vm = vm_create(4, 2, 2);
	vm_destroy(vm);
	CHECK_EQ(fv.frees, 8);
}

/*
 * put() of a context that the vCPU does not hold (which vendors never do) is
 * a no-op traced not-owner, whether another vCPU holds it or it is detached
 * already; put() of NULL does nothing at all.
 */
static void test_put_not_held(void)
{
	struct vm *vm = vm_create(8, 2, 2);
	struct kvm_nested_context *a, *b, *c;
	long puts0[NR_RELEASE_OUTCOMES];
	gpa_t lru[4];

	a = ld(vm, 0, 1 * PAGE);
	b = ld(vm, 1, 2 * PAGE);
	put(vm, 1, b);
	c = ld(vm, 1, 3 * PAGE);
	put(vm, 1, c);

	/* Another vCPU's. */
	put(vm, 1, a);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_NOT_OWNER);
	CHECK_EQ(tr.put_gpa, 1 * PAGE);
	CHECK(a->vcpu == vm->vcpu[0]);

	/* Detached, by any vCPU: it keeps its place on the LRU. */
	put(vm, 0, b);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_NOT_OWNER);
	CHECK_EQ(tr.put_gpa, 2 * PAGE);
	put(vm, 1, b);
	CHECK_EQ(tr.put, KVM_NESTED_CTX_NOT_OWNER);
	CHECK(!b->vcpu);
	CHECK_EQ(lru_gpas(vm, lru, 4), 2);
	CHECK_EQ(lru[0], 2 * PAGE);
	CHECK_EQ(lru[1], 3 * PAGE);

	memcpy(puts0, tr.puts, sizeof(puts0));
	put(vm, 0, NULL);
	CHECK(!memcmp(puts0, tr.puts, sizeof(puts0)));
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(lru_gpas(vm, lru, 4), 2);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 3);
	vm_destroy(vm);
}

/* The stats are exactly the counts of the outcomes. */
static void test_stats_arithmetic(void)
{
	struct vm *vm = vm_create(2, 3, 3);
	struct kvm_nested_context *held[3] = { 0 }, *ctx;
	long loads0[NR_LOAD_OUTCOMES], lookups0[NR_LOAD_OUTCOMES];
	u64 seed = 12345;
	gpa_t gpa;
	int i, v;

	memcpy(loads0, tr.loads, sizeof(loads0));
	memcpy(lookups0, tr.lookups, sizeof(lookups0));
	/* As vendors do: each vCPU holds at most one context, its current. */
	for (i = 0; i < 20000; i++) {
		v = rng_below(&seed, 3);
		gpa = rng_below(&seed, 12) * PAGE;
		if (held[v] && rng_below(&seed, 2)) {
			put(vm, v, held[v]);
			held[v] = NULL;
		} else if (!held[v]) {
			held[v] = ld(vm, v, gpa);
		} else if (gpa != held[v]->gpa) {
			/* The previous context is put only after a hit. */
			ctx = lk(vm, v, gpa);
			if (ctx) {
				put(vm, v, held[v]);
				held[v] = ctx;
			}
		}
	}
	/* Lookups count nothing. */
	CHECK_EQ(vm->kvm.stat.nested_context_reuse,
		 tr.loads[KVM_NESTED_CTX_HIT] - loads0[KVM_NESTED_CTX_HIT]);
	CHECK_EQ(vm->kvm.stat.nested_context_busy,
		 tr.loads[KVM_NESTED_CTX_BUSY] - loads0[KVM_NESTED_CTX_BUSY]);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle,
		 tr.loads[KVM_NESTED_CTX_RECYCLE] - loads0[KVM_NESTED_CTX_RECYCLE]);
	CHECK_EQ(vm->kvm.stat.nested_context_count,
		 tr.loads[KVM_NESTED_CTX_ALLOC] - loads0[KVM_NESTED_CTX_ALLOC]);
	CHECK_EQ(vm->kvm.stat.nested_context_count, fv.live);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, fv.resets);
	CHECK(vm->kvm.stat.nested_context_reuse > 1000);
	CHECK(tr.lookups[KVM_NESTED_CTX_HIT] - lookups0[KVM_NESTED_CTX_HIT] > 100);
	CHECK(vm->kvm.stat.nested_context_recycle > 1000);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 6);
	vm_destroy(vm);
}

/*
 * A lookup attaches a detached context, wherever it was, and counts
 * nothing; another lookup of the same GPA then finds it busy, even by the
 * vCPU that now holds it, while that vCPU's load of it is the hit that
 * counts the reuse, once.
 */
static void test_lookup_attaches_detached(void)
{
	struct vm *vm = vm_create(8, 2, 2);
	struct kvm_nested_context *a, *b;
	gpa_t lru[4];

	a = ld(vm, 0, 1 * PAGE);
	b = ld(vm, 1, 2 * PAGE);
	put(vm, 0, a);
	put(vm, 1, b);
	CHECK_EQ(lru_gpas(vm, lru, 4), 2);

	CHECK(lk(vm, 1, 1 * PAGE) == a);
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_HIT);
	CHECK_EQ(tr.lookup_gpa, 1 * PAGE);
	CHECK(a->vcpu == vm->vcpu[1]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	CHECK_EQ(lru_gpas(vm, lru, 4), 1);
	CHECK_EQ(lru[0], 2 * PAGE);

	/* Held now: a lookup by the holder is busy, its load a hit. */
	CHECK(!lk(vm, 1, 1 * PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_BUSY);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	CHECK(ld(vm, 1, 1 * PAGE) == a);
	CHECK_EQ(tr.load, KVM_NESTED_CTX_HIT);
	CHECK(a->vcpu == vm->vcpu[1]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 1);
	CHECK(!ld(vm, 0, 1 * PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_BUSY);
	CHECK_EQ(vm->kvm.stat.nested_context_busy, 1);
	CHECK_EQ(fv.alloc_calls, 2);
	CHECK_EQ(to_fake(a)->resets, 0);
	vm_destroy(vm);
	CHECK_EQ(fv.live, 0);
}

/*
 * A lookup never creates a context: not before the first load (no hash
 * yet), not below capacity, not by recycling at capacity.  The table, the
 * LRU order and the stats stay as they were.
 */
static void test_lookup_never_creates(void)
{
	struct vm *vm = vm_create(1, 2, 2);
	struct kvm_nested_context *a, *b;
	gpa_t lru[4];
	int i;

	CHECK(!lk(vm, 0, 1 * PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_MISS);
	CHECK(!vm_table(vm)->buckets);

	a = ld(vm, 0, 1 * PAGE);
	CHECK(a);
	for (i = 0; i < 100; i++)
		CHECK(!lk(vm, 1, (100 + i) * PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_MISS);
	CHECK_EQ(tr.lookup_gpa, 199 * PAGE);
	CHECK_EQ(fv.alloc_calls, 1);
	CHECK_EQ(hashed(vm), 1);
	CHECK_EQ(vm_table(vm)->nr, 1);

	/* At capacity, every context detached: still no recycling. */
	b = ld(vm, 1, 2 * PAGE);
	put(vm, 1, b);
	put(vm, 0, a);
	CHECK(!lk(vm, 0, 3 * PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_MISS);
	CHECK_EQ(fv.alloc_calls, 2);
	CHECK_EQ(to_fake(a)->resets + to_fake(b)->resets, 0);
	CHECK_EQ(lru_gpas(vm, lru, 4), 2);
	CHECK_EQ(lru[0], 2 * PAGE);
	CHECK_EQ(lru[1], 1 * PAGE);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_recycle, 0);
	CHECK_EQ(vm->kvm.stat.nested_context_count, 2);
	vm_destroy(vm);
	CHECK_EQ(fv.live, 0);
}

/*
 * A lookup never takes a context that another vCPU holds, and is not
 * counted in nested_context_busy; a load that finds it held is.
 */
static void test_lookup_busy(void)
{
	struct vm *vm = vm_create(8, 2, 2);
	struct kvm_nested_context *a;

	a = ld(vm, 0, PAGE);
	CHECK(!lk(vm, 1, PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_BUSY);
	CHECK(a->vcpu == vm->vcpu[0]);
	CHECK_EQ(vm->kvm.stat.nested_context_reuse, 0);
	CHECK_EQ(lru_gpas(vm, NULL, 0), 0);

	put(vm, 0, a);
	CHECK(lk(vm, 1, PAGE) == a);
	CHECK(!lk(vm, 0, PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_BUSY);
	CHECK_EQ(vm->kvm.stat.nested_context_busy, 0);
	CHECK(!ld(vm, 0, PAGE));
	CHECK_EQ(tr.load, KVM_NESTED_CTX_BUSY);
	CHECK_EQ(vm->kvm.stat.nested_context_busy, 1);
	CHECK(a->vcpu == vm->vcpu[1]);
	vm_destroy(vm);
}

/* Cache off: a lookup returns NULL and touches nothing. */
static void test_lookup_cache_off(void)
{
	struct vm *vm = vm_create(0, 1, 1);

	CHECK(!lk(vm, 0, PAGE));
	CHECK_EQ(tr.lookup, KVM_NESTED_CTX_NONE);
	CHECK_EQ(fv.alloc_calls, 0);
	vm_destroy(vm);
}

#define T(name) { #name, test_##name }
static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	T(hit_and_miss),
	T(own_gpa),
	T(lru_recycle_order),
	T(capacity_never_exceeded),
	T(full_all_attached),
	T(same_gpa_two_vcpus),
	T(put_then_load_other),
	T(alloc_failure),
	T(hash_growth),
	T(hash_spread),
	T(racing_insert),
	T(ratio_zero_and_param),
	T(no_vendor_hooks),
	T(destroy_mixed),
	T(put_not_held),
	T(stats_arithmetic),
	T(lookup_attaches_detached),
	T(lookup_never_creates),
	T(lookup_busy),
	T(lookup_cache_off),
};

int main(int argc, char **argv)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(tests); i++)
		if (argc < 2 || !strcmp(argv[1], tests[i].name))
			run_test(tests[i].name, tests[i].fn);
	return report("unit-tests");
}
