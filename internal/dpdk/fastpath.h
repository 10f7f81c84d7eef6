/*
 * fastpath.h: dutlab's DPDK per-packet loops. Included once, by fastpath.go.
 *
 * Contract: every loop runs on one lcore and owns its queues (one TX queue and
 * one RX queue per worker, no shared state between workers). Go configures the
 * static tables below before launch, reads the per-worker counters while the
 * loops run, and stops them with the stop flags. Each cgo call runs bursts
 * until a stop flag is set, never one call per packet.
 */
#include <stdint.h>
#include <string.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_memcpy.h>

#include "../measure/histogram.h" /* DL_HIST_BUCKETS, dl_hist_bucket */

#define DL_BURST 32 /* RX and forwarding burst */
#define DL_TX_BURST_MAX 128
#define DL_MAX_WORKERS 64
#define DL_MAX_STREAMS 16
#define DL_TMPL_MAX 2048
#define DL_PROBE_SIG 0x444c5031u /* "DLP1", generator.ProbeSignature */

/*
 * Probe at the start of the UDP payload, big-endian, generator's layout:
 * signature, stream (index | worker << 8), sequence (per worker and stream),
 * send time in ns of the TSC clock.
 */
struct dl_probe {
	uint32_t sig;
	uint16_t stream;
	uint32_t seq;
	uint64_t ts;
} __attribute__((packed));

#define DL_MAX_FIELDS 4 /* generator.MaxFields */

/* A header field a generic stream rewrites per frame (generator.Field). */
struct dl_field {
	uint32_t base, count;
	uint16_t off, width; /* width 2 or 4 */
	uint8_t random, in_l3, in_l4;
};

struct dl_stream {
	uint8_t tmpl[DL_TMPL_MAX];
	uint16_t len;
	uint16_t sport_off;
	uint16_t probe_off; /* 0 = no probe */
	uint16_t sport_base;
	uint16_t csum_off; /* UDP checksum to update incrementally; 0 = leave */
	uint32_t flows;
	/*
	 * One's complement sum of the template's checksum field, inverted, plus
	 * the inverted first source port: what RFC 1624 starts from.
	 */
	uint32_t csum_base;
	/*
	 * A generic stream (generator.Program) instead: up to DL_MAX_FIELDS
	 * fields stepped like an odometer or drawn at random, the probe, and
	 * the IPv4 and L4 checksums set from RFC 1624 starting sums.
	 */
	uint8_t generic, nfields, udp_csum;
	uint16_t l3_csum_off, l4_csum_off; /* 0 = none */
	uint32_t l3_sum, l4_sum;
	struct dl_field f[DL_MAX_FIELDS];
	/*
	 * A replay stream instead (rp_n > 0): frames sent as they are, in order
	 * and round again, frame k being rp_len[k] bytes at rp_data + rp_off[k].
	 * Copy mode only.
	 */
	const uint8_t *rp_data;
	const uint32_t *rp_off;
	const uint16_t *rp_len;
	uint32_t rp_n;
};

/* Counters written only by their own worker; Go reads them. */
struct dl_counters {
	volatile uint64_t tx_pkts, tx_bytes, tx_drop, alloc_fail;
	volatile uint64_t rx_pkts, rx_bytes, rx_probes, rx_win, rx_win_bytes, reorder, dup;
	volatile uint64_t fwd_drop, out_rx;
};

/*
 * How a TX frame gets its bytes (GenConfig.TemplateMode):
 * COPY: the whole template is copied into every frame, then the varying
 *   fields written. Any number of streams.
 * PREFILLED: each stream has its own pool, filled with its template once
 *   (dl_fill_pool); only the varying fields are written. A recycled mbuf
 *   holds the template plus an earlier frame's varying fields, all of which
 *   are rewritten. Assumes nothing else writes into the pool's mbufs (TX paths
 *   and this worker's receive path only read them).
 * Both take mbufs with a raw rte_mempool_get_bulk, not rte_pktmbuf_alloc_bulk:
 * mbufs in a pool have refcnt 1, one segment and no next (rte_pktmbuf_free
 * restores that); data_off, the lengths and ol_flags are set per frame, and
 * with ol_flags 0 a TX path reads no other metadata (offload fields, vlan).
 * The TX pool is never given to an RX queue.
 * (Tried and dropped: keeping template mbufs with an extra reference so the
 *   PMD's free does not return them to the pool. net_null's rte_pktmbuf_free
 *   then takes the atomic refcnt path, a locked add per frame, which made it
 *   slower than COPY here: 51-61 Mpps against ~88 (COPY) and ~117.)
 */
