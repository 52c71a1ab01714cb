// SPDX-License-Identifier: GPL-2.0-only
/*
 * Random-driver fuzzer: drives the real nested.c and a simple reference model
 * (arrays and linear scans, an LRU by timestamps) with the same random
 * load/lookup/put/online/racing-load/fault/destroy sequence, and asserts
 * after every operation that both agree on the outcome, on the context
 * returned, on the stats, and that the capacity bound holds.
 *
 * The vCPUs call the table as vendors do: a vCPU holds at most one context,
 * its current one, and puts it before it loads another GPA.  After a lookup
 * hit it still holds its previous context until its next step, when it puts
 * it (so other vCPUs may run in between, as they may in the kernel).  A load
 * of the GPA the vCPU holds completes a lookup, as SVM's VMRUN does: a hit
 * that counts the reuse.  A few calls break the contract on purpose, as a
 * buggy vendor would: a lookup of the GPA the vCPU holds (busy) and a put of
 * a context it does not hold (not-owner); neither may change anything.
 *
 *   fuzz [-n OPS] [-s SEED] [-q]
 */
#include <assert.h>
#include <getopt.h>

#include "shim/kvm_shim.h"
#include "../../../arch/x86/kvm/nested.c"
#include "harness.h"

#define PAGE		0x1000ULL
#define MAX_VCPUS	8
#define MAX_CAP		(64 * MAX_VCPUS)

struct m_ent {
	gpa_t gpa;
	unsigned long id;
	int owner;			/* vCPU index, or -1 when detached */
	u64 seq;			/* when detached */
	struct kvm_nested_context *ptr;	/* the real context, for put() */
};

static struct model {
	bool table;
	unsigned int ratio;
	int online, max;
	bool buckets;
	unsigned int bits;
	struct m_ent ent[MAX_CAP];
	int n;
	u64 clock;
	unsigned long next_id;
	int fail_allocs, fail_kvcalloc;
	u64 reuse, recycle, busy;
	/*
	 * What each vCPU holds: its current context, and after a lookup hit
	 * its previous one, until its next step (see above).
	 */
	struct m_ent *cur[MAX_VCPUS];
	struct m_ent *prev[MAX_VCPUS];
} m;

static struct vm *vm;
static u64 seed, seed0 = 1;
static long op_nr;
static bool quiet;
static const char *why;

static unsigned int m_cap(void)
{
	return m.ratio * m.online;
}

static struct m_ent *m_find(gpa_t gpa)
{
	int i;

	for (i = 0; i < m.n; i++)
		if (m.ent[i].gpa == gpa)
			return &m.ent[i];
	return NULL;
}

/* The least recently detached entry. */
static struct m_ent *m_lru(void)
{
	struct m_ent *best = NULL;
	int i;

	for (i = 0; i < m.n; i++)
		if (m.ent[i].owner < 0 && (!best || m.ent[i].seq < best->seq))
			best = &m.ent[i];
	return best;
}

struct m_result {
	int outcome;
	struct m_ent *ent;	/* for a non-NULL result */
};

static struct m_result m_attach(struct m_ent *e, int v)
{
	struct m_result r = { .ent = e };

	/* Held by any vCPU, the caller included; a lookup counts nothing. */
	if (e->owner >= 0) {
		r.outcome = KVM_NESTED_CTX_BUSY;
		r.ent = NULL;
	} else {
		e->owner = v;
		r.outcome = KVM_NESTED_CTX_HIT;
	}
	return r;
}

/*
 * A load's attach: a hit is a reuse, the caller's own context included (a
 * load completing a lookup), and a context held elsewhere is busy.
 */
static struct m_result m_attach_load(struct m_ent *e, int v)
{
	struct m_result r = { .outcome = KVM_NESTED_CTX_HIT, .ent = e };

	if (e->owner != v)
		r = m_attach(e, v);
	if (r.outcome == KVM_NESTED_CTX_BUSY)
		m.busy++;
	else
		m.reuse++;
	return r;
}

static unsigned int m_hash_bits(unsigned int cap)
{
	unsigned int b = 0;

	while ((1U << b) < cap)
		b++;
	/* Four buckets per unit of capacity, at least 16. */
	return b + 2 < 4 ? 4 : b + 2;
}

/*
 * The model of a load.  @racer, if set, runs inside the allocation (it is
 * the model of the racing load the real allocation hook performs).
 */
