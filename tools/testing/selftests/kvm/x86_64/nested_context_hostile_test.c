// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_context_hostile_test
 *
 * A hostile L1 against the per-VM nested context cache, on nested VMX or
 * nested SVM (whichever the CPU has).  L1 is a small interpreter: the host
 * writes a batch of (L2, flags) entries to a vCPU's mailbox and L1 carries
 * them out - VMCLEAR (SVM: EFER.SVME off and on), VMPTRLD, VMLAUNCH or
 * VMRESUME (SVM: VMRUN) - and records what every exit left.  Every L2
 * counts its entries in an 8-byte slot its RSP points at, and exits with
 * VMCALL/VMMCALL; the host checks the exit, the count and the RSP of every
 * run.  The host runs one vCPU at a time, replays the loads on a model of
 * the cache and checks nested_context_count (never above the capacity,
 * nested_context_ratio x vCPUs) and the reuse/recycle/busy stats after every
 * batch.
 *
 * Modes (-m):
 *   storm        >= -n operations (VMCLEAR, VMPTRLD, VMLAUNCH/VMRESUME;
 *                SVM: EFER.SVME toggles, VMLOAD, VMRUN, VMSAVE, all on
 *                the vmcb12) over thousands of GPAs (-g) in random order
 *                with VMCLEAR mixed in; memory growth is bounded;
 *   shared       one control block run on two vCPUs alternately;
 *   xclear       VMCLEAR on vCPU B of a vmcs12 current on, or cached for,
 *                vCPU A; SVM: B VMRUNs the vmcb12 A just ran;
 *   oddpages     the MSR bitmap / MSRPM (VMX: and the virtual-APIC and
 *                APIC-access pages) outside every memslot, on the
 *                IOAPIC's MMIO, and in a memslot deleted, re-added and
 *                moved while cached;
 *   teardown     VMs destroyed with contexts attached and on the LRU (-t);
 *   saverestore  nested state saved with a vCPU in L2 and one between L2s,
 *                restored into a fresh VM, where the L2s go on;
 *   all          all of them (default).
 *
 * -U puts every page the cache maps in unmanaged memory (RAM hidden from
 * the host kernel with mem=, mmapped from /dev/mem): the vmcs12s or
 * vmcb12s, the MSR bitmap or MSRPM, the virtual-APIC page and, on SVM,
 * the host save area; oddpages' own memslot is then unmanaged too, and is
 * deleted, re-created on other pages and moved while cached.  No
 * mmu_notifier fires for that memory: only the memslot generation tells
 * the cache.  Without hidden RAM or /dev/mem the test SKIPs.
 *
 * A KVM without the cache has no nested_context_* stats: the test fails,
 * unless -F asks for the functional checks only (stock KVM passes them).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "vmx.h"
#include "svm_util.h"
#include "nested_context.h"

#define NR_VCPUS	2
#define BATCH		256
#define MAX_L2		8192

#define TEST_SLOT	1
#define TEST_GPA	0x10000000ULL
#define ODD_SLOT	2
#define ODD_GPA		0x40000000ULL
#define ODD_GPA2	0x40100000ULL
#define NO_SLOT_GPA	0x7ff00000ULL	/* in no memslot */
#define MMIO_GPA	0xfec00000ULL	/* the in-kernel IOAPIC */
#define L2_IO_PORT	0x99

/* Entry flags. */
#define F_CLEAR		BIT(0)	/* VMCLEAR (SVM: EFER.SVME off, on) first */
#define F_CLEAR_ONLY	BIT(1)	/* ... and nothing else */
#define F_SETUP		BIT(2)	/* (re)write the control block */
#define F_LAUNCH	BIT(3)	/* VMLAUNCH, not VMRESUME */
#define F_NOLOAD	BIT(4)	/* no VMPTRLD: run the current VMCS */
#define F_MSRBM		BIT(5)	/* rewrite the MSR bitmap/MSRPM address */
#define F_RIP		BIT(6)	/* restart the L2 at l2_desc.rip */
#define F_APIC		BIT(7)	/* VMX: rewrite the APIC page addresses */
#define F_INVALID	BIT(8)	/* SVM: VMRUN with EFER.SVME clear in vmcb12 */

#define EXIT_VMFAIL	BIT_ULL(62)	/* VMX: VMfail, | VM-instruction error */
#define VMXERR_VMRESUME_NONLAUNCHED	5

enum { OP_INIT = 1, OP_RUN, OP_DONE };

struct l2_desc {
	uint64_t gva, gpa;	/* the vmcs12 or vmcb12 */
	uint64_t slot;		/* GVA: the L2's RSP, its entry count */
	uint64_t rip;
	uint64_t msr_gpa;	/* MSR bitmap or MSRPM, 0 for none */
	uint64_t vapic_gpa;	/* VMX: virtual-APIC page, 0 for none */
	uint64_t apic_gpa;	/* VMX: APIC-access page, 0 for none */
};

struct entry {
	uint32_t id, flags;
};

struct result {
	uint64_t exit, count, rsp, msr_exits, vmptr, clear_rc;
};

struct mailbox {
	uint32_t op, n;
	struct entry e[BATCH];
	struct result r[BATCH];
};

static bool is_vmx;

/*
 * The L2s: count the entry in the slot RSP points at, (read an MSR |
 * exit to the host with an OUT), exit to L1, and again.
 */
static void __attribute__((naked)) l2_vmx_plain(void)
{
	asm volatile("1: incq (%rsp); vmcall; jmp 1b");
}

static void __attribute__((naked)) l2_vmx_msr(void)
{
	asm volatile("1: mov $0x174, %ecx; rdmsr; incq (%rsp); vmcall; jmp 1b");
}

static void __attribute__((naked)) l2_vmx_io(void)
{
	asm volatile("1: incq (%rsp); outb %al, $" __stringify(L2_IO_PORT) "; vmcall; jmp 1b");
}

static void __attribute__((naked)) l2_svm_plain(void)
{
	asm volatile("1: incq (%rsp); vmmcall; jmp 1b");
}

static void __attribute__((naked)) l2_svm_msr(void)
{
	asm volatile("1: mov $0x174, %ecx; rdmsr; incq (%rsp); vmmcall; jmp 1b");
}

