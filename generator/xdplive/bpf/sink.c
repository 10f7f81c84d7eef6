// SPDX-License-Identifier: GPL-2.0
/* xdp_sink: the receiver of the xdp-live engine, attached to the RX port.
 * It counts and drops every frame. Frames whose UDP payload starts with the
 * probe signature are counted again; those of a latency stream (a bit set in
 * latency_streams) are probes: per stream it tracks the highest sequence
 * number and which of the PROBE_WINDOW sequence numbers below it were seen,
 * which tells reordered (below the highest) and duplicate (seen before)
 * probes apart. Probes stamped inside the measured window (sink_window, set
 * by the engine) are counted, and their one-way latency (now minus the probe
 * timestamp, both bpf_ktime_get_ns on this host) goes into the latency
 * histogram. With capture_frames set it also copies the first frames it sees
 * into a ring buffer for the engine's RX pcap. It sees arbitrary traffic, so
 * every read is bounds-checked and nothing it parses can make it abort. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../../../internal/measure/histogram.h"
#include "probe.h"
#include "capture.h"

/* Latency histogram in ns: the layout of internal/measure/histogram.h. */

/* Probe streams the sink tracks: stream ids 0..MAX_PROBE_STREAMS-1. */
#define MAX_PROBE_STREAMS 64
/* Sequence numbers remembered per stream for duplicate detection: 64 words
 * of 64 bits, of which 63 are the window below the highest (see track). */
#define PROBE_WINDOW_WORDS 64
#define PROBE_WINDOW ((PROBE_WINDOW_WORDS - 1) * 64) /* 4032 */

/* Configuration, set by the loader before load. */
const volatile __u64 latency_streams; /* bit i: stream i is a latency stream */
const volatile __u32 capture_frames;  /* frames to capture, 0: none */

/* Frames claimed for the capture so far. */
__u32 capture_taken;

struct sink_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 probe_packets; /* frames carrying the probe signature, any stream */
	__u64 probe_future;  /* window probes stamped after now (clock trouble), not in the histogram */
	__u64 lat_packets;   /* window probes in the histogram (duplicates included) */
	__u64 lat_sum_ns;    /* sum of their latencies, for the mean */
	__u64 lat_max_ns;    /* their largest latency */
	__u64 lat_min_inv;   /* ~ their smallest latency (so that 0 means none yet) */
	__u64 capture_lost;  /* frames to capture that did not fit the ring */
};

/* Everything received, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_counters);
} sink_stats SEC(".maps");

struct lat_hist {
	__u64 n[DL_HIST_BUCKETS];
};

/* Latency histogram of window probes, per CPU: one entry, read in one lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lat_hist);
} sink_latency SEC(".maps");

struct probe_window {
	__u64 start_ns; /* probes stamped in [start_ns, end_ns) are counted */
	__u64 end_ns;
};

/* The measured window, written by the engine at its edges; all zero (no
 * window) until then. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probe_window);
} sink_window SEC(".maps");

struct probe_state {
	struct bpf_spin_lock lock;
	__u32 highest;     /* highest sequence number seen */
	__u64 seen;        /* probes seen, in the window or not */
	/* Window probes (by timestamp), RFC 8219 / RFC 4737 terms: */
	__u64 received;    /* unique probes */
	__u64 reordered;   /* unique probes below the highest seen before them */
	__u64 duplicates;  /* probes whose sequence number was seen before */
	__u64 too_old;     /* reordered by more than the window: counted, unchecked for duplicates */
	__u32 tag[PROBE_WINDOW_WORDS];  /* block (seq >> 6) that bits[i] holds */
	__u64 bits[PROBE_WINDOW_WORDS]; /* bit seq & 63 of word (seq >> 6) & 63: seen */
};

/* Per latency stream sequence tracking, indexed by stream id. Shared by all
 * CPUs (a stream's probes may arrive on several), under the entry's lock. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PROBE_STREAMS);
	__type(key, __u32);
	__type(value, struct probe_state);
} sink_probes SEC(".maps");

/* Captured RX frames (struct capture_record). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAPTURE_RING_SIZE);
} sink_capture SEC(".maps");

/* track records sequence number seq of a probe; in says whether the probe
 * belongs to the measured window. It returns 1 for a duplicate. Word w of
 * bits holds block tag[w] (seq >> 6) of sequence numbers; a word whose tag is
 * not the block being looked at is stale and taken as empty, so moving the
 * window needs no loop. A block 64 words newer than seq's can only exist
 * beyond PROBE_WINDOW of the highest, hence the window of 63 words. */
