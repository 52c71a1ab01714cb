/* SPDX-License-Identifier: GPL-2.0-only */
/* Stub: the tracepoints are declared in ../kvm_shim.h. */