enum { DL_MODE_COPY = 0, DL_MODE_PREFILLED = 1 };

/* Per worker and stream state. */
struct dl_wstream {
	uint32_t odo[DL_MAX_FIELDS]; /* generic: the increment fields' value indexes */
	uint64_t rnd;                /* generic: xorshift64 state for random fields */
	uint32_t rp_next;            /* replay: the next frame */
	uint32_t flow; /* source port offset in [0, flows) */
	uint32_t seq;  /* next probe sequence */
	uint16_t sid;  /* probe stream field: index | worker << 8 */
};

/* A captured frame: the first DL_CAP_SNAP bytes and when (TSC ns). */
#define DL_CAP_SNAP 256
struct dl_cap_rec {
	uint64_t ts_ns;
	uint16_t len, orig;
	uint8_t data[DL_CAP_SNAP];
};

/*
 * The last DL_DUP_WIN probe sequence numbers seen of one stream from one
 * sending worker (RFC 8219 duplicates): a bit per number below high.
 */
#define DL_DUP_WIN 2048
#define DL_DUP_SRC 16
struct dl_seqwin {
	uint32_t high, init;
	uint64_t bits[DL_DUP_WIN / 64];
};

/* dl_seen marks seq in win and returns 1 if it was marked already. */
static inline int dl_seen(struct dl_seqwin *win, uint32_t seq)
{
	uint32_t d;
	uint64_t bit;

	if (!win->init) {
		win->init = 1;
		win->high = seq;
		memset(win->bits, 0, sizeof(win->bits));
	} else if ((int32_t)(seq - win->high) > 0) {
		d = seq - win->high;
		if (d >= DL_DUP_WIN) {
			memset(win->bits, 0, sizeof(win->bits));
		} else {
			uint32_t q;
			for (q = win->high + 1; q != seq; q++)
				win->bits[(q % DL_DUP_WIN) / 64] &= ~(1ull << (q % 64));
		}
		win->high = seq;
		win->bits[(seq % DL_DUP_WIN) / 64] &= ~(1ull << (seq % 64));
	} else if (win->high - seq >= DL_DUP_WIN) {
		return 0; /* older than the window: cannot tell */
	}
	bit = 1ull << (seq % 64);
	if (win->bits[(seq % DL_DUP_WIN) / 64] & bit)
		return 1;
	win->bits[(seq % DL_DUP_WIN) / 64] |= bit;
	return 0;
}

struct dl_gen_worker {
	uint16_t tx_port, tx_queue, rx_port, rx_queue;
	int tx_on, rx_on, mode;
	unsigned burst;
	uint8_t id;
	double rate_pps; /* 0 = as fast as possible */
	volatile uint64_t max_pkts; /* 0 = unlimited; Go may raise it while the loop runs */
	/*
	 * Per-stream pacing (per_stream set): each stream k is paced at its own
	 * srate[k] (frames per second of this worker), or, at 0, shares what is
	 * left of each burst by sweight[k]. Otherwise the streams are sent round
	 * robin at rate_pps.
	 */
	/* The first cap_max frames sent and received (cap_*: Go's arrays, or NULL). */
	struct dl_cap_rec *cap_tx, *cap_rx;
	uint32_t cap_max, cap_tx_n, cap_rx_n;
	int per_stream;
	double srate[DL_MAX_STREAMS];
	unsigned sweight[DL_MAX_STREAMS];
	struct rte_mempool *pool; /* COPY */
	struct rte_mempool *spool[DL_MAX_STREAMS]; /* PREFILLED: one per stream, holding its template */
	struct dl_counters c __rte_cache_aligned;
	struct dl_wstream ws[DL_MAX_STREAMS] __rte_cache_aligned;
	uint64_t hist[DL_HIST_BUCKETS] __rte_cache_aligned;
	uint32_t last_seq[256 * DL_MAX_STREAMS];
	/* Duplicate detection per (sending worker < DL_DUP_SRC, stream). */
	struct dl_seqwin dupwin[DL_DUP_SRC * DL_MAX_STREAMS];
} __rte_cache_aligned;

struct dl_fwd_worker {
	uint16_t in_port, in_queue, out_port, out_queue;
	int rewrite, drain_out;
	struct rte_ether_addr src, dst;
	struct dl_counters c __rte_cache_aligned;
} __rte_cache_aligned;