static struct m_result m_load(int v, gpa_t gpa, int reserved,
			      void (*racer)(void))
{
	struct m_result r = { .outcome = KVM_NESTED_CTX_NONE };
	unsigned int cap = m_cap();
	unsigned long id;
	struct m_ent *e;

	if (!m.table)
		return r;
	if (!m.buckets || m_hash_bits(cap) > m.bits) {
		if (m.fail_kvcalloc > 0) {
			m.fail_kvcalloc--;
		} else {
			m.buckets = true;
			m.bits = m_hash_bits(cap);
		}
		if (!m.buckets) {
			r.outcome = KVM_NESTED_CTX_NOMEM;
			return r;
		}
	}
	e = m_find(gpa);
	if (e)
		return m_attach_load(e, v);
	if ((unsigned int)(m.n + reserved) < cap) {
		if (m.fail_allocs > 0) {
			m.fail_allocs--;
			r.outcome = KVM_NESTED_CTX_NOMEM;
			return r;
		}
		id = m.next_id++;
		if (racer)
			racer();
		e = m_find(gpa);
		if (e)
			return m_attach_load(e, v);	/* our copy is freed */
		e = &m.ent[m.n++];
		e->gpa = gpa;
		e->id = id;
		e->owner = v;
		e->ptr = NULL;
		r.outcome = KVM_NESTED_CTX_ALLOC;
		r.ent = e;
		return r;
	}
	e = m_lru();
	if (!e) {
		r.outcome = KVM_NESTED_CTX_FULL;
		return r;
	}
	e->gpa = gpa;
	e->owner = v;
	e->ptr = NULL;
	m.recycle++;
	r.outcome = KVM_NESTED_CTX_RECYCLE;
	r.ent = e;
	return r;
}

/* The model of a lookup: a load that never creates a context. */
static struct m_result m_lookup(int v, gpa_t gpa)
{
	struct m_result r = { .outcome = KVM_NESTED_CTX_NONE };
	struct m_ent *e;

	if (!m.table)
		return r;
	e = m_find(gpa);
	if (e)
		return m_attach(e, v);
	r.outcome = KVM_NESTED_CTX_MISS;
	return r;
}

/* The model of a put of @e by @v. */
static int m_release(struct m_ent *e, int v)
{
	if (e->owner != v)
		return KVM_NESTED_CTX_NOT_OWNER;
	e->owner = -1;
	e->seq = ++m.clock;
	return KVM_NESTED_CTX_DETACHED;
}

/* --- checks ------------------------------------------------------------- */

/* Report a failed check; the caller ends the operation. */
static bool fuzz_ok(bool ok, const char *file, int line, const char *cond)
{
	if (!ok)
		fprintf(stderr, "fuzz: op %ld (%s, seed %llu): %s:%d: %s\n",
			op_nr, why, (unsigned long long)seed0, file, line, cond);
	return ok;
}

#define FUZZ_OK(cond)	fuzz_ok(!!(cond), __FILE__, __LINE__, #cond)

static bool check_result(struct m_result r, struct kvm_nested_context *ctx,
			 int v, gpa_t gpa, bool lookup)
{
	if (!FUZZ_OK((lookup ? tr.lookup : tr.load) == r.outcome))
		return false;
	if (!FUZZ_OK((lookup ? tr.lookup_gpa : tr.load_gpa) == gpa))
		return false;
	if (!FUZZ_OK(!ctx == !r.ent))
		return false;
	if (!ctx)
		return true;
	if (!FUZZ_OK(to_fake(ctx)->id == r.ent->id))
		return false;
	if (!FUZZ_OK(ctx->gpa == gpa))
		return false;
	if (!FUZZ_OK(ctx->vcpu == vm->vcpu[v]))
		return false;
	if (r.ent->ptr)
		if (!FUZZ_OK(r.ent->ptr == ctx))
			return false;
	r.ent->ptr = ctx;
	if (r.outcome == KVM_NESTED_CTX_RECYCLE)
		if (!FUZZ_OK(to_fake(ctx)->reset_gpa == gpa &&
			     to_fake(ctx)->reset_vcpu == vm->vcpu[v]))
			return false;
	return true;
}