static void __attribute__((naked)) l2_svm_io(void)
{
	asm volatile("1: incq (%rsp); outb %al, $" __stringify(L2_IO_PORT) "; vmmcall; jmp 1b");
}

enum { L2_PLAIN, L2_MSR, L2_IO };

static uint64_t l2_code(int kind)
{
	static void (* const code[2][3])(void) = {
		{ l2_svm_plain, l2_svm_msr, l2_svm_io },
		{ l2_vmx_plain, l2_vmx_msr, l2_vmx_io },
	};

	return (uint64_t)code[is_vmx][kind];
}

/*
 * The TPR shadow comes with CR8-load and CR8-store exiting and without
 * APIC-access virtualization: when the virtual-APIC page has no backing,
 * KVM then runs L2 without the TPR shadow, as the CPU never reads it.
 * An APIC-access page without backing fails the entry with a KVM
 * internal error (stock behaviour).
 */
static void vmx_set_apic_pages(struct l2_desc *l2)
{
	uint64_t ctl = vmreadz(CPU_BASED_VM_EXEC_CONTROL);

	if (l2->vapic_gpa) {
		ctl |= CPU_BASED_TPR_SHADOW | CPU_BASED_CR8_LOAD_EXITING |
		       CPU_BASED_CR8_STORE_EXITING;
		vmwrite(VIRTUAL_APIC_PAGE_ADDR, l2->vapic_gpa);
		vmwrite(TPR_THRESHOLD, 0);
	}
	if (l2->apic_gpa) {
		ctl |= CPU_BASED_ACTIVATE_SECONDARY_CONTROLS;
		vmwrite(SECONDARY_VM_EXEC_CONTROL,
			vmreadz(SECONDARY_VM_EXEC_CONTROL) |
			SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
		vmwrite(APIC_ACCESS_ADDR, l2->apic_gpa);
	}
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, ctl);
}

static void vmx_setup_l2(struct vmx_pages *vmx, struct l2_desc *l2)
{
	prepare_vmcs(vmx, (void *)l2->rip, (void *)l2->slot);
	vmwrite(GUEST_RSP, l2->slot);
	if (l2->msr_gpa) {
		vmwrite(CPU_BASED_VM_EXEC_CONTROL,
			vmreadz(CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_USE_MSR_BITMAPS);
		vmwrite(MSR_BITMAP, l2->msr_gpa);
	}
	vmx_set_apic_pages(l2);
}

static void vmx_run_entry(struct vmx_pages *vmx, struct l2_desc *l2,
			  uint32_t f, struct result *r)
{
	uint64_t reason;

	if (f & F_SETUP)
		*(uint32_t *)l2->gva = vmcs_revision();
	if (f & F_CLEAR)
		r->clear_rc = vmclear(l2->gpa);
	if (f & F_CLEAR_ONLY)
		return;
	if (!(f & F_NOLOAD))
		GUEST_ASSERT(!vmptrld(l2->gpa));
	r->vmptr = vmptrstz();
	if (f & F_SETUP)
		vmx_setup_l2(vmx, l2);
	if (f & F_MSRBM)
		vmwrite(MSR_BITMAP, l2->msr_gpa);
	if (f & F_APIC)
		vmx_set_apic_pages(l2);
	if (f & F_RIP)
		vmwrite(GUEST_RIP, l2->rip);

	for (;;) {
		if ((f & F_LAUNCH) ? vmlaunch() : vmresume()) {
			r->exit = EXIT_VMFAIL | vmreadz(VM_INSTRUCTION_ERROR);
			return;
		}
		f &= ~F_LAUNCH;
		reason = vmreadz(VM_EXIT_REASON);
		if (reason != EXIT_REASON_MSR_READ || r->msr_exits >= 2)
			break;
		r->msr_exits++;
		vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + 2);
	}
	r->exit = reason;
	r->count = *(uint64_t *)l2->slot;
	r->rsp = vmreadz(GUEST_RSP);
	if (reason == EXIT_REASON_VMCALL)
		vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + 3);
}

static void svm_run_entry(uint64_t hsave_gpa, uint64_t id, struct l2_desc *l2,
			  uint32_t f, struct result *r)
{
	struct vmcb *vmcb = (struct vmcb *)l2->gva;

	if (f & F_CLEAR) {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
		wrmsr(MSR_VM_HSAVE_PA, hsave_gpa);
	}
	if (f & F_CLEAR_ONLY)
		return;
	if (f & F_SETUP) {
		struct svm_test_data svm = {
			.vmcb = vmcb, .vmcb_gpa = l2->gpa,
			.save_area_gpa = hsave_gpa, .msr_gpa = l2->msr_gpa,
		};

		generic_svm_setup(&svm, (void *)l2->rip, (void *)l2->slot);
		vmcb->control.asid = 1 + id % 8;
		if (l2->msr_gpa)
			vmcb->control.intercept |= BIT_ULL(INTERCEPT_MSR_PROT);
	}
	if (f & F_MSRBM)
		vmcb->control.msrpm_base_pa = l2->msr_gpa;
	if (f & F_RIP)
		vmcb->save.rip = l2->rip;
	/* An illegal EFER fails VMRUN's consistency checks. */
	if (f & F_INVALID)
		vmcb->save.efer &= ~EFER_SVME;

	for (;;) {
		nested_ctx_svm_vmrun(l2->gpa);
		if (vmcb->control.exit_code != SVM_EXIT_MSR || r->msr_exits >= 2)
			break;
		r->msr_exits++;
		vmcb->save.rip += 2;
	}
	r->exit = vmcb->control.exit_code;
	r->count = *(uint64_t *)l2->slot;
	r->rsp = vmcb->save.rsp;
	if (r->exit == SVM_EXIT_VMMCALL)
		vmcb->save.rip += 3;
	if (f & F_INVALID)
		vmcb->save.efer |= EFER_SVME;
}

