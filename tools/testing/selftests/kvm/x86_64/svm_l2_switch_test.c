// SPDX-License-Identifier: GPL-2.0-only
/*
 * svm_l2_switch_test
 *
 * Nested SVM: L1 vCPUs that multiplex many L2s, each with its own vmcb12,
 * stack and ASID, over the per-VM nested context cache.
 *
 * The host runs the L1 vCPUs one at a time from this thread: it writes a
 * batch of L2 indices to the vCPU's mailbox, L1 VMRUNs them in that order
 * and records what every #VMEXIT left in vmcb12, and the host checks it.
 * Every L2 keeps an id and a counter on its own stack and exits with
 * VMMCALL, RAX = id << 32 | counter; so a switch that resumed the wrong L2,
 * or lost its RIP, RSP or stack, is caught on the next exit.
 *
 * Each L2 also has its own GDTR limit in its vmcb12, which the L2 reports
 * with SGDT before each VMMCALL and the #VMEXIT writes back to vmcb12: both
 * must be the value L1 last gave that L2.  L1 uses the VMCB clean bits as
 * the APM (15.15) allows: it marks SEG, DT and DR clean when it runs a
 * vmcb12 again on the same vCPU after a successful VMRUN, none otherwise,
 * and changes the limit at every third run of an L2, clearing DT (not in
 * bench mode or with -k, for the benchmarks' workloads).
 *
 * Modes (-m):
 *   sched    each L1 vCPU runs its own L2s in turn, below, at and above the
 *            cache's capacity (nested_context_ratio * vCPUs);
 *   migrate  the L2s move between L1 vCPUs, with nothing in between (KVM
 *            as L1 does that), then again with EFER.SVME cleared after
 *            each batch; a vmcb12's context follows it to the next vCPU;
 *   shared   two L1 vCPUs VMRUN the same vmcb12 alternately (hostile);
 *   many     thousands of distinct vmcb12s (hostile, capacity bound);
 *   msrpm    L1's MSR permission map, and its address, change between
 *            VMRUNs; L2's RDMSRs must exit to L1 exactly per the new map;
 *   memslot  the memslot of an MSRPM is deleted, re-added, moved and made
 *            read-only while cached (hostile);
 *   unclean  L1 changes an L2's GDTR limit while it marks DT clean, which
 *            the APM leaves undefined: the L2 must run with the old or
 *            the new limit, the one the design says (below);
 *   recycle  a context recycled for another vmcb12, which L1 then runs
 *            again marked clean: nothing of the old L2 may show;
 *   all      all of the above (default);
 *   bench    a workload for scripts/bench, not a test: L2 switches on one
 *            L1 vCPU, timed, without reading the stats;
 *   inval    a workload for scripts/bench, not a test: the time of an
 *            mmu_notifier invalidation of guest RAM that backs no cached
 *            page, with the table full of detached contexts.
 *
 * After every mode the VM stats nested_context_reuse, nested_context_recycle
 * and nested_context_busy must equal those of a model of the cache that the
 * host runs on the same sequence of VMRUNs, and closed forms where there is
 * one, and nested_context_count the contexts of the model.  With
 * nested_context_ratio=0 all stay 0.  A KVM without the cache has no such
 * stats, and the test fails, unless -F asks for the functional checks only.
 *
 * -U puts every page the cache maps in unmanaged memory (RAM hidden from
 * the host kernel with mem=, mmapped from /dev/mem: a VM_PFNMAP mapping
 * without struct pages): the vmcb12s, the MSRPMs, the host save areas and
 * L1's own VMSAVE areas; in memslot mode the MSRPM's memslot too, re-created
 * on other pages each time.  No mmu_notifier fires for that memory: only
 * the memslot generation tells the cache.  Without hidden RAM or /dev/mem
 * the test SKIPs.
 *
 * Except in bench, L1 VMSAVEs its own state to a page of its own before
 * each VMRUN and VMLOADs it after, as KVM does as L1: that page is never
 * VMRUN and must not get a context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "nested_context.h"

#define MAX_VCPUS		8
#define MAX_L2_PER_VCPU		16
#define MAX_L2			4096
#define BATCH_MAX		256
#define L2_STACK_SIZE		512
#define NR_MSRPM		3

#define TEST_MEM_SLOT		1
#define TEST_MEM_GPA		0x10000000ULL

#define MSRPM_PAGES		2
#define TEST_MSR0		MSR_IA32_SYSENTER_CS	/* MSRPM range 0 */
#define TEST_MSR1		MSR_KERNEL_GS_BASE	/* MSRPM range 1 */

/* VMCB clean bits (APM 15.15.3), those KVM honours for vmcb12. */
#define VMCB_CLEAN_DR		BIT(6)
#define VMCB_CLEAN_DT		BIT(7)
#define VMCB_CLEAN_SEG		BIT(8)

#define VMMCALL_LEN		3
#define RDMSR_LEN		2

enum {
	OP_SETUP = 1,
	OP_RUN,
	OP_SVME_OFF,
	OP_SVME_ON,
	OP_DONE,
};

struct l2_desc {
	uint64_t vmcb;		/* gva */
	uint64_t vmcb_gpa;
	uint64_t stack_top;	/* gva */
	uint64_t msrpm_gpa;
	uint64_t id;
	uint64_t gdt_limit;	/* the GDTR limit L1 last gave this L2 */
	uint64_t last_mb;	/* mailbox of the vCPU that last ran it, or 0 */
	uint64_t runs;		/* L1's VMRUNs of it */
};

struct l2_result {
	uint64_t exit_code;
	uint64_t rax;
	uint64_t rsp;
	uint64_t msr_exits;
	uint64_t want_limit;	/* l2_desc.gdt_limit at the run */
	uint64_t l2_limit;	/* what the L2's SGDT said */
	uint64_t exit_limit;	/* vmcb12's GDTR limit after the #VMEXIT */
	uint64_t unclean_limit;	/* the limit L1 wrote with DT clean, or 0 */
};

struct mailbox {
	uint32_t op;
	uint32_t n;
	uint64_t area_gpa;	/* L1's own VMSAVE/VMLOAD area, 0 for none */
	uint64_t keep_limit;	/* L1 does not change the L2s' GDTR limits */
	uint64_t unclean;	/* 1 + index in list of a run with unclean DT */
	uint32_t list[BATCH_MAX];
	struct l2_result res[BATCH_MAX];
};

/*
 * L2: keep an id (from RAX at the first VMRUN) and a counter on the own
 * stack, read two MSRs, store SGDT below the stack pointer (stack_top - 32)
 * and exit with RAX = id << 32 | counter.
 */
static void __attribute__((naked)) l2_entry(void)
{
	asm volatile("push %rax\n\t"
		     "push $0\n"
		     "1:\n\t"
		     "mov $" __stringify(TEST_MSR0) ", %ecx\n\t"
		     "rdmsr\n\t"
		     "mov $" __stringify(TEST_MSR1) ", %ecx\n\t"
		     "rdmsr\n\t"
		     "incq (%rsp)\n\t"
		     "mov 8(%rsp), %rax\n\t"
		     "shl $32, %rax\n\t"
		     "add (%rsp), %rax\n\t"
		     "sgdt -16(%rsp)\n\t"
		     "vmmcall\n\t"
		     "jmp 1b\n\t");
}