static bool check_state(bool deep)
{
	struct kvm_nested_ctx_table *t;
	struct kvm_nested_context *ctx;
	u64 last_seq = 0;
	int i, n = 0;

	if (!FUZZ_OK(fv.violations == 0))
		return false;
	if (!FUZZ_OK(shim_alloc_violations == 0))
		return false;
	if (!FUZZ_OK(fv.live == m.n))
		return false;
	if (!FUZZ_OK(fv.next_id == m.next_id))
		return false;
	if (!FUZZ_OK(fv.fail_allocs == m.fail_allocs))
		return false;
	if (!FUZZ_OK(shim_fail_kvcalloc == m.fail_kvcalloc))
		return false;
	if (!m.table)
		return true;
	if (!FUZZ_OK((unsigned int)fv.live <= m_cap()))
		return false;
	if (!FUZZ_OK(vm->kvm.stat.nested_context_reuse == m.reuse))
		return false;
	if (!FUZZ_OK(vm->kvm.stat.nested_context_recycle == m.recycle))
		return false;
	if (!FUZZ_OK(vm->kvm.stat.nested_context_count == (u64)m.n))
		return false;
	if (!FUZZ_OK(vm->kvm.stat.nested_context_busy == m.busy))
		return false;
	if (!deep)
		return true;

	/* The LRU list is exactly the detached entries, by detach time. */
	t = vm_table(vm);
	if (!FUZZ_OK(t->nr == (unsigned int)m.n))
		return false;
	list_for_each_entry(ctx, &t->lru, lru) {
		struct m_ent *e = NULL;

		for (i = 0; i < m.n; i++)
			if (m.ent[i].id == to_fake(ctx)->id)
				e = &m.ent[i];
		if (!FUZZ_OK(e && e->owner < 0 && e->seq > last_seq))
			return false;
		if (!FUZZ_OK(!ctx->vcpu && ctx->gpa == e->gpa))
			return false;
		last_seq = e->seq;
		n++;
	}
	for (i = 0; i < m.n; i++)
		n -= m.ent[i].owner < 0;
	if (!FUZZ_OK(n == 0))
		return false;

	/* A vCPU holds its current context and, briefly, its previous one. */
	for (i = 0; i < m.n; i++) {
		struct m_ent *e = &m.ent[i];

		if (e->owner < 0)
			continue;
		if (!FUZZ_OK(m.cur[e->owner] == e || m.prev[e->owner] == e))
			return false;
		if (!FUZZ_OK(e->ptr && e->ptr->vcpu == vm->vcpu[e->owner]))
			return false;
	}
	for (i = 0; i < MAX_VCPUS; i++)
		if (!FUZZ_OK((!m.cur[i] || m.cur[i]->owner == i) &&
			     (!m.prev[i] || m.prev[i]->owner == i)))
			return false;
	return true;
}

/* --- operations --------------------------------------------------------- */

static void new_vm(void)
{
	static const unsigned int ratios[] = { 0, 1, 2, 3, 4, 8 };

	m.ratio = ratios[rng_below(&seed, 6)];
	m.max = 1 + rng_below(&seed, MAX_VCPUS);
	m.online = 1 + rng_below(&seed, m.max);
	vm = vm_create(m.ratio, m.online, m.max);
	m.table = m.ratio != 0;
	m.buckets = false;
	m.bits = 0;
	m.n = 0;
	m.reuse = 0;
	m.busy = 0;
	m.recycle = 0;
	memset(m.cur, 0, sizeof(m.cur));
	memset(m.prev, 0, sizeof(m.prev));
}

static gpa_t pick_gpa(void)
{
	if (rng_below(&seed, 64) == 0)
		return rng_next(&seed);	/* any 64-bit value */
	return rng_below(&seed, 2 * m_cap() + 3) * PAGE;
}

/* A put of @e (NULL: none) by @v, on both sides, with the same outcome. */
static bool put_both(int v, struct m_ent *e)
{
	int outcome;
	gpa_t gpa;

	if (!e) {
		kvm_nested_ctx_put(vm->vcpu[v], NULL);
		return true;
	}
	gpa = e->gpa;
	outcome = m_release(e, v);
	kvm_nested_ctx_put(vm->vcpu[v], e->ptr);
	return FUZZ_OK(!m.table || (tr.put == outcome && tr.put_gpa == gpa));
}

