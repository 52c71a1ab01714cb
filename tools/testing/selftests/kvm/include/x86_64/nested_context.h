/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for tests of the per-VM nested context cache: its VM stats and its
 * kvm.ko module parameter.
 */
#ifndef SELFTEST_KVM_NESTED_CONTEXT_H
#define SELFTEST_KVM_NESTED_CONTEXT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "vmx.h"

#define NESTED_CTX_RATIO_PARAM	"/sys/module/kvm/parameters/nested_context_ratio"

/*
 * vm_get_stat() reads garbage for a name the VM does not have, so look the
 * descriptor up first.
 */
static inline bool vm_has_stat(struct kvm_vm *vm, const char *name)
{
	struct kvm_stats_header header;
	struct kvm_stats_desc *descs, *desc;
	bool found = false;
	int fd, i;

	fd = vm_get_stats_fd(vm);
	read_stats_header(fd, &header);
	descs = read_stats_descriptors(fd, &header);
	for (i = 0; i < header.num_desc; i++) {
		desc = get_stats_descriptor(descs, i, &header);
		if (!strcmp(desc->name, name)) {
			found = true;
			break;
		}
	}
	free(descs);
	close(fd);
	return found;
}

/* Read a nested context stat; fail the test if KVM does not have it. */
static inline uint64_t vm_nested_ctx_stat(struct kvm_vm *vm, const char *name)
{
	TEST_ASSERT(vm_has_stat(vm, name),
		    "VM stat '%s' missing: not a kvm.ko with the nested context cache",
		    name);
	return vm_get_stat(vm, name);
}

/* kvm.ko's nested_context_ratio, or -1 when the parameter does not exist. */
static inline int nested_ctx_ratio(void)
{
	FILE *f = fopen(NESTED_CTX_RATIO_PARAM, "r");
	int ratio = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &ratio) != 1)
		ratio = -1;
	fclose(f);
	return ratio;
}

/*
 * A model of the nested context table (arch/x86/kvm/nested.c) for tests
 * that drive a known sequence of control-block loads, one vCPU at a time:
 * contexts keyed by GPA, each attached to at most one vCPU, detached ones
 * recycled least recently detached first, at most @cap of them, never
 * freed before the VM.  A load of a GPA attached to another vCPU falls
 * back to the vCPU's private context and counts in nested_context_busy; one
 * at capacity with every context attached falls back and changes no stat.
 */
#define NESTED_CTX_MODEL_VCPUS	8

struct nested_ctx_model {
	unsigned int cap, nr;
	uint64_t *gpa;
	int *owner;		/* vCPU index, -1 when detached */
	uint64_t *detached_at;
	uint64_t seq;
	uint64_t cur[NESTED_CTX_MODEL_VCPUS];	/* the vCPU's GPA, or -1 */
	int held[NESTED_CTX_MODEL_VCPUS];	/* its context, or -1 */
	uint64_t loads, reuse, recycle, busy;
	uint64_t peak;		/* highest nested_context_count seen */
	bool no_stats;		/* functional checks only (stock KVM) */
};

static inline void nested_ctx_model_init(struct nested_ctx_model *m,
					 unsigned int cap)
{
	int v;

	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->gpa = calloc(cap + 1, sizeof(*m->gpa));
	m->owner = calloc(cap + 1, sizeof(*m->owner));
	m->detached_at = calloc(cap + 1, sizeof(*m->detached_at));
	TEST_ASSERT(m->gpa && m->owner && m->detached_at, "calloc");
	for (v = 0; v < NESTED_CTX_MODEL_VCPUS; v++) {
		m->cur[v] = -1ull;
		m->held[v] = -1;
	}
}

static inline void nested_ctx_model_free(struct nested_ctx_model *m)
{
	free(m->gpa);
	free(m->owner);
	free(m->detached_at);
}

/* The vCPU stops using its control block (VMCLEAR, VMXOFF, EFER.SVME=0). */
static inline void nested_ctx_model_put(struct nested_ctx_model *m, int v)
{
	if (m->held[v] >= 0) {
		m->owner[m->held[v]] = -1;
		m->detached_at[m->held[v]] = ++m->seq;
	}
	m->held[v] = -1;
	m->cur[v] = -1ull;
}