static struct dl_stream dl_streams[DL_MAX_STREAMS];
static unsigned dl_nstreams;
static struct dl_gen_worker dl_gen[DL_MAX_WORKERS];
static struct dl_fwd_worker dl_fwd[DL_MAX_WORKERS];
static volatile int dl_stop_tx, dl_stop_rx;
static volatile uint64_t dl_win_start_ns; /* probes stamped before it are warm-up */

/* dl_tsc_ns converts TSC cycles to ns without overflow; called per burst. */
static inline uint64_t dl_tsc_ns(uint64_t tsc, uint64_t hz)
{
	return tsc / hz * 1000000000ull + tsc % hz * 1000000000ull / hz;
}

/* dl_csum_add adds the 16-bit words of v (host order value, big-endian on the wire). */
static inline uint32_t dl_csum_add32(uint32_t sum, uint32_t v) { return sum + (v >> 16) + (v & 0xffff); }

/* dl_cap copies frames into recs until it holds max. Rare: the caller tests *n < max. */
static void dl_cap(struct dl_cap_rec *recs, uint32_t *n, uint32_t max, struct rte_mbuf **pkts, unsigned cnt,
		   uint64_t ts_ns)
{
	unsigned i;

	if (!recs)
		return;
	for (i = 0; i < cnt && *n < max; i++) {
		struct dl_cap_rec *r = &recs[(*n)++];
		uint32_t len = RTE_MIN(pkts[i]->data_len, (uint32_t)DL_CAP_SNAP);

		r->ts_ns = ts_ns;
		r->len = (uint16_t)len;
		r->orig = (uint16_t)RTE_MIN(pkts[i]->pkt_len, 0xffffu);
		memcpy(r->data, rte_pktmbuf_mtod(pkts[i], const uint8_t *), len);
	}
}

static inline void dl_gen_rx(struct dl_gen_worker *w, uint64_t hz)
{
	struct rte_mbuf *rx[DL_BURST];
	uint16_t nb, i;
	uint64_t now, win = dl_win_start_ns;

	nb = rte_eth_rx_burst(w->rx_port, w->rx_queue, rx, DL_BURST);
	if (nb == 0)
		return;
	now = dl_tsc_ns(rte_rdtsc(), hz);
	if (unlikely(w->cap_rx_n < w->cap_max))
		dl_cap(w->cap_rx, &w->cap_rx_n, w->cap_max, rx, nb, now);
	for (i = 0; i < nb; i++) {
		struct rte_mbuf *m = rx[i];
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		uint32_t len = m->pkt_len, l4;
		const struct dl_probe *p;

		w->c.rx_pkts++;
		w->c.rx_bytes += len;
		{
			/* e: the frame after one 802.1Q tag, if it has one */
			uint32_t tag = m->data_len >= 18 && d[12] == 0x81 && d[13] == 0x00 ? 4 : 0;
			const uint8_t *e = d + tag;

			if (m->data_len < tag + 14 + 20 + 8 + sizeof(*p))
				continue;
			if (e[12] == 0x08 && e[13] == 0x00 && e[14 + 9] == 17)
				l4 = tag + 14 + (e[14] & 0x0f) * 4u;
			else if (e[12] == 0x86 && e[13] == 0xdd && e[14 + 6] == 17)
				l4 = tag + 14 + 40;
			else
				continue;
		}
		if (m->data_len < l4 + 8 + sizeof(*p))
			continue;
		p = (const struct dl_probe *)(d + l4 + 8);
		if (p->sig != rte_cpu_to_be_32(DL_PROBE_SIG))
			continue;
		w->c.rx_probes++;
		{
			uint64_t ts = rte_be_to_cpu_64(p->ts);
			uint32_t seq = rte_be_to_cpu_32(p->seq);
			uint16_t sid = rte_be_to_cpu_16(p->stream);
			uint32_t *last = &w->last_seq[(sid >> 8) * DL_MAX_STREAMS + (sid & 0xff) % DL_MAX_STREAMS];
			int dup = 0;

			if ((sid >> 8) < DL_DUP_SRC && (sid & 0xff) < DL_MAX_STREAMS)
				dup = dl_seen(&w->dupwin[(sid >> 8) * DL_MAX_STREAMS + (sid & 0xff)], seq);
			if (ts >= win && ts <= now) {
				w->c.rx_win++;
				w->c.rx_win_bytes += len;
				w->hist[dl_hist_bucket(now - ts)]++;
				w->c.dup += dup;
			}
			if ((int32_t)(seq - *last) < 0)
				w->c.reorder++;
			else
				*last = seq;
		}
	}
	rte_pktmbuf_free_bulk(rx, nb);
}

