// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fwd.c: the one entry file of the dutlab BPF datapath. Every program the
 * loader attaches is defined here; parsing, maps, shared structs and
 * tunables live in the headers next to it, so the L4 load balancer and the
 * firewall policy can join as more headers and more entry points (an XDP
 * one and a TC/clsact one) compiled from this same file.
 *
 * xdp_fwd is an L2 forwarder: every frame that arrives on the In port leaves
 * on the Out port (tx_port[0]) with src MAC = Out's MAC and dst MAC = the MAC
 * across Out's wire. Frames too short for Ethernet are dropped; nothing else
 * is inspected unless dec_ttl is set.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"
#include "structs.h"
#include "maps.h"
#include "parsing.h"

/*
 * Configuration, set by the loader before load. const volatile globals
 * rather than a config map: the MACs are fixed for the life of an attachment
 * (a new Out port means a new Attach and a fresh load), the loader freezes
 * .rodata so nothing can change them under a running program, and the fast
 * path reads them as plain loads instead of doing a map lookup per frame.
 */
const volatile __u8 out_smac[ETH_ALEN] = {}; /* MAC of the Out port */
const volatile __u8 out_dmac[ETH_ALEN] = {}; /* MAC across Out's wire */

/*
 * dec_ttl turns the forwarder into the classic "TTL rewrite" DUT: IPv4 TTL and
 * IPv6 hop limit are decremented (IPv4 checksum fixed incrementally, as the
 * kernel's ip_decrease_ttl does) and frames that would leave with 0 are
 * dropped (a DUT sends no ICMP). Off by default, so the default program is a
 * pure L2 forwarder whose output differs from its input only in the MACs and
 * test fixtures and benchmarks with Repeat > 1 stay stable.
 */
const volatile __u8 dec_ttl = 0;

static __always_inline void count(__u32 key, __u64 bytes)
{
	struct datarec *rec = bpf_map_lookup_elem(&stats, &key);

	if (!rec)
		return;
	/* Per-CPU slot: no other CPU writes it, plain adds suffice. */
	rec->packets++;
	rec->bytes += bytes;
}

static __always_inline int ipv4_decrease_ttl(struct iphdr *iph)
{
	__u32 check = (__u32)iph->check;

	check += (__u32)bpf_htons(0x0100);
	iph->check = (__sum16)(check + (check >= 0xFFFF));
	return --iph->ttl;
}

/*
 * rewrite_ttl applies dec_ttl to the frame at cur. It returns XDP_DROP when
 * the TTL or hop limit runs out and XDP_PASS (meaning "go on") otherwise,
 * including for frames that are not IP or whose IP header is cut short: an
 * L2 forwarder forwards what it does not understand.
 */
static __always_inline __u32 rewrite_ttl(struct hdr_cursor *cur, void *data_end)
{
	struct ethhdr *eth;
	struct iphdr *iph;
	struct ipv6hdr *ip6h;
	int eth_type;

	eth_type = parse_ethhdr(cur, data_end, &eth);
	if (eth_type == ETH_P_IP) {
		if (parse_iphdr(cur, data_end, &iph) < 0)
			return XDP_PASS;
		if (iph->ttl <= 1)
			return XDP_DROP;
		ipv4_decrease_ttl(iph);
	} else if (eth_type == ETH_P_IPV6) {
		if (parse_ip6hdr(cur, data_end, &ip6h) < 0)
			return XDP_PASS;
		if (ip6h->hop_limit <= 1)
			return XDP_DROP;
		ip6h->hop_limit--;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_fwd(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor cur = { .pos = data };
	struct ethhdr *eth = data;
	__u64 bytes = data_end - data;
	__u32 action;
	int i;

	count(STAT_RX, bytes);

	if ((void *)(eth + 1) > data_end) {
		action = XDP_DROP; /* runt: not even an Ethernet header */
		goto out;
	}

	if (dec_ttl && rewrite_ttl(&cur, data_end) == XDP_DROP) {
		action = XDP_DROP;
		goto out;
	}

#pragma unroll
	for (i = 0; i < ETH_ALEN; i++) {
		eth->h_source[i] = out_smac[i];
		eth->h_dest[i] = out_dmac[i];
	}

	/* An empty tx_port slot makes the helper return its flags: a drop. */
	action = bpf_redirect_map(&tx_port, 0, XDP_DROP);
out:
	count(action, bytes);
	return action;
}

/*
 * xdp_pass passes every frame to the stack. Attached to a veth it gives the
 * device a NAPI instance, which native XDP needs on the veth that receives
 * redirected frames (see the package documentation).
 */
SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
