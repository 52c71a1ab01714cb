/* SPDX-License-Identifier: GPL-2.0-only */
/* Stub for arch/x86/kvm/trace.h: the tracepoints are in kvm_shim.h. */
#include "kvm_shim.h"