/* dl_csum is the Internet checksum of an unfolded ones' complement sum. */
static inline uint16_t dl_csum(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* dl_csum_fold is dl_csum for UDP, where 0 means no checksum (RFC 768). */
static inline uint16_t dl_csum_fold(uint32_t sum)
{
	uint16_t c = dl_csum(sum);

	return c == 0 ? 0xffff : c;
}

/*
 * dl_write writes one frame's varying fields into d, which holds the stream's
 * template (or a frame of this stream sent earlier): the source port, the
 * probe (stream, sequence, send time) and the UDP checksum, updated from the
 * template's by RFC 1624 (csum_base: see struct dl_stream). ts_be is the send
 * time (big-endian), ts_sum the sum of its 16-bit words. Scalars, so that a
 * caller can keep them in registers: d's stores may alias any memory.
 */
static __rte_always_inline void dl_write(uint8_t *d, uint16_t sport_off, uint16_t probe_off, uint16_t csum_off,
					 uint32_t csum_base, uint16_t sport, uint16_t sid, uint32_t seq,
					 uint64_t ts_be, uint32_t ts_sum)
{
	uint32_t sum = csum_base + sport;

	*(unaligned_uint16_t *)(d + sport_off) = rte_cpu_to_be_16(sport);
	if (probe_off) {
		struct dl_probe *p = (struct dl_probe *)(d + probe_off);
		p->sig = rte_cpu_to_be_32(DL_PROBE_SIG);
		p->stream = rte_cpu_to_be_16(sid);
		p->seq = rte_cpu_to_be_32(seq);
		p->ts = ts_be;
		sum += sid + ts_sum;
		sum = dl_csum_add32(sum, seq);
	}
	if (csum_off)
		*(unaligned_uint16_t *)(d + csum_off) = rte_cpu_to_be_16(dl_csum_fold(sum));
}

static inline uint32_t dl_xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return (uint32_t)(x >> 32);
}

/*
 * dl_write_generic writes a generic stream's frame into d (the template, or
 * an earlier frame of the stream): the fields, last first since it turns
 * fastest and carries into the one before it, the probe, and the checksums.
 * generator.Program.Apply is the reference it is tested against.
 */
static inline void dl_write_generic(uint8_t *d, const struct dl_stream *st, struct dl_wstream *ws, uint64_t ts_be,
				    uint32_t ts_sum)
{
	uint32_t s3 = st->l3_sum, s4 = st->l4_sum, carry = 1, seq = ws->seq++;
	unsigned j;

	for (j = st->nfields; j-- > 0;) {
		const struct dl_field *f = &st->f[j];
		uint32_t idx, v, words;

		if (f->random) {
			idx = dl_xorshift(&ws->rnd) % f->count;
		} else {
			idx = ws->odo[j];
			if (carry) {
				if (idx + 1 >= f->count) {
					ws->odo[j] = 0;
				} else {
					ws->odo[j] = idx + 1;
					carry = 0;
				}
			}
		}
		v = f->base + idx;
		if (f->width == 2) {
			v &= 0xffff;
			*(unaligned_uint16_t *)(d + f->off) = rte_cpu_to_be_16((uint16_t)v);
			words = v;
		} else {
			*(unaligned_uint32_t *)(d + f->off) = rte_cpu_to_be_32(v);
			words = (v >> 16) + (v & 0xffff);
		}
		if (f->in_l3)
			s3 += words;
		if (f->in_l4)
			s4 += words;
	}
	if (st->probe_off) {
		struct dl_probe *p = (struct dl_probe *)(d + st->probe_off);
		p->sig = rte_cpu_to_be_32(DL_PROBE_SIG);
		p->stream = rte_cpu_to_be_16(ws->sid);
		p->seq = rte_cpu_to_be_32(seq);
		p->ts = ts_be;
		s4 += ws->sid + ts_sum;
		s4 = dl_csum_add32(s4, seq);
	}
	if (st->l3_csum_off)
		*(unaligned_uint16_t *)(d + st->l3_csum_off) = rte_cpu_to_be_16(dl_csum(s3));
	if (st->l4_csum_off)
		*(unaligned_uint16_t *)(d + st->l4_csum_off) =
			rte_cpu_to_be_16(st->udp_csum ? dl_csum_fold(s4) : dl_csum(s4));
}