/* The vCPU switches to the control block at @gpa (VMPTRLD, VMRUN). */
static inline void nested_ctx_model_load(struct nested_ctx_model *m, int v,
					 uint64_t gpa)
{
	int i, lru = -1;

	if (m->cur[v] == gpa)
		return;
	nested_ctx_model_put(m, v);
	m->cur[v] = gpa;
	if (!m->cap)
		return;
	m->loads++;
	for (i = 0; i < (int)m->nr; i++) {
		if (m->gpa[i] != gpa)
			continue;
		if (m->owner[i] >= 0) {
			m->busy++;	/* attached elsewhere: private */
			return;
		}
		m->owner[i] = v;
		m->held[v] = i;
		m->reuse++;
		return;
	}
	if (m->nr < m->cap) {
		i = m->nr++;
	} else {
		for (i = 0; i < (int)m->nr; i++)
			if (m->owner[i] < 0 &&
			    (lru < 0 || m->detached_at[i] < m->detached_at[lru]))
				lru = i;
		if (lru < 0)
			return;		/* every context attached */
		i = lru;
		m->recycle++;
	}
	m->gpa[i] = gpa;
	m->owner[i] = v;
	m->held[v] = i;
}

/*
 * SVM's VMRUN of @gpa that passes its checks, through its #VMEXIT: an SVM
 * vCPU holds a context only in guest mode, so every VMRUN is a load and the
 * #VMEXIT puts the context again.
 */
static inline void nested_ctx_model_vmrun(struct nested_ctx_model *m, int v,
					  uint64_t gpa)
{
	nested_ctx_model_put(m, v);
	nested_ctx_model_load(m, v, gpa);
	nested_ctx_model_put(m, v);
}

/*
 * SVM's VMLOAD or VMSAVE of @gpa, or a VMRUN of it that fails its checks:
 * a detached context of @gpa is held for the instruction only, which moves
 * it to the LRU tail.  No stat moves.
 */
static inline void nested_ctx_model_touch(struct nested_ctx_model *m,
					  uint64_t gpa)
{
	int i;

	for (i = 0; i < (int)m->nr; i++)
		if (m->gpa[i] == gpa && m->owner[i] < 0)
			m->detached_at[i] = ++m->seq;
}

/*
 * Check the capacity bound through the nested_context_count gauge and,
 * when @exact, the stats against the model.  Returns the gauge, or 0 when
 * the test checks function only (m->no_stats: stock KVM has no stats).
 */
static inline uint64_t nested_ctx_model_check(struct kvm_vm *vm,
					      struct nested_ctx_model *m,
					      bool exact, const char *what)
{
	uint64_t count, reuse, recycle, busy;

	if (m->no_stats)
		return 0;
	count = vm_nested_ctx_stat(vm, "nested_context_count");
	reuse = vm_nested_ctx_stat(vm, "nested_context_reuse");
	recycle = vm_nested_ctx_stat(vm, "nested_context_recycle");
	busy = vm_nested_ctx_stat(vm, "nested_context_busy");

	if (count > m->peak)
		m->peak = count;
	TEST_ASSERT(count <= m->cap,
		    "%s: nested_context_count %lu above capacity %u",
		    what, count, m->cap);
	if (!m->cap)
		TEST_ASSERT(!count && !reuse && !recycle && !busy,
			    "%s: cache off, but count %lu reuse %lu recycle %lu busy %lu",
			    what, count, reuse, recycle, busy);
	if (exact) {
		TEST_ASSERT(count == m->nr && reuse == m->reuse &&
			    recycle == m->recycle && busy == m->busy,
			    "%s: count/reuse/recycle/busy %lu/%lu/%lu/%lu, model %u/%lu/%lu/%lu",
			    what, count, reuse, recycle, busy, m->nr, m->reuse,
			    m->recycle, m->busy);
	}
	return count;
}

/*
 * The L1s of the hostile and churn tests run on either vendor.  Each L1
 * vCPU gets one argument: the vmx_pages GVA on VMX, the GPA of the host
 * save area on SVM.
 */
static inline uint64_t nested_ctx_l1_arg(struct kvm_vm *vm, bool vmx)
{
	vm_vaddr_t arg;

	if (vmx)
		vcpu_alloc_vmx(vm, &arg);
	else
		arg = addr_gva2gpa(vm, vm_vaddr_alloc_page(vm));
	return arg;
}

