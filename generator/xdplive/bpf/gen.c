// SPDX-License-Identifier: GPL-2.0
/* xdp_gen: the sender of the xdp-live engine. User space runs it with
 * BPF_PROG_TEST_RUN in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES): the
 * kernel hands it a page initialised once from the template and transmits
 * whatever it returns XDP_TX for out of the ingress interface. Pages are
 * recycled without being re-initialised, and a DUT may have rewritten them on
 * the way, so every invocation copies the template's headers and probe back
 * and then runs the stream's field program (generator.Program): up to
 * GEN_MAX_FIELDS addresses and ports, stepped like an odometer or drawn at
 * random, the probe's stream id, sequence number and timestamp, and the IPv4
 * and L4 checksums, fixed incrementally from sums computed in Go.
 * In replay mode the frames come from gen_replay, one per live frame in turn.
 * With capture_frames set it also copies the first frames it sends (over all
 * senders of a run, which share gen_capture and gen_capture_taken) into a
 * ring buffer for the engine's TX pcap. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "probe.h"
#include "capture.h"

/* A header field rewritten per frame: mirrors generator.Field. */
struct gen_field {
	__u32 base;   /* first value (host order) */
	__u32 count;
	__u16 off;   /* byte offset in the frame */
	__u16 width; /* 2 or 4 */
	__u8 random; /* 1: index drawn at random for every frame */
	__u8 in_l3;  /* covered by the IPv4 header checksum */
	__u8 in_l4;  /* covered by the L4 checksum */
	__u8 pad;
};

/* Configuration, set by the loader before load and frozen after: the
 * stream's generator.Program. The verifier reads frozen read-only values as
 * constants, so the offsets below bound the packet accesses exactly. */
const volatile __u32 tmpl[GEN_MAX_COPY / 4]; /* first copy_len bytes of the template frame */
const volatile __u32 copy_len;              /* even, <= GEN_MAX_COPY */
const volatile struct gen_field fields[GEN_MAX_FIELDS];
const volatile __u32 nfields;
const volatile __u32 l3_csum_off; /* IPv4 header checksum, 0: none */
const volatile __u32 l4_csum_off; /* L4 checksum, 0: none */
const volatile __u32 l3_sum;      /* RFC 1624 starting sums (see generator.Program) */
const volatile __u32 l4_sum;
const volatile __u32 udp_csum;          /* 1: a computed 0 checksum is sent as 0xffff */
const volatile __u32 probe_off;         /* probe offset, 0: frames carry no probe */
const volatile __u16 stream_id;         /* written into the probe */
const volatile __u32 capture_frames;    /* frames to capture over all senders, 0: none */
/* The frame's length. Under xdp_sched a run's frames are as long as its
 * longest stream's, and shorter streams cut theirs to frame_len. */
const volatile __u32 frame_len;
/* 1: zero the frame after the copied headers. Set when the run has a replay
 * stream, whose frames leave their bytes in the pages the others reuse. */
const volatile __u32 scrub;

/* Sequence number of the next frame. A global, not per CPU: the sender
 * thread may run on any CPU between test runs, and runs of one stream never
 * overlap, so a plain increment keeps the sequence unique. */
__u64 next_seq;
/* The increment fields' current value indexes (see fill). */
__u32 odo[GEN_MAX_FIELDS];
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

/* Replay frames (replay_frames > 0): frame k of the pcap at key k; the
 * loader sets max_entries to the frame count. */
#define GEN_REPLAY_MAX 3000
struct replay_frame {
	__u32 len;
	__u8 data[GEN_REPLAY_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct replay_frame);
} gen_replay SEC(".maps");

const volatile __u32 replay_frames; /* entries of gen_replay; 0: not a replay */

/* Zeros for scrub. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct replay_frame);
} gen_zero SEC(".maps");

/* Captured TX frames (struct capture_record), shared like gen_capture_taken. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CAPTURE_RING_SIZE);
} gen_capture SEC(".maps");

static __always_inline __u32 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	return (sum & 0xffff) + (sum >> 16);
}

/* fill restores the template's headers, writes the varying fields and the
 * probe, and fixes the checksums from the precomputed sums. Sums are of
 * host-order values of the big-endian 16-bit words. */
