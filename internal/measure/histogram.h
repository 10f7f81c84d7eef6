/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The one latency histogram layout of dutlab, shared by the xdp-live sink
 * (BPF), the dpdk engine's fast path (C) and internal/measure/histogram.go
 * (Go, which must stay in step: a test compares them).
 *
 * Values are ns. Below DL_HIST_EXACT (128) each value has its own bucket;
 * above, each power of two is cut into DL_HIST_SUB (64) linear sub-buckets,
 * so a bucket is at most 1/64 of its lower bound wide and its midpoint, the
 * value reported for it, is within 1/128 (0.78%) of any value in it. The last
 * power of two is 2^DL_HIST_MAX_MSB (values up to 17.1 s); larger values land
 * in the last bucket. */
#ifndef DL_MEASURE_HISTOGRAM_H
#define DL_MEASURE_HISTOGRAM_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define DL_HIST_SUB_BITS 6
#define DL_HIST_SUB (1 << DL_HIST_SUB_BITS) /* 64 */
#define DL_HIST_EXACT (2 * DL_HIST_SUB)     /* 128 */
#define DL_HIST_MAX_MSB 33
#define DL_HIST_BUCKETS (DL_HIST_EXACT + (DL_HIST_MAX_MSB - DL_HIST_SUB_BITS) * DL_HIST_SUB) /* 1856 */

/* dl_hist_bucket returns the bucket of v. No loops and no builtins, so the
 * BPF verifier and any C compiler take it. */
static __always_inline __u32 dl_hist_bucket(__u64 v)
{
	__u32 msb = 0;
	__u64 x = v;

	if (v < DL_HIST_EXACT)
		return (__u32)v;
	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	if (msb > DL_HIST_MAX_MSB)
		return DL_HIST_BUCKETS - 1;
	return DL_HIST_EXACT + (msb - DL_HIST_SUB_BITS - 1) * DL_HIST_SUB +
	       (__u32)((v >> (msb - DL_HIST_SUB_BITS)) & (DL_HIST_SUB - 1));
}

#endif