/* @arg: the vmx_pages GVA on VMX, the host save area GPA on SVM. */
static void l1_guest_code(struct mailbox *mb, struct l2_desc *l2s, uint64_t arg)
{
	uint32_t i;

	for (;;) {
		GUEST_SYNC(0);
		switch (mb->op) {
		case OP_INIT:
			nested_ctx_l1_enable(is_vmx, arg);
			break;
		case OP_RUN:
			for (i = 0; i < mb->n; i++) {
				struct entry *e = &mb->e[i];

				if (is_vmx)
					vmx_run_entry((void *)arg, &l2s[e->id],
						      e->flags, &mb->r[i]);
				else
					svm_run_entry(arg, e->id, &l2s[e->id],
						      e->flags, &mb->r[i]);
			}
			break;
		case OP_DONE:
			if (is_vmx)
				vmxoff();
			GUEST_DONE();
		}
	}
}

/*
 * Memory charged to this process's memory cgroup, in kB, or -1 without
 * one: KVM charges what a VM makes it allocate (GFP_KERNEL_ACCOUNT) to
 * the cgroup of the process that creates the VM.  The VM runner puts each
 * test in a cgroup of its own.
 */
static int64_t memcg_kb(void)
{
	char line[256], path[512] = "";
	int64_t bytes = -1;
	FILE *f;

	f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -1;
	/* cgroup v2: "0::/path" */
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current",
			 line + 3);
		break;
	}
	fclose(f);
	if (!path[0])
		return -1;
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &bytes) != 1)
		bytes = -1;
	fclose(f);
	return bytes < 0 ? -1 : bytes / 1024;
}

/* "memcg +N kB" from @kb0 to @kb1, for the scenario summaries. */
static const char *memcg_delta(int64_t kb0, int64_t kb1)
{
	static char buf[64];

	if (kb0 < 0 || kb1 < 0)
		return "no memory cgroup";
	snprintf(buf, sizeof(buf), "memcg %+ld kB", kb1 - kb0);
	return buf;
}

struct test {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpus[NR_VCPUS];
	struct mailbox *mb[NR_VCPUS];
	struct l2_desc *l2s;
	int nr_l2;
	uint64_t runs[MAX_L2];		/* expected entry count of each L2 */
	bool setup[MAX_L2], launched[MAX_L2];
	uint64_t msr_zero_gpa;		/* an MSR bitmap/MSRPM intercepting nothing */
	struct nested_ctx_model m;
	uint64_t ops;			/* VMX/SVM instructions on control blocks */
	int in_l2;			/* vCPU stopped at the L2's OUT, or -1 */
	int64_t memcg0;			/* memcg_kb() once the VM was set up */
	struct nested_ctx_unmanaged um;	/* -U */
	uint8_t *odd_hva;		/* the odd memslot's backing */
	uint8_t *odd_spare[2];		/* -U: its two backings, in turn */
	int odd_next;
};

static int ratio;
static bool unmanaged, no_stats;
static uint64_t unmanaged_phys;

/* Run @v until L1 syncs (true) or an L2 exits to the host on its OUT. */
static bool run_vcpu(struct test *t, int v)
{
	struct kvm_vcpu *vcpu = t->vcpus[v];
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	if (vcpu->run->io.port == L2_IO_PORT) {
		TEST_ASSERT(vcpu->run->io.direction == KVM_EXIT_IO_OUT, "L2 IO");
		return false;
	}
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
	case UCALL_DONE:
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return true;
}

/* Give @v's L1 operation @op on the first @n entries of its mailbox. */
static void mb_post(struct test *t, int v, uint32_t op, uint32_t n)
{
	t->mb[v]->op = op;
	t->mb[v]->n = n;
	memset(t->mb[v]->r, 0, sizeof(t->mb[v]->r));
}

static void do_op(struct test *t, int v, uint32_t op, uint32_t n)
{
	mb_post(t, v, op, n);
	while (!run_vcpu(t, v))
		;
}

static struct test *test_create(int nr_l2)
{
	struct test *t = calloc(1, sizeof(*t));
	uint64_t pages = nr_l2 + nr_l2 * sizeof(struct l2_desc) / PAGE_SIZE +
			 nr_l2 * 8 / PAGE_SIZE + 256;
	vm_vaddr_t gva, l2s_gva, slots;
	int i, v;

	TEST_ASSERT(t && nr_l2 <= MAX_L2, "test_create");
	t->nr_l2 = nr_l2;
	t->in_l2 = -1;
	t->vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, pages,
				       l1_guest_code, t->vcpus);
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, TEST_GPA,
				    TEST_SLOT, pages, 0);
	t->vm->memslots[MEM_REGION_TEST_DATA] = TEST_SLOT;
	sync_global_to_guest(t->vm, is_vmx);

	/*
	 * -U: the control blocks, the zero MSR bitmap (its second page is
	 * oddpages' virtual-APIC page) and SVM's host save areas in the
	 * unmanaged slot; four spare pages for the odd memslot.
	 */
	if (unmanaged) {
		nested_ctx_unmanaged_init(t->vm, &t->um, unmanaged_phys,
					  nr_l2 + 2 + NR_VCPUS, 4);
		t->msr_zero_gpa = nested_ctx_unmanaged_alloc(&t->um, 2);
		t->odd_spare[0] = nested_ctx_unmanaged_spare(&t->um, 2);
		t->odd_spare[1] = nested_ctx_unmanaged_spare(&t->um, 2);
	} else {
		gva = vm_vaddr_alloc(t->vm, 2 * PAGE_SIZE, KVM_UTIL_MIN_VADDR);
		memset(addr_gva2hva(t->vm, gva), 0, 2 * PAGE_SIZE);
		t->msr_zero_gpa = addr_gva2gpa(t->vm, gva);
	}

	l2s_gva = vm_vaddr_alloc(t->vm, nr_l2 * sizeof(struct l2_desc),
				 KVM_UTIL_MIN_VADDR);
	t->l2s = addr_gva2hva(t->vm, l2s_gva);
	slots = vm_vaddr_alloc(t->vm, nr_l2 * 8, KVM_UTIL_MIN_VADDR);
	memset(addr_gva2hva(t->vm, slots), 0, nr_l2 * 8);
	for (i = 0; i < nr_l2; i++) {
		struct l2_desc *l2 = &t->l2s[i];

		if (unmanaged) {
			l2->gva = nested_ctx_unmanaged_alloc(&t->um, 1);
			l2->gpa = l2->gva;
		} else {
			l2->gva = vm_vaddr_alloc_page(t->vm);
			l2->gpa = addr_gva2gpa(t->vm, l2->gva);
			/* Touch it now, so that the memory check sees KVM's growth. */
			memset(addr_gva2hva(t->vm, l2->gva), 0, PAGE_SIZE);
		}
		l2->slot = slots + i * 8;
		l2->rip = l2_code(L2_PLAIN);
		l2->msr_gpa = 0;
		l2->vapic_gpa = 0;
		l2->apic_gpa = 0;
	}

	for (v = 0; v < NR_VCPUS; v++) {
		uint64_t arg;

		if (unmanaged && !is_vmx)
			arg = nested_ctx_unmanaged_alloc(&t->um, 1);
		else
			arg = nested_ctx_l1_arg(t->vm, is_vmx);
		gva = vm_vaddr_alloc(t->vm, sizeof(struct mailbox),
				     KVM_UTIL_MIN_VADDR);
		t->mb[v] = addr_gva2hva(t->vm, gva);
		vcpu_args_set(t->vcpus[v], 3, gva, l2s_gva, arg);
		do_op(t, v, 0, 0);	/* up to the first GUEST_SYNC */
		do_op(t, v, OP_INIT, 0);
	}
	nested_ctx_model_init(&t->m, ratio > 0 ? ratio * NR_VCPUS : 0);
	t->m.no_stats = no_stats;
	t->memcg0 = memcg_kb();
	return t;
}

