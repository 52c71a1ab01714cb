// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmx_apic_update_test
 *
 * L2 "A" runs with an APIC-access page, a virtual-APIC page (TPR shadow)
 * and an L1 MSR bitmap that KVM keeps mapped in its nested context caches
 * across L2 switches.  Between rounds, while A is switched out for L2 "B",
 * the host changes what backs those pages: their content, from the host and
 * from L1; madvise(MADV_DONTNEED); a new mapping over the backing; a new
 * memslot.  Last, it does the same while the vCPU is in L2 A, with vmcs02
 * pointing at the pages.
 *
 * Each round A observes, architecturally:
 * - the TPR, read with MOV from CR8, which the CPU takes from the
 *   virtual-APIC page at the host-physical address in vmcs02;
 * - a read of the TPR through the APIC-access page, which the CPU
 *   virtualizes (returning the virtual-APIC page's TPR) or turns into an
 *   APIC-access VM-exit only if vmcs02's APIC-access address is the
 *   page's current host-physical address;
 * - whether RDMSR of MSR_FS_BASE exits to L1, which depends on the L1 MSR
 *   bitmap merged into vmcs02 at entry.  (An MSR can be given as argument;
 *   under Bochs, MSR_KERNEL_GS_BASE exits to L1 whatever its bit, with
 *   stock KVM too.)
 * It must always see the current content and mapping, never a stale one.
 *
 * With -U the three pages, both VMCSs and the MSR bitmap of L2 B are in
 * unmanaged memory: RAM hidden from the host kernel with mem= and mmapped
 * from /dev/mem, a VM_PFNMAP mapping without struct pages, where no
 * mmu_notifier fires.  The changes are then memslot changes: the memslot
 * re-created on other pages, and moved away with other pages put in its
 * place, between switches and while in L2.  The pages left behind keep
 * the old content, which a stale mapping would show.  Without hidden RAM
 * or /dev/mem the test SKIPs.
 *
 * -F checks function only: no nested_context_* stats, and only the changes
 * between switches (stock KVM keeps the pages it mapped at entry for the
 * whole L2 run, so it fails the changes while in L2).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "test_util.h"
#include "kvm_util.h"
#include "apic.h"
#include "processor.h"
#include "vmx.h"
#include "nested_context.h"

#define TEST_SLOT	10
#define TEST_SLOT2	11
#define TEST_GPA	0x10000000ull
#define TEST_GPA2	0x20000000ull	/* -U: where the memslot moves */
#define TEST_PAGES	3
#define APIC_ACCESS_GPA	(TEST_GPA)
#define VAPIC_GPA	(TEST_GPA + 0x1000)
#define MSR_BITMAP_GPA	(TEST_GPA + 0x2000)
/* The MSR's bit in the read bitmaps for low and high MSRs. */
#define MSR_BIT_OFFSET	(((test_msr >> 31) ? 0x400 : 0) + ((test_msr & 0x1fff) / 8))
#define MSR_BIT		(1 << (test_msr % 8))

#define PORT_L2_PAUSE	0x2000
#define L2_STACK_SIZE	64

struct shared {
	uint64_t pause;		/* A stops in L2 for the host first */
	uint64_t tpr;		/* CR8 as A read it */
	uint64_t msr_exits;
	uint64_t apic_exits;
	uint64_t l1_tpr;	/* if non-zero, L1 writes it to the TPR... */
	uint64_t l1_msr;	/* ...and this (1 + bit) into the MSR bitmap */
	uint64_t loads;		/* VMPTRLDs done by L1 */
	uint64_t apic_val;	/* what A read from the APIC-access page */
};

static struct shared *sh;	/* GVA */
static uint32_t test_msr = MSR_FS_BASE;
static unsigned long l2_a_stack[L2_STACK_SIZE], l2_b_stack[L2_STACK_SIZE];

static void l2_a_code(void)
{
	uint64_t cr8, val;

	for (;;) {
		if (READ_ONCE(sh->pause))
			asm volatile("inb %%dx, %%al"
				     : : "d"(PORT_L2_PAUSE) : "rax", "memory");
		asm volatile("mov %%cr8, %0" : "=r"(cr8));
		WRITE_ONCE(sh->tpr, cr8);
		asm volatile("rdmsr" : : "c"(test_msr)
			     : "rax", "rdx", "memory");
		/*
		 * A 2-byte instruction, which L1 skips on an APIC-access exit.
		 * Flush the TLB entry first: an emulated CPU may check for APIC
		 * accesses only when it fills the TLB.
		 */
		asm volatile("invlpg (%0)" : : "r"(APIC_ACCESS_GPA) : "memory");
		val = 0;
		asm volatile("movl (%%rdi), %%eax"
			     : "+a"(val) : "D"(APIC_ACCESS_GPA + APIC_TASKPRI)
			     : "memory");
		WRITE_ONCE(sh->apic_val, val);
		barrier();
		vmcall();
		barrier();
	}
}

static void l2_b_code(void)
{
	for (;;)
		vmcall();
}

static void skip_insn(uint64_t len)
{
	vmwrite(GUEST_RIP, vmreadz(GUEST_RIP) + len);
}

static void l1_setup_a(struct vmx_pages *vmx)
{
	uint32_t ctl;

	prepare_vmcs(vmx, l2_a_code, &l2_a_stack[L2_STACK_SIZE]);

	ctl = vmreadz(CPU_BASED_VM_EXEC_CONTROL);
	ctl |= CPU_BASED_ACTIVATE_SECONDARY_CONTROLS | CPU_BASED_TPR_SHADOW |
	       CPU_BASED_USE_MSR_BITMAPS;
	ctl &= ~(CPU_BASED_CR8_LOAD_EXITING | CPU_BASED_CR8_STORE_EXITING);
	vmwrite(CPU_BASED_VM_EXEC_CONTROL, ctl);
	vmwrite(SECONDARY_VM_EXEC_CONTROL, vmreadz(SECONDARY_VM_EXEC_CONTROL) |
		SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES);
	vmwrite(APIC_ACCESS_ADDR, APIC_ACCESS_GPA);
	vmwrite(VIRTUAL_APIC_PAGE_ADDR, VAPIC_GPA);
	vmwrite(TPR_THRESHOLD, 0);
	vmwrite(MSR_BITMAP, MSR_BITMAP_GPA);
}

static void l1_load(void *gva, uint64_t gpa, bool first)
{
	if (first) {
		*(uint32_t *)gva = vmcs_revision();
		GUEST_ASSERT(!vmclear(gpa));
	}
	GUEST_ASSERT(!vmptrld(gpa));
	GUEST_ASSERT_EQ(vmptrstz(), gpa);
	sh->loads++;
}

/* Run A until its VMCALL, counting the exits it takes on the way. */
static void l1_run_a(struct vmx_pages *vmx, bool first)
{
	uint64_t reason;
	int ret;

	l1_load(vmx->vmcs, vmx->vmcs_gpa, first);
	if (first)
		l1_setup_a(vmx);

	if (sh->l1_tpr) {
		*(uint32_t *)(VAPIC_GPA + 0x80) = sh->l1_tpr << 4;
		sh->l1_tpr = 0;
	}
	if (sh->l1_msr) {
		*(uint8_t *)(MSR_BITMAP_GPA + MSR_BIT_OFFSET) =
			(sh->l1_msr - 1) ? MSR_BIT : 0;
		sh->l1_msr = 0;
	}

	sh->msr_exits = 0;
	sh->apic_exits = 0;
	ret = first ? vmlaunch() : vmresume();
	for (;;) {
		GUEST_ASSERT(!ret);
		reason = vmreadz(VM_EXIT_REASON);
		if (reason == EXIT_REASON_VMCALL)
			break;

		if (reason == EXIT_REASON_MSR_READ) {
			sh->msr_exits++;
			skip_insn(vmreadz(VM_EXIT_INSTRUCTION_LEN));
		} else if (reason == EXIT_REASON_APIC_ACCESS) {
			sh->apic_exits++;
			skip_insn(2);
		} else {
			GUEST_FAIL("unexpected exit reason %lu", reason);
		}
		ret = vmresume();
	}
	skip_insn(vmreadz(VM_EXIT_INSTRUCTION_LEN));
}

static void l1_run_b(struct vmx_pages *vmx, void *vmcs_b, uint64_t vmcs_b_gpa,
		     bool first)
{
	l1_load(vmcs_b, vmcs_b_gpa, first);
	if (first)
		prepare_vmcs(vmx, l2_b_code, &l2_b_stack[L2_STACK_SIZE]);

	GUEST_ASSERT(!(first ? vmlaunch() : vmresume()));
	GUEST_ASSERT_EQ(vmreadz(VM_EXIT_REASON), EXIT_REASON_VMCALL);
	skip_insn(vmreadz(VM_EXIT_INSTRUCTION_LEN));
}

static void l1_guest_code(struct vmx_pages *vmx, void *vmcs_b,
			  uint64_t vmcs_b_gpa)
{
	uint64_t round;

	GUEST_ASSERT(prepare_for_vmx_operation(vmx));

	for (round = 0;; round++) {
		l1_run_a(vmx, !round);
		l1_run_b(vmx, vmcs_b, vmcs_b_gpa, !round);
		GUEST_SYNC(round);
	}
}

static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static struct shared *hsh;

/*
 * -U: the unmanaged memory, the two backings of the test memslot (used in
 * turn), the slot that is at TEST_GPA and one moved away, or -1.
 */
static bool unmanaged, no_stats;
static uint64_t unmanaged_phys;
static struct nested_ctx_unmanaged um;
static uint8_t *backing[2];
static int cur_backing, cur_slot = TEST_SLOT, moved_slot = -1;

static uint8_t *test_hva(uint64_t gpa)
{
	if (unmanaged)
		return backing[cur_backing] + (gpa - TEST_GPA);
	return addr_gpa2hva(vm, gpa);
}

/* -U: put the other backing at TEST_GPA in memslot @slot, fresh content. */
static void unmanaged_new_backing(int slot)
{
	cur_backing ^= 1;
	memcpy(backing[cur_backing], backing[cur_backing ^ 1],
	       TEST_PAGES * getpagesize());
	nested_ctx_unmanaged_slot(vm, slot, 0, TEST_GPA, backing[cur_backing],
				  TEST_PAGES);
	cur_slot = slot;
}

static void unmanaged_drop_moved(void)
{
	if (moved_slot >= 0)
		nested_ctx_unmanaged_slot(vm, moved_slot, 0, 0, NULL, 0);
	moved_slot = -1;
}

/* -U: the memslot deleted and created again, on the other pages. */
static void unmanaged_recreate(void)
{
	unmanaged_drop_moved();
	nested_ctx_unmanaged_slot(vm, cur_slot, 0, 0, NULL, 0);
	unmanaged_new_backing(cur_slot);
}

/* -U: the memslot moved to TEST_GPA2, another one in its place. */
static void unmanaged_move(void)
{
	unmanaged_drop_moved();
	nested_ctx_unmanaged_slot(vm, cur_slot, 0, TEST_GPA2,
				  backing[cur_backing], TEST_PAGES);
	moved_slot = cur_slot;
	unmanaged_new_backing(cur_slot == TEST_SLOT ? TEST_SLOT2 : TEST_SLOT);
}

static void host_write(int tpr, int msr)
{
	*(uint32_t *)(test_hva(VAPIC_GPA) + 0x80) = tpr << 4;
	test_hva(MSR_BITMAP_GPA)[MSR_BIT_OFFSET] = msr ? MSR_BIT : 0;
	/* What L2 reads if the CPU does not virtualize the access. */
	memset(test_hva(APIC_ACCESS_GPA), 0x40 + tpr, 64);
}

static void zap(void)
{
	TEST_ASSERT(!madvise(test_hva(TEST_GPA), TEST_PAGES * getpagesize(),
			     MADV_DONTNEED), "madvise failed");
}

static void remap(void)
{
	void *hva = test_hva(TEST_GPA);

	TEST_ASSERT(mmap(hva, TEST_PAGES * getpagesize(),
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == hva,
		    "mmap failed");
}

static void new_memslot(void)
{
	vm_mem_region_delete(vm, TEST_SLOT);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, TEST_GPA,
				    TEST_SLOT, TEST_PAGES, 0);
}

/*
 * Run to the end of a round; with @in_l2, first to A's pause in L2 and call
 * @change there.  Then check what A saw.
 */
static void run_round(const char *what, void (*change)(void), int tpr,
		      int msr, bool in_l2, bool check_msr)
{
	struct ucall uc;

	hsh->pause = in_l2;
	for (;;) {
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		if (vcpu->run->io.port == PORT_L2_PAUSE) {
			TEST_ASSERT(in_l2, "unexpected pause");
			hsh->pause = 0;
			if (change)
				change();
			host_write(tpr, msr);
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			break;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
		break;
	}

	pr_info("%-36s TPR %lu (expect %d), MSR exits %lu (bit %d%s), APIC-access exits %lu%s\n",
		what, hsh->tpr, tpr, hsh->msr_exits, msr,
		check_msr ? "" : ", not checked", hsh->apic_exits,
		hsh->apic_exits ? "" : ", TPR read virtualized");
	TEST_ASSERT_EQ(hsh->tpr, tpr);
	/*
	 * With the TPR shadow, a read of the TPR through the APIC-access page
	 * is virtualized: it returns the virtual-APIC page's TPR (or exits).
	 * A stale APIC-access address in vmcs02 would read the page itself.
	 */
	if (!hsh->apic_exits)
		TEST_ASSERT_EQ((uint32_t)hsh->apic_val, tpr << 4);
	TEST_ASSERT(hsh->apic_exits <= 1, "more than one APIC-access exit");
	if (check_msr)
		TEST_ASSERT_EQ(hsh->msr_exits, msr);
}

/* Change the pages while A is switched out, then set new content. */
static void round_between(const char *what, void (*change)(void), int tpr,
			  int msr)
{
	if (change)
		change();
	host_write(tpr, msr);
	run_round(what, NULL, tpr, msr, false, true);
}

static void zap_and_check_zero(void)
{
	zap();
	TEST_ASSERT_EQ(*(uint32_t *)(test_hva(VAPIC_GPA) + 0x80), 0);
}

static void help(const char *name)
{
	printf("usage: %s [-U [-A host-physical-address]] [-F] [MSR]\n"
	       "  -U  the pages in unmanaged memory: RAM hidden from the host\n"
	       "      with mem=, mmapped from /dev/mem (-A: where)\n"
	       "  -F  functional checks only: no stats, no changes while in L2\n",
	       name);
	exit(KSFT_SKIP);
}

/* -U: both VMCSs, B's MSR bitmap and the test memslot in unmanaged memory. */
static void unmanaged_setup(vm_vaddr_t vmx_gva, uint64_t *vmcs_b)
{
	struct vmx_pages *p = addr_gva2hva(vm, vmx_gva);

	nested_ctx_unmanaged_init(vm, &um, unmanaged_phys, 3,
				  2 * TEST_PAGES);
	p->vmcs_gpa = nested_ctx_unmanaged_alloc(&um, 1);
	p->vmcs = (void *)p->vmcs_gpa;
	p->vmcs_hva = nested_ctx_unmanaged_hva(&um, p->vmcs_gpa);
	p->msr_gpa = nested_ctx_unmanaged_alloc(&um, 1);
	p->msr = (void *)p->msr_gpa;
	p->msr_hva = nested_ctx_unmanaged_hva(&um, p->msr_gpa);
	*vmcs_b = nested_ctx_unmanaged_alloc(&um, 1);

	backing[0] = nested_ctx_unmanaged_spare(&um, TEST_PAGES);
	backing[1] = nested_ctx_unmanaged_spare(&um, TEST_PAGES);
	nested_ctx_unmanaged_slot(vm, TEST_SLOT, 0, TEST_GPA, backing[0],
				  TEST_PAGES);
}

int main(int argc, char *argv[])
{
	vm_vaddr_t vmx_gva, vmcs_b;
	uint64_t reuse, recycle, loads, exp_reuse = 0, exp_recycle = 0;
	uint64_t vmcs_b_gpa;
	int ratio, opt;

	while ((opt = getopt(argc, argv, "UA:Fh")) != -1) {
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
		default:
			help(argv[0]);
		}
	}

	TEST_REQUIRE(kvm_cpu_has(X86_FEATURE_VMX));

	if (optind < argc)
		test_msr = strtoul(argv[optind], NULL, 0);
	pr_info("MSR %x\n", test_msr);

	vm = vm_create_with_one_vcpu(&vcpu, l1_guest_code);
	vcpu_alloc_vmx(vm, &vmx_gva);
	if (unmanaged) {
		unmanaged_setup(vmx_gva, &vmcs_b_gpa);
		vmcs_b = vmcs_b_gpa;
	} else {
		vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, TEST_GPA,
					    TEST_SLOT, TEST_PAGES, 0);
		vmcs_b = vm_vaddr_alloc_page(vm);
		vmcs_b_gpa = addr_gva2gpa(vm, vmcs_b);
	}
	virt_map(vm, TEST_GPA, TEST_GPA, TEST_PAGES);
	vcpu_args_set(vcpu, 3, vmx_gva, vmcs_b, vmcs_b_gpa);

	sh = (struct shared *)vm_vaddr_alloc_page(vm);
	hsh = addr_gva2hva(vm, (vm_vaddr_t)sh);
	sync_global_to_guest(vm, sh);
	sync_global_to_guest(vm, test_msr);

	/* The first round launches A and B. */
	round_between("initial", NULL, 3, 1);
	round_between("host writes the pages", NULL, 5, 0);

	hsh->l1_tpr = 7;
	hsh->l1_msr = 1 + 1;
	run_round("L1 writes the pages", NULL, 7, 1, false, true);

	if (unmanaged) {
		/* No mmu_notifier: only memslot changes invalidate. */
		round_between("memslot re-created on other pages",
			      unmanaged_recreate, 9, 1);
		round_between("memslot moved, other pages in place",
			      unmanaged_move, 10, 0);
		round_between("memslot re-created again", unmanaged_recreate,
			      11, 1);
		if (!no_stats) {
			/* The MSR bitmap is only read at VM-entry. */
			run_round("memslot re-created while in L2",
				  unmanaged_recreate, 12, 0, true, false);
			run_round("memslot moved while in L2", unmanaged_move,
				  13, 1, true, false);
		}
		round_between("back to switched out", unmanaged_move, 14, 0);
	} else {
		round_between("MADV_DONTNEED, zero pages", zap_and_check_zero, 0, 0);
		round_between("MADV_DONTNEED, new content", zap, 9, 1);
		round_between("new mapping over the backing", remap, 10, 0);
		round_between("memslot deleted and re-created", new_memslot, 11, 1);
		/* The MSR bitmap is only read at VM-entry: don't check it here. */
		run_round("MADV_DONTNEED while in L2", zap, 12, 0, true, false);
		run_round("new mapping while in L2", remap, 13, 1, true, false);
		round_between("back to switched out", zap, 14, 0);
	}

	if (no_stats) {
		pr_info("%lu VMPTRLDs, functional checks only\n", hsh->loads);
		kvm_vm_free(vm);
		if (unmanaged)
			nested_ctx_unmanaged_free(&um);
		return 0;
	}
	ratio = nested_ctx_ratio();
	loads = hsh->loads;
	/* A and B alternate on one vCPU: capacity is ratio x 1. */
	if (ratio >= 2)
		exp_reuse = loads - 2;
	else if (ratio == 1)
		exp_recycle = loads - 1;
	reuse = vm_nested_ctx_stat(vm, "nested_context_reuse");
	recycle = vm_nested_ctx_stat(vm, "nested_context_recycle");
	pr_info("ratio %d, %lu VMPTRLDs: reuse %lu (expect %lu), recycle %lu (expect %lu)\n",
		ratio, loads, reuse, exp_reuse, recycle, exp_recycle);
	TEST_ASSERT_EQ(reuse, exp_reuse);
	TEST_ASSERT_EQ(recycle, exp_recycle);

	kvm_vm_free(vm);
	if (unmanaged)
		nested_ctx_unmanaged_free(&um);
	return 0;
}
