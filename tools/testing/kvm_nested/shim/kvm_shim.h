/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The little of the kernel and of KVM that arch/x86/kvm/nested.c uses, for
 * compiling the real nested.c in userspace.  Every <linux/...> header that
 * nested.c includes resolves to a stub that includes this file.
 *
 * Knobs (compile-time):
 *   SHIM_TRACE_NOP        tracepoints compile to nothing (benchmarks)
 *   SHIM_FIXED_HASH_BITS  pin the hash at 1 << N buckets (a reproduction of
 *                         a fixed-size table, for the benchmark; checked at
 *                         run time by bench256.c)
 * Knobs (run time, fault injection): shim_fail_kvcalloc, see below.
 */
#ifndef KVM_NESTED_SHIM_H
#define KVM_NESTED_SHIM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef u64 gpa_t;
typedef unsigned int gfp_t;

#define KBUILD_MODNAME "kvm"
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define min(a, b)	((a) < (b) ? (a) : (b))
#define max(a, b)	((a) > (b) ? (a) : (b))
#define min_t(t, a, b)	((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b)	((t)(a) > (t)(b) ? (t)(a) : (t)(b))
#define EXPORT_SYMBOL_GPL(sym)
#define __maybe_unused	__attribute__((__unused__))
#define MODULE_PARM_DESC(name, desc)

/* --- module parameters ---------------------------------------------- */

struct kernel_param;
struct kernel_param_ops {
	int (*set)(const char *val, const struct kernel_param *kp);
	int (*get)(char *buf, const struct kernel_param *kp);
};

struct kernel_param {
	const char *name;
	const struct kernel_param_ops *ops;
	void *arg;
};