static void test_destroy(struct test *t, bool clean)
{
	int v;

	if (clean)
		for (v = 0; v < NR_VCPUS; v++)
			do_op(t, v, OP_DONE, 0);
	kvm_vm_free(t->vm);
	if (unmanaged)
		nested_ctx_unmanaged_free(&t->um);
	nested_ctx_model_free(&t->m);
	free(t);
}

/* What the model and the L2 see of entry @e on @v, before it runs. */
static void account(struct test *t, int v, struct entry *e)
{
	uint64_t gpa = t->l2s[e->id].gpa;

	if (e->flags & F_CLEAR) {
		t->ops++;
		if (is_vmx) {
			if (t->m.cur[v] == gpa)
				nested_ctx_model_put(&t->m, v);
			t->launched[e->id] = false;
		} else {
			nested_ctx_model_put(&t->m, v);
		}
	}
	if (e->flags & F_CLEAR_ONLY)
		return;
	/*
	 * A VMRUN that fails its checks loads nothing; its VMLOAD and VMSAVE
	 * find no context for an L2 that never ran.
	 */
	if (!is_vmx && (e->flags & F_INVALID))
		nested_ctx_model_touch(&t->m, gpa);
	else if (!is_vmx)
		nested_ctx_model_vmrun(&t->m, v, gpa);
	else if (!(e->flags & F_NOLOAD))
		nested_ctx_model_load(&t->m, v, gpa);
	/* VMX: VMPTRLD, VMLAUNCH/VMRESUME; SVM: VMLOAD, VMRUN, VMSAVE. */
	if (is_vmx)
		t->ops += e->flags & F_NOLOAD ? 1 : 2;
	else
		t->ops += 3;
	/* For later entries of the same batch: launched once this ran. */
	if (is_vmx)
		t->launched[e->id] = true;
}

/* Expect a VMCALL/VMMCALL exit with the L2's count and RSP right. */
static void expect_run(struct test *t, int v, struct entry *e,
		       struct result *r, uint64_t msr_exits)
{
	struct l2_desc *l2 = &t->l2s[e->id];
	uint64_t want = is_vmx ? EXIT_REASON_VMCALL : SVM_EXIT_VMMCALL;

	t->runs[e->id]++;
	TEST_ASSERT(r->exit == want,
		    "vCPU %d, L2 %u (flags %x): exit 0x%lx, want 0x%lx",
		    v, e->id, e->flags, r->exit, want);
	TEST_ASSERT(r->count == t->runs[e->id],
		    "vCPU %d, L2 %u: %lu entries, want %lu: wrong or stale L2 state",
		    v, e->id, r->count, t->runs[e->id]);
	TEST_ASSERT(r->rsp == l2->slot, "vCPU %d, L2 %u: RSP 0x%lx, want 0x%lx",
		    v, e->id, r->rsp, l2->slot);
	TEST_ASSERT(r->msr_exits == msr_exits,
		    "vCPU %d, L2 %u: %lu RDMSR exits to L1, want %lu",
		    v, e->id, r->msr_exits, msr_exits);
	if (is_vmx && !(e->flags & F_CLEAR_ONLY))
		TEST_ASSERT(r->vmptr == l2->gpa, "VMPTRST 0x%lx, want 0x%lx",
			    r->vmptr, l2->gpa);
	if (e->flags & F_CLEAR)
		TEST_ASSERT(!r->clear_rc, "VMCLEAR failed");
}

/* Fill in F_SETUP/F_LAUNCH from what the host knows of the L2. */
static void fixup(struct test *t, struct entry *e)
{
	if (!t->setup[e->id]) {
		e->flags |= F_SETUP | F_CLEAR;
		t->setup[e->id] = true;
	}
	if (is_vmx && (!t->launched[e->id] || (e->flags & F_CLEAR)))
		e->flags |= F_LAUNCH;
}

/* Run @n entries on @v that all must succeed; check them and the cache. */
static void run_batch(struct test *t, int v, struct entry *list, int n,
		      bool exact, const char *what)
{
	struct mailbox *mb = t->mb[v];
	int i;

	for (i = 0; i < n; i++) {
		fixup(t, &list[i]);
		account(t, v, &list[i]);
	}
	memcpy(mb->e, list, n * sizeof(*list));
	do_op(t, v, OP_RUN, n);
	for (i = 0; i < n; i++)
		if (!(list[i].flags & F_CLEAR_ONLY))
			expect_run(t, v, &list[i], &mb->r[i], 0);
	nested_ctx_model_check(t->vm, &t->m, exact, what);
}

static void run_one(struct test *t, int v, uint32_t id, uint32_t flags)
{
	struct entry e = { id, flags };

	run_batch(t, v, &e, 1, true, "run_one");
}

static void run_one_bounded(struct test *t, int v, uint32_t id, uint32_t flags)
{
	struct entry e = { id, flags };

	run_batch(t, v, &e, 1, false, "run_one");
}

