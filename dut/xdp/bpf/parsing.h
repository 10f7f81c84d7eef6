/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * parsing.h: header parsers for the XDP/TC datapath. Kernel-side only.
 *
 * Cursor contract (as in xdp-tutorial's parsing_helpers.h):
 *   - struct hdr_cursor holds the position of the next unparsed byte.
 *   - parse_<hdr>(cur, data_end, &hdr) checks that the whole header lies
 *     before data_end, then sets *hdr to it, advances cur past it and
 *     returns the next protocol (host byte order for EtherType, the IP
 *     protocol number for L3 parsers).
 *   - On a short frame it returns -1 and leaves cur and *hdr untouched, so a
 *     caller can still act on what was parsed before.
 *   - Parsers never write to the frame; rewrites live with the entry points.
 */
#ifndef DUTLAB_PARSING_H
#define DUTLAB_PARSING_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "consts.h"

struct hdr_cursor {
	void *pos;
};

/* One 802.1Q/802.1ad tag as it sits after the MAC addresses. */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) ||
	       h_proto == bpf_htons(ETH_P_8021AD);
}

/*
 * parse_ethhdr reads the Ethernet header and up to VLAN_MAX_DEPTH VLAN tags.
 * It returns the innermost EtherType in host byte order; the cursor ends
 * after the last tag it read. A frame whose tags do not fit returns -1.
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *cur, void *data_end,
					struct ethhdr **ethhdr)
{
	struct ethhdr *eth = cur->pos;
	struct vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;

	vlh = (void *)(eth + 1);
	h_proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(h_proto))
			break;
		if ((void *)(vlh + 1) > data_end)
			return -1;
		h_proto = vlh->h_vlan_encapsulated_proto;
		vlh++;
	}

	*ethhdr = eth;
	cur->pos = vlh;
	return bpf_ntohs(h_proto);
}

/* parse_iphdr reads an IPv4 header including options (ihl*4 bytes). */
static __always_inline int parse_iphdr(struct hdr_cursor *cur, void *data_end,
				       struct iphdr **iphdr)
{
	struct iphdr *iph = cur->pos;
	int hdrsize;

	if ((void *)(iph + 1) > data_end)
		return -1;
	hdrsize = iph->ihl * 4;
	if (hdrsize < (int)sizeof(*iph))
		return -1;
	if (cur->pos + hdrsize > data_end)
		return -1;

	*iphdr = iph;
	cur->pos += hdrsize;
	return iph->protocol;
}

/* parse_ip6hdr reads the fixed IPv6 header; extension headers are not walked. */
static __always_inline int parse_ip6hdr(struct hdr_cursor *cur, void *data_end,
					struct ipv6hdr **ip6hdr)
{
	struct ipv6hdr *ip6h = cur->pos;

	if ((void *)(ip6h + 1) > data_end)
		return -1;

	*ip6hdr = ip6h;
	cur->pos = ip6h + 1;
	return ip6h->nexthdr;
}

#endif /* DUTLAB_PARSING_H */
