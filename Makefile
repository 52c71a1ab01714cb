# SPDX-License-Identifier: GPL-2.0
#
# Per-VM nested (L2) context cache for x86 KVM, built as out-of-tree kvm,
# kvm-intel and kvm-amd modules for Debian's 6.12 kernel.  See README.md.

include scripts/pin.mk

REPO     := $(CURDIR)
O        ?= $(CURDIR)/build
CACHE    ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/kvm-nested
JOBS     ?= $(shell nproc)

# Everything fetched for one Debian version lives in a directory of its own:
# two versions unpacked into one tree mix one's source with the other's
# headers.
KCACHE   ?= $(CACHE)/$(DEB_VERSION)
# Pristine kernel source and the headers (build dir) of the target kernel.
# Point them at your own to skip the Debian download.
KSRC     ?= $(KCACHE)/linux-source-$(KVER)
KDIR     ?= $(KCACHE)/root/usr/src/linux-headers-$(KABI)
# The Debian kernel and modules the emulators boot.
KIMAGE   ?= $(KCACHE)/root/boot/vmlinuz-$(KABI)
KMODDIR  ?= $(KCACHE)/root/lib/modules/$(KABI)

TREE     := $(O)/src
KVMTREE  := $(O)/kvm
HDR      := $(O)/usr
KSFT     := $(O)/selftests
# The release of the kernel KDIR builds for: our vermagic must match it.
MODULE_ABI ?= $(KABI)
MODULES  := $(addprefix $(KVMTREE)/arch/x86/kvm/,kvm.ko kvm-intel.ko kvm-amd.ko)

SERIES_FILES := patches/series $(wildcard patches/*.patch patches/releases/*/*.patch) \
	$(shell scripts/series.sh list $(REPO) 2>/dev/null | awk '{for (i = 2; i <= NF; i++) print $$i}')

export REPO O CACHE KSRC KDIR KIMAGE KMODDIR KABI TREE KVMTREE HDR KSFT JOBS
# O= on our command line names our build directory; kbuild would take it
# for its output directory if it reached a kernel make as a command-line
# variable.  The environment carries it to our scripts instead.
MAKEOVERRIDES := $(filter-out O=%,$(MAKEOVERRIDES))
export KCACHE KVER DEB_VERSION

.PHONY: version-check FORCE
.PHONY: all modules selftests tree fetch deps unit lint check check-debug check-churn check-kut check-releases run patchset series-build \
	install load bench-table bench-nested fuzz clean distclean help

all: modules selftests

help:
	@echo "make               modules (build/kvm/arch/x86/kvm/*.ko) and static selftests"
	@echo "make run           the L2-switch workload in QEMU and Bochs, with the VM stats"
	@echo "make check         every tier; ends with 'N passed, N failed, N skipped'"
	@echo "make check-debug   the emulator lists on a KASAN/lockdep/kmemleak kernel"
	@echo "make check-churn   the churn test with 100000 L2 switches per vendor"
	@echo "make check-releases the series on every Debian point release the archive serves"
	@echo "make check-kut     every kvm-unit-tests svm.flat/vmx.flat test (KUT_MODS=stock: baseline)"
	@echo "make unit|lint     one tier"
	@echo "make patchset      the series as git format-patch files in build/patchset"
	@echo "make series-build  build after every commit of the series"
	@echo "make bench-table   userspace benchmark of nested.c"
	@echo "make bench-nested  stock vs ours L2-switch benchmark in QEMU and Bochs"
	@echo "make fuzz          long fuzzer run"
	@echo "make install|load  on a host running $(KABI)"
	@echo "See README.md."

# --- the kernel base -------------------------------------------------------

$(KCACHE)/.fetched-$(KABI):
	@scripts/deps.sh build
	@scripts/fetch.sh $(KCACHE) $(KVER) $(DEB_VERSION) $(KABI)

fetch: $(KCACHE)/.fetched-$(KABI)

# Only fetch what the user did not point elsewhere.
$(KSRC)/Makefile $(KDIR)/Makefile $(KIMAGE):
	@$(MAKE) --no-print-directory fetch

# Source and headers must be the same kernel and Debian version; checked
# before any patch is applied, and on every build since KSRC= and KDIR= can
# change between runs.
version-check: $(KSRC)/Makefile $(KDIR)/Makefile
	@scripts/version-check.sh $(KSRC) $(KDIR)