static void l1_vmrun(uint64_t vmcb_gpa)
{
	/* L2 clobbers RCX and RDX; RAX and RSP come back from the host save. */
	asm volatile("vmload %%rax\n\t"
		     "vmrun %%rax\n\t"
		     "vmsave %%rax\n\t"
		     : : "a" (vmcb_gpa)
		     : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
		       "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

/*
 * A new GDTR limit for L2 @id: above the GDT's real size (a page), unique
 * among the L2s, and changing with each of the L2's runs.
 */
static uint64_t l2_gdt_limit(uint64_t id, uint64_t runs)
{
	return 0x1000 + id * 8 + (runs & 7);
}

static void l1_setup_l2(struct l2_desc *l2, uint64_t hsave_gpa)
{
	struct svm_test_data svm = {
		.vmcb = (struct vmcb *)l2->vmcb,
		.vmcb_gpa = l2->vmcb_gpa,
		.save_area_gpa = hsave_gpa,
		.msr_gpa = l2->msrpm_gpa,
	};
	struct vmcb *vmcb = svm.vmcb;

	generic_svm_setup(&svm, l2_entry, (void *)l2->stack_top);
	vmcb->control.asid = l2->id + 1;
	vmcb->control.intercept |= 1ULL << INTERCEPT_MSR_PROT;
	vmcb->save.rax = l2->id;
	l2->last_mb = 0;
	l2->runs = 0;
	l2->gdt_limit = l2_gdt_limit(l2->id, 0);
	vmcb->save.gdtr.limit = l2->gdt_limit;
}

/*
 * The clean bits of a conforming L1: nothing is clean at the first VMRUN
 * of a vmcb12 on this vCPU, or after a VMRUN that failed; then SEG, DT and
 * DR, less DT when L1 changes the GDTR limit (every third run, unless the
 * host asks to keep it: the bench workload).
 */
static void l1_prepare_run(struct l2_desc *l2, struct mailbox *mb)
{
	struct vmcb *vmcb = (struct vmcb *)l2->vmcb;

	if (l2->last_mb == (uint64_t)mb)
		vmcb->control.clean = VMCB_CLEAN_SEG | VMCB_CLEAN_DT |
				      VMCB_CLEAN_DR;
	else
		vmcb->control.clean = 0;
	l2->last_mb = (uint64_t)mb;

	if (++l2->runs % 3 == 0 && !mb->keep_limit) {
		l2->gdt_limit = l2_gdt_limit(l2->id, l2->runs);
		vmcb->save.gdtr.limit = l2->gdt_limit;
		vmcb->control.clean &= ~VMCB_CLEAN_DT;
	}
}

/*
 * Like KVM as L1, keep L1's own VMLOAD/VMSAVE state in a page of its own
 * around each VMRUN; the page is never VMRUN, so it must get no context.
 */
static void l1_vmsave_area(uint64_t gpa)
{
	if (gpa)
		asm volatile("vmsave %%rax" : : "a" (gpa) : "memory");
}

static void l1_vmload_area(uint64_t gpa)
{
	if (gpa)
		asm volatile("vmload %%rax" : : "a" (gpa) : "memory");
}

static void l1_run_one(struct l2_desc *l2, struct l2_result *res,
		       struct mailbox *mb)
{
	struct vmcb *vmcb = (struct vmcb *)l2->vmcb;
	uint64_t area_gpa = mb->area_gpa;
	uint64_t msr_exits = 0;

	for (;;) {
		l1_prepare_run(l2, mb);
		/*
		 * Not as the APM says: a new limit, with SEG, DT and DR
		 * clean.  The L2 runs with whichever limit KVM takes, which
		 * the #VMEXIT writes back; L1 takes that one as its own.
		 */
		if (mb->unclean && res == &mb->res[mb->unclean - 1] &&
		    !msr_exits) {
			vmcb->control.clean = VMCB_CLEAN_SEG | VMCB_CLEAN_DT |
					      VMCB_CLEAN_DR;
			vmcb->save.gdtr.limit = l2->gdt_limit ^ 4;
			res->unclean_limit = vmcb->save.gdtr.limit;
		}
		l1_vmsave_area(area_gpa);
		l1_vmrun(l2->vmcb_gpa);
		l1_vmload_area(area_gpa);
		if (vmcb->control.exit_code != SVM_EXIT_MSR || msr_exits >= 2)
			break;
		/* An intercepted RDMSR: emulate it as reading 0. */
		msr_exits++;
		vmcb->save.rip += RDMSR_LEN;
		vmcb->save.rax = 0;
	}

	res->exit_code = vmcb->control.exit_code;
	res->rax = vmcb->save.rax;
	res->rsp = vmcb->save.rsp;
	res->msr_exits = msr_exits;
	res->want_limit = l2->gdt_limit;
	res->l2_limit = *(uint16_t *)(l2->stack_top - 32);
	res->exit_limit = vmcb->save.gdtr.limit;
	if (res->unclean_limit)
		l2->gdt_limit = res->exit_limit;
	if (res->exit_code == SVM_EXIT_VMMCALL)
		vmcb->save.rip += VMMCALL_LEN;
	else if (res->exit_code == SVM_EXIT_ERR)
		l2->last_mb = 0;
}

static void l1_guest_code(struct mailbox *mb, struct l2_desc *l2s,
			  uint64_t hsave_gpa)
{
	uint32_t i;

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, hsave_gpa);

	for (;;) {
		GUEST_SYNC(0);

		switch (mb->op) {
		case OP_SETUP:
			for (i = 0; i < mb->n; i++)
				l1_setup_l2(&l2s[mb->list[i]], hsave_gpa);
			break;
		case OP_RUN:
			for (i = 0; i < mb->n; i++)
				l1_run_one(&l2s[mb->list[i]], &mb->res[i], mb);
			break;
		case OP_SVME_OFF:
			wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
			break;
		case OP_SVME_ON:
			wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
			wrmsr(MSR_VM_HSAVE_PA, hsave_gpa);
			break;
		case OP_DONE:
			GUEST_DONE();
		}
	}
}

/*
 * A model of the nested context table, run on the same VMRUNs as KVM:
 * contexts keyed by vmcb12 page, attached to at most one vCPU, detached
 * ones recycled least recently detached first, at most @cap of them.
 * A vCPU holds a context only in guest mode: every VMRUN is a load, and
 * its #VMEXIT puts the context.  A VMRUN of a vmcb12 whose context another
 * vCPU holds runs uncached and counts in nested_context_busy; the host runs
 * one vCPU at a time, so that never happens here.  VMLOAD and VMSAVE hold
 * a detached context for the instruction only, which moves it to the LRU
 * tail; L1 here VMLOADs exactly the vmcb12 it VMRUNs next, which the load
 * moves there anyway.  L1's own VMLOAD/VMSAVE area is never VMRUN and gets
 * no context: it changes nothing.
 */
struct model_ctx {
	uint64_t gpa;
	int owner;		/* vCPU index, -1 if detached */
	uint64_t detached_at;
};

struct model {
	unsigned int cap;
	unsigned int nr;
	struct model_ctx *ctx;
	int cur[MAX_VCPUS];	/* index in ctx[], -1 if none */
	uint64_t seq;
	uint64_t reuse, recycle, busy, loads;
};

static void model_init(struct model *m, unsigned int cap)
{
	int i;

	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->ctx = calloc(cap ? cap : 1, sizeof(*m->ctx));
	TEST_ASSERT(m->ctx, "calloc");
	for (i = 0; i < MAX_VCPUS; i++)
		m->cur[i] = -1;
}

static void model_put(struct model *m, int v)
{
	if (m->cur[v] < 0)
		return;
	m->ctx[m->cur[v]].owner = -1;
	m->ctx[m->cur[v]].detached_at = ++m->seq;
	m->cur[v] = -1;
}

/* A VMRUN that passes its checks, up to its #VMEXIT, which puts. */
static void model_vmrun_load(struct model *m, int v, uint64_t gpa)
{
	struct model_ctx *lru = NULL;
	unsigned int i;

	model_put(m, v);
	if (!m->cap)
		return;
	m->loads++;

	for (i = 0; i < m->nr; i++) {
		if (m->ctx[i].gpa != gpa)
			continue;
		if (m->ctx[i].owner >= 0) {
			m->busy++;	/* held by another vCPU */
			return;
		}
		m->ctx[i].owner = v;
		m->cur[v] = i;
		m->reuse++;
		return;
	}

	if (m->nr < m->cap) {
		i = m->nr++;
		m->ctx[i].gpa = gpa;
		m->ctx[i].owner = v;
		m->cur[v] = i;
		return;
	}

	for (i = 0; i < m->nr; i++)
		if (m->ctx[i].owner < 0 &&
		    (!lru || m->ctx[i].detached_at < lru->detached_at))
			lru = &m->ctx[i];
	if (!lru)
		return;			/* every context attached */
	lru->gpa = gpa;
	lru->owner = v;
	m->cur[v] = lru - m->ctx;
	m->recycle++;
}

static void model_vmrun(struct model *m, int v, uint64_t gpa)
{
	model_vmrun_load(m, v, gpa);
	model_put(m, v);
}

/*
 * -U: the cached pages in unmanaged memory; -A: its host physical address.
 * -F: functional checks only, no stats (stock KVM passes them too).
 */
static bool unmanaged, no_stats, keep_limit;
static uint64_t unmanaged_phys;

struct test {
	struct kvm_vm *vm;
	int nr_vcpus;
	struct kvm_vcpu *vcpus[MAX_VCPUS];
	struct mailbox *mb[MAX_VCPUS];
	struct l2_desc *l2s;
	int nr_l2;
	uint64_t runs[MAX_L2];
	uint64_t msrpm_gpa[NR_MSRPM];
	uint8_t *msrpm[NR_MSRPM];
	struct model model;
	int ratio;
	struct nested_ctx_unmanaged um;
	uint8_t *slot_hva;	/* memslot mode: the MSRPM memslot's backing */
	int slot_next;		/* -U: which of its two backings is next */
};

/* The host's view of an L2's vmcb12. */
static struct vmcb *l2_vmcb(struct test *t, int l2)
{
	if (unmanaged)
		return nested_ctx_unmanaged_hva(&t->um, t->l2s[l2].vmcb_gpa);
	return addr_gva2hva(t->vm, t->l2s[l2].vmcb);
}

static void run_l1(struct test *t, int v, uint32_t op, uint32_t n)
{
	struct kvm_vcpu *vcpu = t->vcpus[v];
	struct ucall uc;

	t->mb[v]->op = op;
	t->mb[v]->n = n;
	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);

	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
		break;
	case UCALL_DONE:
		TEST_ASSERT(op == OP_DONE, "L1 done early");
		break;
	default:
		TEST_FAIL("Unknown ucall %lu", uc.cmd);
	}
}

