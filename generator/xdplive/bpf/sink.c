// SPDX-License-Identifier: GPL-2.0
/* xdp_sink: the receiver of the xdp-live engine, attached to the RX port.
 * It counts and drops every frame. Frames whose UDP payload starts with the
 * probe signature are counted again and their one-way latency (now minus the
 * probe timestamp, both bpf_ktime_get_ns on this host) goes into a bucketed
 * histogram. It sees arbitrary traffic, so every read is bounds-checked and
 * nothing it parses can make it abort. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "probe.h"

/* Histogram buckets: values 0..3 exactly, then 4 linear sub-buckets per
 * power of two (bucket = 4*(msb-1) + next two bits), so the relative bucket
 * width is at most 25%. 252 buckets cover all of u64. */
#define LAT_BUCKETS 256

struct sink_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 probe_packets; /* frames carrying the probe signature */
	__u64 probe_future;  /* probes stamped after now (clock trouble), not in the histogram */
	__u64 lat_sum_ns;    /* sum of probe latencies, for the mean */
};

/* Everything received, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_counters);
} sink_stats SEC(".maps");

/* Probe latency histogram in ns, per CPU; index = bucket (see LAT_BUCKETS). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LAT_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} sink_latency SEC(".maps");

static __always_inline __u32 lat_bucket(__u64 v)
{
	__u32 msb = 0;
	__u64 x = v;

	if (v < 4)
		return v;
	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	return 4 * (msb - 1) + ((v >> (msb - 2)) & 3);
}

/* Returns the UDP payload of an untagged or single-VLAN-tagged IPv4/IPv6 UDP
 * frame (IPv4 options allowed, IPv6 extension headers not), or NULL. */
static __always_inline void *udp_payload(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	struct udphdr *udp;
	__u16 proto;

	if (l3 > data_end)
		return NULL;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		if (l3 + 4 > data_end)
			return NULL;
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return NULL;
		ihl = ip->ihl;
		if (ihl < 5 || ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(0x1fff)) != 0)
			return NULL;
		udp = l3 + ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return NULL;
		if (ip6->nexthdr != IPPROTO_UDP)
			return NULL;
		udp = (void *)(ip6 + 1);
	} else {
		return NULL;
	}
	if ((void *)(udp + 1) > data_end)
		return NULL;
	return udp + 1;
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct sink_counters *c;
	__u32 key = 0, b;
	__u64 now, ts, lat, *slot;
	__u8 *p;

	c = bpf_map_lookup_elem(&sink_stats, &key);
	if (!c)
		return XDP_DROP;
	c->rx_packets++;
	c->rx_bytes += data_end - data;

	p = udp_payload(data, data_end);
	if (!p || (void *)(p + PROBE_LEN) > data_end)
		return XDP_DROP;
	if (*(__u32 *)(p + PROBE_SIG_OFF) != bpf_htonl(PROBE_SIGNATURE))
		return XDP_DROP;
	c->probe_packets++;

	now = bpf_ktime_get_ns();
	ts = bpf_be64_to_cpu(*(__u64 *)(p + PROBE_TS_OFF));
	if (ts > now) {
		c->probe_future++;
		return XDP_DROP;
	}
	lat = now - ts;
	c->lat_sum_ns += lat;
	b = lat_bucket(lat);
	slot = bpf_map_lookup_elem(&sink_latency, &b);
	if (slot)
		*slot += 1;
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
