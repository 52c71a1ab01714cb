// SPDX-License-Identifier: GPL-2.0-only
/*
 * nested_context_churn_test
 *
 * The pages the nested context cache keeps mapped for L2 - not pinned -
 * invalidated by the host while two L1 vCPUs run their L2s, on nested VMX
 * or nested SVM (whichever the CPU has).  L1 is a mailbox interpreter as
 * in nested_context_hostile_test; every L2 exits with VMCALL/VMMCALL.
 *
 * Each L2 uses every page the cache holds for it.  VMX: an MSR bitmap, an
 * APIC-access page and a virtual-APIC page with the TPR shadow (no
 * posted-interrupt descriptor: Bochs' VMX models give kvm_intel no posted
 * interrupts, enable_apicv=N; no eVMCS: not in this test).  SVM: the
 * vmcb12, L1's MSRPM and the VMLOAD/VMSAVE state.  Before each entry L1
 * writes the content (MSR 0x174 intercepted or not, the vTPR; SVM: RAX,
 * FS base and KERNEL_GS_BASE in vmcb12) and checks after the exit that L2
 * and KVM acted on it: one MSR exit or none, L2's CR8 equals the vTPR,
 * L2's RAX, RDMSR(FS_BASE) and RDMSR(KERNEL_GS_BASE) equal vmcb12's.
 *
 * Modes (-m):
 *   churn    both vCPUs at once multiplex 4 L2s each, -n switches in all
 *            (default 20000: see below), one L2 in 4 halting; host threads
 *            meanwhile
 *            madvise(MADV_DONTNEED) the L2 pages (L1 writes them again
 *            before the next entry; a check that overlaps a DONTNEED of
 *            that L2's pages, seen through a sequence count, is not
 *            counted), toggle mprotect() RW <-> RWX on the whole slot
 *            (an invalidation that keeps the pages writable: a read-only
 *            window would fail any map, stock's too), move, delete and
 *            re-create a memslot (the generation of every cache),
 *            move_pages() between NUMA nodes 0 and 1, write
 *            /proc/sys/vm/compact_memory, run KSM on the slot
 *            (MADV_MERGEABLE, ksm/run=1) and MADV_COLLAPSE it.  What the
 *            host cannot do is skipped with the reason printed.
 *            Halted L2: one L2 in 4 halts with HLT not intercepted (it
 *            halts in KVM) and is woken by an interrupt for L1 while the
 *            host churns its pages: VMX through external-interrupt
 *            exiting, SVM through the INTR intercept (the L2 halts with
 *            STI; HLT).  The source is an MSI the host sends to that L1
 *            (KVM_SIGNAL_MSI) every millisecond while L1 says a halting
 *            L2 runs, on both emulators.  L1's APIC timer works under
 *            QEMU but not under Bochs: with stock modules as with ours,
 *            a vCPU halted in L2 there sometimes never saw its timer
 *            again.  Bounds: 10000 interrupt exits per halt (L1 resumes)
 *            and 120 s of host time without progress of a vCPU fail the
 *            test.  The halting L2 keeps no value in registers and has
 *            no content check of its own.
 *   current  the memslot holding the current control block's pages
 *            (VMX: virtual-APIC and APIC-access page and MSR bitmap; SVM:
 *            the MSRPM) is deleted and re-created (new memory, or the
 *            same), or moved away and back, with new content written by
 *            the host, while the VMCS stays current (SVM: no other vmcb12
 *            runs); L1 then resumes L2 without VMPTRLD: the new content
 *            must hold (stock maps these pages at every entry).
 *   owner    stale owner: L2 X runs on vCPU A, moves to B (VMX: VMCLEAR
 *            on A, VMPTRLD on B; SVM: VMRUN on B); with B in L2 (stopped
 *            at an OUT to the host) the host drops X's virtual-APIC page
 *            and MSR bitmap (MADV_DONTNEED) and writes new content; B's
 *            L2 must read the new vTPR in the same run (VMX), and the
 *            next entry on B must use the new bitmap.
 *   handoff  X runs on vCPU 0, 1, 0, ... (VMX: VMCLEAR before each move;
 *            SVM: no EFER.SVME toggle, as KVM as L1 moves an L2) and each
 *            move must be a nested_context_reuse: nSVM hands a vmcb12's
 *            context back to the table at #VMEXIT.
 *   lost     a page the CPU uses taken away while L2 runs (VMX only:
 *            nested SVM hands the CPU no page of L1's).  With L2 X
 *            stopped at its OUT, the host makes X's virtual-APIC page
 *            read-only, or unmaps it; the cache cannot map it again for
 *            the CPU, which writes it.  L2 must go on in the same run
 *            and exit with VMCALL: no VMfail for the VMRESUME that
 *            already succeeded, no internal error.  L2's CR8 in that
 *            run: read-only, the TPR L1 wrote (stock: the page it
 *            pinned at entry; ours: a stand-in with the readable
 *            content); unmapped, stock's old TPR, ours 0 (a zeroed
 *            stand-in).  L1's next VMRESUME has stock's outcome: with
 *            the page back, L2 reads the TPR it holds; still read-only,
 *            VMfail with VM-instruction error 7 (invalid control field).
 *   all      churn, current, owner, handoff and lost (default).
 *
 * -U puts every page the cache maps (the control blocks, MSR bitmaps or
 * MSRPMs, virtual-APIC and APIC-access pages, SVM's host save areas, and
 * the current-mode memslot, re-created on the other of two backings) in
 * unmanaged memory: RAM hidden from the host kernel with mem=, mmapped
 * from /dev/mem, a VM_PFNMAP mapping without struct pages.  Nothing on the
 * host moves or drops those pages: what invalidates their caches is the
 * memslot churn (a new generation for every cache, while both vCPUs run
 * L2s) and current mode's memslot changes.  The churn threads that act on
 * pages (DONTNEED, ...) still churn the VM's other memory; owner and lost,
 * which drop or protect the cached pages themselves, do not apply and are
 * skipped with a message.  Without hidden RAM or /dev/mem the test SKIPs.
 *
 * Switch count: issue 10 asks for 100000 per run.  Measured on the 2-core
 * machine, QEMU TCG does about 190 switches a second under churn (100000:
 * about 9 minutes); Bochs about 330 a second of guest time but only some
 * 60 a second of wall time (a 100000 run did not end in 16 minutes of a
 * busy host).  The default is 20000 (about 2 minutes under QEMU); the
 * Bochs list runs 5000; -n 100000 gives the full count.
 *
 * nested_context_count is read while the vCPUs run and must never be above
 * nested_context_ratio x vCPUs.  KVM_RUN must never exit with an internal
 * error.  With stock modules (no nested_context_* stats) the stats checks
 * are skipped, with a message, unless -s asks for them: the same list line
 * runs against both.  On stock, owner mode on VMX fails: stock keeps the
 * virtual-APIC page it mapped at entry for the whole L2 run, so L2 reads
 * the TPR of the page the host dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "apic.h"
#include "vmx.h"
#include "svm_util.h"
#include "nested_context.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	BIT(1)
#endif

#define NR_VCPUS	2
#define L2_PER_VCPU	4
#define ID_X		(NR_VCPUS * L2_PER_VCPU)	/* owner, handoff */
#define ID_CUR		(ID_X + 1)			/* current */
#define NR_L2		(ID_CUR + 1)