/* Run one entry on @v as it is, and return what L1 saw. */
static struct result run_raw(struct test *t, int v, uint32_t id, uint32_t flags)
{
	struct entry e = { id, flags };

	account(t, v, &e);
	t->mb[v]->e[0] = e;
	do_op(t, v, OP_RUN, 1);
	return t->mb[v]->r[0];
}

static uint64_t meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	uint64_t kb = 0;

	TEST_ASSERT(f, "/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			kb = strtoull(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return kb;
}

static uint64_t storm_ops = 100000;
static int storm_l2 = 2048;
static int teardown_iters = 100;

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/*
 * Each vCPU owns the L2s i with i % NR_VCPUS == v, and runs them in random
 * order; one entry in 8 starts with a VMCLEAR (SVM: EFER.SVME toggle).
 */
static void test_storm(void)
{
	struct test *t = test_create(storm_l2);
	uint64_t avail0, slab0, avail1, slab1, bound_kb, grow, sgrow;
	int64_t cg1;
	struct entry list[BATCH];
	int v = 0, i, per = storm_l2 / NR_VCPUS;

	avail0 = meminfo_kb("MemAvailable");
	slab0 = meminfo_kb("Slab");
	while (t->ops < storm_ops) {
		for (i = 0; i < BATCH; i++) {
			list[i].id = (rnd() % per) * NR_VCPUS + v;
			list[i].flags = rnd() % 8 ? 0 : F_CLEAR;
		}
		run_batch(t, v, list, BATCH, true, "storm");
		v = (v + 1) % NR_VCPUS;
	}
	avail1 = meminfo_kb("MemAvailable");
	slab1 = meminfo_kb("Slab");
	cg1 = memcg_kb();
	grow = avail0 > avail1 ? avail0 - avail1 : 0;
	sgrow = slab1 > slab0 ? slab1 - slab0 : 0;
	/* A context holds a few pages at most; 4 MiB for everything else. */
	bound_kb = (uint64_t)t->m.cap * 4 * 4 + 4096;
	pr_info("storm: %lu ops, %lu loads over %d GPAs on %d vCPUs; contexts peak %lu, capacity %u; reuse %lu recycle %lu; MemAvailable -%lu kB, Slab +%lu kB, %s (bound %lu kB)\n",
		t->ops, t->m.loads, storm_l2, NR_VCPUS, t->m.peak, t->m.cap,
		t->m.reuse, t->m.recycle, grow, sgrow, memcg_delta(t->memcg0, cg1),
		bound_kb);
	/*
	 * What the VM was charged is the measure.  Without a memory cgroup,
	 * the system-wide figures stand in; on a debug kernel they also grow
	 * with KASAN's quarantine and kmemleak's own objects.
	 */
	if (t->memcg0 >= 0 && cg1 >= 0)
		TEST_ASSERT(cg1 - t->memcg0 <= (int64_t)bound_kb,
			    "storm: the VM's memory cgroup grew by %ld kB, bound %lu kB",
			    cg1 - t->memcg0, bound_kb);
	else
		TEST_ASSERT(grow <= bound_kb && sgrow <= bound_kb,
			    "storm: memory grew by %lu kB (Slab %lu kB), bound %lu kB",
			    grow, sgrow, bound_kb);
	if (t->m.cap && !no_stats)
		TEST_ASSERT(t->m.peak == t->m.cap, "storm: never at capacity");
	test_destroy(t, true);
}

/*
 * L2 0 on both vCPUs.  VMX: B loads and sets up the vmcs12 while it is
 * current on A; each vCPU runs its own copy (KVM caches vmcs12 per vCPU),
 * the L2's count in memory is shared.  B must not get A's context.
 */
static void test_shared(void)
{
	struct test *t = test_create(2);
	int i;

	run_one(t, 0, 0, 0);
	for (i = 0; i < 16; i++) {
		run_one(t, 1, 0, i ? 0 : F_SETUP | F_LAUNCH);
		run_one(t, 0, 0, 0);
		if (i % 4 == 3) {
			/*
			 * Both switch away and back; L2 1 is never current
			 * on both, so that VMX's copies in memory are valid.
			 */
			run_one(t, 0, 1, 0);
			run_one(t, 0, 0, 0);
			run_one(t, 1, 1, 0);
			run_one(t, 1, 0, 0);
		}
	}
	pr_info("shared: %lu ops, %lu loads, reuse %lu, peak %lu / capacity %u, %s\n",
		t->ops, t->m.loads, t->m.reuse, t->m.peak, t->m.cap,
		memcg_delta(t->memcg0, memcg_kb()));
	test_destroy(t, true);
}

/*
 * VMX: A has X current; B VMCLEARs X; A's VMRESUME of X still works (stock
 * KVM keeps the vmcs12 per vCPU).  Then with X cached but not current on
 * A: B's VMCLEAR clears its launch state in memory, so A's VMPTRLD X +
 * VMRESUME must fail with VMXERR_VMRESUME_NONLAUNCHED - a stale cached
 * copy would resume - and VMLAUNCH continues the L2.
 * SVM: B VMRUNs the vmcb12 that A just ran, then A again.
 */
static void test_xclear(void)
{
	struct test *t = test_create(2);
	struct result r;
	int i;

	run_one(t, 0, 0, 0);
	run_one(t, 0, 1, 0);
	for (i = 0; i < 8; i++) {
		if (!is_vmx) {
			run_one(t, 0, 0, 0);
			run_one(t, 1, 0, 0);
			run_one(t, 0, 0, 0);
			run_one(t, 1, 1, 0);
			run_one(t, 0, 0, 0);
			continue;
		}
		run_one(t, 0, 0, 0);
		run_one(t, 1, 0, F_CLEAR | F_CLEAR_ONLY);
		TEST_ASSERT(!t->mb[1]->r[0].clear_rc, "VMCLEAR on B");
		t->launched[0] = true;		/* A's copy is launched */
		run_one(t, 0, 0, F_NOLOAD);

		run_one(t, 0, 1, 0);		/* X cached, not current */
		run_one(t, 1, 0, F_CLEAR | F_CLEAR_ONLY);
		r = run_raw(t, 0, 0, 0);
		TEST_ASSERT(r.exit == (EXIT_VMFAIL | VMXERR_VMRESUME_NONLAUNCHED),
			    "VMRESUME after a VMCLEAR on another vCPU: 0x%lx", r.exit);
		nested_ctx_model_check(t->vm, &t->m, true, "xclear fail");
		run_one(t, 0, 0, F_LAUNCH | F_NOLOAD);
	}
	pr_info("xclear: %lu ops, %lu loads, reuse %lu, peak %lu / capacity %u, %s\n",
		t->ops, t->m.loads, t->m.reuse, t->m.peak, t->m.cap,
		memcg_delta(t->memcg0, memcg_kb()));
	test_destroy(t, true);
}

