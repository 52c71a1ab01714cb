/* SPDX-License-Identifier: GPL-2.0-only */
/* Stub: see ../kvm_shim.h. */
#include "../kvm_shim.h"