#define CHURN_SLOT	1
#define CHURN_GPA	0x10000000ULL
#define CHURN_PAGES	1024		/* 4 MiB: holds an aligned 2 MiB */
#define CUR_SLOT	2
#define CUR_GPA		0x30000000ULL
#define CUR_GPA2	0x30400000ULL
#define CUR_PAGES	4
#define DUMMY_SLOT	3
#define DUMMY_GPA	0x38000000ULL

#define TEST_MSR	0x174		/* MSR_IA32_SYSENTER_CS */
#define L2_IO_PORT	0x99
/* VM-instruction error: VM entry with invalid control field(s) */
#define VMERR_INVALID_CONTROL	7
#define WAKE_VEC	0xec
#define HALT_BOUND	10000		/* L1 resumes per halt */
#define PROGRESS_S	120		/* host seconds without progress */

/*
 * Pauses of the churn threads: the emulators give the L0 one CPU's worth
 * of time, and the vCPUs must get most of it.  Whole-memory operations
 * (compaction, collapse) run less often.
 */
#define CHURN_US	5000
#define CHURN_SLOW_US	1000000

enum { OP_INIT = 1, OP_SETUP, OP_CHURN, OP_RUN1, OP_DONE };

/* OP_RUN1 flags */
#define F_LOAD		BIT(0)	/* VMX: VMPTRLD first */
#define F_WRITE		BIT(1)	/* L1 writes the content first */
#define F_CLEAR		BIT(2)	/* VMX: VMCLEAR after the run */
#define F_CLEAR_ONLY	BIT(3)	/* VMX: VMCLEAR, nothing else */

/* What an L2 leaves at its RSP. */
struct l2_out {
	uint64_t count;
	uint64_t v1;		/* VMX: CR8; SVM: RAX at entry */
	uint64_t v2;		/* VMX: CR8 after the OUT; SVM: FS base */
	uint64_t v3;		/* SVM: KERNEL_GS_BASE */
};

struct l2_desc {
	uint64_t gva, gpa;		/* vmcs12 / vmcb12 */
	uint64_t msr_gva, msr_gpa;	/* MSR bitmap / MSRPM */
	uint64_t vapic_gva, vapic_gpa;	/* VMX */
	uint64_t apic_gpa;		/* VMX: APIC-access page */
	uint64_t stack;			/* GVA of its struct l2_out */
	uint64_t rip;
	uint64_t halt;
	uint64_t dn_seq;		/* odd while the host drops its pages */
};

struct mailbox {
	uint32_t op, flags, id, nr;
	uint32_t ids[L2_PER_VCPU];
	uint64_t n;			/* OP_CHURN: switches to do */
	uint64_t icpt, tpr;		/* OP_RUN1 with F_WRITE */
	/* progress and results, written by L1 */
	uint64_t done, halts, intr_exits, max_intr, excused, msr_exits;
	uint64_t exit;
	uint64_t halting;		/* L1: a halting L2 runs, send MSIs */
	uint64_t inj_busy;		/* host: an MSI may be in flight */
};

static bool is_vmx;

#define L2_VMX_BODY							\
	"mov $" __stringify(TEST_MSR) ", %ecx; rdmsr;"			\
	"mov %cr8, %rax; mov %rax, 8(%rsp);"				\
	"incq (%rsp); vmcall;"

static void __attribute__((naked)) l2_vmx(void)
{
	asm volatile("1:" L2_VMX_BODY "jmp 1b");
}

/*
 * A halting L2 keeps nothing in registers (L1 does not preserve them across
 * the interrupt exits that can come at any point of its run).
 */
static void __attribute__((naked)) l2_vmx_halt(void)
{
	asm volatile("1: hlt; incq (%rsp); vmcall; jmp 1b");
}

/* CR8, stop at the host, CR8 again (the same run), RDMSR. */
static void __attribute__((naked)) l2_vmx_owner(void)
{
	asm volatile("1: mov %cr8, %rax; mov %rax, 8(%rsp);"
		     "outb %al, $" __stringify(L2_IO_PORT) ";"
		     "mov %cr8, %rax; mov %rax, 16(%rsp);"
		     "mov $" __stringify(TEST_MSR) ", %ecx; rdmsr;"
		     "incq (%rsp); vmcall; jmp 1b");
}

#define L2_SVM_BODY							\
	"mov %rax, 8(%rsp);"						\
	"mov $" __stringify(TEST_MSR) ", %ecx; rdmsr;"			\
	"mov $0xc0000100, %ecx; rdmsr; mov %eax, 16(%rsp); mov %edx, 20(%rsp);" \
	"mov $0xc0000102, %ecx; rdmsr; mov %eax, 24(%rsp); mov %edx, 28(%rsp);" \
	"incq (%rsp); vmmcall;"

static void __attribute__((naked)) l2_svm(void)
{
	asm volatile("1:" L2_SVM_BODY "jmp 1b");
}

/* SVM: L1's interrupts exit L2 only while its RFLAGS.IF is set. */
static void __attribute__((naked)) l2_svm_halt(void)
{
	asm volatile("1: sti; hlt; cli; incq (%rsp); vmmcall; jmp 1b");
}

static void __attribute__((naked)) l2_svm_owner(void)
{
	asm volatile("1: outb %al, $" __stringify(L2_IO_PORT) ";"
		     L2_SVM_BODY "jmp 1b");
}

static void l1_wake_isr(struct ex_regs *regs)
{
	x2apic_write_reg(APIC_EOI, 0);
}

/* Take the pending interrupt (SVM: GIF is clear after #VMEXIT). */
static void l1_take_irq(void)
{
	if (!is_vmx)
		asm volatile("stgi");
	asm volatile("sti; nop; cli");
}

/* Set or clear the read intercept of TEST_MSR. */
static void set_icpt(struct l2_desc *l2, bool on)
{
	uint8_t *p = (uint8_t *)l2->msr_gva;
	/* VMX read-low bitmap: a bit per MSR; SVM MSRPM: 2 bits per MSR. */
	uint32_t byte = is_vmx ? TEST_MSR / 8 : TEST_MSR / 4;
	uint8_t bit = is_vmx ? BIT(TEST_MSR % 8) : BIT((TEST_MSR % 4) * 2);

	WRITE_ONCE(p[byte], on ? p[byte] | bit : p[byte] & ~bit);
}

static void write_content(struct l2_desc *l2, bool icpt, uint64_t tpr)
{
	set_icpt(l2, icpt);
	if (is_vmx)
		WRITE_ONCE(*(uint32_t *)(l2->vapic_gva + 0x80), tpr);
}

static bool launched[NR_L2];

static void vmx_setup_l2(struct vmx_pages *vmx, uint32_t id, struct l2_desc *l2)
{
	*(uint32_t *)l2->gva = vmcs_revision();
	GUEST_ASSERT(!vmclear(l2->gpa));
	GUEST_ASSERT(!vmptrld(l2->gpa));
	prepare_vmcs(vmx, (void *)l2->rip, (void *)l2->stack);
	vmwrite(PIN_BASED_VM_EXEC_CONTROL,
		vmreadz(PIN_BASED_VM_EXEC_CONTROL) | PIN_BASED_EXT_INTR_MASK);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL,
		vmreadz(CPU_BASED_VM_EXEC_CONTROL) | CPU_BASED_USE_MSR_BITMAPS |
		CPU_BASED_TPR_SHADOW | CPU_BASED_ACTIVATE_SECONDARY_CONTROLS);
	vmwrite(MSR_BITMAP, l2->msr_gpa);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, l2->vapic_gpa);
	vmwrite(TPR_THRESHOLD, 0);
	vmwrite(SECONDARY_VM_EXEC_CONTROL,
		vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	vmwrite(APIC_ACCESS_ADDR, l2->apic_gpa);
	launched[id] = false;
}

