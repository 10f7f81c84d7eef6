// SPDX-License-Identifier: GPL-2.0
/* xdp_gen: the sender of the xdp-live engine. User space runs it with
 * BPF_PROG_TEST_RUN in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES): the
 * kernel hands it a page initialised once from the template and transmits
 * whatever it returns XDP_TX for out of the ingress interface. Pages are
 * recycled without being re-initialised, and a DUT may have rewritten them on
 * the way, so every invocation copies the template's headers and probe back
 * and then writes the fields that vary: UDP source port, probe stream id,
 * sequence number and timestamp, and the UDP checksum (fixed incrementally).
 * With capture_frames set it also copies the first frames it sends (over all
 * senders of a run, which share gen_capture and gen_capture_taken) into a
 * ring buffer for the engine's TX pcap. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "probe.h"
#include "capture.h"

/* Configuration, set by the loader before load and frozen after. */
const volatile __u32 tmpl[V6_COPY_LEN / 4]; /* first copy_len bytes of the template frame */
const volatile __u32 ipv6;                  /* 0: IPv4 layout (copy 60 bytes), 1: IPv6 (80) */
const volatile __u32 flows = 1;             /* source port = template port + seq % flows */
const volatile __u16 stream_id;             /* written into the probe */
const volatile __u32 capture_frames;        /* frames to capture over all senders, 0: none */
const volatile __u32 replay;                /* 1: send the test run's frame as it is (pcap replay) */

/* Sequence number of the next frame. A global, not per CPU: the sender
 * thread may run on any CPU between test runs, and runs of one stream never
 * overlap, so a plain increment keeps the sequence unique. */
__u64 next_seq;
/* Set once gen_capture_taken reached capture_frames: no more map lookups. */
__u32 capture_done;

struct gen_counters {
	__u64 packets;
	__u64 bytes;
	__u64 capture_lost; /* frames to capture that did not fit the ring */
};

/* Frames and bytes this program has handed to XDP_TX, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gen_counters);
} gen_stats SEC(".maps");

/* Frames claimed for the TX capture so far; one map shared by every sender
 * of a run (the loader passes the first sender's map to the others). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_capture_taken SEC(".maps");

/* Captured TX frames (struct capture_record), shared like gen_capture_taken. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAPTURE_RING_SIZE);
} gen_capture SEC(".maps");

static __always_inline __u32 csum_add16(__u32 sum, __u16 raw)
{
	return sum + raw;
}

static __always_inline int fill(void *data, void *data_end, const __u32 copy_len,
				const __u32 udp_off, const __u32 probe_off, __u64 seq, __u64 ts)
{
	__u32 *w = data;
	__u16 *h = data;
	__u32 sum;
	__u16 base_raw, port_raw, csum;
	__u32 i;

	if (data + copy_len > data_end)
		return XDP_ABORTED;

#pragma unroll
	for (i = 0; i < copy_len / 4; i++)
		w[i] = tmpl[i];

	/* Ones' complement sums are byte-order independent when every word is
	 * taken in the same (memory) order, so raw 16-bit loads are summed. */
	base_raw = h[udp_off / 2];
	sum = (__u16)~h[(udp_off + 6) / 2];
	sum = csum_add16(sum, (__u16)~base_raw);

	port_raw = bpf_htons(bpf_ntohs(base_raw) + (__u16)(seq % flows));
	h[udp_off / 2] = port_raw;
	sum = csum_add16(sum, port_raw);

	/* The template holds zeros in stream, seq and timestamp, so their new
	 * words are simply added. */
	h[(probe_off + PROBE_STREAM_OFF) / 2] = bpf_htons(stream_id);
	*(__u32 *)(data + probe_off + PROBE_SEQ_OFF) = bpf_htonl((__u32)seq);
	*(__u64 *)(data + probe_off + PROBE_TS_OFF) = bpf_cpu_to_be64(ts);
#pragma unroll
	for (i = PROBE_STREAM_OFF; i < PROBE_LEN; i += 2)
		sum = csum_add16(sum, h[(probe_off + i) / 2]);

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	csum = (__u16)~sum;
	if (csum == 0)
		csum = 0xffff; /* RFC 768: zero means "no checksum" */
	h[(udp_off + 6) / 2] = csum;
	return XDP_TX;
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct gen_counters *c;
	__u32 key = 0;
	__u64 seq, ts, len = data_end - data, *taken;
	int act;

	c = bpf_map_lookup_elem(&gen_stats, &key);
	if (!c)
		return XDP_ABORTED;
	seq = next_seq;
	ts = bpf_ktime_get_ns();

	if (replay)
		act = XDP_TX; /* one test run per frame: the page holds it as given */
	else if (ipv6)
		act = fill(data, data_end, V6_COPY_LEN, V6_UDP_OFF, V6_PROBE_OFF, seq, ts);
	else
		act = fill(data, data_end, V4_COPY_LEN, V4_UDP_OFF, V4_PROBE_OFF, seq, ts);
	if (act != XDP_TX)
		return act;

	next_seq = seq + 1;
	c->packets++;
	c->bytes += len;

	if (capture_frames && !capture_done) {
		taken = bpf_map_lookup_elem(&gen_capture_taken, &key);
		if (taken) {
			if (__sync_fetch_and_add(taken, 1) < capture_frames) {
				if (capture_frame(ctx, &gen_capture, ts) < 0)
					c->capture_lost++;
			} else {
				capture_done = 1;
			}
		}
	}
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
