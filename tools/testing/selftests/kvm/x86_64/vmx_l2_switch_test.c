// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_l2_switch_test
 *
 * Several L1 vCPUs multiplex up to 16 L2 guests each, one vmcs12 per L2:
 *
 * - sched:   VMPTRLD of another L2 and VMRESUME, without VMCLEAR;
 * - migrate: VMCLEAR of an L2 on one L1 vCPU, then VMPTRLD and VMLAUNCH of
 *            the same vmcs12 on another L1 vCPU, which continues the L2;
 * - evmcs:   both, with enlightened VMCSs: the "VMPTRLD" is a write to the
 *            VP assist page, which KVM sees at the next VMLAUNCH/VMRESUME.
 *
 * With -r the host moves every (e)VMCS to a new page between commands, so
 * that the L2s switched out have a cached mapping that went stale: it
 * copies the page, then fills the old one with garbage.  Before each entry
 * L1 clears the exit reason in the eVMCS, so an exit that KVM wrote to a
 * stale page, or an entry that read one, fails the checks.
 *
 * L1 checks every switch architecturally (VMPTRST, the VMCALL exit reason,
 * the L2's RSP and the state the L2 keeps on its own stack).  Each L2 also
 * has its own GUEST_GDTR_LIMIT, a field that only KVM's
 * prepare_vmcs02_rare() copies into the hardware VMCS: the L2 reports it
 * with SGDT before each VMCALL, and it must be the value L1 last gave that
 * L2, also in VMREAD after the exit.  L1 changes it with VMWRITE at every
 * third load of an L2; without eVMCS, at every fifth load it also writes
 * it directly into the VMCS's memory before VMPTRLD, while that VMCS is
 * not current (active, or clear with migrate).  The SDM does not allow the
 * latter (24.11.1); stock KVM reads the vmcs12 page at every VMPTRLD of
 * another VMCS, so the L2 sees the new value, and so must it with ours.
 * At every fourth load, L1 also VMWRITEs a new limit after the exit, just
 * before it switches to another L2.  With -k (the benchmarks' workload) L1
 * sets the limit at launch only.
 *
 * Like KVM as an L1, and unlike the library's vmresume(), L1 writes
 * HOST_RSP and HOST_RIP only when they change: a VMWRITE of a field that
 * is not shadowed marks the whole vmcs12 dirty in KVM, which would rebuild
 * the rarely written part of the hardware VMCS at every VM-entry.
 *
 * With -p (not with eVMCS) each L2 has its own MSR bitmap and RDMSRs
 * FS_BASE before each VMCALL: L2s with an odd id intercept it, the others
 * do not, and L1 flips an L2's bit at every seventh load (not with -k).
 * KVM merges L1's bitmap into its own; the RDMSR must exit to L1 exactly
 * when the current L2's bitmap says so.  The host runs
 * one vCPU at a time, so that it can replay the VMPTRLD/VMCLEAR sequence on
 * a model of KVM's nested context table and assert the exact values of the
 * nested_context_reuse and nested_context_recycle VM stats, for L2 counts
 * below, at and above the table's capacity (nested_context_ratio times the
 * number of vCPUs).  With nested_context_ratio=0 the same switches must pass
 * with both stats at 0.  Without those stats (stock KVM) the test fails,
 * unless -F asks for the functional checks only.
 *
 * With -U every page the cache maps is in unmanaged memory (RAM hidden
 * from the host kernel with mem=, mmapped from /dev/mem: a VM_PFNMAP
 * mapping without struct pages): the (e)VMCSs and, with -p, the MSR
 * bitmaps, the virtual-APIC and APIC-access pages.  Without hidden RAM or
 * /dev/mem the test SKIPs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "hyperv.h"
#include "vmx.h"
#include "nested_context.h"

#define NR_L1		2
#define MAX_L2_PER_L1	16
#define MAX_L2		(NR_L1 * MAX_L2_PER_L1)
#define L2_STACK_SIZE	4096
#define L2_MAGIC	0x6c32737769746368ull	/* "l2switch" */

enum {
	CMD_INIT = 1,	/* VMXON */
	CMD_LAUNCH,	/* VMCLEAR, VMPTRLD, set up and VMLAUNCH arg */
	CMD_SCHED,	/* count switches over own[]: VMPTRLD + VMRESUME */
	CMD_CLEAR,	/* VMCLEAR arg */
	CMD_MIGRATE_IN,	/* VMPTRLD + VMLAUNCH arg, cleared on another vCPU */
	CMD_VMXOFF,
};

struct l2_state {
	uint64_t vmcs_gva;
	uint64_t vmcs_gpa;
	uint64_t vapic_gpa;	/* with -p */
	uint64_t msr_gva;	/* with -p: the L2's own MSR bitmap */
	uint64_t msr_gpa;
	uint64_t intercept_fs;	/* L1 intercepts the L2's RDMSR of FS_BASE */
	uint64_t msr_exits;	/* RDMSR exits to L1 in the current run */
	uint64_t runs;		/* written by the L2: entries it has seen */
	uint64_t expect;	/* maintained by L1 */
	uint64_t bad;		/* the L2's stack state did not survive */
	uint64_t gdt_limit;	/* maintained by L1: the L2's GUEST_GDTR_LIMIT */
	uint64_t seen_limit;	/* written by the L2: SGDT's limit */
	uint64_t loads;		/* L1's VMPTRLDs of this L2 */
	uint64_t gen;		/* L1's changes of gdt_limit */
	uint64_t host_rsp;	/* HOST_RSP that l1_vmresume() last wrote */
};

struct l1_cmd {
	uint64_t op;
	uint64_t arg;
	uint64_t count;
	uint64_t nr_own;
	uint64_t own[MAX_L2_PER_L1];
	uint64_t cur;		/* index into own[] of the current L2 */
	uint64_t done;		/* switches done by the last command */
	uint64_t hv_pages;	/* GVA of the vCPU's hyperv_test_pages (evmcs) */
};

struct test_data {
	uint64_t stacks;	/* GVA of MAX_L2 stacks of L2_STACK_SIZE */
	uint64_t evmcs;		/* the L2s use enlightened VMCSs */
	uint64_t keep_limit;	/* -k: L1 sets GDTR limits at launch only */
	uint64_t msr_test;	/* -p without eVMCS: the L2s RDMSR FS_BASE */
	uint64_t apic_access_gpa;	/* with -p: the pages a real L1 uses */
	struct l1_cmd cmd[NR_L1];
	struct l2_state l2[MAX_L2];
};

static struct test_data *td;	/* GVA, for the guests */

static uint64_t l2_self(void)
{
	uint64_t rsp;

	asm volatile("mov %%rsp, %0" : "=r"(rsp));
	return (rsp - td->stacks) / L2_STACK_SIZE;
}

/*
 * vmcall(), but stepping over the red zone, where the leaf function below
 * may keep its locals: vmcall() pushes RBP, as L1 does not preserve it.
 */
static inline void l2_vmcall(void)
{
	asm volatile("sub $128, %%rsp; push %%rbp; vmcall; pop %%rbp; add $128, %%rsp"
		     : : "a"(0xdeadbeef), "c"(0xbeefdead)
		     : "rbx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		       "r12", "r13", "r14", "r15", "memory");
}

/*
 * RDMSR of FS_BASE, which may exit to L1: like l2_vmcall(), L1 does not
 * preserve the L2's registers across it.
 */
static inline void l2_rdmsr_fs(void)
{
	uint64_t ecx = MSR_FS_BASE;

	asm volatile("sub $128, %%rsp; push %%rbp; rdmsr; pop %%rbp; add $128, %%rsp"
		     : "+c"(ecx)
		     : : "rax", "rbx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
		       "r11", "r12", "r13", "r14", "r15", "memory");
}

/*
 * Every L2 runs this on its own stack, which identifies it.  The marker
 * lives on that stack; after each VMCALL it must still hold this L2's value,
 * whichever L1 vCPU resumed it.
 */
static void l2_guest_code(void)
{
	uint64_t marker;
	uint64_t id = l2_self();
	uint64_t n;

	for (n = 1;; n++) {
		WRITE_ONCE(marker, L2_MAGIC ^ (id << 48) ^ n);
		WRITE_ONCE(td->l2[id].runs, n);
		WRITE_ONCE(td->l2[id].seen_limit, get_gdt().size);
		if (td->msr_test)
			l2_rdmsr_fs();
		l2_vmcall();
		if (READ_ONCE(marker) != (L2_MAGIC ^ (id << 48) ^ n))
			WRITE_ONCE(td->l2[id].bad, n);
	}
}

/*
 * VMRESUME of L2 @id, writing HOST_RSP and HOST_RIP only when the stack
 * differs from the one they were written for (not inlined, so that the
 * return label is the same for every call).  Registers other than RSP are
 * not preserved across the exit, as in vmresume().
 */
static noinline int l1_vmresume(uint64_t id)
{
	uint64_t *host_rsp = &td->l2[id].host_rsp;
	int ret;

	if (td->evmcs)
		return vmresume();

	__asm__ __volatile__("push %%rbp;"
			     "push %%rcx;"
			     "push %%rdx;"
			     "push %%rsi;"
			     "push %%rdi;"
			     "push $0;"
			     "cmp %%rsp, (%[rec]);"
			     "je 2f;"
			     "mov %%rsp, (%[rec]);"
			     "vmwrite %%rsp, %[host_rsp];"
			     "lea 1f(%%rip), %%rax;"
			     "vmwrite %%rax, %[host_rip];"
			     "2: vmresume;"
			     "incq (%%rsp);"
			     "1: pop %%rax;"
			     "pop %%rdi;"
			     "pop %%rsi;"
			     "pop %%rdx;"
			     "pop %%rcx;"
			     "pop %%rbp;"
			     : [ret]"=&a"(ret)
			     : [host_rsp]"r"((uint64_t)HOST_RSP),
			       [host_rip]"r"((uint64_t)HOST_RIP),
			       [rec]"r"(host_rsp)
			     : "memory", "cc", "rbx", "r8", "r9", "r10",
			       "r11", "r12", "r13", "r14", "r15");
	return ret;
}

/* VMLAUNCH of L2 @id: vmlaunch() writes HOST_RSP and HOST_RIP itself. */
static int l1_vmlaunch(uint64_t id)
{
	td->l2[id].host_rsp = 0;
	return vmlaunch();
}

static void l1_new_limit(uint64_t id, bool direct);

/*
 * After an L2 exit: resume the L2 over the RDMSRs that exit to L1, check
 * the VMCALL exit that follows, and step the L2 over its VMCALL.
 */
static void l1_check_exit(uint64_t id)
{
	struct l2_state *l2 = &td->l2[id];
	uint64_t rsp;

	l2->msr_exits = 0;
	while (vmreadz(VM_EXIT_REASON) == EXIT_REASON_MSR_READ) {
		l2->msr_exits++;
		vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) +
			vmreadz(VM_EXIT_INSTRUCTION_LEN));
		GUEST_ASSERT(!l1_vmresume(id));
	}
	/* L1's MSR bitmap, merged into KVM's, decides: never a stale one. */
	GUEST_ASSERT_EQ(l2->msr_exits, td->msr_test && l2->intercept_fs);

	rsp = vmreadz(GUEST_RSP);
	GUEST_ASSERT_EQ(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);
	GUEST_ASSERT_EQ(vmptrstz(), l2->vmcs_gpa);
	GUEST_ASSERT(rsp > td->stacks + id * L2_STACK_SIZE &&
		     rsp <= td->stacks + (id + 1) * L2_STACK_SIZE);
	GUEST_ASSERT_EQ(l2->bad, 0);
	l2->expect++;
	GUEST_ASSERT_EQ(l2->runs, l2->expect);
	GUEST_ASSERT_EQ(l2->seen_limit, l2->gdt_limit);
	GUEST_ASSERT_EQ(vmreadz(GUEST_GDTR_LIMIT), l2->gdt_limit);

	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + vmreadz(VM_EXIT_INSTRUCTION_LEN));

	/*
	 * A VMWRITE after the exit, of a field only prepare_vmcs02_rare()
	 * copies, that the vmcs02 of this L2 must pick up when L1 switches
	 * back to it, whatever ran in between.
	 */
	if (!td->keep_limit && l2->loads % 4 == 0)
		l1_new_limit(id, false);
}