static struct test *test_create(int nr_vcpus, int nr_l2)
{
	struct test *t = calloc(1, sizeof(*t));
	vm_vaddr_t gva, l2s_gva, stack = 0;
	uint64_t extra_pages;
	int i, v;

	TEST_ASSERT(t, "calloc");
	TEST_ASSERT(nr_vcpus >= 1 && nr_vcpus <= MAX_VCPUS, "bad vCPU count");
	TEST_ASSERT(nr_l2 >= 1 && nr_l2 <= MAX_L2, "bad L2 count");
	t->nr_vcpus = nr_vcpus;
	t->nr_l2 = nr_l2;

	extra_pages = nr_l2 + nr_l2 * L2_STACK_SIZE / PAGE_SIZE +
		      nr_l2 * sizeof(struct l2_desc) / PAGE_SIZE + 1024;
	t->vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, nr_vcpus, extra_pages,
				       l1_guest_code, t->vcpus);
	/* Memslot 0 has no room for thousands of vmcb12s: add one. */
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, TEST_MEM_GPA,
				    TEST_MEM_SLOT, extra_pages, 0);
	t->vm->memslots[MEM_REGION_TEST_DATA] = TEST_MEM_SLOT;

	/*
	 * -U: every page the cache maps (vmcb12s, MSRPMs, the host save and
	 * VMSAVE areas) in unmanaged memory, at GVA == GPA.
	 */
	if (unmanaged)
		nested_ctx_unmanaged_init(t->vm, &t->um, unmanaged_phys,
					  nr_l2 + NR_MSRPM * MSRPM_PAGES +
					  2 * nr_vcpus, 2 * MSRPM_PAGES);

	for (i = 0; i < NR_MSRPM; i++) {
		if (unmanaged) {
			t->msrpm_gpa[i] = nested_ctx_unmanaged_alloc(&t->um,
								     MSRPM_PAGES);
			t->msrpm[i] = nested_ctx_unmanaged_hva(&t->um,
							       t->msrpm_gpa[i]);
		} else {
			gva = vm_vaddr_alloc(t->vm, MSRPM_PAGES * PAGE_SIZE,
					     KVM_UTIL_MIN_VADDR);
			t->msrpm[i] = addr_gva2hva(t->vm, gva);
			t->msrpm_gpa[i] = addr_gva2gpa(t->vm, gva);
		}
		memset(t->msrpm[i], 0, MSRPM_PAGES * PAGE_SIZE);
	}

	l2s_gva = vm_vaddr_alloc(t->vm, nr_l2 * sizeof(struct l2_desc),
				 KVM_UTIL_MIN_VADDR);
	t->l2s = addr_gva2hva(t->vm, l2s_gva);

	for (i = 0; i < nr_l2; i++) {
		struct l2_desc *l2 = &t->l2s[i];

		if (unmanaged) {
			l2->vmcb = nested_ctx_unmanaged_alloc(&t->um, 1);
			l2->vmcb_gpa = l2->vmcb;
		} else {
			l2->vmcb = vm_vaddr_alloc_page(t->vm);
			l2->vmcb_gpa = addr_gva2gpa(t->vm, l2->vmcb);
		}
		if (i % (PAGE_SIZE / L2_STACK_SIZE) == 0)
			stack = vm_vaddr_alloc_page(t->vm);
		l2->stack_top = stack +
			(i % (PAGE_SIZE / L2_STACK_SIZE) + 1) * L2_STACK_SIZE;
		/* All L2s share MSRPM 0, intercepting nothing, but in msrpm. */
		l2->msrpm_gpa = t->msrpm_gpa[0];
		l2->id = i;
	}

	for (v = 0; v < nr_vcpus; v++) {
		uint64_t hsave_gpa, area_gpa;

		if (unmanaged) {
			hsave_gpa = nested_ctx_unmanaged_alloc(&t->um, 1);
			area_gpa = nested_ctx_unmanaged_alloc(&t->um, 1);
		} else {
			hsave_gpa = addr_gva2gpa(t->vm,
						 vm_vaddr_alloc_page(t->vm));
			area_gpa = addr_gva2gpa(t->vm,
						vm_vaddr_alloc_page(t->vm));
		}
		gva = vm_vaddr_alloc(t->vm, sizeof(struct mailbox),
				     KVM_UTIL_MIN_VADDR);
		t->mb[v] = addr_gva2hva(t->vm, gva);
		t->mb[v]->area_gpa = area_gpa;
		t->mb[v]->keep_limit = keep_limit;
		vcpu_args_set(t->vcpus[v], 3, gva, l2s_gva, hsave_gpa);
		/* Up to the first GUEST_SYNC. */
		run_l1(t, v, 0, 0);
	}

	/* vCPU 0 sets up every vmcb12. */
	for (i = 0; i < nr_l2; i += BATCH_MAX) {
		int n = nr_l2 - i < BATCH_MAX ? nr_l2 - i : BATCH_MAX;

		for (v = 0; v < n; v++)
			t->mb[0]->list[v] = i + v;
		run_l1(t, 0, OP_SETUP, n);
	}

	t->ratio = nested_ctx_ratio();
	model_init(&t->model, t->ratio > 0 ? t->ratio * nr_vcpus : 0);
	return t;
}

