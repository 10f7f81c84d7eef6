/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * maps.h: every BPF map of the datapath, each with what it is for. The future
 * policy tables (LPM trie of VIPs/prefixes, 5-tuple rule hash, LRU connection
 * table, Maglev ring arrays) belong here too.
 */
#ifndef DUTLAB_MAPS_H
#define DUTLAB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "structs.h"

/*
 * tx_port: egress ports for bpf_redirect_map. Key 0 holds the Out port's
 * ifindex (set by the loader inside the DUT namespace). A devmap rather than
 * bpf_redirect(ifindex) because it batches transmits per NAPI poll (the fast
 * path for native XDP) and an empty slot turns into a counted drop.
 */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, TX_PORT_MAX);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

/*
 * stats: per-CPU frames and bytes keyed by enum stat_key (rx and each
 * verdict). Per CPU so the fast path never contends; user space sums.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, struct datarec);
} stats SEC(".maps");

#endif /* DUTLAB_MAPS_H */