/*
 * Set L2 @id's intercept of RDMSR of FS_BASE in its MSR bitmap (the read
 * bitmap for high MSRs starts at byte 1024), with an ordinary write, as the
 * SDM allows between VM-entries.  KVM passes FS_BASE through to L1, so it
 * is L1's bit that decides whether the RDMSR exits to L1.
 */
static void l1_intercept_fs(uint64_t id, bool on)
{
	uint8_t *byte = (uint8_t *)td->l2[id].msr_gva + 1024 +
			(MSR_FS_BASE & 0x1fff) / 8;

	td->l2[id].intercept_fs = on;
	if (on)
		WRITE_ONCE(*byte, *byte | 1 << (MSR_FS_BASE & 7));
	else
		WRITE_ONCE(*byte, *byte & ~(1 << (MSR_FS_BASE & 7)));
}

/*
 * Like a real L1: an MSR bitmap per L2, the TPR shadow with a
 * virtual-APIC page per L2, and an APIC-access page.  KVM maps them at
 * every nested VM-entry.  The L2s with an odd id intercept their RDMSR of
 * FS_BASE, the others do not, so that KVM's merged bitmap differs between
 * them; except with -k (the benchmarks' workload), where all are alike.
 */
static void l1_use_pages(uint64_t id)
{
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, vmreadz(CPU_BASED_VM_EXEC_CONTROL) |
		CPU_BASED_ACTIVATE_SECONDARY_CONTROLS | CPU_BASED_TPR_SHADOW |
		CPU_BASED_USE_MSR_BITMAPS);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	vmwrite(APIC_ACCESS_ADDR, td->apic_access_gpa);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, td->l2[id].vapic_gpa);
	vmwrite(TPR_THRESHOLD, 0);
	vmwrite(MSR_BITMAP, td->l2[id].msr_gpa);
	l1_intercept_fs(id, !td->keep_limit && (id & 1));
}