static void test_destroy(struct test *t)
{
	int v;

	for (v = 0; v < t->nr_vcpus; v++)
		run_l1(t, v, OP_DONE, 0);
	kvm_vm_free(t->vm);
	if (unmanaged)
		nested_ctx_unmanaged_free(&t->um);
	free(t->model.ctx);
	free(t);
}

/*
 * VMRUN the L2s @list[0..n) in turn on L1 vCPU @v; @msr_exits[i] is how
 * many of L2's two RDMSRs L1's MSRPM intercepts, NULL for none.  Check
 * every #VMEXIT.
 */
static void __run_batch(struct test *t, int v, const uint32_t *list, int n,
			const uint64_t *msr_exits, uint32_t want_exit)
{
	struct mailbox *mb = t->mb[v];
	uint64_t j;
	int i;

	TEST_ASSERT(n > 0 && n <= BATCH_MAX, "bad batch");
	memcpy(mb->list, list, n * sizeof(*list));
	memset(mb->res, 0, sizeof(mb->res));
	run_l1(t, v, OP_RUN, n);

	for (i = 0; i < n; i++) {
		struct l2_result *res = &mb->res[i];
		struct l2_desc *l2 = &t->l2s[list[i]];
		uint64_t want = msr_exits ? msr_exits[i] : 0;

		/* A failed VMRUN leaves L2 where it was. */
		if (want_exit == SVM_EXIT_VMMCALL)
			t->runs[list[i]]++;
		TEST_ASSERT(res->exit_code == want_exit,
			    "vCPU %d, L2 %u (run %lu): exit code 0x%lx, want 0x%x",
			    v, list[i], t->runs[list[i]], res->exit_code,
			    want_exit);
		TEST_ASSERT(res->rax == (l2->id << 32 | t->runs[list[i]]),
			    "vCPU %d, L2 %u: RAX 0x%lx, want 0x%lx: wrong L2 or lost state",
			    v, list[i], res->rax, l2->id << 32 | t->runs[list[i]]);
		TEST_ASSERT(res->rsp == l2->stack_top - 16,
			    "vCPU %d, L2 %u: RSP 0x%lx, want 0x%lx",
			    v, list[i], res->rsp, l2->stack_top - 16);
		if (res->exit_code == SVM_EXIT_VMMCALL && !res->unclean_limit) {
			TEST_ASSERT((res->want_limit - l2_gdt_limit(l2->id, 0)) < 8,
				    "vCPU %d, L2 %u: L1's GDTR limit 0x%lx is not its own",
				    v, list[i], res->want_limit);
			TEST_ASSERT(res->l2_limit == res->want_limit,
				    "vCPU %d, L2 %u: SGDT in L2 says limit 0x%lx, vmcb12 has 0x%lx",
				    v, list[i], res->l2_limit, res->want_limit);
			TEST_ASSERT(res->exit_limit == res->want_limit,
				    "vCPU %d, L2 %u: #VMEXIT wrote GDTR limit 0x%lx, L2 ran with 0x%lx",
				    v, list[i], res->exit_limit, res->want_limit);
		}
		TEST_ASSERT(res->msr_exits == want,
			    "vCPU %d, L2 %u: %lu RDMSR exits to L1, MSRPM says %lu",
			    v, list[i], res->msr_exits, want);
		/* L1 VMRUNs again after each RDMSR exit: each is a load. */
		for (j = 0; j <= res->msr_exits; j++)
			model_vmrun(&t->model, v,
				    l2->vmcb_gpa & ~(uint64_t)(PAGE_SIZE - 1));
	}
}

static void run_batch(struct test *t, int v, const uint32_t *list, int n,
		      const uint64_t *msr_exits)
{
	__run_batch(t, v, list, n, msr_exits, SVM_EXIT_VMMCALL);
}

static void svme_off(struct test *t, int v)
{
	run_l1(t, v, OP_SVME_OFF, 0);
	model_put(&t->model, v);
}

static void svme_on(struct test *t, int v)
{
	run_l1(t, v, OP_SVME_ON, 0);
}