/* dl_write_fields is dl_write for stream st, advancing its flow and sequence. */
static __rte_always_inline void dl_write_fields(uint8_t *d, const struct dl_stream *st, struct dl_wstream *ws,
						uint64_t ts_be, uint32_t ts_sum)
{
	uint32_t f = ws->flow;

	if (st->generic) {
		dl_write_generic(d, st, ws, ts_be, ts_sum);
		return;
	}

	ws->flow = f + 1 == st->flows ? 0 : f + 1;
	dl_write(d, st->sport_off, st->probe_off, st->csum_off, st->csum_base, (uint16_t)(st->sport_base + f),
		 ws->sid, ws->seq++, ts_be, ts_sum);
}

/* dl_replay_next copies replay stream st's next frame into m; returns its length. */
static __rte_always_inline uint16_t dl_replay_next(struct rte_mbuf *m, const struct dl_stream *st,
						   struct dl_wstream *ws)
{
	uint32_t k = ws->rp_next;
	uint16_t len = st->rp_len[k];

	ws->rp_next = k + 1 == st->rp_n ? 0 : k + 1;
	ws->seq++;
	m->data_off = RTE_PKTMBUF_HEADROOM;
	m->data_len = len;
	m->pkt_len = len;
	m->ol_flags = 0;
	rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), st->rp_data + st->rp_off[k], len);
	return len;
}

/*
 * dl_gen_fill makes up to n frames into pkts, streams round robin from *sp,
 * and returns how many it made (fewer when mbufs run out).
 */
static __rte_always_inline unsigned dl_gen_fill(struct dl_gen_worker *w, struct rte_mbuf **pkts, unsigned n,
						unsigned *sp, uint64_t ts_ns, uint64_t *bytes)
{
	uint64_t ts_be = rte_cpu_to_be_64(ts_ns);
	uint32_t ts_sum = 0;
	unsigned i, s = *sp, ns = dl_nstreams;
	uint64_t b = 0;

	ts_sum = dl_csum_add32(ts_sum, (uint32_t)(ts_ns >> 32));
	ts_sum = dl_csum_add32(ts_sum, (uint32_t)ts_ns);
	switch (w->mode) {
	case DL_MODE_PREFILLED:
		if (ns == 1 && !dl_streams[0].generic) {
			/* one stream: its fields in locals, stored back after the burst */
			const struct dl_stream *st = &dl_streams[0];
			struct dl_wstream *ws = &w->ws[0];
			const uint16_t len = st->len, sport_off = st->sport_off, probe_off = st->probe_off;
			const uint16_t csum_off = st->csum_off, sport_base = st->sport_base, sid = ws->sid;
			const uint32_t flows = st->flows, csum_base = st->csum_base;
			uint32_t f = ws->flow, seq = ws->seq;

			if (rte_mempool_get_bulk(w->spool[0], (void **)pkts, n) != 0) {
				w->c.alloc_fail++;
				return 0;
			}
			for (i = 0; i < n; i++) {
				struct rte_mbuf *m = pkts[i];

				m->data_off = RTE_PKTMBUF_HEADROOM;
				m->data_len = len;
				m->pkt_len = len;
				m->ol_flags = 0;
				dl_write(rte_pktmbuf_mtod(m, uint8_t *), sport_off, probe_off, csum_off, csum_base,
					 (uint16_t)(sport_base + f), sid, seq++, ts_be, ts_sum);
				f = f + 1 == flows ? 0 : f + 1;
			}
			ws->flow = f;
			ws->seq = seq;
			b = (uint64_t)len * n;
		} else {
			/* several: each stream's share of the burst from its own pool */
			struct rte_mbuf *got[DL_MAX_STREAMS][DL_TX_BURST_MAX / 2 + 1];
			unsigned cnt[DL_MAX_STREAMS], used[DL_MAX_STREAMS], k;

			for (k = 0; k < ns; k++) {
				/* stream (s + j) % ns comes at burst positions j, j + ns, ... */
				unsigned j = (k + ns - s) % ns;
				cnt[k] = j < n ? (n - j + ns - 1) / ns : 0;
				used[k] = 0;
				if (cnt[k] && rte_mempool_get_bulk(w->spool[k], (void **)got[k], cnt[k]) != 0) {
					while (k-- > 0)
						if (cnt[k])
							rte_mempool_put_bulk(w->spool[k], (void **)got[k], cnt[k]);
					w->c.alloc_fail++;
					return 0;
				}
			}
			for (i = 0; i < n; i++) {
				const struct dl_stream *st = &dl_streams[s];
				struct rte_mbuf *m = got[s][used[s]++];

				m->data_off = RTE_PKTMBUF_HEADROOM;
				m->data_len = st->len;
				m->pkt_len = st->len;
				m->ol_flags = 0;
				dl_write_fields(rte_pktmbuf_mtod(m, uint8_t *), st, &w->ws[s], ts_be, ts_sum);
				b += st->len;
				pkts[i] = m;
				if (++s == ns)
					s = 0;
			}
		}
		break;
	default:
		if (rte_mempool_get_bulk(w->pool, (void **)pkts, n) != 0) {
			w->c.alloc_fail++;
			return 0;
		}
		for (i = 0; i < n; i++) {
			const struct dl_stream *st = &dl_streams[s];
			struct rte_mbuf *m = pkts[i];
			uint8_t *d;

			if (unlikely(st->rp_n)) {
				b += dl_replay_next(m, st, &w->ws[s]);
			} else {
				m->data_off = RTE_PKTMBUF_HEADROOM;
				m->data_len = st->len;
				m->pkt_len = st->len;
				m->ol_flags = 0;
				d = rte_pktmbuf_mtod(m, uint8_t *);
				rte_memcpy(d, st->tmpl, st->len);
				dl_write_fields(d, st, &w->ws[s], ts_be, ts_sum);
				b += st->len;
			}
			if (++s == ns)
				s = 0;
		}
	}
	*sp = s;
	*bytes = b;
	return i;
}