/* The harness reaches the parameter as shim_param_<name>. */
#define module_param_cb(_name, _ops, _arg, _perm)			\
	static const struct kernel_param shim_param_##_name		\
		__maybe_unused =					\
		{ .name = #_name, .ops = (_ops), .arg = (_arg) }

static inline int param_set_uint_minmax(const char *val,
					const struct kernel_param *kp,
					unsigned int lo, unsigned int hi)
{
	unsigned long v;
	char *end;

	if (!val || !*val || *val == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(val, &end, 0);
	if (errno || (*end && *end != '\n') || v < lo || v > hi)
		return -EINVAL;
	*(unsigned int *)kp->arg = (unsigned int)v;
	return 0;
}

static inline int param_get_uint(char *buf, const struct kernel_param *kp)
{
	return sprintf(buf, "%u\n", *(unsigned int *)kp->arg);
}

/* --- atomics, locks ---------------------------------------------------- */

typedef struct {
	int counter;
} atomic_t;

static inline int atomic_read(const atomic_t *a)
{
	return __atomic_load_n(&a->counter, __ATOMIC_RELAXED);
}

static inline void atomic_set(atomic_t *a, int v)
{
	__atomic_store_n(&a->counter, v, __ATOMIC_RELAXED);
}

typedef struct {
	int locked;
} spinlock_t;

/* Spinlocks this thread holds: vendor hooks and allocations assert 0. */
extern __thread int shim_locks_held;

static inline void spin_lock_init(spinlock_t *l)
{
	l->locked = 0;
}

void shim_spin_wait(spinlock_t *l);

static inline void spin_lock(spinlock_t *l)
{
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		shim_spin_wait(l);
	shim_locks_held++;
}

static inline void spin_unlock(spinlock_t *l)
{
	shim_locks_held--;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/* Sleeping with a spinlock held is a bug: count it (see kvcalloc below). */
extern int shim_alloc_violations;
#define might_sleep()							\
	do {								\
		if (shim_locks_held)					\
			__atomic_fetch_add(&shim_alloc_violations, 1,	\
					   __ATOMIC_RELAXED);		\
	} while (0)

#include <pthread.h>

struct mutex {
	pthread_mutex_t m;
};

/* Mutexes sleep: not under a spinlock. */
extern int shim_alloc_violations;
static inline void mutex_init(struct mutex *m)
{
	pthread_mutex_init(&m->m, NULL);
}

static inline void mutex_destroy(struct mutex *m)
{
	pthread_mutex_destroy(&m->m);
}

static inline void mutex_lock(struct mutex *m)
{
	if (shim_locks_held)
		__atomic_fetch_add(&shim_alloc_violations, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&m->m);
}

static inline void mutex_unlock(struct mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

/* --- lists ------------------------------------------------------------- */

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_head {
	struct hlist_node *first;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

static inline void INIT_LIST_HEAD(struct list_head *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del_init(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	INIT_LIST_HEAD(n);
}

#define list_entry(p, type, member) container_of(p, type, member)
#define list_first_entry_or_null(h, type, member)			\
	(list_empty(h) ? NULL : list_entry((h)->next, type, member))
#define list_for_each_entry(pos, h, member)				\
	for (pos = list_entry((h)->next, __typeof__(*pos), member);	\
	     &pos->member != (h);					\
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))

static inline bool hlist_unhashed(const struct hlist_node *n)
{
	return !n->pprev;
}

static inline void hlist_add_head(struct hlist_node *n, struct hlist_head *h)
{
	n->next = h->first;
	if (h->first)
		h->first->pprev = &n->next;
	h->first = n;
	n->pprev = &h->first;
}

static inline void hlist_del(struct hlist_node *n)
{
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	/* Poison, as the kernel does, so that a stale use crashes. */
	n->next = (struct hlist_node *)0x100;
	n->pprev = (struct hlist_node **)0x122;
}

static inline void hlist_del_init(struct hlist_node *n)
{
	if (!hlist_unhashed(n)) {
		*n->pprev = n->next;
		if (n->next)
			n->next->pprev = n->pprev;
	}
	n->next = NULL;
	n->pprev = NULL;
}

#define hlist_entry_safe(p, type, member)				\
	({ __typeof__(p) ____p = (p); ____p ? container_of(____p, type, member) : NULL; })
#define hlist_for_each_entry(pos, h, member)				\
	for (pos = hlist_entry_safe((h)->first, __typeof__(*pos), member); \
	     pos;							\
	     pos = hlist_entry_safe(pos->member.next, __typeof__(*pos), member))
#define hlist_for_each_entry_safe(pos, n, h, member)			\
	for (pos = hlist_entry_safe((h)->first, __typeof__(*pos), member); \
	     pos && ({ n = pos->member.next; 1; });			\
	     pos = hlist_entry_safe(n, __typeof__(*pos), member))

/* --- random, log2 ------------------------------------------------------ */

/* Deterministic (seeded by the harness), so that runs can be replayed. */
u64 get_random_u64(void);

#ifdef SHIM_FIXED_HASH_BITS
/* nested.c asks for order_base_2(capacity) + 2 bits; bench256.c checks. */
#define order_base_2(n)	((void)(n), SHIM_FIXED_HASH_BITS - 2)
#else
static inline unsigned int order_base_2(unsigned long n)
{
	return n > 1 ? 64 - __builtin_clzl(n - 1) : 0;
}
#endif

/* --- allocation -------------------------------------------------------- */

#define __GFP_ACCOUNT	0x1u
#define GFP_KERNEL	0x2u
#define GFP_KERNEL_ACCOUNT (GFP_KERNEL | __GFP_ACCOUNT)

/* Fault injection: the next N kvcalloc() calls fail. */
extern int shim_fail_kvcalloc;
/* kvcalloc() calls, all threads. */
extern long shim_kvcalloc_calls;
/* kvcalloc()/kzalloc() calls made with a spinlock held, or unaccounted. */
extern int shim_alloc_violations;

static inline void *shim_alloc_check(gfp_t gfp)
{
	if (shim_locks_held || !(gfp & __GFP_ACCOUNT))
		__atomic_fetch_add(&shim_alloc_violations, 1, __ATOMIC_RELAXED);
	return NULL;
}

static inline void *kvcalloc(size_t n, size_t size, gfp_t gfp)
{
	shim_alloc_check(gfp);
	__atomic_fetch_add(&shim_kvcalloc_calls, 1, __ATOMIC_RELAXED);
	if (__atomic_load_n(&shim_fail_kvcalloc, __ATOMIC_RELAXED) > 0 &&
	    __atomic_fetch_sub(&shim_fail_kvcalloc, 1, __ATOMIC_RELAXED) > 0)
		return NULL;
	return calloc(n, size);
}

static inline void *kzalloc(size_t size, gfp_t gfp)
{
	shim_alloc_check(gfp);
	return calloc(1, size);
}

static inline void kvfree(const void *p)
{
	if (shim_locks_held)
		__atomic_fetch_add(&shim_alloc_violations, 1, __ATOMIC_RELAXED);
	free((void *)p);
}

static inline void kfree(const void *p)
{
	free((void *)p);
}

/* --- KVM --------------------------------------------------------------- */

struct kvm_nested_ctx_table;
struct kvm_nested_context;
struct kvm_vcpu;

struct kvm_vm_stat {
	u64 nested_context_reuse;
	u64 nested_context_recycle;
	u64 nested_context_count;
	u64 nested_context_busy;
};

struct kvm_arch {
	struct kvm_nested_ctx_table *nested_ctx_table;
};

struct kvm {
	struct kvm_arch arch;
	struct kvm_vm_stat stat;
	atomic_t online_vcpus;
	int max_vcpus;
};

struct kvm_vcpu {
	struct kvm *kvm;
	int vcpu_id;
};

struct kvm_x86_nested_ops {
	struct kvm_nested_context *(*alloc_context)(struct kvm_vcpu *vcpu);
	void (*free_context)(struct kvm_nested_context *ctx);
	void (*reset_context)(struct kvm_nested_context *ctx);
};

struct kvm_x86_ops {
	const struct kvm_x86_nested_ops *nested_ops;
};

extern struct kvm_x86_ops kvm_x86_ops;

/* --- tracepoints ------------------------------------------------------- */

#ifdef SHIM_TRACE_NOP
static inline void trace_kvm_nested_ctx_load(unsigned int v, u64 g, int o) {}
static inline void trace_kvm_nested_ctx_lookup(unsigned int v, u64 g, int o) {}
static inline void trace_kvm_nested_ctx_put(unsigned int v, u64 g, int o) {}
static inline void trace_kvm_nested_ctx_recycle(unsigned int v, u64 o, u64 n) {}
#else
void trace_kvm_nested_ctx_load(unsigned int vcpu_id, u64 gpa, int outcome);
void trace_kvm_nested_ctx_lookup(unsigned int vcpu_id, u64 gpa, int outcome);
void trace_kvm_nested_ctx_put(unsigned int vcpu_id, u64 gpa, int outcome);
void trace_kvm_nested_ctx_recycle(unsigned int vcpu_id, u64 old_gpa,
				  u64 new_gpa);
#endif

#endif /* KVM_NESTED_SHIM_H */