/*
 * The odd memslot: 2 pages at @gpa filled with @fill.  -U backs it with
 * unmanaged pages, the other of two backings each time, and fills the one
 * it leaves with the opposite: a cache that kept the old page reads that.
 */
static void odd_slot_add(struct test *t, uint64_t gpa, uint8_t fill)
{
	if (unmanaged) {
		memset(t->odd_spare[t->odd_next], ~fill, 2 * PAGE_SIZE);
		t->odd_next ^= 1;
		t->odd_hva = t->odd_spare[t->odd_next];
		memset(t->odd_hva, fill, 2 * PAGE_SIZE);
		nested_ctx_unmanaged_slot(t->vm, ODD_SLOT, 0, gpa, t->odd_hva, 2);
		return;
	}
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, gpa,
				    ODD_SLOT, 2, 0);
	t->odd_hva = addr_gpa2hva(t->vm, gpa);
	memset(t->odd_hva, fill, 2 * PAGE_SIZE);
}

static void odd_slot_delete(struct test *t)
{
	if (unmanaged)
		nested_ctx_unmanaged_slot(t->vm, ODD_SLOT, 0, 0, NULL, 0);
	else
		vm_mem_region_delete(t->vm, ODD_SLOT);
}

static void odd_slot_move(struct test *t, uint64_t gpa)
{
	if (unmanaged)
		nested_ctx_unmanaged_slot(t->vm, ODD_SLOT, 0, gpa, t->odd_hva, 2);
	else
		vm_mem_region_move(t->vm, ODD_SLOT, gpa);
}

/*
 * Run L2 0 (an RDMSR, then VMCALL) with its MSR bitmap / MSRPM at @gpa and
 * expect @msr exits to L1 or, when @fail, SVM's VMRUN to fail.  On VMX an
 * unreadable bitmap makes every RDMSR exit to L1; on SVM VMRUN fails.
 */
static void odd_run(struct test *t, uint64_t gpa, uint64_t msr, bool fail,
		    const char *what)
{
	struct l2_desc *l2 = &t->l2s[0];
	struct entry e = { 0, 0 };
	struct result r;
	uint64_t i;

	if (l2->msr_gpa != gpa) {
		l2->msr_gpa = gpa;
		e.flags |= F_MSRBM;
	}
	/* Switch away, as an L1 does, and back. */
	run_one(t, 0, 1, 0);
	fixup(t, &e);
	r = run_raw(t, 0, 0, e.flags);
	if (fail && !is_vmx) {
		TEST_ASSERT(r.exit == (uint32_t)SVM_EXIT_ERR,
			    "%s: exit 0x%lx, want SVM_EXIT_ERR", what, r.exit);
	} else {
		expect_run(t, 0, &e, &r, msr);
		/* SVM: L1 VMRUNs again after each RDMSR exit, each a load. */
		for (i = 0; !is_vmx && i < r.msr_exits; i++)
			nested_ctx_model_vmrun(&t->m, 0, l2->gpa);
	}
	nested_ctx_model_check(t->vm, &t->m, true, what);
}

/*
 * VMX: run L2 @id with the virtual-APIC (@apic false) or APIC-access page
 * at @gpa, after a switch to L2 1 and back.
 */
static void odd_apic_run(struct test *t, uint32_t id, bool apic, uint64_t gpa,
			 const char *what)
{
	struct l2_desc *l2 = &t->l2s[id];
	uint64_t *field = apic ? &l2->apic_gpa : &l2->vapic_gpa;
	struct entry e = { id, 0 };
	struct result r;

	if (*field != gpa) {
		*field = gpa;
		e.flags |= F_APIC;
	}
	run_one(t, 0, 1, 0);
	fixup(t, &e);
	r = run_raw(t, 0, id, e.flags);
	expect_run(t, 0, &e, &r, 0);
	nested_ctx_model_check(t->vm, &t->m, true, what);
}

/*
 * VMX: L2 2 runs with a virtual-APIC page wherever it points: KVM drops
 * the TPR shadow (the CPU would never read it, CR8 accesses exit) when
 * the page has no backing.  L2 3 runs with an APIC-access page, until
 * its memslot goes away while it is cached: the next entry must fail
 * with KVM's internal error, as stock KVM's does, and not use the page.
 */
static void test_odd_apic_pages(void)
{
	struct test *t = test_create(4);
	struct kvm_run *run;
	uint64_t vapic_gpa = t->msr_zero_gpa + PAGE_SIZE;
	int i;

	run_one(t, 0, 1, 0);
	for (i = 0; i < 2; i++) {
		odd_apic_run(t, 2, false, vapic_gpa, "vAPIC page in RAM");
		odd_apic_run(t, 2, false, NO_SLOT_GPA, "vAPIC page in no memslot");
		odd_apic_run(t, 2, false, MMIO_GPA, "vAPIC page on MMIO");
		odd_apic_run(t, 2, false, vapic_gpa, "vAPIC page back in RAM");
		odd_slot_add(t, ODD_GPA, 0);
		odd_apic_run(t, 2, false, ODD_GPA, "vAPIC page in own slot");
		odd_slot_delete(t);
		odd_apic_run(t, 2, false, ODD_GPA, "vAPIC slot deleted");
		odd_slot_add(t, ODD_GPA, 0);
		odd_apic_run(t, 2, false, ODD_GPA, "vAPIC slot re-added");
		odd_slot_move(t, ODD_GPA2);
		odd_apic_run(t, 2, false, ODD_GPA, "vAPIC slot moved away");
		odd_apic_run(t, 2, false, ODD_GPA2, "vAPIC at the moved slot");
		odd_slot_delete(t);
	}

	odd_slot_add(t, ODD_GPA, 0);
	odd_apic_run(t, 3, true, ODD_GPA, "APIC-access page in own slot");
	odd_apic_run(t, 3, true, ODD_GPA, "APIC-access page, again");
	odd_slot_delete(t);
	run_one(t, 0, 1, 0);
	t->mb[0]->e[0] = (struct entry){ 3, 0 };
	mb_post(t, 0, OP_RUN, 1);
	vcpu_run(t->vcpus[0]);
	run = t->vcpus[0]->run;
	TEST_ASSERT(run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
		    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION,
		    "APIC-access slot deleted: exit %s, suberror %u, want an internal error",
		    exit_reason_str(run->exit_reason), run->internal.suberror);
	pr_info("oddpages: APIC pages: %lu ops, %lu loads, peak %lu / capacity %u, %s\n",
		t->ops, t->m.loads, t->m.peak, t->m.cap, memcg_delta(t->memcg0, memcg_kb()));
	/* L1 is stuck at its VMRESUME: no VMXOFF. */
	test_destroy(t, false);
}