/* dl_gen_write_one writes n frames of stream k into the mbufs pkts. */
static __rte_always_inline void dl_gen_write_one(struct dl_gen_worker *w, struct rte_mbuf **pkts, unsigned n,
						 unsigned k, uint64_t ts_be, uint32_t ts_sum, uint64_t *bytes)
{
	const struct dl_stream *st = &dl_streams[k];
	struct dl_wstream *ws = &w->ws[k];
	unsigned i;

	if (st->rp_n) {
		for (i = 0; i < n; i++)
			*bytes += dl_replay_next(pkts[i], st, ws);
		return;
	}
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint8_t *d;

		m->data_off = RTE_PKTMBUF_HEADROOM;
		m->data_len = st->len;
		m->pkt_len = st->len;
		m->ol_flags = 0;
		d = rte_pktmbuf_mtod(m, uint8_t *);
		if (w->mode != DL_MODE_PREFILLED)
			rte_memcpy(d, st->tmpl, st->len);
		dl_write_fields(d, st, ws, ts_be, ts_sum);
	}
	*bytes += (uint64_t)st->len * n;
}

/*
 * dl_gen_alloc gets want[k] mbufs for every stream k into pkts, stream after
 * stream, or none at all (so that a short pool starves no stream more than
 * another); it returns the total.
 */
static __rte_always_inline unsigned dl_gen_alloc(struct dl_gen_worker *w, struct rte_mbuf **pkts,
						 const unsigned *want, unsigned ns, unsigned total)
{
	unsigned k, n = 0;

	if (total == 0)
		return 0;
	if (w->mode != DL_MODE_PREFILLED) {
		if (rte_mempool_get_bulk(w->pool, (void **)pkts, total) == 0)
			return total;
		w->c.alloc_fail++;
		return 0;
	}
	for (k = 0; k < ns; k++) {
		if (want[k] == 0)
			continue;
		if (rte_mempool_get_bulk(w->spool[k], (void **)(pkts + n), want[k]) != 0) {
			while (k-- > 0) {
				n -= want[k];
				if (want[k])
					rte_mempool_put_bulk(w->spool[k], (void **)(pkts + n), want[k]);
			}
			w->c.alloc_fail++;
			return 0;
		}
		n += want[k];
	}
	return n;
}

/*
 * dl_gen_emit captures the burst's frames if the TX capture wants more, hands
 * them to the TX queue, frees what it did not take and counts the rest.
 * bytes is the burst's frame bytes.
 */
static __rte_always_inline void dl_gen_emit(struct dl_gen_worker *w, struct rte_mbuf **pkts, unsigned n,
					    uint64_t bytes, uint64_t ts_ns)
{
	uint16_t sent;
	unsigned i;

	if (unlikely(w->cap_tx_n < w->cap_max))
		dl_cap(w->cap_tx, &w->cap_tx_n, w->cap_max, pkts, n, ts_ns);
	sent = rte_eth_tx_burst(w->tx_port, w->tx_queue, pkts, (uint16_t)n);
	if (unlikely(sent < n)) {
		for (i = sent; i < n; i++)
			bytes -= pkts[i]->pkt_len;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
		w->c.tx_drop += n - sent;
	}
	w->c.tx_pkts += sent;
	w->c.tx_bytes += bytes;
}