/* KVM's struct vmcs12 (arch/x86/kvm/vmx/vmcs12.h): CHECK_OFFSET(). */
#define VMCS12_GUEST_GDTR_LIMIT	872

/*
 * A new GUEST_GDTR_LIMIT for L2 @id, unique among the L2s and above the
 * GDT's real limit (a page), so that the L2 is not disturbed by it: with
 * VMWRITE to the current VMCS, or, @direct, with a plain write to the
 * memory of a VMCS that is not current.
 */
static void l1_new_limit(uint64_t id, bool direct)
{
	struct l2_state *l2 = &td->l2[id];
	uint64_t v = 0x2000 + (id << 8) + (++l2->gen & 0xff);

	if (direct)
		WRITE_ONCE(*(uint32_t *)(l2->vmcs_gva + VMCS12_GUEST_GDTR_LIMIT), v);
	else
		GUEST_ASSERT(!vmwrite(GUEST_GDTR_LIMIT, v));
	l2->gdt_limit = v;
}

static void l1_load(uint64_t id)
{
	struct l2_state *l2 = &td->l2[id];

	l2->loads++;
	if (!td->evmcs && !td->keep_limit && l2->loads % 5 == 0)
		l1_new_limit(id, true);

	if (td->evmcs) {
		GUEST_ASSERT(!evmcs_vmptrld(td->l2[id].vmcs_gpa,
					    (void *)td->l2[id].vmcs_gva));
		/* KVM must write the next exit to the page L1 sees. */
		current_evmcs->vm_exit_reason = 0;
	} else {
		GUEST_ASSERT(!vmptrld(td->l2[id].vmcs_gpa));
	}
	GUEST_ASSERT_EQ(vmptrstz(), td->l2[id].vmcs_gpa);

	if (!td->keep_limit && l2->loads % 3 == 0)
		l1_new_limit(id, false);
	/* And now and then a change of its MSR bitmap. */
	if (td->msr_test && !td->keep_limit && l2->loads % 7 == 0)
		l1_intercept_fs(id, !l2->intercept_fs);
}

