// SPDX-License-Identifier: GPL-2.0
/* xdp_sched: the xdp-live engine's scheduler. User space runs it, not the
 * streams' xdp_gen programs, with BPF_PROG_TEST_RUN in live-frame mode, in
 * runs of about a millisecond. For every live frame it picks the stream due
 * next and tail-calls that stream's xdp_gen, which fills the frame and
 * returns XDP_TX; when no stream is due it returns XDP_DROP, which hands the
 * page straight back to the run's page pool. The run thus spins in the
 * kernel between frames and sends each at its time, to the clock's
 * resolution, instead of user space sleeping between short runs and
 * sending what it owes in a burst.
 *
 * Why not short runs: every test run creates a page pool and registers it
 * with the XDP memory model; a pool with frames still in flight lingers, and
 * each one freed walks every registered one (mem_allocator_disconnect). At
 * 10,000 runs a second that walk kept a kworker on the generator's core 12%
 * of the time in slices of up to 5 ms, and the frames owed after each stall
 * left as one burst that overflowed the DUT port's 256-slot veth ring.
 *
 * Paced streams are due at fixed intervals (a virtual clock in 1/256 ns,
 * so that the interval's fraction does not bias the rate); among streams
 * due, the earliest goes first. Flat-out streams fill every frame no paced
 * stream wants, shared by weight (the least virtual time goes next). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SCHED_MAX_STREAMS 16
#define SCHED_FP_SHIFT 8 /* virtual times are in 1/256 ns */

struct sched_stream {
	__u64 next;     /* paced: when the next frame is due (fixed point); flat: virtual time */
	__u64 interval; /* paced: 1e9/rate ns (fixed point); flat: the weight's step */
	__u64 backlog;  /* paced: how late a stream may fall before its schedule restarts (fixed point) */
	__u32 paced;
	__u32 pad;
};

/* The streams, written by user space between runs. */
struct sched_stream streams[SCHED_MAX_STREAMS];
/* How many streams are set, and how many of them are paced (with none, the
 * clock is not read: a paravirtual clock read costs tens of ns a frame). */
__u32 nstreams;
__u32 npaced;
/* Frames left to send, ~0: no limit. At 0 every frame is dropped, and user
 * space stops. */
__u64 budget = ~0ULL;
/* The clock as last read (fixed point), and invocations since; see
 * xdp_sched for when it is read. Probes take their own timestamps (xdp_gen),
 * so latency does not depend on it. */
#define SCHED_CLOCK_EVERY 8
__u64 clock_fp;
__u32 since_clock;
/* Late restarts: times a paced stream fell more than its backlog behind. */
__u64 restarts;

/* The streams' xdp_gen programs, at their stream index. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, SCHED_MAX_STREAMS);
	__type(key, __u32);
	__type(value, __u32);
} sched_progs SEC(".maps");

/* choose returns the paced stream due at now that is most behind, or else
 * the flat-out stream with the least virtual time, or SCHED_MAX_STREAMS. */
static __always_inline __u32 choose(__u64 now, __u32 n)
{
	__u64 best_next = ~0ULL, flat_vt = ~0ULL;
	__u32 i, pick = SCHED_MAX_STREAMS, flat = SCHED_MAX_STREAMS;

	for (i = 0; i < SCHED_MAX_STREAMS; i++) {
		struct sched_stream *s = &streams[i];

		if (i >= n)
			break;
		if (s->paced) {
			if (s->next <= now && s->next < best_next) {
				best_next = s->next;
				pick = i;
			}
		} else if (s->next < flat_vt) {
			flat_vt = s->next;
			flat = i;
		}
	}
	return pick < SCHED_MAX_STREAMS ? pick : flat;
}

SEC("xdp")
int xdp_sched(struct xdp_md *ctx)
{
	__u32 n = nstreams, pick;
	struct sched_stream *s;

	if (budget == 0)
		return XDP_DROP;
	/* A stream due by the clock as last read is due now: the clock is read
	 * again only when nothing is due by it, and every SCHED_CLOCK_EVERY
	 * frames so that streams due meanwhile take their turn. */
	if (npaced && ++since_clock >= SCHED_CLOCK_EVERY) {
		clock_fp = bpf_ktime_get_ns() << SCHED_FP_SHIFT;
		since_clock = 0;
	}
	pick = choose(clock_fp, n);
	if (pick >= SCHED_MAX_STREAMS && npaced) {
		clock_fp = bpf_ktime_get_ns() << SCHED_FP_SHIFT;
		since_clock = 0;
		pick = choose(clock_fp, n);
	}
	if (pick >= SCHED_MAX_STREAMS)
		return XDP_DROP;
	s = &streams[pick];
	if (s->paced && clock_fp - s->next > s->backlog) {
		/* Far behind (the core was taken away): restart the schedule
		 * rather than send the backlog as one burst. */
		s->next = clock_fp;
		restarts++;
	}
	s->next += s->interval;
	if (budget != ~0ULL)
		budget--;
	bpf_tail_call(ctx, &sched_progs, pick);
	return XDP_ABORTED; /* no program at pick */
}

char _license[] SEC("license") = "GPL";