/* As a vendor before it loads another GPA: put all that @v holds. */
static bool put_held(int v)
{
	struct m_ent *prev = m.prev[v], *cur = m.cur[v];

	m.prev[v] = NULL;
	m.cur[v] = NULL;
	return put_both(v, prev) && put_both(v, cur);
}

static int race_v;
static gpa_t race_gpa;
static struct m_result race_res;
static struct kvm_nested_context *race_ctx;
/* What the racer holds, and puts before its load, as any vCPU does. */
static struct m_ent *race_held[2];
static struct kvm_nested_context *race_held_ptr[2];

static void real_racer(struct kvm_vcpu *vcpu)
{
	kvm_nested_ctx_put(vm->vcpu[race_v], race_held_ptr[0]);
	kvm_nested_ctx_put(vm->vcpu[race_v], race_held_ptr[1]);
	race_ctx = kvm_nested_ctx_load(vm->vcpu[race_v], race_gpa);
}

static void model_racer(void)
{
	int i;

	for (i = 0; i < 2; i++)
		if (race_held[i])
			m_release(race_held[i], race_v);
	race_res = m_load(race_v, race_gpa, 1, NULL);
}

static bool do_op(void)
{
	struct kvm_nested_context *ctx;
	struct m_result r;
	unsigned int k = rng_below(&seed, 1000);
	int v = rng_below(&seed, m.online);
	long detached0;
	struct m_ent *e;
	bool lookup;
	gpa_t gpa;
	int i;

	/* The put that follows a lookup hit, if @v has not made it yet. */
	e = m.prev[v];
	m.prev[v] = NULL;
	why = "put after lookup";
	if (e && !put_both(v, e))
		return false;

	if (k < 20) {
		why = "inject alloc failure";
		if (m.fail_allocs < 2) {
			fv.fail_allocs++;
			m.fail_allocs++;
		}
	} else if (k < 30) {
		why = "inject kvcalloc failure";
		if (m.fail_kvcalloc < 1) {
			shim_fail_kvcalloc++;
			m.fail_kvcalloc++;
		}
	} else if (k < 400) {
		why = "load";
		gpa = pick_gpa();
		if (!put_held(v))
			return false;
		r = m_load(v, gpa, 0, NULL);
		ctx = kvm_nested_ctx_load(vm->vcpu[v], gpa);
		if (!check_result(r, ctx, v, gpa, false))
			return false;
		m.cur[v] = r.ent;
	} else if (k < 420 && m.online > 1) {
		why = "racing load";
		gpa = pick_gpa();
		if (!put_held(v))
			return false;
		race_v = (v + 1 + rng_below(&seed, m.online - 1)) % m.online;
		race_gpa = rng_below(&seed, 2) ? gpa : pick_gpa();
		race_res.ent = NULL;
		race_res.outcome = -1;
		race_ctx = NULL;
		race_held[0] = m.prev[race_v];
		race_held[1] = m.cur[race_v];
		for (i = 0; i < 2; i++)
			race_held_ptr[i] = race_held[i] ? race_held[i]->ptr : NULL;
		detached0 = tr.puts[KVM_NESTED_CTX_DETACHED];
		fv.during_alloc = real_racer;
		r = m_load(v, gpa, 0, model_racer);
		ctx = kvm_nested_ctx_load(vm->vcpu[v], gpa);
		/* The hook did not run if there was no allocation. */
		fv.during_alloc = NULL;
		if (race_res.outcome >= 0) {
			if (!FUZZ_OK(!race_ctx == !race_res.ent))
				return false;
			if (!FUZZ_OK(tr.puts[KVM_NESTED_CTX_DETACHED] - detached0 ==
				     !!race_held[0] + !!race_held[1]))
				return false;
			if (race_ctx) {
				if (!FUZZ_OK(to_fake(race_ctx)->id == race_res.ent->id))
					return false;
				race_res.ent->ptr = race_ctx;
			}
			m.prev[race_v] = NULL;
			m.cur[race_v] = race_res.ent;
		} else {
			if (!FUZZ_OK(!race_ctx))
				return false;
			if (!FUZZ_OK(tr.puts[KVM_NESTED_CTX_DETACHED] == detached0))
				return false;
		}
		if (!check_result(r, ctx, v, gpa, false))
			return false;
		m.cur[v] = r.ent;
	} else if (k < 650) {
		why = "put";
		/* The current context; sometimes any other, a vendor bug. */
		e = m.cur[v];
		if (m.n && rng_below(&seed, 16) == 0)
			e = &m.ent[rng_below(&seed, m.n)];
		if (e == m.cur[v])
			m.cur[v] = NULL;
		if (!put_both(v, e))
			return false;
	} else if (k < 900) {
		why = "lookup";
		/* Of a GPA other than the current one, as vendors do. */
		gpa = pick_gpa();
		if (m.cur[v] && m.cur[v]->gpa == gpa)
			return check_state(false);
		r = m_lookup(v, gpa);
		ctx = kvm_nested_ctx_lookup(vm->vcpu[v], gpa);
		if (!check_result(r, ctx, v, gpa, true))
			return false;
		if (r.ent) {
			m.prev[v] = m.cur[v];
			m.cur[v] = r.ent;
		}
	} else if (k < 930) {
		why = "load or lookup of the GPA held";
		if (!m.cur[v])
			return check_state(false);
		gpa = m.cur[v]->gpa;
		lookup = rng_below(&seed, 2);
		if (lookup) {
			r = m_lookup(v, gpa);
			ctx = kvm_nested_ctx_lookup(vm->vcpu[v], gpa);
		} else {
			r = m_load(v, gpa, 0, NULL);
			ctx = kvm_nested_ctx_load(vm->vcpu[v], gpa);
		}
		if (!FUZZ_OK(r.outcome == (lookup ? KVM_NESTED_CTX_BUSY :
						   KVM_NESTED_CTX_HIT)))
			return false;
		if (!check_result(r, ctx, v, gpa, lookup))
			return false;
	} else if (k < 999) {
		why = "vCPU online";
		if (m.online < m.max) {
			m.online++;
			atomic_set(&vm->kvm.online_vcpus, m.online);
		}
	} else if (rng_below(&seed, 20) == 0) {
		why = "destroy";
		vm_destroy(vm);
		if (!FUZZ_OK(fv.live == 0))
			return false;
		m.n = 0;
		new_vm();
	}
	return check_state((op_nr & 1023) == 0);
}

