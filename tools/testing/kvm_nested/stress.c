// SPDX-License-Identifier: GPL-2.0-only
/*
 * Concurrency stress test of the real nested.c, meant to run under TSan:
 * N threads act as N vCPUs of one VM and call the table as vendors do, at
 * random on a small shared GPA space: each holds at most one context, its
 * current one, and switches to another GPA (put it, then load), looks up a
 * GPA other than its current one (and puts the previous context on a hit),
 * or puts it; while vCPUs come online (so the hash grows under load).
 * Asserts that a context is never held by two vCPUs at once, that a context
 * loaded or looked up has the GPA and owner asked for, that a put is never
 * refused, that the contexts allocated never exceed the capacity, and that
 * the stats add up at the end.
 *
 * Each of R rounds runs on a fresh VM, so that allocations (and allocations
 * racing for the same GPA, with a widened window) happen often.
 *
 *   stress [-t THREADS] [-n OPS_PER_THREAD_PER_ROUND] [-r ROUNDS] [-s SEED]
 */
#include <getopt.h>
#include <unistd.h>

#include "shim/kvm_shim.h"
#include "../../../arch/x86/kvm/nested.c"
#include "harness.h"

#define PAGE		0x1000ULL
#define RATIO		6
#define MAX_THREADS	16

static struct vm *vm;
static int nr_threads = 4;
static long nr_ops = 20000;
static int nr_rounds = 20;
static u64 seed0 = 1;
static int errors;

struct thread {
	pthread_t tid;
	int v;
	int round;
	struct trace_rec tr;
	long held_max;
};

static struct thread threads[MAX_THREADS];

/* Count and report a failed check; the caller bails out. */
static bool stress_ok(bool ok, int v, const char *file, int line,
		      const char *cond)
{
	if (!ok) {
		fprintf(stderr, "stress: vCPU %d: %s:%d: %s\n", v, file, line,
			cond);
		__atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
	}
	return ok;
}

#define STRESS_OK(cond)	stress_ok(!!(cond), v, __FILE__, __LINE__, #cond)

/* Put the current context, as a vendor does when it stops using it. */
static bool put_cur(struct kvm_vcpu *vcpu, int v,
		    struct kvm_nested_context *cur)
{
	if (!cur)
		return true;
	__atomic_store_n(&to_fake(cur)->owner, -1, __ATOMIC_RELAXED);
	kvm_nested_ctx_put(vcpu, cur);
	return STRESS_OK(tr.puts[KVM_NESTED_CTX_NOT_OWNER] == 0);
}

static void *vcpu_thread(void *arg)
{
	struct thread *th = arg;
	struct kvm_nested_context *cur = NULL, *ctx;
	struct kvm_vcpu *vcpu;
	int v = th->v, expect;
	u64 seed = seed0 * 1000003 + v + 1 + th->round * 7919;
	bool lookup;
	gpa_t gpa;
	long op;

	memset(&tr, 0, sizeof(tr));
	vcpu = vm->vcpu[v];
	for (op = 0; op < nr_ops; op++) {
		unsigned int k = rng_below(&seed, 100);

		th->tr = tr;
		/* A small hot set at first: vCPUs race to allocate it. */
		gpa = rng_below(&seed, op < 64 ? 4 : 3 * RATIO * nr_threads) * PAGE;
		lookup = k >= 60 && k < 85;
		if (k < 60) {
			/* A switch: the current context first. */
			if (!put_cur(vcpu, v, cur))
				goto out;
			cur = NULL;
			ctx = kvm_nested_ctx_load(vcpu, gpa);
		} else if (lookup) {
			/* Of a GPA other than the current one. */
			if (cur && cur->gpa == gpa)
				continue;
			ctx = kvm_nested_ctx_lookup(vcpu, gpa);
		} else {
			if (!put_cur(vcpu, v, cur))
				goto out;
			cur = NULL;
			continue;
		}
		if (!ctx)
			continue;
		if (!STRESS_OK(ctx->gpa == gpa && ctx->vcpu == vcpu))
			goto out;
		expect = -1;
		if (!STRESS_OK(__atomic_compare_exchange_n(&to_fake(ctx)->owner,
							   &expect, v, false,
							   __ATOMIC_RELAXED,
							   __ATOMIC_RELAXED)))
			goto out;
		/* Write the context, as a vendor would. */
		to_fake(ctx)->pad[v] ^= 1;
		/* After a lookup hit, the previous context is put. */
		if (lookup && !put_cur(vcpu, v, cur)) {
			cur = ctx;
			goto out;
		}
		cur = ctx;
	}
out:
	put_cur(vcpu, v, cur);
	th->tr = tr;
	return NULL;
}