static void svm_setup_l2(uint64_t hsave_gpa, uint32_t id, struct l2_desc *l2)
{
	struct vmcb *vmcb = (struct vmcb *)l2->gva;
	struct svm_test_data svm = {
		.vmcb = vmcb, .vmcb_gpa = l2->gpa,
		.save_area_gpa = hsave_gpa, .msr_gpa = l2->msr_gpa,
	};

	generic_svm_setup(&svm, (void *)l2->rip, (void *)l2->stack);
	vmcb->control.asid = 1 + id % 8;
	vmcb->control.intercept |= BIT_ULL(INTERCEPT_MSR_PROT) |
				   BIT_ULL(INTERCEPT_INTR);
}

/*
 * Enter L2 @id until it exits with VMCALL/VMMCALL or OUT; MSR exits are
 * counted and skipped, interrupts taken.  Returns the exit.
 */
static uint64_t l1_enter(struct mailbox *mb, struct l2_desc *l2s, uint32_t id,
			 uint64_t *msr_exits)
{
	struct l2_desc *l2 = &l2s[id];
	struct vmcb *vmcb = (struct vmcb *)l2->gva;
	uint32_t eax, ebx, ecx, edx;
	uint64_t reason, intr = 0;

	*msr_exits = 0;
	/* The host sends L1 interrupts while this is set. */
	if (l2->halt)
		WRITE_ONCE(mb->halting, 1);
	for (;;) {
		if (is_vmx) {
			if (launched[id] ? vmresume() : vmlaunch())
				return BIT_ULL(63) | vmreadz(VM_INSTRUCTION_ERROR);
			launched[id] = true;
			reason = vmreadz(VM_EXIT_REASON);
		} else {
			nested_ctx_svm_vmrun(l2->gpa);
			reason = vmcb->control.exit_code;
		}
		if (reason == (is_vmx ? EXIT_REASON_MSR_READ : SVM_EXIT_MSR)) {
			(*msr_exits)++;
			if (is_vmx)
				vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + 2);
			else
				vmcb->save.rip += 2;
			continue;
		}
		if (reason == (is_vmx ? EXIT_REASON_EXTERNAL_INTERRUPT : SVM_EXIT_INTR)) {
			l1_take_irq();
			if (is_vmx)
				vmwrite(GUEST_ACTIVITY_STATE, 0);
			intr++;
			__GUEST_ASSERT(intr < HALT_BOUND,
				       "L2 %u: no wake-up after %lu resumes", id, intr);
			continue;
		}
		break;
	}
	if (l2->halt) {
		/*
		 * Stop the host's interrupts before the next L2, whose
		 * registers an interrupt exit would clobber: wait, with an
		 * exit per iteration (the Bochs IF=0 bug), until no MSI is
		 * in flight, then take what came.
		 */
		WRITE_ONCE(mb->halting, 0);
		asm volatile("mfence" ::: "memory");
		while (READ_ONCE(mb->inj_busy))
			cpuid(0, &eax, &ebx, &ecx, &edx);
		l1_take_irq();
	}
	mb->intr_exits += intr;
	if (intr > mb->max_intr)
		mb->max_intr = intr;
	if (reason == (is_vmx ? EXIT_REASON_VMCALL : SVM_EXIT_VMMCALL)) {
		if (is_vmx)
			vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + 3);
		else
			vmcb->save.rip += 3;
	}
	return reason;
}

static uint64_t read_seq(struct l2_desc *l2)
{
	uint64_t s = READ_ONCE(l2->dn_seq);

	asm volatile("" ::: "memory");
	return s;
}

/* One switch to L2 @id of the churn, with its content check. */
static void l1_churn_one(struct mailbox *mb, struct l2_desc *l2s, uint32_t id,
			 uint64_t i)
{
	struct l2_desc *l2 = &l2s[id];
	struct l2_out *out = (struct l2_out *)l2->stack;
	struct vmcb *vmcb = (struct vmcb *)l2->gva;
	uint64_t seq0, seq1, msr_exits, reason, count;
	uint64_t tpr = ((i + id) & 0xf) << 4;
	uint64_t fs = 0x10000000000ULL + (i << 12) + (id << 4);
	bool icpt = ((i / L2_PER_VCPU) + id) & 1;

	seq0 = read_seq(l2);
	write_content(l2, icpt, tpr);
	if (is_vmx) {
		GUEST_ASSERT(!vmptrld(l2->gpa));
	} else {
		vmcb->save.rax = fs + 1;
		vmcb->save.fs.base = fs;
		vmcb->save.kernel_gs_base = fs + 2;
	}
	count = out->count;
	reason = l1_enter(mb, l2s, id, &msr_exits);
	__GUEST_ASSERT(reason == (is_vmx ? EXIT_REASON_VMCALL : SVM_EXIT_VMMCALL),
		       "L2 %u switch %lu: exit 0x%lx", id, i, reason);
	__GUEST_ASSERT(out->count == count + 1, "L2 %u switch %lu: count %lu, want %lu",
		       id, i, out->count, count + 1);
	if (l2->halt) {
		mb->halts++;
		return;
	}
	seq1 = read_seq(l2);
	if ((seq0 & 1) || seq0 != seq1) {
		mb->excused++;
		return;
	}
	/* The bitmap L1 last wrote is the one KVM acted on. */
	__GUEST_ASSERT(msr_exits == icpt,
		       "L2 %u switch %lu: %lu MSR exits, intercept %u",
		       id, i, msr_exits, icpt);
	mb->msr_exits += msr_exits;
	if (is_vmx) {
		__GUEST_ASSERT(out->v1 == tpr >> 4,
			       "L2 %u switch %lu: CR8 %lu, vTPR 0x%lx",
			       id, i, out->v1, tpr);
	} else {
		__GUEST_ASSERT(out->v1 == fs + 1 && out->v2 == fs &&
			       out->v3 == fs + 2,
			       "L2 %u switch %lu: RAX/FS/KGS 0x%lx/0x%lx/0x%lx, vmcb12 0x%lx/0x%lx/0x%lx",
			       id, i, out->v1, out->v2, out->v3, fs + 1, fs, fs + 2);
	}
}