static void print_histogram(void)
{
	static const char * const names[] = {
		"hit", "alloc", "recycle", "none", "busy", "full", "nomem",
		"miss",
	};
	static const char * const put_names[] = { "detached", "not-owner" };
	int i;

	static_assert(ARRAY_SIZE(names) == NR_LOAD_OUTCOMES, "load outcomes");
	static_assert(ARRAY_SIZE(put_names) == NR_RELEASE_OUTCOMES,
		      "put outcomes");

	printf("fuzz: loads");
	for (i = 0; i < NR_LOAD_OUTCOMES; i++)
		if (i != KVM_NESTED_CTX_MISS)
			printf(" %s %ld", names[i], tr.loads[i]);
	printf("; lookups");
	for (i = 0; i < NR_LOAD_OUTCOMES; i++)
		if (tr.lookups[i])
			printf(" %s %ld", names[i], tr.lookups[i]);
	printf("; puts");
	for (i = 0; i < NR_RELEASE_OUTCOMES; i++)
		printf(" %s %ld", put_names[i], tr.puts[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	long ops = 10000000;
	double t0;
	int c;

	while ((c = getopt(argc, argv, "n:s:q")) != -1) {
		switch (c) {
		case 'n':
			ops = strtol(optarg, NULL, 0);
			break;
		case 's':
			seed0 = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fprintf(stderr, "usage: fuzz [-n OPS] [-s SEED] [-q]\n");
			return 2;
		}
	}

	cur_test = "fuzz";
	fv_reset();
	seed = seed0 ? seed0 : 1;
	t0 = now_ns();
	new_vm();
	for (op_nr = 0; op_nr < ops; op_nr++)
		if (!do_op())
			break;
	if (op_nr == ops) {
		why = "final destroy";
		if (check_state(true)) {
			vm_destroy(vm);
			if (fv.live == 0 && !fv.violations)
				tests_passed++;
		}
	}
	if (!tests_passed)
		tests_failed++;
	if (!quiet || tests_failed)
		printf("fuzz: seed %llu, %ld of %ld ops in %.1f s, %ld contexts allocated\n",
		       (unsigned long long)seed0, op_nr, ops,
		       (now_ns() - t0) / 1e9, fv.allocs);
	if (!quiet)
		print_histogram();
	return report("fuzz");
}