static void l1_guest_code(struct vmx_pages *vmx, uint64_t idx)
{
	struct l1_cmd *cmd = &td->cmd[idx];
	uint64_t id, i;

	for (;;) {
		GUEST_SYNC(cmd->done);
		cmd->done = 0;

		/* The library's eVMCS state is global: make it this vCPU's. */
		if (td->evmcs)
			current_vp_assist =
				((struct hyperv_test_pages *)cmd->hv_pages)->vp_assist;

		switch (cmd->op) {
		case CMD_INIT:
			if (td->evmcs) {
				struct hyperv_test_pages *hv = (void *)cmd->hv_pages;

				wrmsr(HV_X64_MSR_GUEST_OS_ID, HYPERV_LINUX_OS_ID);
				enable_vp_assist(hv->vp_assist_gpa, hv->vp_assist);
				evmcs_enable();
			}
			GUEST_ASSERT(prepare_for_vmx_operation(vmx));
			break;
		case CMD_LAUNCH:
			id = cmd->arg;
			*(uint32_t *)td->l2[id].vmcs_gva =
				td->evmcs ? EVMCS_VERSION : vmcs_revision();
			GUEST_ASSERT(!vmclear(td->l2[id].vmcs_gpa));
			l1_load(id);
			prepare_vmcs(vmx, l2_guest_code,
				     (void *)(td->stacks + (id + 1) * L2_STACK_SIZE));
			l1_new_limit(id, false);
			if (td->msr_test)
				l1_use_pages(id);
			GUEST_ASSERT(!l1_vmlaunch(id));
			l1_check_exit(id);
			cmd->done = 1;
			break;
		case CMD_SCHED:
			for (i = 0; i < cmd->count; i++) {
				cmd->cur = (cmd->cur + 1) % cmd->nr_own;
				id = cmd->own[cmd->cur];
				l1_load(id);
				GUEST_ASSERT(!l1_vmresume(id));
				l1_check_exit(id);
				cmd->done++;
			}
			break;
		case CMD_CLEAR:
			GUEST_ASSERT(!vmclear(td->l2[cmd->arg].vmcs_gpa));
			/* An eVMCS stays in the VP assist page. */
			if (!td->evmcs)
				GUEST_ASSERT_EQ(vmptrstz() == td->l2[cmd->arg].vmcs_gpa, 0);
			break;
		case CMD_MIGRATE_IN:
			id = cmd->arg;
			l1_load(id);
			/* VMCLEAR made the launch state clear. */
			GUEST_ASSERT(!l1_vmlaunch(id));
			l1_check_exit(id);
			cmd->done = 1;
			break;
		case CMD_VMXOFF:
			vmxoff();
			GUEST_DONE();
			break;
		default:
			GUEST_FAIL("bad command %lu", cmd->op);
		}
	}
}