static void check_stats(struct test *t, const char *what)
{
	uint64_t reuse, recycle, count, busy;

	if (no_stats)
		return;
	reuse = vm_nested_ctx_stat(t->vm, "nested_context_reuse");
	recycle = vm_nested_ctx_stat(t->vm, "nested_context_recycle");
	count = vm_nested_ctx_stat(t->vm, "nested_context_count");
	busy = vm_nested_ctx_stat(t->vm, "nested_context_busy");

	pr_info("%-28s loads %6lu  reuse %6lu  recycle %6lu  busy %4lu  (capacity %u)\n",
		what, t->model.loads, reuse, recycle, busy, t->model.cap);
	TEST_ASSERT(reuse == t->model.reuse,
		    "%s: nested_context_reuse %lu, want %lu", what, reuse,
		    t->model.reuse);
	TEST_ASSERT(recycle == t->model.recycle,
		    "%s: nested_context_recycle %lu, want %lu", what, recycle,
		    t->model.recycle);
	TEST_ASSERT(busy == t->model.busy,
		    "%s: nested_context_busy %lu, want %lu", what, busy,
		    t->model.busy);
	/* Contexts only for vmcb12s, none for L1's VMLOAD/VMSAVE areas. */
	TEST_ASSERT(count == t->model.nr,
		    "%s: nested_context_count %lu, want %u", what, count,
		    t->model.nr);
	if (t->ratio <= 0)
		TEST_ASSERT(!reuse && !recycle && !busy,
			    "cache off, but stats moved");

	if (vm_has_stat(t->vm, "nested_context_count")) {
		uint64_t count = vm_get_stat(t->vm, "nested_context_count");

		TEST_ASSERT(count == t->model.nr && count <= t->model.cap,
			    "%s: nested_context_count %lu, want %u (capacity %u)",
			    what, count, t->model.nr, t->model.cap);
	}
}

static int nr_vcpus = 2;
static int per_vcpu;		/* 0: below, at and above capacity */
static int rounds = 8;
static int many = 2048;

/* Each vCPU runs its own @c L2s in turn, one round per batch. */
static void test_sched_one(int c)
{
	struct test *t = test_create(nr_vcpus, nr_vcpus * c);
	uint64_t n = nr_vcpus * c, loads, cap;
	uint32_t list[MAX_L2_PER_VCPU];
	char what[64];
	int r, v, i;

	for (r = 0; r < rounds; r++) {
		for (v = 0; v < nr_vcpus; v++) {
			for (i = 0; i < c; i++)
				list[i] = v * c + i;
			run_batch(t, v, list, c, NULL);
		}
	}
	snprintf(what, sizeof(what), "sched %dx%d L2s, %d rounds", nr_vcpus,
		 c, rounds);
	check_stats(t, what);

	/*
	 * Closed forms: every VMRUN loads; below capacity all but the first
	 * of each L2 hit.  Above it, round robin over more L2s than contexts
	 * misses every time: each #VMEXIT detaches, and the least recently
	 * detached context is always the one of the L2 that runs next.
	 */
	cap = t->model.cap;
	loads = n * rounds;
	TEST_ASSERT(!cap || t->model.loads == loads, "model: %lu loads",
		    t->model.loads);
	if (!cap) {
		TEST_ASSERT(!t->model.reuse && !t->model.recycle, "model");
	} else if (n <= cap) {
		TEST_ASSERT(t->model.reuse == loads - n && !t->model.recycle,
			    "closed form (below capacity)");
	} else {
		TEST_ASSERT(!t->model.reuse && t->model.recycle == loads - cap,
			    "closed form (above capacity)");
	}
	test_destroy(t);
}

static void test_sched(void)
{
	int cap_per_vcpu = nested_ctx_ratio() > 0 ? nested_ctx_ratio() : 4;
	int sizes[3] = { cap_per_vcpu - 1, cap_per_vcpu, cap_per_vcpu + 2 };
	int i, done = 0;

	if (per_vcpu) {
		test_sched_one(per_vcpu);
		return;
	}
	/* Below, at and above capacity, as far as 2..16 L2s per vCPU go. */
	for (i = 0; i < 3; i++) {
		if (sizes[i] < 2 || sizes[i] > MAX_L2_PER_VCPU) {
			pr_info("sched: %d L2s per vCPU: not run, see mode many\n",
				sizes[i]);
			continue;
		}
		test_sched_one(sizes[i]);
		done++;
	}
	if (!done)
		test_sched_one(MAX_L2_PER_VCPU);
}

/*
 * The L2s come in nr_vcpus groups; in round r, vCPU v runs group
 * (v + r) % nr_vcpus, so every vmcb12 moves to another vCPU each round.
 * First with nothing in between, as KVM as L1 moves an L2 (its vmcb12 was
 * last run on the vCPU it leaves), then with EFER.SVME cleared after each
 * batch.  Either way every VMRUN but the first of each vmcb12 reuses its
 * context, below capacity.
 */
static void test_migrate_one(bool toggle)
{
	int c = per_vcpu ? per_vcpu : 4;
	struct test *t = test_create(nr_vcpus, nr_vcpus * c);
	uint32_t list[MAX_L2_PER_VCPU];
	int r, v, i, g;

	for (r = 0; r < rounds; r++) {
		for (v = 0; v < nr_vcpus; v++) {
			g = (v + r) % nr_vcpus;
			for (i = 0; i < c; i++)
				list[i] = g * c + i;
			if (toggle)
				svme_on(t, v);
			run_batch(t, v, list, c, NULL);
			if (toggle)
				svme_off(t, v);
		}
	}
	check_stats(t, toggle ? "migrate, EFER.SVME toggled" : "migrate");
	if (t->model.cap >= (unsigned int)(nr_vcpus * c))
		TEST_ASSERT(t->model.reuse == t->model.loads - nr_vcpus * c &&
			    !t->model.busy,
			    "closed form (migrate below capacity)");
	test_destroy(t);
}

static void test_migrate(void)
{
	test_migrate_one(false);
	test_migrate_one(true);
}

/* vCPUs 0 and 1 VMRUN the same vmcb12, with and without switching away. */
static void test_shared(void)
{
	struct test *t = test_create(2, 2);
	const uint32_t x = 0, y = 1;
	int i;

	for (i = 0; i < rounds; i++) {
		run_batch(t, 0, &x, 1, NULL);
		run_batch(t, 1, &x, 1, NULL);
	}
	check_stats(t, "shared, X on both");
	for (i = 0; i < rounds; i++) {
		run_batch(t, i & 1, &y, 1, NULL);
		run_batch(t, !(i & 1), &x, 1, NULL);
		run_batch(t, i & 1, &x, 1, NULL);
	}
	check_stats(t, "shared, alternating");
	test_destroy(t);
}

/* Thousands of vmcb12s, each run twice, spread over the vCPUs. */
static void test_many(void)
{
	struct test *t = test_create(nr_vcpus, many);
	uint32_t list[BATCH_MAX];
	int pass, i, n, v = 0;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < many; i += n) {
			n = many - i < 64 ? many - i : 64;
			for (int j = 0; j < n; j++)
				list[j] = i + j;
			run_batch(t, v, list, n, NULL);
			v = (v + 1) % nr_vcpus;
		}
	}
	check_stats(t, "many");
	TEST_ASSERT(t->model.nr == (t->model.cap < (unsigned int)many ?
				    t->model.cap : (unsigned int)many),
		    "model: %u contexts", t->model.nr);
	test_destroy(t);
}

