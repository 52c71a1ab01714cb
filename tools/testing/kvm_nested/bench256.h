/* SPDX-License-Identifier: GPL-2.0-only */
/* nested.c with a fixed 256-bucket hash, under other names: bench256.c. */
#ifndef KVM_NESTED_BENCH256_H
#define KVM_NESTED_BENCH256_H

int fixed256_table_init(struct kvm *kvm);
void fixed256_table_destroy(struct kvm *kvm);
struct kvm_nested_context *fixed256_load(struct kvm_vcpu *vcpu, gpa_t gpa);
void fixed256_put(struct kvm_vcpu *vcpu, struct kvm_nested_context *ctx);
unsigned int fixed256_nr_buckets(struct kvm *kvm);

#endif