static void l1_guest_code(struct mailbox *mb, struct l2_desc *l2s, uint64_t arg)
{
	struct l2_desc *l2;
	uint64_t i, msr_exits;
	uint32_t id;

	for (;;) {
		GUEST_SYNC(0);
		switch (mb->op) {
		case OP_INIT:
			x2apic_enable();
			nested_ctx_l1_enable(is_vmx, arg);
			fallthrough;
		case OP_SETUP:
			for (i = 0; i < mb->nr; i++) {
				id = mb->ids[i];
				if (is_vmx)
					vmx_setup_l2((void *)arg, id, &l2s[id]);
				else
					svm_setup_l2(arg, id, &l2s[id]);
			}
			break;
		case OP_CHURN:
			for (i = 0; i < mb->n; i++) {
				l1_churn_one(mb, l2s, mb->ids[i % mb->nr], i);
				WRITE_ONCE(mb->done, i + 1);
			}
			break;
		case OP_RUN1:
			id = mb->id;
			l2 = &l2s[id];
			if (mb->flags & F_CLEAR_ONLY) {
				GUEST_ASSERT(!vmclear(l2->gpa));
				launched[id] = false;
				break;
			}
			if (is_vmx && (mb->flags & F_LOAD))
				GUEST_ASSERT(!vmptrld(l2->gpa));
			if (mb->flags & F_WRITE)
				write_content(l2, mb->icpt, mb->tpr);
			mb->exit = l1_enter(mb, l2s, id, &msr_exits);
			mb->msr_exits = msr_exits;
			if (is_vmx && (mb->flags & F_CLEAR)) {
				GUEST_ASSERT(!vmclear(l2->gpa));
				launched[id] = false;
			}
			break;
		case OP_DONE:
			GUEST_DONE();
		}
	}
}

struct test {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpus[NR_VCPUS];
	struct mailbox *mb[NR_VCPUS];
	struct l2_desc *l2s;
	struct l2_out *out[NR_L2];
	uint8_t *churn_hva;
	uint8_t *cur_hva;
	unsigned int cap;
	bool stats;
	uint64_t peak;
	void (*on_io)(struct test *t, int v);
	struct nested_ctx_unmanaged um;	/* -U */
	uint8_t *cur_backing[2];	/* -U: the current-mode memslot's */
	int cur_next;
};

static struct test T;
static int ratio;
static bool need_stats, unmanaged;
static uint64_t unmanaged_phys;
static uint64_t nr_switches = 20000;
static bool stop_churn;

/* Run @v until L1 syncs; an L2's OUT calls t->on_io. */
static void run_vcpu(struct test *t, int v)
{
	struct kvm_vcpu *vcpu = t->vcpus[v];
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		TEST_ASSERT(vcpu->run->exit_reason != KVM_EXIT_INTERNAL_ERROR,
			    "vCPU %d: KVM_EXIT_INTERNAL_ERROR, suberror %u",
			    v, vcpu->run->internal.suberror);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		if (vcpu->run->io.port == L2_IO_PORT) {
			TEST_ASSERT(t->on_io, "L2 OUT with no handler");
			t->on_io(t, v);
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		case UCALL_SYNC:
		case UCALL_DONE:
			return;
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
	}
}

static void do_op(struct test *t, int v, uint32_t op)
{
	t->mb[v]->op = op;
	run_vcpu(t, v);
}

static void check_stats(struct test *t, const char *what)
{
	uint64_t count;

	if (!t->stats)
		return;
	count = vm_get_stat(t->vm, "nested_context_count");
	if (count > t->peak)
		t->peak = count;
	TEST_ASSERT(count <= t->cap,
		    "%s: nested_context_count %lu above capacity %u",
		    what, count, t->cap);
}

static uint64_t reuse_stat(struct test *t)
{
	return vm_get_stat(t->vm, "nested_context_reuse");
}

static uint64_t page_alloc(struct test *t, uint64_t *gva, int pages)
{
	*gva = vm_vaddr_alloc(t->vm, pages * PAGE_SIZE, KVM_UTIL_MIN_VADDR);
	memset(addr_gva2hva(t->vm, *gva), 0, pages * PAGE_SIZE);
	return addr_gva2gpa(t->vm, *gva);
}

/* Zeroed pages that the cache maps: -U takes them from unmanaged memory. */
static uint64_t cache_page_alloc(struct test *t, uint64_t *gva, int pages)
{
	if (!unmanaged)
		return page_alloc(t, gva, pages);
	*gva = nested_ctx_unmanaged_alloc(&t->um, pages);
	memset(nested_ctx_unmanaged_hva(&t->um, *gva), 0, pages * PAGE_SIZE);
	return *gva;
}

static void cur_slot_set(struct test *t, uint64_t gpa, uint8_t *hva, bool on)
{
	struct kvm_userspace_memory_region r = {
		.slot = CUR_SLOT, .guest_phys_addr = gpa,
		.memory_size = on ? CUR_PAGES * PAGE_SIZE : 0,
		.userspace_addr = (uint64_t)hva,
	};

	vm_ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r);
}

/* New memory for the current-mode memslot; -U: the other backing. */
static uint8_t *cur_mmap(struct test *t)
{
	void *p;

	if (unmanaged) {
		t->cur_next ^= 1;
		return t->cur_backing[t->cur_next];
	}
	p = mmap(NULL, CUR_PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p != MAP_FAILED, "mmap");
	return p;
}

/* -U: the backing left keeps its old content, for a stale cache to read. */
static void cur_munmap(uint8_t *p)
{
	if (!unmanaged)
		munmap(p, CUR_PAGES * PAGE_SIZE);
}