/*
 * SVM: a VMRUN whose vmcb12 fails the consistency checks takes no context
 * and moves no statistic, and the vCPU keeps the context it holds: L2 1
 * never runs, once right after an EFER.SVME toggle (holding nothing), once
 * while vCPU 0 holds L2 0's context.
 */
static void odd_invalid_vmrun(struct test *t)
{
	struct entry e;
	struct result r;
	int i;

	for (i = 0; i < 2; i++) {
		run_one(t, 0, 0, 0);
		e = (struct entry){ 1, F_INVALID };
		fixup(t, &e);
		r = run_raw(t, 0, 1, e.flags);
		TEST_ASSERT(r.exit == (uint32_t)SVM_EXIT_ERR,
			    "invalid vmcb12: exit 0x%lx, want SVM_EXIT_ERR", r.exit);
		TEST_ASSERT(r.count == t->runs[1], "invalid vmcb12: L2 1 ran");
		nested_ctx_model_check(t->vm, &t->m, true,
				       i ? "invalid VMRUN" : "invalid VMRUN, none held");
		run_one(t, 0, 0, 0);
	}
}

static void test_oddpages(void)
{
	struct test *t = test_create(2);
	int i;

	/* L2 0 reads MSR 0x174 before every VMCALL. */
	t->l2s[0].rip = l2_code(L2_MSR);
	t->l2s[0].msr_gpa = t->msr_zero_gpa;
	if (!is_vmx)
		odd_invalid_vmrun(t);
	run_one(t, 0, 0, 0);
	run_one(t, 0, 1, 0);
	for (i = 0; i < 4; i++) {
		odd_run(t, t->msr_zero_gpa, 0, false, "bitmap in RAM");
		odd_run(t, NO_SLOT_GPA, 1, true, "bitmap in no memslot");
		odd_run(t, t->msr_zero_gpa, 0, false, "bitmap back in RAM");
		odd_run(t, MMIO_GPA, 1, true, "bitmap on MMIO");
		odd_run(t, t->msr_zero_gpa, 0, false, "bitmap back from MMIO");

		odd_slot_add(t, ODD_GPA, 0);
		odd_run(t, ODD_GPA, 0, false, "bitmap in own slot");
		odd_run(t, ODD_GPA, 0, false, "bitmap in own slot, again");
		odd_slot_delete(t);
		odd_run(t, ODD_GPA, 1, true, "bitmap slot deleted");
		odd_slot_add(t, ODD_GPA, 0xff);
		odd_run(t, ODD_GPA, 1, false, "bitmap slot re-added, all set");
		memset(t->odd_hva, 0, 2 * PAGE_SIZE);
		odd_run(t, ODD_GPA, 0, false, "bitmap slot cleared");
		odd_slot_move(t, ODD_GPA2);
		odd_run(t, ODD_GPA, 1, true, "bitmap slot moved away");
		memset(t->odd_hva, 0xff, 2 * PAGE_SIZE);
		odd_run(t, ODD_GPA2, 1, false, "bitmap at the moved slot");
		odd_slot_delete(t);
	}
	pr_info("oddpages: %lu ops, %lu loads, peak %lu / capacity %u, %s\n",
		t->ops, t->m.loads, t->m.peak, t->m.cap, memcg_delta(t->memcg0, memcg_kb()));
	test_destroy(t, true);
	if (is_vmx)
		test_odd_apic_pages();
}

/*
 * More L2s than capacity, run on both vCPUs; each vCPU is left with one
 * attached (VMX: current) and the rest on the LRU; the VM is destroyed
 * without VMXOFF.  Every other VM loses vCPU 0 while it is in L2.
 */
static void test_teardown(void)
{
	int nr = ratio > 0 ? ratio * NR_VCPUS + 4 : 8, it, i;
	uint64_t ops = 0, peak = 0;
	unsigned int cap = 0;
	int64_t cg0 = -1, cg1;

	if (nr > 64)
		nr = 64;
	for (it = 0; it < teardown_iters; it++) {
		struct test *t = test_create(nr);
		struct entry list[64];

		for (i = 0; i < nr; i++) {
			list[i].id = i;
			list[i].flags = 0;
		}
		run_batch(t, 0, list, nr / 2, true, "teardown");
		run_batch(t, 1, list + nr / 2, nr - nr / 2, true, "teardown");
		if (it & 1) {
			struct entry e = { 0, 0 };

			t->l2s[0].rip = l2_code(L2_IO);
			fixup(t, &e);
			account(t, 0, &e);
			t->mb[0]->e[0] = (struct entry){ 0, e.flags | F_RIP };
			mb_post(t, 0, OP_RUN, 1);
			TEST_ASSERT(!run_vcpu(t, 0), "L2 did not exit to the host");
		}
		ops += t->ops;
		peak = t->m.peak > peak ? t->m.peak : peak;
		cap = t->m.cap;
		test_destroy(t, false);
		/* Once the first VM is gone: what stays charged after that. */
		if (!it)
			cg0 = memcg_kb();
	}
	cg1 = memcg_kb();
	pr_info("teardown: %d VMs of %d L2s, %lu ops, peak %lu / capacity %u, %s after the first VM\n",
		teardown_iters, nr, ops, peak, cap, memcg_delta(cg0, cg1));
	/*
	 * Every VM gave back what it was charged.  512 kB is under what
	 * leaking the contexts of each VM would keep at the default ratio
	 * (16 contexts of at least 512 bytes, 99 VMs); kmemleak on the debug
	 * kernel finds smaller leaks.
	 */
	if (cg0 >= 0 && cg1 >= 0)
		TEST_ASSERT(cg1 - cg0 <= 512,
			    "teardown: %ld kB still charged after %d VMs",
			    cg1 - cg0, teardown_iters - 1);
}