/* In L1: enter VMX operation, or enable SVM, with nested_ctx_l1_arg(). */
static inline void nested_ctx_l1_enable(bool vmx, uint64_t arg)
{
	if (vmx) {
		GUEST_ASSERT(prepare_for_vmx_operation((void *)arg));
	} else {
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
		wrmsr(MSR_VM_HSAVE_PA, arg);
	}
}

/*
 * In L1 on SVM: run the vmcb12 at @gpa, with VMLOAD and VMSAVE of its
 * state around the VMRUN, as KVM does as L1.  L2 may change every GPR.
 */
static inline void nested_ctx_svm_vmrun(uint64_t gpa)
{
	asm volatile("vmload %%rax; vmrun %%rax; vmsave %%rax"
		     : : "a"(gpa)
		     : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10",
		       "r11", "r12", "r13", "r14", "r15", "memory", "cc");
}

/*
 * Unmanaged guest memory: RAM that the host kernel neither direct-maps nor
 * gives a struct page, hidden from it with mem= and mmapped from /dev/mem,
 * so that KVM sees a VM_PFNMAP mapping (stock kvm_vcpu_map() memremap()s
 * such a page at every map).  The slot is KVM's only: the selftests
 * library does not track it, so its pages are handed out here with their
 * HVA, and L1 maps them at GVA == GPA == the host physical address.
 */
#define NESTED_CTX_UNMANAGED_SLOT	30
#define NESTED_CTX_UNMANAGED_MAX	(64ULL << 20)

struct nested_ctx_unmanaged {
	uint64_t base;		/* host physical address, GPA and L1's GVA */
	uint64_t size;		/* of the slot */
	uint64_t used;		/* of the slot, by nested_ctx_unmanaged_alloc() */
	uint64_t spare;		/* bytes after the slot, for other memslots */
	uint64_t spare_used;
	uint8_t *hva;
};

/* Read one hex number from a /sys/firmware/memmap entry's file. */
static inline bool nested_ctx_read_hex(const char *dir, const char *file,
				       uint64_t *val)
{
	char path[256];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fscanf(f, "%lx", val) == 1;
	fclose(f);
	return ok;
}

/*
 * The first @size bytes of RAM that the firmware's map lists and
 * /proc/iomem does not call System RAM: what mem= hid from the kernel.
 */
static inline bool nested_ctx_hidden_ram(uint64_t size, uint64_t *base)
{
	char dir[64], type[64], line[256];
	uint64_t start, end, s, e;
	FILE *f;
	int n;

	for (n = 0; ; n++) {
		snprintf(dir, sizeof(dir), "/sys/firmware/memmap/%d", n);
		snprintf(line, sizeof(line), "%s/type", dir);
		f = fopen(line, "r");
		if (!f)
			return false;
		if (!fgets(type, sizeof(type), f))
			type[0] = 0;
		fclose(f);
		if (strncmp(type, "System RAM", 10) ||
		    !nested_ctx_read_hex(dir, "start", &start) ||
		    !nested_ctx_read_hex(dir, "end", &end))
			continue;
		start = (start + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);

		/* /proc/iomem's top-level lines are sorted. */
		f = fopen("/proc/iomem", "r");
		if (!f)
			return false;
		while (start <= end && fgets(line, sizeof(line), f)) {
			if (line[0] == ' ' || !strstr(line, ": System RAM") ||
			    sscanf(line, "%lx-%lx", &s, &e) != 2)
				continue;
			if (e < start || s > end)
				continue;
			if (s > start && s - start >= size)
				break;
			start = (e + PAGE_SIZE) & ~(uint64_t)(PAGE_SIZE - 1);
		}
		fclose(f);
		if (start <= end && end - start + 1 >= size) {
			*base = start;
			return true;
		}
	}
}

/*
 * Map @npages of hidden RAM, plus @spare pages after them, from /dev/mem,
 * and add the first @npages to @vm as an unmanaged memslot, mapped in L1
 * at GVA == GPA.  The spare pages are for memslots of the test's own
 * (nested_ctx_unmanaged_spare()).  @phys, if not 0, names the range (the
 * test's option); otherwise the hidden RAM is looked up.  A host without
 * hidden RAM or without /dev/mem makes the test SKIP, never pass.
 */