static void msrpm_set(struct test *t, int m, uint32_t msr, bool intercept)
{
	uint32_t base = msr >= 0xc0000000 ? 0xc0000000 : 0;
	uint32_t bit = (base ? 0x800 * 8 : 0) + (msr - base) * 2;

	if (intercept)
		t->msrpm[m][bit / 8] |= 1 << (bit % 8);
	else
		t->msrpm[m][bit / 8] &= ~(1 << (bit % 8));
}

static void msrpm_use(struct test *t, int l2, int m)
{
	struct vmcb *vmcb = l2_vmcb(t, l2);

	vmcb->control.msrpm_base_pa = t->msrpm_gpa[m];
}

/*
 * L2s 0 and 1 run on vCPU 0 (and L2 0 also on vCPU 1); between VMRUNs,
 * flip intercepts in their MSRPMs and point them at other MSRPMs.
 */
static void test_msrpm(void)
{
	struct test *t = test_create(2, 2);
	const uint32_t l0 = 0, l1 = 1;
	uint64_t want;
	int i;

	msrpm_use(t, 0, 0);
	msrpm_use(t, 1, 1);
	for (i = 0; i < 4 * rounds; i++) {
		bool a = i & 1, b = i & 2;

		/* L2 0 on MSRPM 0, changed while L2 1 runs or right before. */
		msrpm_set(t, 0, TEST_MSR0, a);
		msrpm_set(t, 0, TEST_MSR1, b);
		want = a + b;
		run_batch(t, 0, &l0, 1, &want);

		msrpm_set(t, 1, TEST_MSR1, !a);
		want = !a;
		run_batch(t, 0, &l1, 1, &want);

		msrpm_set(t, 0, TEST_MSR0, !a);
		want = !a + b;
		run_batch(t, 0, &l0, 1, &want);
		run_batch(t, 0, &l0, 1, &want);

		/* Move L2 0's MSRPM to MSRPM 2 and back. */
		msrpm_set(t, 2, TEST_MSR0, true);
		msrpm_set(t, 2, TEST_MSR1, !b);
		msrpm_use(t, 0, 2);
		want = 1 + !b;
		run_batch(t, 0, &l0, 1, &want);
		msrpm_use(t, 0, 0);
		want = !a + b;
		run_batch(t, 0, &l0, 1, &want);

		/* And on the other vCPU, once vCPU 0 ran L2 1. */
		run_batch(t, 0, &l1, 1, (uint64_t []){ !a });
		msrpm_set(t, 0, TEST_MSR1, !b);
		want = !a + !b;
		run_batch(t, 1, &l0, 1, &want);
		msrpm_set(t, 0, TEST_MSR1, b);
	}
	check_stats(t, "msrpm");
	test_destroy(t);
}

/*
 * Run @list on vCPU 0, L1 changing the GDTR limit of the L2 at @at with DT
 * clean, and check the limit that L2 ran with: the old one if @kept, else
 * the new one.  The #VMEXIT must write back what L2 ran with.
 */
static void run_unclean(struct test *t, const uint32_t *list, int n, int at,
			bool kept, const char *what)
{
	struct l2_result *res = &t->mb[0]->res[at];
	uint64_t old = t->l2s[list[at]].gdt_limit;

	t->mb[0]->unclean = at + 1;
	run_batch(t, 0, list, n, NULL);
	t->mb[0]->unclean = 0;

	TEST_ASSERT(res->unclean_limit && res->unclean_limit != old,
		    "%s: L1 did not change the limit with DT clean", what);
	TEST_ASSERT(res->l2_limit == res->exit_limit,
		    "%s: SGDT in L2 says limit 0x%lx, #VMEXIT wrote 0x%lx",
		    what, res->l2_limit, res->exit_limit);
	TEST_ASSERT(res->l2_limit == (kept ? old : res->unclean_limit),
		    "%s: L2 ran with limit 0x%lx; old 0x%lx, new 0x%lx, want the %s",
		    what, res->l2_limit, old, res->unclean_limit,
		    kept ? "old" : "new");
	pr_info("unclean, %s: L2 ran with the %s limit\n", what,
		kept ? "old" : "new");
}

/*
 * An L1 that breaks APM 15.15.3: it changes an L2's GDTR limit in vmcb12
 * while it marks DT clean.  The APM lets a processor use the value it
 * cached at the vmcb12's last VMRUN on this processor, or not.  KVM uses
 * what its vmcb02 for the vmcb12 holds while that vmcb02 ran it last:
 *
 *  - right after a VMRUN of the same vmcb12: the old limit, stock KVM too;
 *  - with another vmcb12 run on the vCPU in between: the old limit only
 *    when the vmcb12's context kept its own vmcb02 (the cache is on and
 *    the context is not recycled).  Stock KVM, and the cache off, rebuild
 *    vmcb02 from vmcb12 and take the new limit;
 *  - with the vmcb12 run on another vCPU in between, the vCPU's last
 *    vmcb12 still: stock KVM, and the cache off, keep the old limit in the
 *    vCPU's one vmcb02; the context's vmcb02, which that run made stale,
 *    takes the new one.
 *
 * Two L2s on vCPU 0, within the capacity: the first round of each runs in
 * the vCPU's own vmcb02, before the VMRUN that creates its context; the
 * second builds the context's vmcb02, which the third keeps.
 */
static void test_unclean(void)
{
	struct test *t = test_create(nr_vcpus, 2);
	uint32_t ab[] = { 0, 1 }, a[] = { 0 }, ba[] = { 1, 0 };
	bool ctx_vmcb02 = t->ratio > 0;

	t->mb[0]->keep_limit = 1;
	t->mb[1]->keep_limit = 1;
	run_batch(t, 0, ab, 2, NULL);
	run_batch(t, 0, ab, 2, NULL);
	run_unclean(t, a, 1, 0, ctx_vmcb02, "L2 1 ran in between");
	run_unclean(t, a, 1, 0, true, "same vmcb12 again");
	run_batch(t, 1, a, 1, NULL);
	run_unclean(t, a, 1, 0, !ctx_vmcb02, "L2 0 ran on vCPU 1 in between");
	run_unclean(t, ba, 2, 1, ctx_vmcb02, "L2 1 ran in between, again");
	run_batch(t, 0, ab, 2, NULL);
	check_stats(t, "unclean");
	test_destroy(t);
}

/*
 * A recycled context brings nothing of its last vmcb12.  vCPU 0 fills the
 * table, running each L2 twice so that each context's vmcb02 holds its L2;
 * then one L2 more, whose context is the first L2's, recycled; then that
 * last L2 twice more, which L1 marks clean (same vCPU, successful VMRUN).
 * Each must run with the last L2's own state (its GDTR limit, which L1
 * keeps, tells it from the first L2's), whatever the recycled context's
 * vmcb02 held.  With the cache off, four L2s.
 */