static __always_inline int track(struct probe_state *st, __u32 seq, int in)
{
	__u32 d, w = (seq >> 6) & (PROBE_WINDOW_WORDS - 1), blk = seq >> 6;
	__u64 bit = 1ULL << (seq & 63);
	int dup = 0;

	bpf_spin_lock(&st->lock);
	if (st->seen == 0)
		st->highest = seq - 1;
	st->seen++;
	d = seq - st->highest;
	if ((__s32)d > 0) {
		st->highest = seq;
		if (st->tag[w] != blk) {
			st->tag[w] = blk;
			st->bits[w] = 0;
		}
		st->bits[w] |= bit;
		if (in)
			st->received++;
	} else if (st->highest - seq >= PROBE_WINDOW) {
		if (in) {
			st->received++;
			st->reordered++;
			st->too_old++;
		}
	} else if (st->tag[w] == blk && (st->bits[w] & bit)) {
		dup = 1;
		if (in)
			st->duplicates++;
	} else {
		if (st->tag[w] != blk) {
			st->tag[w] = blk;
			st->bits[w] = 0;
		}
		st->bits[w] |= bit;
		if (in) {
			st->received++;
			st->reordered++;
		}
	}
	bpf_spin_unlock(&st->lock);
	return dup;
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
	struct probe_window *win;
	struct probe_state *st;
	struct lat_hist *hist;
	__u32 key = 0, b, id, seq;
	__u64 now, ts, lat;
	__u8 *p;
	int in;

	c = bpf_map_lookup_elem(&sink_stats, &key);
	if (!c)
		return XDP_DROP;
	c->rx_packets++;
	c->rx_bytes += data_end - data;

	if (capture_frames && capture_taken < capture_frames) {
		if (__sync_fetch_and_add(&capture_taken, 1) < capture_frames &&
		    capture_frame(ctx, &sink_capture, bpf_ktime_get_ns()) < 0)
			c->capture_lost++;
		/* The helper may have moved the packet pointers' verifier state. */
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
	}

	p = udp_payload(data, data_end);
	if (!p || (void *)(p + PROBE_LEN) > data_end)
		return XDP_DROP;
	if (*(__u32 *)(p + PROBE_SIG_OFF) != bpf_htonl(PROBE_SIGNATURE))
		return XDP_DROP;
	c->probe_packets++;

	id = bpf_ntohs(*(__u16 *)(p + PROBE_STREAM_OFF));
	if (id >= MAX_PROBE_STREAMS || !(latency_streams & (1ULL << id)))
		return XDP_DROP;
	/* Read the clock only for probes: in a VM it is a paravirtual clock
	 * read that costs as much as the rest of this program (measured: 6% of
	 * the DUT core at 2.4 Mpps when every frame read it). */
	now = bpf_ktime_get_ns();
	seq = bpf_ntohl(*(__u32 *)(p + PROBE_SEQ_OFF));
	ts = bpf_be64_to_cpu(*(__u64 *)(p + PROBE_TS_OFF));

	win = bpf_map_lookup_elem(&sink_window, &key);
	st = bpf_map_lookup_elem(&sink_probes, &id);
	if (!win || !st)
		return XDP_DROP;
	in = ts >= win->start_ns && ts < win->end_ns;
	track(st, seq, in);
	if (!in)
		return XDP_DROP;

	if (ts > now) {
		c->probe_future++;
		return XDP_DROP;
	}
	lat = now - ts;
	c->lat_packets++;
	c->lat_sum_ns += lat;
	if (lat > c->lat_max_ns)
		c->lat_max_ns = lat;
	if (~lat > c->lat_min_inv)
		c->lat_min_inv = ~lat;
	hist = bpf_map_lookup_elem(&sink_latency, &key);
	if (!hist)
		return XDP_DROP;
	b = dl_hist_bucket(lat);
	if (b < DL_HIST_BUCKETS)
		hist->n[b]++;
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
