// SPDX-License-Identifier: GPL-2.0-only
/*
 * Random-driver fuzzer: drives the real nested.c and a simple reference model
 * (arrays and linear scans, an LRU by timestamps) with the same random
 * load/put/clear/online/racing-load/fault/destroy sequence, and asserts after
 * every operation that both agree on the outcome, on the context returned,
 * on the stats, and that the capacity bound holds.
 *
 *   fuzz [-n OPS] [-s SEED] [-q]
 */
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
	u64 reuse, recycle;
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

	if (e->owner == v) {
		r.outcome = KVM_NESTED_CTX_OWNED;
	} else if (e->owner >= 0) {
		r.outcome = KVM_NESTED_CTX_BUSY;
		r.ent = NULL;
	} else {
		e->owner = v;
		m.reuse++;
		r.outcome = KVM_NESTED_CTX_HIT;
	}
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
		return m_attach(e, v);
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
			return m_attach(e, v);	/* our copy is freed */
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

static int m_release(struct m_ent *e, int v)
{
	if (!e)
		return KVM_NESTED_CTX_UNKNOWN;
	if (e->owner == v) {
		e->owner = -1;
		e->seq = ++m.clock;
		return KVM_NESTED_CTX_DETACHED;
	}
	return e->owner >= 0 ? KVM_NESTED_CTX_NOT_OWNER : KVM_NESTED_CTX_IDLE;
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
			 int v, gpa_t gpa)
{
	if (!FUZZ_OK(tr.load == r.outcome))
		return false;
	if (!FUZZ_OK(tr.load_gpa == gpa))
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
	m.recycle = 0;
}

static gpa_t pick_gpa(void)
{
	if (rng_below(&seed, 64) == 0)
		return rng_next(&seed);	/* any 64-bit value */
	return rng_below(&seed, 2 * m_cap() + 3) * PAGE;
}

static int race_v;
static gpa_t race_gpa;
static struct m_result race_res;
static struct kvm_nested_context *race_ctx;

static void real_racer(struct kvm_vcpu *vcpu)
{
	race_ctx = kvm_nested_ctx_load(vm->vcpu[race_v], race_gpa);
}

static void model_racer(void)
{
	race_res = m_load(race_v, race_gpa, 1, NULL);
}

static bool do_op(void)
{
	struct kvm_nested_context *ctx;
	struct m_result r;
	unsigned int k = rng_below(&seed, 1000);
	int v = rng_below(&seed, m.online);
	struct m_ent *e;
	gpa_t gpa;
	int i;

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
	} else if (k < 380) {
		why = "load";
		gpa = pick_gpa();
		r = m_load(v, gpa, 0, NULL);
		ctx = kvm_nested_ctx_load(vm->vcpu[v], gpa);
		if (!check_result(r, ctx, v, gpa))
			return false;
	} else if (k < 400 && m.online > 1) {
		why = "racing load";
		gpa = pick_gpa();
		race_v = (v + 1 + rng_below(&seed, m.online - 1)) % m.online;
		race_gpa = rng_below(&seed, 2) ? gpa : pick_gpa();
		race_res.ent = NULL;
		race_res.outcome = -1;
		race_ctx = NULL;
		fv.during_alloc = real_racer;
		r = m_load(v, gpa, 0, model_racer);
		ctx = kvm_nested_ctx_load(vm->vcpu[v], gpa);
		/* The hook did not run if there was no allocation. */
		fv.during_alloc = NULL;
		if (race_res.outcome >= 0) {
			if (!FUZZ_OK(!race_ctx == !race_res.ent))
				return false;
			if (race_ctx) {
				if (!FUZZ_OK(to_fake(race_ctx)->id == race_res.ent->id))
					return false;
				race_res.ent->ptr = race_ctx;
			}
		} else {
			if (!FUZZ_OK(!race_ctx))
				return false;
		}
		if (!check_result(r, ctx, v, gpa))
			return false;
	} else if (k < 750) {
		why = "put";
		/* Mostly a context this vCPU holds, sometimes another's. */
		e = NULL;
		for (i = 0; i < m.n; i++)
			if (m.ent[i].ptr && m.ent[i].owner >= 0 &&
			    (m.ent[i].owner == v || rng_below(&seed, 8) == 0)) {
				e = &m.ent[i];
				break;
			}
		if (!e) {
			kvm_nested_ctx_put(vm->vcpu[v], NULL);
			return check_state(false);
		}
		gpa = e->gpa;
		r.outcome = m_release(e, v);
		kvm_nested_ctx_put(vm->vcpu[v], e->ptr);
		if (!FUZZ_OK(!m.table || (tr.put == r.outcome && tr.put_gpa == gpa)))
			return false;
	} else if (k < 970) {
		why = "clear";
		gpa = pick_gpa();
		r.outcome = m_release(m_find(gpa), v);
		kvm_nested_ctx_clear(vm->vcpu[v], gpa);
		if (!FUZZ_OK(!m.table ||
			     (tr.clear == r.outcome && tr.clear_gpa == gpa)))
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
		"hit", "alloc", "recycle", "none", "owned", "busy", "full",
		"nomem",
	};
	long puts = 0, clears = 0;
	int i;

	printf("fuzz: loads");
	for (i = 0; i < NR_LOAD_OUTCOMES; i++)
		printf(" %s %ld", names[i], tr.loads[i]);
	for (i = 0; i < NR_RELEASE_OUTCOMES; i++) {
		puts += tr.puts[i];
		clears += tr.clears[i];
	}
	printf("; puts %ld clears %ld\n", puts, clears);
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