/*
 * A replay of KVM's nested context table (arch/x86/kvm/nested.c) for the
 * VMPTRLD/VMCLEAR/VMXOFF sequence the host drives.
 */
struct model {
	uint64_t cap, nr;
	uint64_t gpa[MAX_L2];	/* contexts in the table */
	int owner[MAX_L2];	/* vCPU holding the context, or -1 */
	uint64_t lru[MAX_L2];	/* detached contexts, by GPA, oldest first */
	uint64_t nr_lru;
	uint64_t current[NR_L1];	/* the vCPU's VMPTR, or -1 */
	int held[NR_L1];	/* the table index the vCPU holds, or -1 */
	uint64_t reuse, recycle;
};

static int model_find(struct model *m, uint64_t gpa)
{
	uint64_t i;

	for (i = 0; i < m->nr; i++)
		if (m->gpa[i] == gpa)
			return i;
	return -1;
}

static void model_lru_del(struct model *m, uint64_t gpa)
{
	uint64_t i;

	for (i = 0; i < m->nr_lru; i++) {
		if (m->lru[i] == gpa) {
			memmove(&m->lru[i], &m->lru[i + 1],
				(m->nr_lru - i - 1) * sizeof(m->lru[0]));
			m->nr_lru--;
			return;
		}
	}
	TEST_FAIL("model: %lx not on the LRU", gpa);
}

static void model_detach(struct model *m, int i)
{
	m->owner[i] = -1;
	m->lru[m->nr_lru++] = m->gpa[i];
}

static void model_put(struct model *m, int v)
{
	int i = m->held[v];

	if (i >= 0 && m->owner[i] == v)
		model_detach(m, i);
	m->held[v] = -1;
}

static void model_load(struct model *m, int v, uint64_t gpa)
{
	int i = model_find(m, gpa);

	if (i >= 0) {
		if (m->owner[i] == -1) {
			m->reuse++;
			model_lru_del(m, gpa);
			m->owner[i] = v;
		} else if (m->owner[i] != v) {
			i = -1;		/* held by another vCPU: private */
		}
	} else if (m->nr < m->cap) {
		i = m->nr++;
		m->gpa[i] = gpa;
		m->owner[i] = v;
	} else if (m->nr_lru) {
		i = model_find(m, m->lru[0]);
		model_lru_del(m, m->lru[0]);
		m->gpa[i] = gpa;
		m->owner[i] = v;
		m->recycle++;
	}
	m->held[v] = i;
}

static void model_vmptrld(struct model *m, int v, uint64_t gpa)
{
	if (m->current[v] == gpa)
		return;
	model_put(m, v);
	model_load(m, v, gpa);
	m->current[v] = gpa;
}

static void model_vmclear(struct model *m, int v, uint64_t gpa)
{
	int i;

	if (m->current[v] == gpa) {
		model_put(m, v);
		m->current[v] = -1ull;
	}
	i = model_find(m, gpa);
	if (i >= 0 && m->owner[i] == v)
		model_detach(m, i);
}

struct run {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpus[NR_L1];
	struct test_data *td;	/* HVA */
	struct model m;
	uint64_t runs[MAX_L2];	/* host's count of each L2's entries */
	int owner[MAX_L2];	/* L1 vCPU running each L2 */
	int nr_l2;
	void *old[MAX_L2];	/* with -r: the last pages moved away from */
	struct nested_ctx_unmanaged um;	/* with -U */
};

static bool move_vmcs, unmanaged, no_stats, keep_limit;
static uint64_t unmanaged_phys;