# The tree is rebuilt when KSRC names another source, whatever the files'
# timestamps say (two versions' tarballs can be in either order).
$(O)/.ksrc: $(KSRC)/Makefile FORCE
	@mkdir -p $(O)
	@id="$(KSRC) $$(scripts/version-check.sh --id $(KSRC))"; \
		[ "$$(cat $@ 2>/dev/null)" = "$$id" ] || echo "$$id" >$@

# --- the patched tree and the build ----------------------------------------

$(TREE)/.stamp: $(KSRC)/Makefile $(O)/.ksrc $(SERIES_FILES) scripts/mktree.sh scripts/series.sh | version-check
	@echo "  TREE    $(TREE) ($$(scripts/series.sh list $(REPO) | wc -l) commits)"
	@scripts/mktree.sh $(KSRC) $(TREE) $(REPO)
	@touch $@

tree: $(TREE)/.stamp

modules: $(TREE)/.stamp $(KDIR)/Makefile
	@echo "  MODULES kvm.ko kvm-intel.ko kvm-amd.ko for $(MODULE_ABI)"
	@scripts/kvmset.sh sync $(TREE) $(KVMTREE)
	@cp scripts/kbuild/Kbuild $(KVMTREE)/Kbuild
	@cp scripts/kbuild/kvm.Kbuild $(KVMTREE)/arch/x86/kvm/Kbuild
	@$(MAKE) --no-print-directory -C $(KDIR) M=$(KVMTREE) KVM_TREE=$(KVMTREE) \
		-j$(JOBS) $(KBUILD_EXTRA) modules
	@for m in $(MODULES); do \
		v=$$(modinfo -F vermagic $$m | cut -d' ' -f1); \
		[ "$$v" = "$(MODULE_ABI)" ] || { echo "error: $$m has vermagic $$v, not $(MODULE_ABI)" >&2; exit 1; }; \
	done

$(HDR)/.stamp: $(TREE)/.stamp
	@echo "  HDRINST $(HDR)"
	@$(MAKE) --no-print-directory -s -C $(TREE) O=$(O)/hdr-obj ARCH=x86_64 \
		INSTALL_HDR_PATH=$(HDR) headers_install
	@touch $@

selftests: $(HDR)/.stamp
	@echo "  KSFT    $(KSFT)"
	@$(MAKE) --no-print-directory -s -C $(TREE)/tools/testing/selftests/kvm \
		ARCH=x86_64 OUTPUT=$(KSFT) INSTALL_HDR_PATH=$(HDR) \
		KHDR_INCLUDES="-isystem $(HDR)/include" EXTRA_CFLAGS=-static -j$(JOBS)

# --- tiers ------------------------------------------------------------------

unit:
	@scripts/unit.sh

fuzz:
	@FUZZ_LONG=1 scripts/unit.sh fuzz

bench-table:
	@scripts/unit.sh bench

lint: $(TREE)/.stamp $(KDIR)/Makefile
	@scripts/lint.sh

check:
	@scripts/check.sh

# The emulator lists on a KASAN/lockdep/kmemleak kernel (scripts/debug/).
check-debug:
	@CHECK_KERNEL=debug scripts/check.sh

# The concurrent churn test with 100000 L2 switches per vendor, QEMU and
# Bochs in parallel: about 12 minutes (README, Durations).
check-churn:
	@CHECK_LISTS=churn scripts/check.sh

# The series on every Debian point release the archive serves (or
# RELEASES="<Debian version> ..."): applies, builds, series-build, QEMU and
# Bochs smoke lists; prints the matrix.  See README, Other point releases.
check-releases:
	@scripts/check-releases.sh

# Both kvm-unit-tests suites in full (make check runs a subset);
# KUT_MODS=stock runs them with Debian's modules.  The latency_* and
# vmx_pf_*vpid* tests take minutes each: a longer per-test timeout.
check-kut:
	@CHECK_TIERS="build kut" CHECK_KUT=full KUT_TIMEOUT=$${KUT_TIMEOUT:-360} \
		KUT_WALL=$${KUT_WALL:-30} scripts/check.sh

run: all $(KIMAGE)
	@scripts/run.sh

bench-nested: all $(KIMAGE)
	@scripts/bench-nested.sh

patchset: $(KSRC)/Makefile
	@scripts/patchset.sh $(KSRC) $(O)/patchset

# Build after every commit of the series: each must build on its own.
series-build: $(KSRC)/Makefile $(KDIR)/Makefile version-check
	@scripts/series-build.sh

# --- a real host running the matching kernel --------------------------------

install: modules
	@scripts/host.sh install $(MODULES)

load: install
	@scripts/host.sh load

clean:
	rm -rf $(O)

distclean: clean
	rm -rf $(CACHE)
