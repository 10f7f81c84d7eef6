/* Frame capture shared by xdp_gen and xdp_sink: the first capture_frames
 * frames a program sees are copied (up to CAPTURE_SNAP bytes each) into a
 * BPF ring buffer that user space drains into a pcap. Included by BPF code
 * only; the record layout is mirrored by captureRecord in capture.go. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CAPTURE_SNAP 256
#define CAPTURE_RING_SIZE (512 * 1024) /* ~1800 records in flight */

struct capture_record {
	__u64 ts_ns;  /* bpf_ktime_get_ns when the program saw the frame */
	__u32 len;    /* frame length */
	__u32 caplen; /* bytes in data: min(len, CAPTURE_SNAP) */
	__u8 data[CAPTURE_SNAP];
};

/* capture_frame copies the frame of ctx into ring. It returns 0 on success
 * and -1 when the ring is full or the frame cannot be read. */
static __always_inline int capture_frame(struct xdp_md *ctx, void *ring, __u64 ts)
{
	__u32 len = ctx->data_end - ctx->data;
	__u64 caplen = len;
	struct capture_record *r;

	if (caplen > CAPTURE_SNAP)
		caplen = CAPTURE_SNAP;
	/* Keep clang from merging the bounds checks into a form the verifier
	 * cannot follow. */
	asm volatile("" : "+r"(caplen));
	if (caplen < 1 || caplen > CAPTURE_SNAP)
		return -1;
	r = bpf_ringbuf_reserve(ring, sizeof(*r), 0);
	if (!r)
		return -1;
	r->ts_ns = ts;
	r->len = len;
	r->caplen = caplen;
	if (bpf_xdp_load_bytes(ctx, 0, r->data, caplen) < 0) {
		bpf_ringbuf_discard(r, 0);
		return -1;
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}