/*
 * dl_gen_loop_streams is dl_gen_loop with per-stream pacing: every burst
 * holds each paced stream's due frames, and the flat-out streams share the
 * rest by weight (a credit per stream carries the fractions over). A burst
 * is allocated whole or not at all, and only a sent burst moves the
 * schedules, so that a short pool shifts no stream's share.
 */
static int dl_gen_loop_streams(struct dl_gen_worker *w)
{
	struct rte_mbuf *pkts[DL_TX_BURST_MAX];
	uint64_t hz = rte_get_tsc_hz();
	unsigned burst = w->burst, ns = dl_nstreams, k, wsum = 0;
	double ppc[DL_MAX_STREAMS], credit[DL_MAX_STREAMS];
	uint64_t paced[DL_MAX_STREAMS], backlog[DL_MAX_STREAMS];
	uint64_t start = rte_rdtsc();

	for (k = 0; k < ns; k++) {
		ppc[k] = w->srate[k] > 0 ? w->srate[k] / (double)hz : 0;
		backlog[k] = (uint64_t)(w->srate[k] / 100) + burst; /* 10 ms */
		paced[k] = 0;
		credit[k] = 0;
		if (ppc[k] == 0)
			wsum += w->sweight[k] ? w->sweight[k] : 1;
	}
	while (!dl_stop_rx) {
		if (w->tx_on && !dl_stop_tx && (w->max_pkts == 0 || w->c.tx_pkts < w->max_pkts)) {
			uint64_t tsc = rte_rdtsc(), ts_ns = dl_tsc_ns(tsc, hz), bytes = 0;
			uint64_t ts_be = rte_cpu_to_be_64(ts_ns);
			uint32_t ts_sum = dl_csum_add32(dl_csum_add32(0, (uint32_t)(ts_ns >> 32)), (uint32_t)ts_ns);
			unsigned want[DL_MAX_STREAMS], n = 0, room;
			double share[DL_MAX_STREAMS];

			for (k = 0; k < ns; k++) {
				uint64_t due;

				want[k] = 0;
				if (ppc[k] == 0)
					continue;
				due = (uint64_t)((double)(tsc - start) * ppc[k]);
				if (due > paced[k] + backlog[k])
					paced[k] = due - backlog[k];
				if (due > paced[k])
					want[k] = (unsigned)RTE_MIN(due - paced[k], (uint64_t)(burst - n));
				n += want[k];
			}
			room = burst - n;
			if (wsum > 0 && room > 0) {
				for (k = 0; k < ns; k++) {
					if (ppc[k] != 0)
						continue;
					share[k] = (double)room * (w->sweight[k] ? w->sweight[k] : 1) / wsum;
					want[k] = (unsigned)(credit[k] + share[k]);
					n += want[k];
				}
			}
			if (w->max_pkts && w->c.tx_pkts + n > w->max_pkts) {
				uint64_t left = w->max_pkts - w->c.tx_pkts;
				for (k = 0; k < ns; k++) {
					want[k] = (unsigned)RTE_MIN((uint64_t)want[k], left);
					left -= want[k];
				}
			}
			n = 0;
			for (k = 0; k < ns; k++)
				n += want[k];
			n = dl_gen_alloc(w, pkts, want, ns, n);
			if (n > 0) {
				/* All or none: the credits and schedules move only when sent. */
				unsigned at = 0;
				for (k = 0; k < ns; k++) {
					dl_gen_write_one(w, pkts + at, want[k], k, ts_be, ts_sum, &bytes);
					at += want[k];
					if (ppc[k] != 0)
						paced[k] += want[k];
					else
						credit[k] += share[k] - want[k]; /* in [0, 1) */
				}
				dl_gen_emit(w, pkts, n, bytes, ts_ns);
			}
		}
		if (w->rx_on)
			dl_gen_rx(w, hz);
	}
	return 0;
}