static void test_create(void)
{
	struct test *t = &T;
	vm_vaddr_t gva, l2s_gva, arg;
	int i, v;

	t->vm = __vm_create_with_vcpus(VM_SHAPE_DEFAULT, NR_VCPUS, 64,
				       l1_guest_code, t->vcpus);
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, CHURN_GPA,
				    CHURN_SLOT, CHURN_PAGES, 0);
	t->vm->memslots[MEM_REGION_TEST_DATA] = CHURN_SLOT;
	t->churn_hva = addr_gpa2hva(t->vm, CHURN_GPA);
	sync_global_to_guest(t->vm, is_vmx);
	vm_install_exception_handler(t->vm, WAKE_VEC, l1_wake_isr);
	/* -U: at most 5 pages per L2, a host save area per vCPU. */
	if (unmanaged) {
		nested_ctx_unmanaged_init(t->vm, &t->um, unmanaged_phys,
					  NR_L2 * 5 + NR_VCPUS, 2 * CUR_PAGES);
		t->cur_backing[0] = nested_ctx_unmanaged_spare(&t->um, CUR_PAGES);
		t->cur_backing[1] = nested_ctx_unmanaged_spare(&t->um, CUR_PAGES);
	}

	l2s_gva = vm_vaddr_alloc_page(t->vm);
	t->l2s = addr_gva2hva(t->vm, l2s_gva);
	memset(t->l2s, 0, PAGE_SIZE);
	for (i = 0; i < NR_L2; i++) {
		struct l2_desc *l2 = &t->l2s[i];
		bool halt = i < ID_X && i % L2_PER_VCPU == L2_PER_VCPU - 1;

		l2->gpa = cache_page_alloc(t, &l2->gva, 1);
		page_alloc(t, &l2->stack, 1);
		t->out[i] = addr_gva2hva(t->vm, l2->stack);
		l2->halt = halt;
		if (is_vmx)
			l2->rip = (uint64_t)(i == ID_X ? l2_vmx_owner :
					     halt ? l2_vmx_halt : l2_vmx);
		else
			l2->rip = (uint64_t)(i == ID_X ? l2_svm_owner :
					     halt ? l2_svm_halt : l2_svm);
		if (i == ID_CUR)
			continue;
		l2->msr_gpa = cache_page_alloc(t, &l2->msr_gva, is_vmx ? 1 : 2);
		if (is_vmx) {
			l2->vapic_gpa = cache_page_alloc(t, &l2->vapic_gva, 1);
			l2->apic_gpa = cache_page_alloc(t, &gva, 1);
		}
	}

	for (v = 0; v < NR_VCPUS; v++) {
		if (unmanaged && !is_vmx)
			arg = nested_ctx_unmanaged_alloc(&t->um, 1);
		else
			arg = nested_ctx_l1_arg(t->vm, is_vmx);
		gva = vm_vaddr_alloc_page(t->vm);
		t->mb[v] = addr_gva2hva(t->vm, gva);
		memset(t->mb[v], 0, sizeof(struct mailbox));
		vcpu_args_set(t->vcpus[v], 3, gva, l2s_gva, arg);
	}

	/* The current-mode L2's pages, in a memslot of their own. */
	t->cur_hva = cur_mmap(t);
	cur_slot_set(t, CUR_GPA, t->cur_hva, true);
	for (i = 0; i < CUR_PAGES; i++)
		virt_pg_map(t->vm, CUR_GPA + i * PAGE_SIZE, CUR_GPA + i * PAGE_SIZE);
	t->l2s[ID_CUR].msr_gpa = CUR_GPA;
	t->l2s[ID_CUR].msr_gva = CUR_GPA;
	if (is_vmx) {
		t->l2s[ID_CUR].vapic_gpa = CUR_GPA + 2 * PAGE_SIZE;
		t->l2s[ID_CUR].vapic_gva = CUR_GPA + 2 * PAGE_SIZE;
		t->l2s[ID_CUR].apic_gpa = CUR_GPA + 3 * PAGE_SIZE;
	}

	for (v = 0; v < NR_VCPUS; v++) {
		struct mailbox *mb = t->mb[v];

		do_op(t, v, 0);		/* up to the first GUEST_SYNC */
		mb->nr = L2_PER_VCPU;
		for (i = 0; i < L2_PER_VCPU; i++)
			mb->ids[i] = v * L2_PER_VCPU + i;
		do_op(t, v, OP_INIT);
	}
	/* X and CUR: set up on vCPU 0. */
	t->mb[0]->nr = 2;
	t->mb[0]->ids[0] = ID_X;
	t->mb[0]->ids[1] = ID_CUR;
	do_op(t, 0, OP_SETUP);
	if (is_vmx) {
		t->mb[0]->id = ID_CUR;
		t->mb[0]->flags = F_CLEAR_ONLY;
		do_op(t, 0, OP_RUN1);
		t->mb[0]->id = ID_X;
		do_op(t, 0, OP_RUN1);
	}

	t->cap = ratio > 0 ? ratio * NR_VCPUS : 0;
	t->stats = vm_has_stat(t->vm, "nested_context_count");
	if (!t->stats) {
		TEST_ASSERT(!need_stats,
			    "no nested_context_* VM stats: not a kvm.ko with the nested context cache");
		pr_info("no nested_context_* VM stats (stock KVM): skipping the capacity check and the handoff reuse check\n");
	}
}

/* ---- host churn threads ---- */

struct churn_stat {
	const char *name;
	uint64_t ops;
	const char *skip;
};

enum { C_DONTNEED, C_MPROTECT, C_MEMSLOT, C_NUMA, C_COMPACT, C_KSM, C_THP, NR_C };

static struct churn_stat churn[NR_C] = {
	{ "madvise(MADV_DONTNEED)" }, { "mprotect RW<->RWX" },
	{ "memslot move/delete/re-create" }, { "move_pages" },
	{ "compact_memory" }, { "KSM" }, { "MADV_COLLAPSE" },
};

static void churn_sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void dontneed_pages(struct test *t, int id)
{
	struct l2_desc *l2 = &t->l2s[id];

	WRITE_ONCE(l2->dn_seq, l2->dn_seq + 1);
	__sync_synchronize();
	madvise(addr_gpa2hva(t->vm, l2->msr_gpa), (is_vmx ? 1 : 2) * PAGE_SIZE,
		MADV_DONTNEED);
	if (is_vmx) {
		madvise(addr_gpa2hva(t->vm, l2->vapic_gpa), PAGE_SIZE, MADV_DONTNEED);
		madvise(addr_gpa2hva(t->vm, l2->apic_gpa), PAGE_SIZE, MADV_DONTNEED);
	}
	__sync_synchronize();
	WRITE_ONCE(l2->dn_seq, l2->dn_seq + 1);
}

static void *churn_dontneed(void *arg)
{
	struct test *t = arg;
	unsigned int seed = 1;

	if (unmanaged) {
		churn[C_DONTNEED].skip = "-U: unmanaged memory has no pages to drop";
		return NULL;
	}
	while (!READ_ONCE(stop_churn)) {
		dontneed_pages(t, rand_r(&seed) % ID_X);
		churn[C_DONTNEED].ops++;
		churn_sleep_us(CHURN_US);
	}
	return NULL;
}

static void *churn_mprotect(void *arg)
{
	struct test *t = arg;
	bool x = false;

	while (!READ_ONCE(stop_churn)) {
		x = !x;
		TEST_ASSERT(!mprotect(t->churn_hva, CHURN_PAGES * PAGE_SIZE,
				      PROT_READ | PROT_WRITE | (x ? PROT_EXEC : 0)),
			    "mprotect");
		churn[C_MPROTECT].ops++;
		churn_sleep_us(CHURN_US);
	}
	TEST_ASSERT(!mprotect(t->churn_hva, CHURN_PAGES * PAGE_SIZE,
			      PROT_READ | PROT_WRITE), "mprotect");
	return NULL;
}

static void *churn_memslot(void *arg)
{
	struct test *t = arg;
	struct kvm_userspace_memory_region r = { .slot = DUMMY_SLOT };
	void *p = mmap(NULL, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TEST_ASSERT(p != MAP_FAILED, "mmap");
	r.userspace_addr = (uint64_t)p;
	while (!READ_ONCE(stop_churn)) {
		r.guest_phys_addr = DUMMY_GPA;
		r.memory_size = 2 * PAGE_SIZE;
		vm_ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r);
		r.guest_phys_addr = DUMMY_GPA + 0x100000;
		vm_ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r);	/* move */
		r.memory_size = 0;
		vm_ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &r);	/* delete */
		churn[C_MEMSLOT].ops++;
		churn_sleep_us(CHURN_US);
	}
	munmap(p, 2 * PAGE_SIZE);
	return NULL;
}

static void *churn_numa(void *arg)
{
	struct test *t = arg;
	void *pages[CHURN_PAGES / 8];
	int nodes[CHURN_PAGES / 8], status[CHURN_PAGES / 8];
	int i, node = 1;

	if (access("/sys/devices/system/node/node1", F_OK)) {
		churn[C_NUMA].skip = "the VM has one NUMA node";
		return NULL;
	}
	for (i = 0; i < CHURN_PAGES / 8; i++)
		pages[i] = t->churn_hva + i * PAGE_SIZE;
	while (!READ_ONCE(stop_churn)) {
		for (i = 0; i < CHURN_PAGES / 8; i++)
			nodes[i] = node;
		if (syscall(__NR_move_pages, 0, CHURN_PAGES / 8, pages, nodes,
			    status, MPOL_MF_MOVE)) {
			churn[C_NUMA].skip = strerror(errno);
			return NULL;
		}
		node = !node;
		churn[C_NUMA].ops++;
		churn_sleep_us(CHURN_US);
	}
	return NULL;
}

