/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test harness for the real arch/x86/kvm/nested.c in userspace: a fake
 * vendor (the context hooks, with fault injection and contract checks), fake
 * VMs and vCPUs, recording tracepoints and a minimal test runner.
 *
 * Include it after "../../../arch/x86/kvm/nested.c", in one translation unit
 * per program.
 */
#ifndef KVM_NESTED_HARNESS_H
#define KVM_NESTED_HARNESS_H

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <time.h>

#ifndef FAKE_CTX_SIZE
#define FAKE_CTX_SIZE	128
#endif
#define FAKE_CTX_MAGIC	0x6e65737465646378UL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define FAKE_CTX_DEAD	0xdeaddeaddeaddeadUL

/* --- shim state ---------------------------------------------------------- */

__thread int shim_locks_held;
int shim_fail_kvcalloc;
int shim_alloc_violations;
long shim_kvcalloc_calls;

void shim_spin_wait(spinlock_t *l)
{
	unsigned int spins = 0;

	do {
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
			if (++spins % 64 == 0)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
	} while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE));
}

/* The shim's get_random_u64(): a seedable splitmix64. */
static u64 shim_random_state = 0x9e3779b97f4a7c15ULL;

u64 get_random_u64(void)
{
	u64 z = __atomic_add_fetch(&shim_random_state, 0x9e3779b97f4a7c15ULL,
				   __ATOMIC_RELAXED);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* --- the fake vendor ---------------------------------------------------- */

struct fake_ctx {
	struct kvm_nested_context base;
	unsigned long magic;
	unsigned long id;		/* allocation sequence number */
	int owner;			/* stress test: holding thread, or -1 */
	int resets;
	gpa_t reset_gpa;		/* ->gpa seen by the last reset */
	struct kvm_vcpu *reset_vcpu;	/* ->vcpu seen by the last reset */
	char pad[FAKE_CTX_SIZE];
};

struct fake_vendor {
	long alloc_calls;	/* every call, failed or not */
	long allocs;		/* successful */
	long frees;
	long resets;
	long live;		/* allocated, not yet freed */
	long max_live;
	long live_bound;	/* if > 0, live must never exceed it */
	int fail_allocs;	/* fault injection: the next N allocations fail */
	bool alloc_yield;	/* widen the unlocked allocation window */
	unsigned long next_id;
	long violations;	/* broken hook contract */
	/* Racing insert: called once, inside the next allocation. */
	void (*during_alloc)(struct kvm_vcpu *vcpu);
};

static struct fake_vendor fv;

#define fv_add(field, n) __atomic_add_fetch(&fv.field, (n), __ATOMIC_RELAXED)
#define fv_get(field) __atomic_load_n(&fv.field, __ATOMIC_RELAXED)

static void fv_violation(const char *what)
{
	fprintf(stderr, "  vendor hook contract broken: %s\n", what);
	fv_add(violations, 1);
}

static struct fake_ctx *to_fake(struct kvm_nested_context *ctx)
{
	return container_of(ctx, struct fake_ctx, base);
}

static struct kvm_nested_context *fake_alloc(struct kvm_vcpu *vcpu)
{
	void (*hook)(struct kvm_vcpu *vcpu);
	struct fake_ctx *c;
	long live;

	fv_add(alloc_calls, 1);
	if (shim_locks_held)
		fv_violation("alloc_context with the lock held");
	if (__atomic_load_n(&fv.fail_allocs, __ATOMIC_RELAXED) > 0 &&
	    __atomic_fetch_sub(&fv.fail_allocs, 1, __ATOMIC_RELAXED) > 0)
		return NULL;

	c = aligned_alloc(64, (sizeof(*c) + 63) & ~63UL);
	if (!c)
		abort();
	memset(c, 0, sizeof(*c));
	c->magic = FAKE_CTX_MAGIC;
	c->owner = -1;
	c->id = __atomic_fetch_add(&fv.next_id, 1, __ATOMIC_RELAXED);
	fv_add(allocs, 1);
	live = fv_add(live, 1);
	if (fv.live_bound > 0 && live > fv.live_bound)
		fv_violation("more contexts allocated than the capacity");
	for (long m = fv_get(max_live); live > m;)
		if (__atomic_compare_exchange_n(&fv.max_live, &m, live, false,
						__ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			break;

	if (fv.alloc_yield)
		sched_yield();
	hook = fv.during_alloc;
	if (hook) {
		fv.during_alloc = NULL;
		hook(vcpu);
	}
	return &c->base;
}

static void fake_free(struct kvm_nested_context *ctx)
{
	struct fake_ctx *c = to_fake(ctx);

	if (shim_locks_held)
		fv_violation("free_context with the lock held");
	if (c->magic != FAKE_CTX_MAGIC)
		fv_violation("free_context of a bad context");
	if (ctx->vcpu)
		fv_violation("free_context of a context with a vCPU");
	c->magic = FAKE_CTX_DEAD;
	fv_add(frees, 1);
	fv_add(live, -1);
	free(c);
}

static void fake_reset(struct kvm_nested_context *ctx)
{
	struct fake_ctx *c = to_fake(ctx);

	if (shim_locks_held)
		fv_violation("reset_context with the lock held");
	if (c->magic != FAKE_CTX_MAGIC)
		fv_violation("reset_context of a bad context");
	if (!ctx->vcpu)
		fv_violation("reset_context of a context without owner");
	c->resets++;
	c->reset_gpa = ctx->gpa;
	c->reset_vcpu = ctx->vcpu;
	fv_add(resets, 1);
}

static const struct kvm_x86_nested_ops fake_nested_ops = {
	.alloc_context = fake_alloc,
	.free_context = fake_free,
	.reset_context = fake_reset,
};

static const struct kvm_x86_nested_ops no_ctx_nested_ops;

struct kvm_x86_ops kvm_x86_ops = {
	.nested_ops = &fake_nested_ops,
};

static void fv_reset(void)
{
	memset(&fv, 0, sizeof(fv));
	shim_fail_kvcalloc = 0;
	shim_alloc_violations = 0;
	kvm_x86_ops.nested_ops = &fake_nested_ops;
}

/* --- recording tracepoints ---------------------------------------------- */

#ifndef SHIM_TRACE_NOP
#define NR_LOAD_OUTCOMES	(KVM_NESTED_CTX_MISS + 1)
#define NR_RELEASE_OUTCOMES	(KVM_NESTED_CTX_NOT_OWNER + 1)

struct trace_rec {
	int load, lookup, put;			/* last outcomes */
	u64 load_gpa, lookup_gpa, put_gpa;
	u64 recycle_old, recycle_new;
	long loads[NR_LOAD_OUTCOMES];
	long lookups[NR_LOAD_OUTCOMES];
	long puts[NR_RELEASE_OUTCOMES];
	long recycles;
};

/* Per thread; the stress test sums them. */
static __thread struct trace_rec tr;

void trace_kvm_nested_ctx_load(unsigned int vcpu_id, u64 gpa, int outcome)
{
	if (shim_locks_held)
		fv_violation("tracepoint with the lock held");
	tr.load = outcome;
	tr.load_gpa = gpa;
	tr.loads[outcome]++;
}

void trace_kvm_nested_ctx_lookup(unsigned int vcpu_id, u64 gpa, int outcome)
{
	if (shim_locks_held)
		fv_violation("tracepoint with the lock held");
	tr.lookup = outcome;
	tr.lookup_gpa = gpa;
	tr.lookups[outcome]++;
}

void trace_kvm_nested_ctx_put(unsigned int vcpu_id, u64 gpa, int outcome)
{
	tr.put = outcome;
	tr.put_gpa = gpa;
	tr.puts[outcome]++;
}

void trace_kvm_nested_ctx_recycle(unsigned int vcpu_id, u64 old_gpa,
				  u64 new_gpa)
{
	tr.recycle_old = old_gpa;
	tr.recycle_new = new_gpa;
	tr.recycles++;
}
#endif

/* --- fake VMs ----------------------------------------------------------- */

struct vm {
	struct kvm kvm;
	int nr_vcpus;
	struct kvm_vcpu **vcpu;
};

/* Set kvm.nested_context_ratio through its parameter ops, as sysfs does. */
static int set_ratio_param(const char *val)
{
	return shim_param_nested_context_ratio.ops->set(val,
					&shim_param_nested_context_ratio);
}

static inline unsigned int get_ratio_param(void)
{
	char buf[32];

	shim_param_nested_context_ratio.ops->get(buf,
					&shim_param_nested_context_ratio);
	return (unsigned int)strtoul(buf, NULL, 10);
}

/* A VM with @online of @max vCPUs online, created with @ratio. */
static inline struct vm *vm_create(unsigned int ratio, int online, int max)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	char buf[16];
	int i;

	if (!vm)
		abort();
	snprintf(buf, sizeof(buf), "%u", ratio);
	if (set_ratio_param(buf))
		abort();
	vm->kvm.max_vcpus = max;
	vm->nr_vcpus = max;
	vm->vcpu = calloc(max, sizeof(*vm->vcpu));
	for (i = 0; i < max; i++) {
		vm->vcpu[i] = calloc(1, sizeof(struct kvm_vcpu));
		vm->vcpu[i]->kvm = &vm->kvm;
		vm->vcpu[i]->vcpu_id = i;
	}
	atomic_set(&vm->kvm.online_vcpus, online);
	if (kvm_nested_ctx_table_init(&vm->kvm))
		abort();
	return vm;
}

/* As kvm_arch_destroy_vm(): vCPUs first (freed), then the table. */
static inline void vm_destroy(struct vm *vm)
{
	int i;

	for (i = 0; i < vm->nr_vcpus; i++)
		free(vm->vcpu[i]);
	atomic_set(&vm->kvm.online_vcpus, 0);
	kvm_nested_ctx_table_destroy(&vm->kvm);
	free(vm->vcpu);
	free(vm);
}

static inline struct kvm_nested_ctx_table *vm_table(struct vm *vm)
{
	return vm->kvm.arch.nested_ctx_table;
}

/* --- runner ------------------------------------------------------------- */

static int tests_passed, tests_failed;
static int cur_failed;
static const char *cur_test;
static jmp_buf test_jmp;

static inline void
check_failed(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "  FAIL %s: %s:%d: ", cur_test, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed = 1;
	longjmp(test_jmp, 1);
}

/*
 * Checks end the test on failure: check_failed() jumps back to run_test(),
 * so the macros hold no flow control.
 */
#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			check_failed(__FILE__, __LINE__, "%s", #cond);	\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long __a = (long long)(a), __b = (long long)(b);	\
		if (__a != __b)						\
			check_failed(__FILE__, __LINE__,		\
				     "%s == %s: %lld != %lld",		\
				     #a, #b, __a, __b);			\
	} while (0)

static inline void run_test(const char *name, void (*fn)(void))
{
	cur_test = name;
	cur_failed = 0;
	fv_reset();
	if (!setjmp(test_jmp))
		fn();
	if (!cur_failed && fv.violations) {
		fprintf(stderr, "  FAIL %s: %ld vendor hook contract violations\n",
			name, fv.violations);
		cur_failed = 1;
	}
	if (!cur_failed && shim_alloc_violations) {
		fprintf(stderr, "  FAIL %s: allocation under a lock or unaccounted\n",
			name);
		cur_failed = 1;
	}
	if (cur_failed) {
		tests_failed++;
		printf("not ok %s\n", name);
	} else {
		tests_passed++;
		printf("ok %s\n", name);
	}
	fflush(stdout);
}

static inline int report(const char *prog)
{
	printf("%s: %d passed, %d failed\n", prog, tests_passed, tests_failed);
	/* Before LeakSanitizer's exit-time check, which may _exit(). */
	fflush(stdout);
	return tests_failed ? 1 : 0;
}

/* --- a small, seedable PRNG (xorshift64*) -------------------------------- */

static inline u64 rng_next(u64 *s)
{
	u64 x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static inline u64 rng_below(u64 *s, u64 n)
{
	return (rng_next(s) >> 11) % n;
}

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#endif /* KVM_NESTED_HARNESS_H */