static void test_recycle(void)
{
	int cap = nested_ctx_ratio() > 0 ? nested_ctx_ratio() * nr_vcpus : 3;
	struct test *t = test_create(nr_vcpus, cap + 1);
	uint32_t list[BATCH_MAX], last = cap;
	int pass, i, c, j;

	t->mb[0]->keep_limit = 1;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < cap; i += c) {
			c = cap - i < BATCH_MAX ? cap - i : BATCH_MAX;
			for (j = 0; j < c; j++)
				list[j] = i + j;
			run_batch(t, 0, list, c, NULL);
		}
	}
	for (i = 0; i < 3; i++)
		run_batch(t, 0, &last, 1, NULL);
	check_stats(t, "recycle");
	TEST_ASSERT(!t->model.cap ||
		    (t->model.recycle == 1 && t->model.reuse == t->model.cap + 2),
		    "model: %lu recycles, %lu reuses, want 1 and %u",
		    t->model.recycle, t->model.reuse, t->model.cap + 2);
	test_destroy(t);
}

/*
 * For the benchmark, not a test of speed: L1 vCPU 0 VMRUNs its L2s in
 * turn, every VMRUN a switch, checked as everywhere else.  The stats are
 * not read, so that stock KVM runs it too.
 */
static void test_bench(void)
{
	int c = per_vcpu ? per_vcpu : 8;
	struct test *t = test_create(nr_vcpus, c);
	uint64_t total = (uint64_t)c * rounds, done = 0;
	uint32_t list[BATCH_MAX];
	struct timespec start, end;
	double secs;
	int n;

	TEST_ASSERT(c >= 2, "bench: needs at least 2 L2s");
	/* The switch alone: VMLOAD, VMRUN and VMSAVE of the vmcb12s. */
	t->mb[0]->area_gpa = 0;
	t->mb[0]->keep_limit = 1;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (done < total) {
		n = total - done < BATCH_MAX ? total - done : BATCH_MAX;
		for (int i = 0; i < n; i++)
			list[i] = (done + i) % c;
		run_batch(t, 0, list, n, NULL);
		done += n;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	secs = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
	pr_info("bench: %lu switches over %d L2s in %.3f s: %.0f switches/s\n",
		total, c, secs, total / secs);
	test_destroy(t);
}

#define INVAL_SLOT	3
#define INVAL_SLOT_GPA	0x30000000ULL
#define INVAL_PAGES	64
#define INVAL_OPS	4000
#define INVAL_REPS	5

/*
 * Time INVAL_OPS calls of madvise(MADV_DONTNEED), each on one page of @hva;
 * with @touch, the page is written first, so that there is a page to drop.
 * Returns the best of INVAL_REPS runs, in ns per call.
 */
static double time_madvise(uint8_t *hva, bool touch)
{
	struct timespec start, end;
	double ns, best = 0;
	uint8_t *p;
	int n, r;

	for (r = 0; r < INVAL_REPS; r++) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (n = 0; n < INVAL_OPS; n++) {
			p = hva + (n % INVAL_PAGES) * PAGE_SIZE;
			if (touch)
				WRITE_ONCE(*p, 1);
			TEST_ASSERT(!madvise(p, PAGE_SIZE, MADV_DONTNEED),
				    "madvise(MADV_DONTNEED): %s",
				    strerror(errno));
		}
		clock_gettime(CLOCK_MONOTONIC, &end);
		ns = ((end.tv_sec - start.tv_sec) * 1e9 +
		      (end.tv_nsec - start.tv_nsec)) / INVAL_OPS;
		if (!r || ns < best)
			best = ns;
	}
	return best;
}

/*
 * For the benchmark of an invalidation, not a test of speed: every L1 vCPU
 * VMRUNs -c vmcb12s of its own (default 64), which fills the table at
 * ratios up to -c and leaves every context detached.  Then the host times
 * madvise(MADV_DONTNEED) of one page of a memslot that no vmcb12 or MSRPM
 * uses: of a present page (written before each call: a fault, the zap and
 * the invalidation) and of an empty one (the invalidation without the page
 * work: mmu_notifier invalidate_range_start/end run all the same).  The
 * stats are not read, so that stock KVM runs it too.
 */
static void test_inval(void)
{
	int c = per_vcpu ? per_vcpu : 64;
	struct test *t = test_create(nr_vcpus, nr_vcpus * c);
	uint32_t list[BATCH_MAX];
	char ctxs[24] = "no";
	double present, empty;
	uint8_t *hva;
	int v, i;

	TEST_ASSERT(c <= BATCH_MAX, "inval: -c must be 1..%d", BATCH_MAX);
	for (v = 0; v < nr_vcpus; v++) {
		t->mb[v]->area_gpa = 0;
		for (i = 0; i < c; i++)
			list[i] = v * c + i;
		run_batch(t, v, list, c, NULL);
	}

	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS,
				    INVAL_SLOT_GPA, INVAL_SLOT, INVAL_PAGES, 0);
	hva = addr_gpa2hva(t->vm, INVAL_SLOT_GPA);
	present = time_madvise(hva, true);
	empty = time_madvise(hva, false);
	if (vm_has_stat(t->vm, "nested_context_count"))
		snprintf(ctxs, sizeof(ctxs), "%lu",
			 vm_get_stat(t->vm, "nested_context_count"));
	pr_info("inval: %d vmcb12s VMRUN on %d vCPUs, %s contexts; %.0f ns per madvise(MADV_DONTNEED) of a present page, %.0f of an empty one\n",
		nr_vcpus * c, nr_vcpus, ctxs, present, empty);
	test_destroy(t);
}

#define MSRPM_SLOT	2
#define MSRPM_SLOT_GPA	0x20000000ULL
#define MSRPM_SLOT_GPA2	0x20100000ULL

/*
 * The MSRPM memslot at @gpa, all intercepted or none.  -U backs it with
 * unmanaged pages, the other of two backings each time, and fills the one
 * it leaves with the opposite: a cache that kept the old page reads that.
 */
static void msrpm_slot_add(struct test *t, uint64_t gpa, uint32_t flags,
			   bool intercept)
{
	uint8_t fill = intercept ? 0xff : 0;

	if (unmanaged) {
		if (!t->slot_hva)
			t->slot_hva = nested_ctx_unmanaged_spare(&t->um,
								 2 * MSRPM_PAGES);
		memset(t->slot_hva + t->slot_next * MSRPM_PAGES * PAGE_SIZE,
		       ~fill, MSRPM_PAGES * PAGE_SIZE);
		t->slot_next ^= 1;
		memset(t->slot_hva + t->slot_next * MSRPM_PAGES * PAGE_SIZE,
		       fill, MSRPM_PAGES * PAGE_SIZE);
		nested_ctx_unmanaged_slot(t->vm, MSRPM_SLOT, flags, gpa,
					  t->slot_hva + t->slot_next *
					  MSRPM_PAGES * PAGE_SIZE, MSRPM_PAGES);
		return;
	}
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, gpa,
				    MSRPM_SLOT, MSRPM_PAGES, flags);
	memset(addr_gpa2hva(t->vm, gpa), fill, MSRPM_PAGES * PAGE_SIZE);
}

/* The MSRPM memslot's current backing. */
static uint8_t *msrpm_slot_hva(struct test *t, uint64_t gpa)
{
	if (unmanaged)
		return t->slot_hva + t->slot_next * MSRPM_PAGES * PAGE_SIZE;
	return addr_gpa2hva(t->vm, gpa);
}