static bool write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

static void *churn_compact(void *arg)
{
	while (!READ_ONCE(stop_churn)) {
		if (!write_file("/proc/sys/vm/compact_memory", "1")) {
			churn[C_COMPACT].skip = "cannot write /proc/sys/vm/compact_memory";
			return NULL;
		}
		churn[C_COMPACT].ops++;
		churn_sleep_us(CHURN_SLOW_US);
	}
	return NULL;
}

static void *churn_thp(void *arg)
{
	struct test *t = arg;

	while (!READ_ONCE(stop_churn)) {
		if (madvise(t->churn_hva, CHURN_PAGES * PAGE_SIZE, MADV_COLLAPSE) &&
		    errno == EINVAL) {
			churn[C_THP].skip = "MADV_COLLAPSE: EINVAL";
			return NULL;
		}
		churn[C_THP].ops++;
		churn_sleep_us(CHURN_SLOW_US);
	}
	return NULL;
}

static char ksm_run_old[16];

static void ksm_start(struct test *t)
{
	int fd = open("/sys/kernel/mm/ksm/run", O_RDONLY);
	ssize_t n;

	if (fd < 0) {
		churn[C_KSM].skip = "no /sys/kernel/mm/ksm";
		return;
	}
	n = read(fd, ksm_run_old, sizeof(ksm_run_old) - 1);
	close(fd);
	ksm_run_old[n > 0 ? n : 0] = 0;
	if (madvise(t->churn_hva, CHURN_PAGES * PAGE_SIZE, MADV_MERGEABLE)) {
		churn[C_KSM].skip = "MADV_MERGEABLE failed";
		return;
	}
	write_file("/sys/kernel/mm/ksm/pages_to_scan", "1024");
	write_file("/sys/kernel/mm/ksm/sleep_millisecs", "100");
	if (!write_file("/sys/kernel/mm/ksm/run", "1"))
		churn[C_KSM].skip = "cannot start ksmd";
}