/*
 * Multiplex, stop vCPU 0 inside an L2 (at its OUT) and vCPU 1 between
 * L2s, save both, restore them into a fresh VM and go on there.
 */
static void test_saverestore(void)
{
	int nr = ratio > 0 ? ratio * NR_VCPUS + 4 : 8, v, i, round, half;
	struct kvm_x86_state *state[NR_VCPUS];
	struct test *t;
	struct entry list[64], e;
	struct result r;

	if (nr > 64)
		nr = 64;
	t = test_create(nr);
	half = nr / NR_VCPUS;
	for (round = 0; round < 3; round++) {
		for (v = 0; v < NR_VCPUS; v++) {
			/* vCPU v runs the L2s i with i % NR_VCPUS == v. */
			for (i = 0; i < half; i++) {
				list[i].id = ((i + round) % half) * NR_VCPUS + v;
				list[i].flags = 0;
			}
			run_batch(t, v, list, half, round == 0,
				  "saverestore before");
		}

		/* vCPU 0 into its L2 0 up to the OUT. */
		t->l2s[0].rip = l2_code(L2_IO);
		e = (struct entry){ 0, F_RIP };
		fixup(t, &e);
		account(t, 0, &e);
		t->mb[0]->e[0] = e;
		mb_post(t, 0, OP_RUN, 1);
		TEST_ASSERT(!run_vcpu(t, 0), "L2 did not exit to the host");

		for (v = 0; v < NR_VCPUS; v++)
			state[v] = vcpu_save_state(t->vcpus[v]);
		TEST_ASSERT(state[0]->nested.size &&
			    (state[0]->nested.flags & KVM_STATE_NESTED_GUEST_MODE),
			    "vCPU 0 not saved in guest mode");
		kvm_vm_release(t->vm);
		kvm_vm_restart(t->vm);
		for (v = 0; v < NR_VCPUS; v++) {
			t->vcpus[v] = vm_vcpu_recreate(t->vm, v);
			vcpu_load_state(t->vcpus[v], state[v]);
			kvm_x86_state_cleanup(state[v]);
		}
		/* A fresh table: whatever the restore loaded, within bounds. */
		nested_ctx_model_free(&t->m);
		nested_ctx_model_init(&t->m, ratio > 0 ? ratio * NR_VCPUS : 0);
		nested_ctx_model_check(t->vm, &t->m, false, "restored");

		/* vCPU 0 finishes its L2 run and syncs. */
		while (!run_vcpu(t, 0))
			;
		r = t->mb[0]->r[0];
		expect_run(t, 0, &e, &r, 0);
		t->l2s[0].rip = l2_code(L2_PLAIN);
		run_one_bounded(t, 0, 0, F_RIP);
		for (v = 0; v < NR_VCPUS; v++) {
			for (i = 0; i < half; i++) {
				list[i].id = i * NR_VCPUS + v;
				list[i].flags = 0;
			}
			run_batch(t, v, list, half, false, "saverestore after");
		}
	}
	pr_info("saverestore: %lu ops, peak %lu / capacity %u in the last VM, %s\n",
		t->ops, t->m.peak, t->m.cap, memcg_delta(t->memcg0, memcg_kb()));
	test_destroy(t, true);
}

static void help(const char *name)
{
	printf("usage: %s [-m storm|shared|xclear|oddpages|teardown|saverestore|all]\n"
	       "          [-n storm ops] [-g storm GPAs] [-t teardown VMs]\n"
	       "          [-U [-A host-physical-address]] [-F]\n"
	       "  -U  the pages the cache maps in unmanaged memory: RAM hidden\n"
	       "      from the host with mem=, mmapped from /dev/mem (-A: where)\n"
	       "  -F  functional checks only, no nested_context_* stats (stock KVM)\n",
	       name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	const char *mode = "all";
	bool all, any = false;
	int opt;

	while ((opt = getopt(argc, argv, "m:n:g:t:UA:Fh")) != -1) {
		switch (opt) {
		case 'U':
			unmanaged = true;
			break;
		case 'A':
			unmanaged_phys = strtoull(optarg, NULL, 0);
			break;
		case 'F':
			no_stats = true;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			storm_ops = atoi_positive("storm ops", optarg);
			break;
		case 'g':
			storm_l2 = atoi_positive("storm GPAs", optarg);
			TEST_ASSERT(storm_l2 >= NR_VCPUS && storm_l2 <= MAX_L2,
				    "-g must be %d..%d", NR_VCPUS, MAX_L2);
			break;
		case 't':
			teardown_iters = atoi_positive("teardown VMs", optarg);
			break;
		default:
			help(argv[0]);
		}
	}

	is_vmx = kvm_cpu_has(X86_FEATURE_VMX);
	TEST_REQUIRE(is_vmx || kvm_cpu_has(X86_FEATURE_SVM));
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_NESTED_STATE));
	ratio = nested_ctx_ratio();
	pr_info("%s, nested_context_ratio %d, %d L1 vCPUs\n",
		is_vmx ? "nested VMX" : "nested SVM", ratio, NR_VCPUS);

	all = !strcmp(mode, "all");
#define MODE(name)						\
	do {							\
		if (all || !strcmp(mode, #name)) {		\
			test_##name();				\
			any = true;				\
		}						\
	} while (0)
	MODE(storm);
	MODE(shared);
	MODE(xclear);
	MODE(oddpages);
	MODE(teardown);
	MODE(saverestore);
	if (!any)
		help(argv[0]);
	return 0;
}