/* dl_gen_loop sends the streams round robin and receives, until stopped. */
static int dl_gen_loop(void *arg)
{
	struct dl_gen_worker *w = arg;
	struct rte_mbuf *pkts[DL_TX_BURST_MAX];
	uint64_t hz = rte_get_tsc_hz();
	unsigned burst = w->burst;
	double ppc = w->rate_pps > 0 ? w->rate_pps / (double)hz : 0; /* packets per cycle */
	uint64_t backlog_max = (uint64_t)(w->rate_pps / 100) + burst;
	uint64_t start = rte_rdtsc(), paced = 0;
	unsigned s = 0;

	if (w->per_stream)
		return dl_gen_loop_streams(w);
	while (!dl_stop_rx) {
		if (w->tx_on && !dl_stop_tx && (w->max_pkts == 0 || w->c.tx_pkts < w->max_pkts)) {
			unsigned n = burst;
			uint64_t tsc = rte_rdtsc(), bytes = 0;

			if (ppc > 0) {
				uint64_t due = (uint64_t)((double)(tsc - start) * ppc);
				/*
				 * Catch up after a short stall (preemption), but forget a backlog
				 * longer than 10 ms rather than flood.
				 */
				if (due > paced + backlog_max)
					paced = due - backlog_max;
				n = due > paced ? (unsigned)(due - paced) : 0;
				if (n > burst)
					n = burst;
			}
			if (w->max_pkts && w->c.tx_pkts + n > w->max_pkts)
				n = (unsigned)(w->max_pkts - w->c.tx_pkts);
			if (n > 0)
				n = dl_gen_fill(w, pkts, n, &s, dl_tsc_ns(tsc, hz), &bytes);
			if (n > 0) {
				dl_gen_emit(w, pkts, n, bytes, dl_tsc_ns(tsc, hz));
				paced += n;
			}
		}
		if (w->rx_on)
			dl_gen_rx(w, hz);
	}
	return 0;
}

/* dl_fwd_loop forwards in -> out with a MAC rewrite, until dl_stop_rx. */
static int dl_fwd_loop(void *arg)
{
	struct dl_fwd_worker *w = arg;
	struct rte_mbuf *pkts[DL_BURST];

	while (!dl_stop_rx) {
		uint16_t nb = rte_eth_rx_burst(w->in_port, w->in_queue, pkts, DL_BURST), sent, i;
		if (nb > 0) {
			uint64_t bytes = 0;
			for (i = 0; i < nb; i++) {
				struct rte_ether_hdr *eth = rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *);
				w->c.rx_bytes += pkts[i]->pkt_len;
				if (w->rewrite) {
					rte_ether_addr_copy(&w->dst, &eth->dst_addr);
					rte_ether_addr_copy(&w->src, &eth->src_addr);
				}
			}
			sent = rte_eth_tx_burst(w->out_port, w->out_queue, pkts, nb);
			for (i = 0; i < sent; i++)
				bytes += pkts[i]->pkt_len;
			if (sent < nb) {
				rte_pktmbuf_free_bulk(pkts + sent, nb - sent);
				w->c.fwd_drop += nb - sent;
			}
			w->c.rx_pkts += nb;
			w->c.tx_pkts += sent;
			w->c.tx_bytes += bytes;
		}
		if (w->drain_out) {
			nb = rte_eth_rx_burst(w->out_port, w->out_queue, pkts, DL_BURST);
			if (nb > 0) {
				rte_pktmbuf_free_bulk(pkts, nb);
				w->c.out_rx += nb;
			}
		}
	}
	return 0;
}

static int dl_gen_launch(int i, unsigned lcore) { return rte_eal_remote_launch(dl_gen_loop, &dl_gen[i], lcore); }
static int dl_fwd_launch(int i, unsigned lcore) { return rte_eal_remote_launch(dl_fwd_loop, &dl_fwd[i], lcore); }
static void dl_set_stop(int tx, int rx) { dl_stop_tx = tx; dl_stop_rx = rx; }
static void dl_set_win_start(void) { dl_win_start_ns = dl_tsc_ns(rte_rdtsc(), rte_get_tsc_hz()); }

/* Fill every mbuf of a pool with a stream's template (PREFILLED mode). */
static void dl_fill_one(struct rte_mempool *mp, void *opaque, void *obj, unsigned idx)
{
	struct rte_mbuf *m = obj;
	const struct dl_stream *st = opaque;
	(void)mp; (void)idx;
	rte_memcpy((uint8_t *)m->buf_addr + RTE_PKTMBUF_HEADROOM, st->tmpl, st->len);
}
static void dl_fill_pool(struct rte_mempool *mp, unsigned stream)
{
	rte_mempool_obj_iter(mp, dl_fill_one, &dl_streams[stream]);
}