static uint64_t ksm_read(const char *name)
{
	char path[128];
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void ksm_stop(void)
{
	if (churn[C_KSM].skip)
		return;
	churn[C_KSM].ops = ksm_read("full_scans");
	write_file("/sys/kernel/mm/ksm/run", ksm_run_old[0] ? ksm_run_old : "0");
}

static void *(*const churn_fn[])(void *) = {
	churn_dontneed, churn_mprotect, churn_memslot, churn_numa,
	churn_compact, NULL, churn_thp,
};

static pthread_t churn_threads[NR_C];

static void churn_start(struct test *t)
{
	int i;

	WRITE_ONCE(stop_churn, false);
	ksm_start(t);
	for (i = 0; i < NR_C; i++)
		if (churn_fn[i])
			pthread_create(&churn_threads[i], NULL, churn_fn[i], t);
}

static void churn_stop(void)
{
	int i;

	WRITE_ONCE(stop_churn, true);
	for (i = 0; i < NR_C; i++)
		if (churn_fn[i])
			pthread_join(churn_threads[i], NULL);
	ksm_stop();
	for (i = 0; i < NR_C; i++) {
		if (churn[i].skip)
			pr_info("  %s: skipped: %s\n", churn[i].name, churn[i].skip);
		else
			pr_info("  %s: %lu%s\n", churn[i].name, churn[i].ops,
				i == C_KSM ? " full scans" : "");
	}
}

/*
 * The wake-up source of the halted L2s: MSIs from the host (KVM_SIGNAL_MSI)
 * to an L1 whose halting L2 runs, every millisecond.
 */
static uint64_t nr_msi;

static void *wake_injector(void *arg)
{
	struct test *t = arg;
	int v;

	while (!READ_ONCE(stop_churn)) {
		for (v = 0; v < NR_VCPUS; v++) {
			struct mailbox *mb = t->mb[v];
			struct kvm_msi msi = {
				.address_lo = 0xfee00000 | (v << 12),
				.data = WAKE_VEC,
			};

			if (!READ_ONCE(mb->halting))
				continue;
			WRITE_ONCE(mb->inj_busy, 1);
			__sync_synchronize();
			if (READ_ONCE(mb->halting)) {
				__vm_ioctl(t->vm, KVM_SIGNAL_MSI, &msi);
				nr_msi++;
			}
			WRITE_ONCE(mb->inj_busy, 0);
		}
		churn_sleep_us(1000);
	}
	return NULL;
}

/* ---- modes ---- */

static void *vcpu_thread(void *arg)
{
	int v = (long)arg;

	do_op(&T, v, OP_CHURN);
	return NULL;
}

static void test_churn(void)
{
	struct test *t = &T;
	pthread_t th[NR_VCPUS], inj;
	uint64_t last[NR_VCPUS] = {}, total = 0, halts = 0, excused = 0;
	uint64_t max_intr = 0, msr = 0;
	time_t start = time(NULL), seen[NR_VCPUS];
	int v, running;

	pr_info("churn: %lu switches on %d vCPUs at once\n", nr_switches, NR_VCPUS);
	churn_start(t);
	pthread_create(&inj, NULL, wake_injector, t);
	for (v = 0; v < NR_VCPUS; v++) {
		struct mailbox *mb = t->mb[v];

		mb->nr = L2_PER_VCPU;
		for (int i = 0; i < L2_PER_VCPU; i++)
			mb->ids[i] = v * L2_PER_VCPU + i;
		mb->n = nr_switches / NR_VCPUS;
		mb->done = 0;
		seen[v] = start;
		pthread_create(&th[v], NULL, vcpu_thread, (void *)(long)v);
	}
	do {
		sleep(1);
		check_stats(t, "churn");
		running = 0;
		for (v = 0; v < NR_VCPUS; v++) {
			uint64_t done = READ_ONCE(t->mb[v]->done);

			if (done >= t->mb[v]->n)
				continue;
			running++;
			if (done != last[v]) {
				last[v] = done;
				seen[v] = time(NULL);
			}
			TEST_ASSERT(time(NULL) - seen[v] < PROGRESS_S,
				    "churn: vCPU %d made no progress for %d s at switch %lu: lost wake-up of a halted L2?",
				    v, PROGRESS_S, done);
		}
	} while (running);
	for (v = 0; v < NR_VCPUS; v++)
		pthread_join(th[v], NULL);
	churn_stop();
	pthread_join(inj, NULL);
	check_stats(t, "churn end");
	for (v = 0; v < NR_VCPUS; v++) {
		struct mailbox *mb = t->mb[v];

		total += mb->done;
		halts += mb->halts;
		excused += mb->excused;
		msr += mb->msr_exits;
		if (mb->max_intr > max_intr)
			max_intr = mb->max_intr;
	}
	TEST_ASSERT(total == nr_switches / NR_VCPUS * NR_VCPUS, "churn: switches");
	pr_info("churn: %lu switches in %ld s, %lu halted-L2 wake-ups by %lu MSIs (at most %lu interrupt exits each, bound %d), %lu MSR exits, %lu checks overlapped a DONTNEED; contexts peak %lu / capacity %u%s\n",
		total, (long)(time(NULL) - start), halts, nr_msi, max_intr, HALT_BOUND,
		msr, excused, t->peak, t->cap, t->stats ? "" : " (no stats)");
}

static struct mailbox *run1(struct test *t, int v, uint32_t id, uint32_t flags,
			    bool icpt, uint64_t tpr)
{
	struct mailbox *mb = t->mb[v];

	mb->id = id;
	mb->flags = flags;
	mb->icpt = icpt;
	mb->tpr = tpr;
	do_op(t, v, OP_RUN1);
	return mb;
}

/* Check a run of the current-mode or owner L2 that ended in VMCALL. */
static void expect(struct test *t, struct mailbox *mb, uint32_t id, int icpt,
		   uint64_t tpr, const char *what, int round)
{
	struct l2_out *out = t->out[id];

	TEST_ASSERT(mb->exit == (is_vmx ? EXIT_REASON_VMCALL : SVM_EXIT_VMMCALL),
		    "%s, round %d: exit 0x%lx", what, round, mb->exit);
	/* -1: a bitmap changed during the run; either is right. */
	TEST_ASSERT(icpt < 0 || mb->msr_exits == (uint64_t)icpt,
		    "%s, round %d: %lu MSR exits, the bitmap KVM must use says %d",
		    what, round, mb->msr_exits, icpt);
	if (is_vmx && id == ID_CUR)
		TEST_ASSERT(out->v1 == tpr >> 4,
			    "%s, round %d: L2 read CR8 %lu, the vTPR is 0x%lx",
			    what, round, out->v1, tpr);
	check_stats(t, what);
}

/* Write the current-mode L2's content the host way, at @hva. */
static void cur_content(uint8_t *hva, bool icpt, uint64_t tpr)
{
	memset(hva, 0, CUR_PAGES * PAGE_SIZE);
	if (is_vmx) {
		if (icpt)
			hva[TEST_MSR / 8] |= BIT(TEST_MSR % 8);
		*(uint32_t *)(hva + 2 * PAGE_SIZE + 0x80) = tpr;
	} else if (icpt) {
		hva[TEST_MSR / 4] |= BIT((TEST_MSR % 4) * 2);
	}
}

static void test_current(void)
{
	static const char * const how[] = {
		"deleted, re-created on new memory",
		"deleted, re-created on the same memory",
		"moved away and back",
	};
	struct test *t = &T;
	struct mailbox *mb;
	int round;
	bool icpt;
	uint64_t tpr;

	mb = run1(t, 0, ID_CUR, F_LOAD | F_WRITE, false, 0x30);
	expect(t, mb, ID_CUR, false, 0x30, "current: first run", 0);
	for (round = 0; round < 30; round++) {
		uint8_t *old = t->cur_hva;

		icpt = !(round & 1);
		tpr = ((round + 5) & 0xf) << 4;
		switch (round % 3) {
		case 0:
			cur_slot_set(t, CUR_GPA, old, false);
			t->cur_hva = cur_mmap(t);
			cur_content(t->cur_hva, icpt, tpr);
			cur_slot_set(t, CUR_GPA, t->cur_hva, true);
			cur_munmap(old);
			break;
		case 1:
			cur_slot_set(t, CUR_GPA, old, false);
			cur_content(old, icpt, tpr);
			cur_slot_set(t, CUR_GPA, old, true);
			break;
		case 2:
			cur_slot_set(t, CUR_GPA2, old, true);
			cur_content(old, icpt, tpr);
			cur_slot_set(t, CUR_GPA, old, true);
			break;
		}
		/* No VMPTRLD, no write by L1: the control block stayed current. */
		mb = run1(t, 0, ID_CUR, 0, false, 0);
		expect(t, mb, ID_CUR, icpt, tpr, how[round % 3], round);
	}
	pr_info("current: 30 memslot changes under the current %s, each seen at the next entry\n",
		is_vmx ? "VMCS" : "vmcb12");
}

static uint64_t owner_tpr;
static bool owner_icpt;

/* B's L2 stopped at its OUT: drop X's pages, write new content. */
static void owner_io(struct test *t, int v)
{
	struct l2_desc *x = &t->l2s[ID_X];
	uint8_t *msr = addr_gpa2hva(t->vm, x->msr_gpa);

	TEST_ASSERT(!madvise(msr, (is_vmx ? 1 : 2) * PAGE_SIZE, MADV_DONTNEED),
		    "madvise");
	if (is_vmx) {
		uint8_t *vapic = addr_gpa2hva(t->vm, x->vapic_gpa);

		TEST_ASSERT(!madvise(vapic, PAGE_SIZE, MADV_DONTNEED), "madvise");
		*(uint32_t *)(vapic + 0x80) = owner_tpr;
		if (owner_icpt)
			msr[TEST_MSR / 8] |= BIT(TEST_MSR % 8);
	} else if (owner_icpt) {
		msr[TEST_MSR / 4] |= BIT((TEST_MSR % 4) * 2);
	}
}

static void noop_io(struct test *t, int v)
{
}

static void test_owner(void)
{
	struct test *t = &T;
	struct l2_out *out = t->out[ID_X];
	struct mailbox *mb;
	int round, a, b;
	uint64_t tpr;

	for (round = 0; round < 20; round++) {
		a = round & 1;
		b = !a;
		tpr = ((round + 3) & 0xf) << 4;
		/* A runs X, then lets it go. */
		t->on_io = noop_io;
		mb = run1(t, a, ID_X, F_LOAD | F_WRITE | F_CLEAR, false, tpr);
		expect(t, mb, ID_X, false, 0, "owner: on A", round);
		TEST_ASSERT(!is_vmx || out->v2 == tpr >> 4,
			    "owner: on A, round %d: CR8 %lu, vTPR 0x%lx",
			    round, out->v2, tpr);
		/* B takes X; the host drops X's pages while B is in L2. */
		owner_tpr = ((round + 9) & 0xf) << 4;
		owner_icpt = true;
		t->on_io = owner_io;
		mb = run1(t, b, ID_X, F_LOAD | F_WRITE, false, tpr);
		expect(t, mb, ID_X, -1, 0, "owner: on B", round);
		TEST_ASSERT(!is_vmx || out->v1 == tpr >> 4,
			    "owner: on B, round %d: CR8 %lu before the invalidation, vTPR 0x%lx",
			    round, out->v1, tpr);
		TEST_ASSERT(!is_vmx || out->v2 == owner_tpr >> 4,
			    "owner: on B, round %d: L2 read CR8 %lu after the host replaced the virtual-APIC page, want %lu (a stale page)",
			    round, out->v2, owner_tpr >> 4);
		/* B's next entry, no VMPTRLD, no L1 write: the new bitmap. */
		t->on_io = noop_io;
		mb = run1(t, b, ID_X, is_vmx ? F_CLEAR : 0, false, 0);
		expect(t, mb, ID_X, true, 0, "owner: next entry on B", round);
	}
	t->on_io = NULL;
	pr_info("owner: 20 moves of an L2 between vCPUs with its pages dropped under the new owner\n");
}

enum { LOST_RESTORE, LOST_KEEP_RO, LOST_UNMAP, NR_LOST };
static int lost_how;

/* X's L2 stopped at its OUT, on vCPU 0: take its virtual-APIC page away. */
static void lost_io(struct test *t, int v)
{
	uint8_t *vapic = addr_gpa2hva(t->vm, t->l2s[ID_X].vapic_gpa);

	if (lost_how == LOST_UNMAP)
		TEST_ASSERT(!munmap(vapic, PAGE_SIZE), "munmap");
	else
		TEST_ASSERT(!mprotect(vapic, PAGE_SIZE, PROT_READ), "mprotect");
}

static void lost_restore(struct test *t, uint64_t tpr)
{
	uint8_t *vapic = addr_gpa2hva(t->vm, t->l2s[ID_X].vapic_gpa);

	if (lost_how == LOST_UNMAP) {
		TEST_ASSERT(mmap(vapic, PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == vapic,
			    "mmap");
		*(uint32_t *)(vapic + 0x80) = tpr;
	} else {
		TEST_ASSERT(!mprotect(vapic, PAGE_SIZE, PROT_READ | PROT_WRITE),
			    "mprotect");
	}
}

static void test_lost(void)
{
	static const char * const how[] = {
		"read-only, writable again before the next entry",
		"read-only at the next entry",
		"unmapped, mapped again before the next entry",
	};
	struct test *t = &T;
	struct l2_out *out = t->out[ID_X];
	struct mailbox *mb;
	uint64_t tpr, tpr2, want;
	int round;

	if (!is_vmx) {
		pr_info("lost: nested SVM hands the CPU no page of L1's while L2 runs: nothing to take away\n");
		return;
	}
	for (round = 0; round < 4 * NR_LOST; round++) {
		lost_how = round % NR_LOST;
		tpr = ((round + 2) & 0xf) << 4;
		tpr2 = ((round + 7) & 0xf) << 4;
		t->on_io = lost_io;
		mb = run1(t, 0, ID_X, F_LOAD | F_WRITE, false, tpr);
		expect(t, mb, ID_X, false, 0, how[lost_how], round);
		TEST_ASSERT(out->v1 == tpr >> 4,
			    "lost, %s, round %d: CR8 %lu before, vTPR 0x%lx",
			    how[lost_how], round, out->v1, tpr);
		want = lost_how == LOST_UNMAP && t->stats ? 0 : tpr >> 4;
		TEST_ASSERT(out->v2 == want,
			    "lost, %s, round %d: L2 read CR8 %lu in the same run, want %lu",
			    how[lost_how], round, out->v2, want);

		t->on_io = noop_io;
		if (lost_how == LOST_KEEP_RO) {
			mb = run1(t, 0, ID_X, 0, false, 0);
			TEST_ASSERT(mb->exit == (BIT_ULL(63) | VMERR_INVALID_CONTROL),
				    "lost, %s, round %d: VMRESUME exit 0x%lx, want VMfail %d",
				    how[lost_how], round, mb->exit,
				    VMERR_INVALID_CONTROL);
		}
		lost_restore(t, tpr2);
		mb = run1(t, 0, ID_X, lost_how == LOST_UNMAP ? 0 : F_WRITE,
			  false, tpr2);
		expect(t, mb, ID_X, false, 0, "lost: next entry", round);
		TEST_ASSERT(out->v1 == tpr2 >> 4 && out->v2 == tpr2 >> 4,
			    "lost, %s, round %d: next entry: CR8 %lu/%lu, vTPR 0x%lx",
			    how[lost_how], round, out->v1, out->v2, tpr2);
	}
	run1(t, 0, ID_X, F_CLEAR_ONLY, false, 0);
	t->on_io = NULL;
	pr_info("lost: %d L2 runs went on after the host took the virtual-APIC page away, each with stock's outcome at the next entry\n",
		4 * NR_LOST);
}

static void test_handoff(void)
{
	struct test *t = &T;
	struct mailbox *mb;
	uint64_t r0, r1;
	int i, fails = 0;

	t->on_io = noop_io;
	if (!t->stats || !t->cap) {
		pr_info("handoff: %s: nothing to assert\n",
			t->stats ? "cache off (ratio 0)" : "no stats");
		TEST_ASSERT(t->stats, "handoff needs the nested_context_* stats");
		return;
	}
	mb = run1(t, 0, ID_X, F_LOAD | F_WRITE | (is_vmx ? F_CLEAR : 0), false, 0);
	expect(t, mb, ID_X, false, 0, "handoff: first run", 0);
	for (i = 1; i <= 20; i++) {
		r0 = reuse_stat(t);
		mb = run1(t, i & 1, ID_X, F_LOAD | F_WRITE | (is_vmx ? F_CLEAR : 0),
			  false, 0);
		expect(t, mb, ID_X, false, 0, "handoff", i);
		r1 = reuse_stat(t);
		if (r1 == r0) {
			fails++;
			pr_info("handoff: run %d, vCPU %d after vCPU %d: no reuse\n",
				i, i & 1, !(i & 1));
		}
	}
	TEST_ASSERT(!fails, "handoff: %d of 20 moves to another vCPU were not a reuse",
		    fails);
	pr_info("handoff: 20 moves between vCPUs, each a reuse\n");
}

static void help(const char *name)
{
	printf("usage: %s [-m churn|current|owner|handoff|lost|all] [-n switches] [-s]\n"
	       "          [-U [-A host-physical-address]]\n"
	       "  -s  require the nested_context_* stats (fail on stock KVM)\n"
	       "  -U  the pages the cache maps in unmanaged memory: RAM hidden\n"
	       "      from the host with mem=, mmapped from /dev/mem (-A: where)\n",
	       name);
	exit(KSFT_SKIP);
}

int main(int argc, char *argv[])
{
	const char *mode = "all";
	bool all;
	int opt;

	while ((opt = getopt(argc, argv, "m:n:sUA:h")) != -1) {
		switch (opt) {
		case 'U':
			unmanaged = true;
			break;
		case 'A':
			unmanaged_phys = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			nr_switches = atoi_positive("switches", optarg);
			break;
		case 's':
			need_stats = true;
			break;
		default:
			help(argv[0]);
		}
	}
	all = !strcmp(mode, "all");
	if (!all && strcmp(mode, "churn") && strcmp(mode, "current") &&
	    strcmp(mode, "owner") && strcmp(mode, "handoff") &&
	    strcmp(mode, "lost"))
		help(argv[0]);

	is_vmx = kvm_cpu_has(X86_FEATURE_VMX);
	TEST_REQUIRE(is_vmx || kvm_cpu_has(X86_FEATURE_SVM));
	if (unmanaged && (!strcmp(mode, "owner") || !strcmp(mode, "lost"))) {
		print_skip("%s: not with -U (it drops or protects the cached pages)",
			   mode);
		exit(KSFT_SKIP);
	}
	ratio = nested_ctx_ratio();
	pr_info("%s, nested_context_ratio %d, %d L1 vCPUs\n",
		is_vmx ? "nested VMX" : "nested SVM", ratio, NR_VCPUS);
	test_create();

	if (all || !strcmp(mode, "churn"))
		test_churn();
	if (all || !strcmp(mode, "current"))
		test_current();
	if ((all || !strcmp(mode, "owner")) && unmanaged)
		pr_info("owner: not with -U (it drops the cached pages)\n");
	else if (all || !strcmp(mode, "owner"))
		test_owner();
	if (all || !strcmp(mode, "handoff"))
		test_handoff();
	if ((all || !strcmp(mode, "lost")) && unmanaged)
		pr_info("lost: not with -U (it protects and unmaps the cached pages)\n");
	else if (all || !strcmp(mode, "lost"))
		test_lost();
	kvm_vm_free(T.vm);
	if (unmanaged)
		nested_ctx_unmanaged_free(&T.um);
	return 0;
}