static inline void nested_ctx_unmanaged_init(struct kvm_vm *vm,
					     struct nested_ctx_unmanaged *u,
					     uint64_t phys, uint64_t npages,
					     uint64_t spare)
{
	uint64_t size = npages * PAGE_SIZE, total = size + spare * PAGE_SIZE;
	void *hva;
	int fd;

	TEST_ASSERT(npages && total <= NESTED_CTX_UNMANAGED_MAX,
		    "unmanaged memory: %lu bytes, at most %llu", total,
		    NESTED_CTX_UNMANAGED_MAX);
	if (!phys && !nested_ctx_hidden_ram(total, &phys)) {
		print_skip("no hidden RAM of %lu KiB (boot the host with mem= below its RAM)",
			   total >> 10);
		exit(KSFT_SKIP);
	}
	TEST_ASSERT(!(phys & (PAGE_SIZE - 1)), "unaligned 0x%lx", phys);

	/* Not O_SYNC: that reserves the range UC-, against KVM's WB memremap(). */
	fd = open("/dev/mem", O_RDWR);
	if (fd < 0) {
		print_skip("/dev/mem: %s", strerror(errno));
		exit(KSFT_SKIP);
	}
	hva = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, phys);
	close(fd);
	if (hva == MAP_FAILED) {
		print_skip("mmap of /dev/mem at 0x%lx: %s", phys, strerror(errno));
		exit(KSFT_SKIP);
	}
	memset(hva, 0, total);

	vm_set_user_memory_region(vm, NESTED_CTX_UNMANAGED_SLOT, 0, phys, size,
				  hva);
	virt_map(vm, phys, phys, npages);
	u->base = phys;
	u->size = size;
	u->used = 0;
	u->spare = total - size;
	u->spare_used = 0;
	u->hva = hva;
	pr_info("unmanaged memory: %lu KiB at 0x%lx from /dev/mem, slot %d, %lu KiB spare\n",
		size >> 10, phys, NESTED_CTX_UNMANAGED_SLOT, u->spare >> 10);
}

/* @npages contiguous pages of the unmanaged slot: their GPA (== GVA). */
static inline uint64_t nested_ctx_unmanaged_alloc(struct nested_ctx_unmanaged *u,
						  uint64_t npages)
{
	uint64_t gpa = u->base + u->used, bytes = npages * PAGE_SIZE;

	TEST_ASSERT(u->used + bytes <= u->size,
		    "unmanaged memory: %lu bytes used of %lu, %lu more",
		    u->used, u->size, bytes);
	u->used += bytes;
	return gpa;
}

/* The host's address of an unmanaged GPA (addr_gpa2hva() aborts on it). */
static inline void *nested_ctx_unmanaged_hva(struct nested_ctx_unmanaged *u,
					     uint64_t gpa)
{
	TEST_ASSERT(gpa >= u->base && gpa < u->base + u->size,
		    "GPA 0x%lx not in the unmanaged slot", gpa);
	return u->hva + (gpa - u->base);
}

/*
 * @npages contiguous spare pages, in no memslot yet: the HVA to hand to
 * nested_ctx_unmanaged_slot().
 */
static inline uint8_t *nested_ctx_unmanaged_spare(struct nested_ctx_unmanaged *u,
						  uint64_t npages)
{
	uint8_t *hva = u->hva + u->size + u->spare_used;
	uint64_t bytes = npages * PAGE_SIZE;

	TEST_ASSERT(u->spare_used + bytes <= u->spare,
		    "unmanaged memory: %lu spare bytes used of %lu, %lu more",
		    u->spare_used, u->spare, bytes);
	u->spare_used += bytes;
	return hva;
}

/* After the VM is gone: unmap the /dev/mem mapping. */
static inline void nested_ctx_unmanaged_free(struct nested_ctx_unmanaged *u)
{
	TEST_ASSERT(!munmap(u->hva, u->size + u->spare), "munmap: %s",
		    strerror(errno));
	u->hva = NULL;
}

/*
 * Create, move (same @slot, @hva and @flags, other @gpa) or, with @npages
 * 0, delete a memslot of spare unmanaged pages at @hva.  The library does
 * not track it: the test keeps its GPA-to-HVA translation.
 */
static inline void nested_ctx_unmanaged_slot(struct kvm_vm *vm, uint32_t slot,
					     uint32_t flags, uint64_t gpa,
					     uint8_t *hva, uint64_t npages)
{
	vm_set_user_memory_region(vm, slot, flags, gpa, npages * PAGE_SIZE,
				  npages ? hva : NULL);
}

#endif /* SELFTEST_KVM_NESTED_CONTEXT_H */