static __always_inline int fill(void *data, void *data_end, __u64 seq, __u64 ts)
{
	__u32 *w = data;
	const volatile __u16 *th = (const volatile __u16 *)tmpl;
	__u32 s3 = l3_sum, s4 = l4_sum, i, n = copy_len;
	__u16 csum;

	/* Every frame holds GEN_MIN_COPY bytes (a 64-byte frame without its
	 * FCS): copy them unconditionally, template payload included, and only
	 * longer headers (IPv6, VLAN, TCP, the probe after them) word by word. */
	if (data + GEN_MIN_COPY > data_end)
		return XDP_ABORTED;
#pragma unroll
	for (i = 0; i < GEN_MIN_COPY / 4; i++)
		w[i] = tmpl[i];
	if (n > GEN_MIN_COPY) {
		if (n > GEN_MAX_COPY || data + n > data_end)
			return XDP_ABORTED;
#pragma unroll
		for (i = GEN_MIN_COPY / 4; i < GEN_MAX_COPY / 4; i++)
			if (i < n / 4)
				w[i] = tmpl[i];
		if (n & 2)
			((__u16 *)data)[n / 2 - 1] = th[n / 2 - 1];
	}

	if (nfields) {
		__u32 carry = 1, j;

		/* Last field first: it turns fastest, and carries into the one
		 * before it when it wraps (generator.Field's odometer, kept in
		 * odo[] instead of divided out of seq). */
#pragma unroll
	for (j = 0; j < GEN_MAX_FIELDS; j++) {
		__u32 i = GEN_MAX_FIELDS - 1 - j, off = fields[i].off & 0xff, idx, v, words;
		void *p = data + off;

		if (i >= nfields)
			continue;
		if (fields[i].random) {
			idx = bpf_get_prandom_u32() % fields[i].count;
		} else {
			idx = odo[i];
			if (carry) {
				if (idx + 1 >= fields[i].count) {
					odo[i] = 0;
				} else {
					odo[i] = idx + 1;
					carry = 0;
				}
			}
		}
		v = fields[i].base + idx;
		if (fields[i].width == 2) {
			if (p + 2 > data_end)
				return XDP_ABORTED;
			v &= 0xffff;
			*(__u16 *)p = bpf_htons((__u16)v);
			words = v;
		} else {
			if (p + 4 > data_end)
				return XDP_ABORTED;
			*(__u32 *)p = bpf_htonl(v);
			words = (v >> 16) + (v & 0xffff);
		}
		if (fields[i].in_l3)
			s3 += words;
		if (fields[i].in_l4)
			s4 += words;
	}
	}

	if (probe_off) {
		void *p = data + (probe_off & 0xff);

		if (p + PROBE_LEN > data_end)
			return XDP_ABORTED;
		/* The template holds zeros in stream, seq and timestamp, so their
		 * new words are simply added. */
		*(__u16 *)(p + PROBE_STREAM_OFF) = bpf_htons(stream_id);
		*(__u32 *)(p + PROBE_SEQ_OFF) = bpf_htonl((__u32)seq);
		*(__u64 *)(p + PROBE_TS_OFF) = bpf_cpu_to_be64(ts);
		s4 += stream_id + (__u32)((seq >> 16) & 0xffff) + (__u32)(seq & 0xffff);
		s4 += (__u32)(ts >> 48) + (__u32)((ts >> 32) & 0xffff) + (__u32)((ts >> 16) & 0xffff) +
		      (__u32)(ts & 0xffff);
	}

	if (l3_csum_off) {
		void *p = data + (l3_csum_off & 0xff);

		if (p + 2 > data_end)
			return XDP_ABORTED;
		*(__u16 *)p = bpf_htons((__u16)~fold(s3));
	}
	if (l4_csum_off) {
		void *p = data + (l4_csum_off & 0xff);

		if (p + 2 > data_end)
			return XDP_ABORTED;
		csum = (__u16)~fold(s4);
		if (csum == 0 && udp_csum)
			csum = 0xffff; /* RFC 768: zero means "no checksum" */
		*(__u16 *)p = bpf_htons(csum);
	}
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
	/* The clock is read only for what needs it (a paravirtual clock read
	 * costs tens of ns). */
	ts = probe_off || capture_frames ? bpf_ktime_get_ns() : 0;

	if (frame_len && len > frame_len) {
		if (bpf_xdp_adjust_tail(ctx, (int)frame_len - (int)len) < 0)
			return XDP_ABORTED;
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		len = data_end - data;
	}
	if (scrub && !replay_frames) {
		__u32 from = copy_len > GEN_MIN_COPY ? copy_len : GEN_MIN_COPY, n;
		struct replay_frame *z = bpf_map_lookup_elem(&gen_zero, &key);

		if (!z || from > GEN_MAX_COPY)
			return XDP_ABORTED;
		if (len > from) {
			n = len - from;
			if (n < 1 || n > GEN_REPLAY_MAX) /* bounds for the verifier */
				return XDP_ABORTED;
			if (bpf_xdp_store_bytes(ctx, from, z->data, n) < 0)
				return XDP_ABORTED;
		}
	}

	if (replay_frames) {
		/* The test run's buffer is GEN_REPLAY_MAX bytes: cut the page to
		 * the frame's length and write the frame over it. */
		__u32 k = (__u32)(seq % replay_frames), n;
		struct replay_frame *f = bpf_map_lookup_elem(&gen_replay, &k);

		if (!f)
			return XDP_ABORTED;
		n = f->len;
		if (n < 14 || n > GEN_REPLAY_MAX)
			return XDP_ABORTED;
		if (bpf_xdp_adjust_tail(ctx, (int)n - (int)len) < 0)
			return XDP_ABORTED;
		if (bpf_xdp_store_bytes(ctx, 0, f->data, n) < 0)
			return XDP_ABORTED;
		len = n;
		act = XDP_TX;
	} else {
		act = fill(data, data_end, seq, ts);
	}
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