static long lost_races, total_ops;

static int run_round(int round)
{
	long hit = 0, recycle = 0, alloc = 0;
	struct kvm_nested_context *ctx;
	int i, v = -1, detached = 0;
	long allocs0 = fv.allocs, grows0 = shim_kvcalloc_calls;

	fv.live_bound = RATIO * nr_threads;
	fv.max_live = 0;
	vm = vm_create(RATIO, 1, nr_threads);
	for (i = 0; i < nr_threads; i++) {
		threads[i].v = i;
		threads[i].round = round;
		if (pthread_create(&threads[i].tid, NULL, vcpu_thread, &threads[i]))
			abort();
	}
	/* vCPUs come online while the others run: capacity and hash grow. */
	for (i = 2; i <= nr_threads; i++) {
		usleep(500);
		atomic_set(&vm->kvm.online_vcpus, i);
	}
	for (i = 0; i < nr_threads; i++)
		pthread_join(threads[i].tid, NULL);

	for (i = 0; i < nr_threads; i++) {
		/* Lookups count nothing. */
		hit += threads[i].tr.loads[KVM_NESTED_CTX_HIT];
		recycle += threads[i].tr.loads[KVM_NESTED_CTX_RECYCLE];
		alloc += threads[i].tr.loads[KVM_NESTED_CTX_ALLOC];
	}
	list_for_each_entry(ctx, &vm_table(vm)->lru, lru)
		detached++;
	lost_races += fv.allocs - allocs0 - alloc;
	total_ops += nr_ops * nr_threads;

	if (!STRESS_OK(!errors))
		goto out;
	if (!STRESS_OK(fv.violations == 0))
		goto out;
	if (!STRESS_OK(fv.max_live <= RATIO * nr_threads))
		goto out;
	if (!STRESS_OK(vm->kvm.stat.nested_context_reuse == (u64)hit))
		goto out;
	if (!STRESS_OK(vm->kvm.stat.nested_context_recycle == (u64)recycle))
		goto out;
	if (!STRESS_OK(vm->kvm.stat.nested_context_count == (u64)alloc))
		goto out;
	if (!STRESS_OK(fv.live == alloc))
		goto out;
	/* Everything was put back: every context is on the LRU. */
	if (!STRESS_OK(detached == alloc))
		goto out;
	if (!STRESS_OK(vm_table(vm)->nr == (unsigned int)alloc))
		goto out;
	if (!STRESS_OK(hit > 0))
		goto out;
	/*
	 * vCPUs racing to size or resize the hash allocate one bucket array
	 * per size, not one each: at most one per bit from 4 to the last.
	 */
	if (!STRESS_OK(shim_kvcalloc_calls - grows0 <=
		       vm_table(vm)->hash_bits - KVM_NESTED_CTX_MIN_HASH_BITS + 1))
		goto out;
	vm_destroy(vm);
	if (!STRESS_OK(fv.live == 0))
		goto out;
	return 0;
out:
	return -1;
}

int main(int argc, char **argv)
{
	int c, i;
	double t0;

	while ((c = getopt(argc, argv, "t:n:r:s:")) != -1) {
		switch (c) {
		case 't':
			nr_threads = atoi(optarg);
			break;
		case 'n':
			nr_ops = strtol(optarg, NULL, 0);
			break;
		case 'r':
			nr_rounds = atoi(optarg);
			break;
		case 's':
			seed0 = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr,
				"usage: stress [-t THREADS] [-n OPS] [-r ROUNDS] [-s SEED]\n");
			return 2;
		}
	}
	if (nr_threads < 1 || nr_threads > MAX_THREADS)
		return 2;

	cur_test = "stress";
	fv_reset();
	fv.alloc_yield = true;
	t0 = now_ns();
	for (i = 0; i < nr_rounds; i++)
		if (run_round(i))
			break;
	printf("stress: %d vCPU threads, %d rounds, %ld ops in %.2f s,",
	       nr_threads, i, total_ops, (now_ns() - t0) / 1e9);
	printf(" %ld allocations lost a race, %ld recycles\n", lost_races,
	       fv.resets);
	/* Losing races is likely, not certain: the unit tests force it. */
	if (i == nr_rounds)
		tests_passed++;
	else
		tests_failed++;
	return report("stress");
}