static void msrpm_slot_delete(struct test *t)
{
	if (unmanaged)
		nested_ctx_unmanaged_slot(t->vm, MSRPM_SLOT, 0, 0, NULL, 0);
	else
		vm_mem_region_delete(t->vm, MSRPM_SLOT);
}

static void msrpm_slot_move(struct test *t, uint64_t gpa)
{
	if (unmanaged)
		nested_ctx_unmanaged_slot(t->vm, MSRPM_SLOT, 0, gpa,
					  msrpm_slot_hva(t, 0), MSRPM_PAGES);
	else
		vm_mem_region_move(t->vm, MSRPM_SLOT, gpa);
}

/*
 * L2 0's MSRPM lives in a memslot of its own, which is deleted, re-added
 * with other contents, moved and made read-only while its context caches a
 * mapping of it.  VMRUN must fail, as in stock KVM, while the MSRPM has no
 * memslot, and must follow the current contents otherwise.
 */
static void test_memslot(void)
{
	struct test *t = test_create(2, 2);
	const uint32_t l0 = 0, l1 = 1;
	struct vmcb *vmcb = l2_vmcb(t, 0);
	uint64_t two = 2, zero = 0;
	int i;

	msrpm_slot_add(t, MSRPM_SLOT_GPA, 0, true);
	vmcb->control.msrpm_base_pa = MSRPM_SLOT_GPA;
	for (i = 0; i < rounds; i++) {
		run_batch(t, 0, &l0, 1, &two);
		run_batch(t, 0, &l1, 1, NULL);
		run_batch(t, 0, &l0, 1, &two);

		/* No memslot: the merge cannot read the MSRPM. */
		msrpm_slot_delete(t);
		__run_batch(t, 0, &l0, 1, NULL, (uint32_t)SVM_EXIT_ERR);
		run_batch(t, 0, &l1, 1, NULL);
		__run_batch(t, 0, &l0, 1, NULL, (uint32_t)SVM_EXIT_ERR);

		/* A new memslot at the same GPA, new contents. */
		msrpm_slot_add(t, MSRPM_SLOT_GPA, 0, false);
		run_batch(t, 0, &l0, 1, &zero);

		/* Moved, contents kept: the old GPA is gone. */
		memset(msrpm_slot_hva(t, MSRPM_SLOT_GPA), 0xff,
		       MSRPM_PAGES * PAGE_SIZE);
		msrpm_slot_move(t, MSRPM_SLOT_GPA2);
		__run_batch(t, 0, &l0, 1, NULL, (uint32_t)SVM_EXIT_ERR);
		vmcb->control.msrpm_base_pa = MSRPM_SLOT_GPA2;
		run_batch(t, 0, &l0, 1, &two);

		/* Read-only: the cache cannot map it, VMRUN still reads it. */
		msrpm_slot_delete(t);
		msrpm_slot_add(t, MSRPM_SLOT_GPA, KVM_MEM_READONLY, true);
		vmcb->control.msrpm_base_pa = MSRPM_SLOT_GPA;
		run_batch(t, 0, &l1, 1, NULL);
		run_batch(t, 0, &l0, 1, &two);
		memset(msrpm_slot_hva(t, MSRPM_SLOT_GPA), 0,
		       MSRPM_PAGES * PAGE_SIZE);
		run_batch(t, 1, &l0, 1, &zero);

		msrpm_slot_delete(t);
		msrpm_slot_add(t, MSRPM_SLOT_GPA, 0, true);
	}
	check_stats(t, "memslot");
	test_destroy(t);
}

static void help(const char *name)
{
	printf("usage: %s [-v vcpus] [-c L2s per vcpu] [-s rounds] [-n many]\n"
	       "          [-m sched|migrate|shared|many|msrpm|memslot|unclean|recycle|all|\n"
	       "              bench|inval]\n"
	       "          [-U [-A host-physical-address]] [-F] [-k]\n"
	       "  -c 0 (default) runs sched below, at and above capacity\n"
	       "  -U  the pages the cache maps in unmanaged memory: RAM hidden\n"
	       "      from the host with mem=, mmapped from /dev/mem (-A: where)\n"
	       "  -F  functional checks only, no nested_context_* stats (stock KVM)\n"
	       "  -k  L1 keeps each L2's GDTR limit (the workloads of the benchmarks;\n"
	       "      bench mode always does)\n",
	       name);
	exit(KSFT_SKIP);
}

/* The modes, in the order -m all runs them; the workloads only by name. */
static const struct {
	const char *name;
	void (*run)(void);
	bool workload;		/* for scripts/bench, not in -m all */
} modes[] = {
	{ "sched", test_sched },
	{ "migrate", test_migrate },
	{ "shared", test_shared },
	{ "many", test_many },
	{ "msrpm", test_msrpm },
	{ "memslot", test_memslot },
	{ "unclean", test_unclean },
	{ "recycle", test_recycle },
	{ "bench", test_bench, true },
	{ "inval", test_inval, true },
};

int main(int argc, char *argv[])
{
	const char *mode = "all";
	bool all, workload = false, known;
	unsigned int i;
	int opt;

	while ((opt = getopt(argc, argv, "v:c:s:n:m:UA:Fkh")) != -1) {
		switch (opt) {
		case 'F':
			no_stats = true;
			break;
		case 'k':
			keep_limit = true;
			break;
		case 'U':
			unmanaged = true;
			break;
		case 'A':
			unmanaged_phys = strtoull(optarg, NULL, 0);
			break;
		case 'v':
			nr_vcpus = atoi_positive("vCPUs", optarg);
			break;
		case 'c':
			per_vcpu = atoi_non_negative("L2s per vCPU", optarg);
			break;
		case 's':
			rounds = atoi_positive("Rounds", optarg);
			break;
		case 'n':
			many = atoi_positive("vmcb12s", optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		default:
			help(argv[0]);
		}
	}
	all = !strcmp(mode, "all");
	known = all;
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		if (!strcmp(mode, modes[i].name)) {
			known = true;
			workload = modes[i].workload;
		}
	}

	TEST_ASSERT(nr_vcpus >= 2 && nr_vcpus <= MAX_VCPUS,
		    "-v must be 2..%d", MAX_VCPUS);
	TEST_ASSERT(per_vcpu <= MAX_L2_PER_VCPU || workload,
		    "-c must be 0..%d", MAX_L2_PER_VCPU);
	TEST_ASSERT(per_vcpu <= MAX_L2, "-c must be 0..%d", MAX_L2);
	TEST_ASSERT(many <= MAX_L2, "-n must be 1..%d", MAX_L2);

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_SVM));

	pr_info("nested_context_ratio %d, %d L1 vCPUs\n", nested_ctx_ratio(),
		nr_vcpus);

	if (!known)
		help(argv[0]);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		if ((all && !modes[i].workload) || !strcmp(mode, modes[i].name))
			modes[i].run();
	}

	return 0;
}