/*
 * -r: back the (e)VMCS of every L2 with a new page holding the same
 * content.  mremap() keeps the old page, which gets garbage: KVM must
 * neither read nor write it.  The previous old pages are freed.
 */
static void move_vmcs_pages(struct run *r)
{
	size_t size = getpagesize();
	void *hva, *old;
	int i;

	if (!move_vmcs)
		return;

	for (i = 0; i < r->nr_l2; i++) {
		hva = addr_gpa2hva(r->vm, r->td->l2[i].vmcs_gpa);
		if (r->old[i])
			TEST_ASSERT(!munmap(r->old[i], size), "munmap");
		old = mmap(NULL, size, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		TEST_ASSERT(old != MAP_FAILED, "mmap");
		old = mremap(hva, size, size, MREMAP_MAYMOVE | MREMAP_FIXED,
			     old);
		TEST_ASSERT(old != MAP_FAILED, "mremap of a VMCS page");
		TEST_ASSERT(mmap(hva, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				 -1, 0) == hva, "mmap over a VMCS page");
		memcpy(hva, old, size);
		memset(old, 0xa5, size);
		r->old[i] = old;
	}
}

/* Run one command on @v; returns the switches it reports. */
static uint64_t do_cmd(struct run *r, int v, uint64_t op, uint64_t arg,
		       uint64_t count)
{
	struct l1_cmd *cmd = &r->td->cmd[v];
	struct ucall uc;

	cmd->op = op;
	cmd->arg = arg;
	cmd->count = count;

	vcpu_run(r->vcpus[v]);
	TEST_ASSERT_KVM_EXIT_REASON(r->vcpus[v], KVM_EXIT_IO);

	switch (get_ucall(r->vcpus[v], &uc)) {
	case UCALL_SYNC:
		return uc.args[1];
	case UCALL_DONE:
		TEST_ASSERT_EQ(op, CMD_VMXOFF);
		return 0;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return 0;
}

static void launch(struct run *r, int v, uint64_t id)
{
	TEST_ASSERT_EQ(do_cmd(r, v, CMD_LAUNCH, id, 0), 1);
	model_vmclear(&r->m, v, r->td->l2[id].vmcs_gpa);
	model_vmptrld(&r->m, v, r->td->l2[id].vmcs_gpa);
	r->runs[id]++;
	r->owner[id] = v;
}

static bool use_pages;

static void setup(struct run *r, int nr_l2, int ratio, bool evmcs)
{
	vm_vaddr_t vmx_gva, td_gva;
	struct test_data *t;
	int v, i;

	memset(r, 0, sizeof(*r));
	r->vm = vm_create_with_vcpus(NR_L1, l1_guest_code, r->vcpus);

	td_gva = vm_vaddr_alloc(r->vm, sizeof(*t), KVM_UTIL_MIN_VADDR);
	t = addr_gva2hva(r->vm, td_gva);
	memset(t, 0, sizeof(*t));
	t->stacks = vm_vaddr_alloc(r->vm, MAX_L2 * L2_STACK_SIZE,
				   KVM_UTIL_MIN_VADDR);
	/* -U: the (e)VMCSs, vAPIC, APIC-access pages and MSR bitmaps. */
	if (unmanaged)
		nested_ctx_unmanaged_init(r->vm, &r->um, unmanaged_phys,
					  3 * nr_l2 + 1, 0);
	for (i = 0; i < nr_l2; i++) {
		t->l2[i].vmcs_gva = unmanaged ?
			nested_ctx_unmanaged_alloc(&r->um, 1) :
			vm_vaddr_alloc_page(r->vm);
		t->l2[i].vmcs_gpa = unmanaged ? t->l2[i].vmcs_gva :
			addr_gva2gpa(r->vm, t->l2[i].vmcs_gva);
		if (use_pages)
			t->l2[i].vapic_gpa = unmanaged ?
				nested_ctx_unmanaged_alloc(&r->um, 1) :
				addr_gva2gpa(r->vm, vm_vaddr_alloc_page(r->vm));
		if (use_pages) {
			t->l2[i].msr_gva = unmanaged ?
				nested_ctx_unmanaged_alloc(&r->um, 1) :
				vm_vaddr_alloc_page(r->vm);
			t->l2[i].msr_gpa = unmanaged ? t->l2[i].msr_gva :
				addr_gva2gpa(r->vm, t->l2[i].msr_gva);
		}
	}
	if (use_pages)
		t->apic_access_gpa = unmanaged ?
			nested_ctx_unmanaged_alloc(&r->um, 1) :
			addr_gva2gpa(r->vm, vm_vaddr_alloc_page(r->vm));
	t->evmcs = evmcs;
	/* KVM does not offer "virtualize APIC accesses" with eVMCS. */
	t->msr_test = use_pages && !evmcs;
	t->keep_limit = keep_limit;
	r->td = t;
	r->nr_l2 = nr_l2;
	td = (struct test_data *)td_gva;
	sync_global_to_guest(r->vm, td);

	for (v = 0; v < NR_L1; v++) {
		if (evmcs) {
			vm_vaddr_t hv_gva;

			vcpu_set_hv_cpuid(r->vcpus[v]);
			vcpu_enable_evmcs(r->vcpus[v]);
			vcpu_alloc_hyperv_test_pages(r->vm, &hv_gva);
			t->cmd[v].hv_pages = hv_gva;
		}
		vcpu_alloc_vmx(r->vm, &vmx_gva);
		vcpu_args_set(r->vcpus[v], 2, vmx_gva, (uint64_t)v);
		/* Up to the first GUEST_SYNC. */
		do_cmd(r, v, 0, 0, 0);
		do_cmd(r, v, CMD_INIT, 0, 0);
		r->m.current[v] = -1ull;
		r->m.held[v] = -1;
	}
	r->m.cap = ratio > 0 ? (uint64_t)ratio * NR_L1 : 0;
}

static void finish(struct run *r, int nr_l2, const char *what)
{
	uint64_t reuse, recycle;
	int v, i;

	for (i = 0; i < nr_l2; i++) {
		TEST_ASSERT_EQ(r->td->l2[i].bad, 0);
		TEST_ASSERT_EQ(r->td->l2[i].runs, r->runs[i]);
	}

	if (no_stats) {
		pr_info("%s: %d L2s on %d L1 vCPUs, functional checks only\n",
			what, nr_l2, NR_L1);
	} else {
		reuse = vm_nested_ctx_stat(r->vm, "nested_context_reuse");
		recycle = vm_nested_ctx_stat(r->vm, "nested_context_recycle");
		pr_info("%s: %d L2s on %d L1 vCPUs, capacity %lu: reuse %lu (expect %lu), recycle %lu (expect %lu)\n",
			what, nr_l2, NR_L1, r->m.cap, reuse, r->m.reuse,
			recycle, r->m.recycle);
		TEST_ASSERT_EQ(reuse, r->m.reuse);
		TEST_ASSERT_EQ(recycle, r->m.recycle);
	}

	for (v = 0; v < NR_L1; v++) {
		do_cmd(r, v, CMD_VMXOFF, 0, 0);
		model_put(&r->m, v);
	}
	kvm_vm_free(r->vm);
	if (unmanaged)
		nested_ctx_unmanaged_free(&r->um);
	for (i = 0; i < nr_l2; i++)
		if (r->old[i])
			munmap(r->old[i], getpagesize());
}

/* Each L1 vCPU owns nr_l2 / NR_L1 L2s and switches among them. */
static void test_sched(int nr_l2, int switches, int ratio, bool evmcs)
{
	int per = nr_l2 / NR_L1, v, i, k;
	struct run r;

	setup(&r, nr_l2, ratio, evmcs);
	for (v = 0; v < NR_L1; v++) {
		struct l1_cmd *cmd = &r.td->cmd[v];

		cmd->nr_own = per;
		for (i = 0; i < per; i++) {
			cmd->own[i] = v * per + i;
			launch(&r, v, v * per + i);
		}
		cmd->cur = per - 1;
	}

	/* Interleave the vCPUs in slices, to mix their loads in the LRU. */
	for (k = 0; k < switches; k += per) {
		int n = switches - k < per ? switches - k : per;

		for (v = 0; v < NR_L1; v++) {
			struct l1_cmd *cmd = &r.td->cmd[v];
			uint64_t cur = cmd->cur;

			TEST_ASSERT_EQ(do_cmd(&r, v, CMD_SCHED, 0, n), n);
			for (i = 0; i < n; i++) {
				cur = (cur + 1) % per;
				model_vmptrld(&r.m, v,
					      r.td->l2[cmd->own[cur]].vmcs_gpa);
				r.runs[cmd->own[cur]]++;
			}
			TEST_ASSERT_EQ(cmd->cur, cur);
			move_vmcs_pages(&r);
		}
	}
	finish(&r, nr_l2, evmcs ? "evmcs sched" : "sched");
}

/*
 * L2 number m % nr_l2 moves from its L1 vCPU to the next one: VMCLEAR
 * there, VMPTRLD + VMLAUNCH here.  The L2 continues where it stopped.
 */
static void test_migrate(int nr_l2, int switches, int ratio, bool evmcs)
{
	int per = nr_l2 / NR_L1, v, i, m;
	struct run r;

	setup(&r, nr_l2, ratio, evmcs);
	for (v = 0; v < NR_L1; v++)
		for (i = 0; i < per; i++)
			launch(&r, v, v * per + i);

	for (m = 0; m < switches; m++) {
		uint64_t id = m % nr_l2;
		uint64_t gpa = r.td->l2[id].vmcs_gpa;
		int from = r.owner[id], to = (from + 1) % NR_L1;

		do_cmd(&r, from, CMD_CLEAR, id, 0);
		model_vmclear(&r.m, from, gpa);
		move_vmcs_pages(&r);

		TEST_ASSERT_EQ(do_cmd(&r, to, CMD_MIGRATE_IN, id, 0), 1);
		model_vmptrld(&r.m, to, gpa);
		r.runs[id]++;
		r.owner[id] = to;
		move_vmcs_pages(&r);
	}
	finish(&r, nr_l2, evmcs ? "evmcs migrate" : "migrate");
}

static void help(const char *name)
{
	printf("usage: %s [-c L2s per L1 vCPU (2-%d)] [-s switches]\n"
	       "       [-m sched|migrate|evmcs|all] [-p] [-r] [-U [-A phys]] [-F] [-k]\n"
	       "  -p: the L2s use an MSR bitmap each, a virtual-APIC and an APIC-access page\n"
	       "      (not with eVMCS)\n"
	       "  -r: move every (e)VMCS to a new page between commands\n"
	       "  -U: the pages the cache maps in unmanaged memory: RAM hidden from\n"
	       "      the host with mem=, mmapped from /dev/mem (-A: where); not with -r\n"
	       "  -F: functional checks only, no nested_context_* stats (stock KVM)\n"
	       "  -k: L1 gives each L2 its GDTR limit at launch only (benchmarks)\n",
	       name, MAX_L2_PER_L1);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	int counts[3], nr_counts = 0, switches = 64, ratio, per = 0, i, opt;
	const char *mode = "all";
	bool all, evmcs;

	while ((opt = getopt(argc, argv, "c:s:m:prUA:Fkh")) != -1) {
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
		case 'k':
			keep_limit = true;
			break;
		case 'c':
			per = atoi_non_negative("L2s per L1 vCPU", optarg);
			TEST_ASSERT(per >= 2 && per <= MAX_L2_PER_L1,
				    "-c must be 2 to %d", MAX_L2_PER_L1);
			break;
		case 's':
			switches = atoi_positive("switches", optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'p':
			use_pages = true;
			break;
		case 'r':
			move_vmcs = true;
			break;
		default:
			help(argv[0]);
		}
	}

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));
	/* -r moves anonymous pages with mremap(): not /dev/mem's. */
	TEST_ASSERT(!(unmanaged && move_vmcs), "-U and -r do not go together");

	ratio = nested_ctx_ratio();
	pr_info("nested_context_ratio: %d%s\n", ratio,
		ratio < 0 ? " (no such parameter: the stats will be missing)" : "");

	if (per) {
		counts[nr_counts++] = per;
	} else if (ratio > 1 && ratio < MAX_L2_PER_L1) {
		/* Below, at and above capacity. */
		counts[nr_counts++] = ratio / 2 > 2 ? ratio / 2 : 2;
		counts[nr_counts++] = ratio;
		counts[nr_counts++] = ratio + 2 <= MAX_L2_PER_L1 ?
				      ratio + 2 : MAX_L2_PER_L1;
	} else {
		/* Capacity 0 (off) or out of reach: all below, or all at. */
		counts[nr_counts++] = 4;
		counts[nr_counts++] = MAX_L2_PER_L1;
	}

	all = !strcmp(mode, "all");
	evmcs = all || !strcmp(mode, "evmcs");
	if (evmcs && !kvm_has_cap(KVM_CAP_HYPERV_ENLIGHTENED_VMCS)) {
		print_skip("evmcs mode: KVM_CAP_HYPERV_ENLIGHTENED_VMCS not available");
		evmcs = false;
	}

	for (i = 0; i < nr_counts; i++) {
		if (all || !strcmp(mode, "sched"))
			test_sched(counts[i] * NR_L1, switches, ratio, false);
		if (all || !strcmp(mode, "migrate"))
			test_migrate(counts[i] * NR_L1, switches, ratio, false);
		if (evmcs) {
			test_sched(counts[i] * NR_L1, switches, ratio, true);
			test_migrate(counts[i] * NR_L1, switches, ratio, true);
		}
	}
	return 0;
}
