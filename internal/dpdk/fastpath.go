//go:build dpdk && cgo

package dpdk

/*
#cgo pkg-config: libdpdk
#include <stdlib.h>
#include "fastpath.h"

static void dl_gen_set_stream(unsigned i, const void *tmpl, uint16_t len, uint16_t sport_off,
	uint16_t probe_off, uint16_t sport_base, uint16_t csum_off, uint32_t flows)
{
	struct dl_stream *s = &dl_streams[i];
	memset(s, 0, sizeof(*s));
	memcpy(s->tmpl, tmpl, len);
	s->len = len;
	s->sport_off = sport_off;
	s->probe_off = probe_off;
	s->sport_base = sport_base;
	s->csum_off = csum_off;
	s->flows = flows ? flows : 1;
	if (csum_off)
		s->csum_base = (uint16_t)~rte_be_to_cpu_16(*(const unaligned_uint16_t *)(s->tmpl + csum_off)) +
			(uint16_t)~sport_base;
}
static void dl_gen_set_program(unsigned i, uint16_t probe_off, uint16_t l3_off, uint16_t l4_off, uint32_t l3_sum,
	uint32_t l4_sum, int udp_csum, unsigned nfields)
{
	struct dl_stream *s = &dl_streams[i];
	s->generic = 1;
	s->probe_off = probe_off;
	s->l3_csum_off = l3_off;
	s->l4_csum_off = l4_off;
	s->l3_sum = l3_sum;
	s->l4_sum = l4_sum;
	s->udp_csum = (uint8_t)udp_csum;
	s->nfields = (uint8_t)nfields;
}
static void dl_gen_set_field(unsigned i, unsigned j, uint16_t off, uint16_t width, uint32_t base, uint32_t count,
	int random, int in_l3, int in_l4)
{
	struct dl_field *f = &dl_streams[i].f[j];
	f->off = off; f->width = width; f->base = base; f->count = count;
	f->random = (uint8_t)random; f->in_l3 = (uint8_t)in_l3; f->in_l4 = (uint8_t)in_l4;
}
static void dl_gen_set_replay(unsigned i, const uint8_t *data, const uint32_t *off, const uint16_t *len, uint32_t n)
{
	struct dl_stream *s = &dl_streams[i];
	s->rp_data = data; s->rp_off = off; s->rp_len = len; s->rp_n = n;
}
static void dl_gen_set_nstreams(unsigned n) { dl_nstreams = n; }
static void dl_gen_set_worker(int i, uint16_t txp, uint16_t txq, uint16_t rxp, uint16_t rxq,
	int tx_on, int rx_on, int mode, unsigned burst, double rate, uint64_t max_pkts, struct rte_mempool *mp)
{
	struct dl_gen_worker *w = &dl_gen[i];
	unsigned s;
	memset(w, 0, sizeof(*w));
	w->tx_port = txp; w->tx_queue = txq; w->rx_port = rxp; w->rx_queue = rxq;
	w->tx_on = tx_on; w->rx_on = rx_on; w->mode = mode; w->burst = burst;
	w->id = (uint8_t)i; w->rate_pps = rate; w->max_pkts = max_pkts; w->pool = mp;
	for (s = 0; s < DL_MAX_STREAMS; s++) {
		w->ws[s].sid = (uint16_t)(s | (unsigned)i << 8);
		w->ws[s].rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)i << 32 | s); // never 0
	}
}
static void dl_gen_set_stream_rate(int i, unsigned k, double rate, unsigned weight)
{
	dl_gen[i].per_stream = 1;
	dl_gen[i].srate[k] = rate;
	dl_gen[i].sweight[k] = weight;
}
static uint32_t dl_gen_stream_frames(int i, unsigned k) { return dl_gen[i].ws[k].seq; }
static void dl_gen_set_max(int i, uint64_t n) { dl_gen[i].max_pkts = n; }
static void dl_gen_set_capture(int i, struct dl_cap_rec *tx, struct dl_cap_rec *rx, uint32_t max)
{
	dl_gen[i].cap_tx = tx;
	dl_gen[i].cap_rx = rx;
	dl_gen[i].cap_max = max;
}
static uint32_t dl_gen_cap_n(int i, int rx) { return rx ? dl_gen[i].cap_rx_n : dl_gen[i].cap_tx_n; }
static uint64_t dl_now_ns(void) { return dl_tsc_ns(rte_rdtsc(), rte_get_tsc_hz()); }
static uint64_t dl_gen_max(int i) { return dl_gen[i].max_pkts; }
static void dl_gen_set_spool(int i, unsigned k, struct rte_mempool *mp) { dl_gen[i].spool[k] = mp; }
static void dl_gen_run(int i) { dl_gen_loop(&dl_gen[i]); }
static struct dl_counters *dl_gen_counters(int i) { return &dl_gen[i].c; }
static uint64_t *dl_gen_hist(int i) { return dl_gen[i].hist; }
static unsigned dl_hist_bucket_of(uint64_t v) { return dl_hist_bucket(v); }

static void dl_fwd_set_worker(int i, uint16_t inp, uint16_t inq, uint16_t outp, uint16_t outq,
	int rewrite, int drain_out, const uint8_t *src, const uint8_t *dst)
{
	struct dl_fwd_worker *w = &dl_fwd[i];
	memset(w, 0, sizeof(*w));
	w->in_port = inp; w->in_queue = inq; w->out_port = outp; w->out_queue = outq;
	w->rewrite = rewrite; w->drain_out = drain_out;
	memcpy(w->src.addr_bytes, src, 6);
	memcpy(w->dst.addr_bytes, dst, 6);
}
static void dl_fwd_run(int i) { dl_fwd_loop(&dl_fwd[i]); }
static struct dl_counters *dl_fwd_counters(int i) { return &dl_fwd[i].c; }
*/
import "C"

import (
	"fmt"
	"net"
	"unsafe"
)

// Fast-path limits, from fastpath.h.
const (
	MaxWorkers  = C.DL_MAX_WORKERS
	MaxStreams  = C.DL_MAX_STREAMS
	MaxTemplate = C.DL_TMPL_MAX
	MaxFields   = C.DL_MAX_FIELDS
	Burst       = C.DL_BURST // RX and forwarding burst
	MaxTxBurst  = C.DL_TX_BURST_MAX
)

// Counters are one worker's fast-path counters.
type Counters struct {
	TxPackets, TxBytes, TxDropped, AllocFailed         uint64
	RxPackets, RxBytes, RxProbes, RxWindow, RxWinBytes uint64
	Reorder, FwdDropped, OutRx                         uint64
	Duplicates                                         uint64 // probes received again (in the window)
}

func readCounters(c *C.struct_dl_counters) Counters {
	return Counters{
		TxPackets: uint64(c.tx_pkts), TxBytes: uint64(c.tx_bytes), TxDropped: uint64(c.tx_drop),
		AllocFailed: uint64(c.alloc_fail), RxPackets: uint64(c.rx_pkts), RxBytes: uint64(c.rx_bytes),
		RxProbes: uint64(c.rx_probes), RxWindow: uint64(c.rx_win), RxWinBytes: uint64(c.rx_win_bytes),
		Reorder: uint64(c.reorder), FwdDropped: uint64(c.fwd_drop), OutRx: uint64(c.out_rx),
		Duplicates: uint64(c.dup),
	}
}

// Add sums two counter sets.
func (c Counters) Add(o Counters) Counters {
	return Counters{c.TxPackets + o.TxPackets, c.TxBytes + o.TxBytes, c.TxDropped + o.TxDropped,
		c.AllocFailed + o.AllocFailed, c.RxPackets + o.RxPackets, c.RxBytes + o.RxBytes,
		c.RxProbes + o.RxProbes, c.RxWindow + o.RxWindow, c.RxWinBytes + o.RxWinBytes,
		c.Reorder + o.Reorder, c.FwdDropped + o.FwdDropped, c.OutRx + o.OutRx, c.Duplicates + o.Duplicates}
}

// GenWorker is one generator lcore: it owns one TX queue and one RX queue.
type GenWorker struct {
	TxPort, RxPort   Port
	TxQueue, RxQueue uint16
	TX, RX           bool
	Pool             *Mempool // TX mbufs (Copy)
	// Pools are Prefilled's pools, one per stream, each filled with
	// FillPool(pool, stream); with one stream Pool (filled) will do.
	Pools   []*Mempool
	RatePPS float64 // this worker's rate; 0 = as fast as possible
	// StreamRates, when set (one per stream), paces each stream on its own
	// at this worker's share of its rate; a 0 stream is sent flat out in
	// what is left of each burst, shared by StreamWeights (0 counts as 1).
	// RatePPS is then unused.
	StreamRates   []float64
	StreamWeights []int
	MaxPackets    uint64 // stop sending after this many; 0 = no limit
	// Mode is how frames get their bytes (see TemplateMode); "" = Copy.
	Mode TemplateMode
	// Burst is the TX burst (default DefaultTxBurst, at most MaxTxBurst).
	Burst int
}

// replayMem is the C memory the replay streams point into, freed by the next
// SetupGen (the fast path reads it while running).
var replayMem []unsafe.Pointer

func freeReplay() {
	for _, p := range replayMem {
		C.free(p)
	}
	replayMem = nil
}

// setReplay copies frames into C memory and makes stream i send them.
func setReplay(i int, frames [][]byte) error {
	total := 0
	for k, f := range frames {
		if len(f) < 14 || len(f) > MaxTemplate {
			return fmt.Errorf("stream %d: replay frame %d is %d bytes, want 14..%d", i, k, len(f), MaxTemplate)
		}
		total += len(f)
	}
	data := C.malloc(C.size_t(total))
	off := C.malloc(C.size_t(4 * len(frames)))
	lens := C.malloc(C.size_t(2 * len(frames)))
	replayMem = append(replayMem, data, off, lens)
	d := unsafe.Slice((*byte)(data), total)
	o := unsafe.Slice((*uint32)(off), len(frames))
	l := unsafe.Slice((*uint16)(lens), len(frames))
	at := 0
	for k, f := range frames {
		copy(d[at:], f)
		o[k], l[k] = uint32(at), uint16(len(f))
		at += len(f)
	}
	C.dl_gen_set_replay(C.uint(i), (*C.uint8_t)(data), (*C.uint32_t)(off), (*C.uint16_t)(lens), C.uint32_t(len(frames)))
	return nil
}

// SetupGen loads the streams and workers into the C fast path. There is one
// generator per process; call it before launching and not while running.
func SetupGen(streams []GenStream, workers []GenWorker) error {
	if len(streams) == 0 || len(streams) > MaxStreams {
		return fmt.Errorf("set up generator: %d streams, want 1..%d", len(streams), MaxStreams)
	}
	if len(workers) == 0 || len(workers) > MaxWorkers {
		return fmt.Errorf("set up generator: %d workers, want 1..%d", len(workers), MaxWorkers)
	}
	for i, s := range streams {
		n := len(s.Template)
		if n < 14 || n > MaxTemplate {
			return fmt.Errorf("stream %d: template of %d bytes, want 14..%d", i, n, MaxTemplate)
		}
		if s.SrcPortOffset < 0 || s.SrcPortOffset+2 > n {
			return fmt.Errorf("stream %d: source port offset %d outside the template", i, s.SrcPortOffset)
		}
		if s.ChecksumOffset < 0 || s.ChecksumOffset+2 > n {
			return fmt.Errorf("stream %d: checksum offset %d outside the template", i, s.ChecksumOffset)
		}
		if s.ProbeOffset < 0 || (s.ProbeOffset > 0 && s.ProbeOffset+ProbeSize > n) {
			return fmt.Errorf("stream %d: probe offset %d leaves no room for the %d-byte probe", i, s.ProbeOffset, ProbeSize)
		}
		C.dl_gen_set_stream(C.uint(i), unsafe.Pointer(&s.Template[0]), C.uint16_t(n), C.uint16_t(s.SrcPortOffset),
			C.uint16_t(s.ProbeOffset), C.uint16_t(s.SrcPortBase), C.uint16_t(s.ChecksumOffset), C.uint32_t(max(s.Flows, 1)))
		if g := s.Generic; g != nil {
			if len(g.Fields) > MaxFields {
				return fmt.Errorf("stream %d: %d fields, want at most %d", i, len(g.Fields), MaxFields)
			}
			for _, off := range []int{g.L3ChecksumOffset, g.L4ChecksumOffset} {
				if off < 0 || off+2 > n {
					return fmt.Errorf("stream %d: checksum offset %d outside the template", i, off)
				}
			}
			C.dl_gen_set_program(C.uint(i), C.uint16_t(s.ProbeOffset), C.uint16_t(g.L3ChecksumOffset), C.uint16_t(g.L4ChecksumOffset),
				C.uint32_t(g.L3Sum), C.uint32_t(g.L4Sum), cbool(g.UDPChecksum), C.uint(len(g.Fields)))
			for j, f := range g.Fields {
				if (f.Width != 2 && f.Width != 4) || f.Offset < 0 || f.Offset+f.Width > n || f.Count == 0 {
					return fmt.Errorf("stream %d: field %d (%d bytes at %d, %d values) does not fit the template", i, j, f.Width, f.Offset, f.Count)
				}
				C.dl_gen_set_field(C.uint(i), C.uint(j), C.uint16_t(f.Offset), C.uint16_t(f.Width), C.uint32_t(f.Base),
					C.uint32_t(f.Count), cbool(f.Random), cbool(f.InL3), cbool(f.InL4))
			}
		}
	}
	freeReplay()
	for i, s := range streams {
		if len(s.Frames) == 0 {
			continue
		}
		if err := setReplay(i, s.Frames); err != nil {
			return err
		}
	}
	C.dl_gen_set_nstreams(C.uint(len(streams)))
	for i, w := range workers {
		if w.TX && w.Pool == nil && len(w.Pools) == 0 {
			return fmt.Errorf("worker %d: TX without a mempool", i)
		}
		mode, err := w.Mode.code()
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		pools := w.Pools
		if mode == C.DL_MODE_PREFILLED && w.TX {
			if len(pools) == 0 && len(streams) == 1 && w.Pool != nil {
				pools = []*Mempool{w.Pool}
			}
			if len(pools) != len(streams) {
				return fmt.Errorf("worker %d: template mode %s needs a pool per stream: %d pools for %d streams", i, Prefilled, len(pools), len(streams))
			}
		}
		burst := w.Burst
		if burst == 0 {
			burst = DefaultTxBurst
		}
		if burst < 1 || burst > MaxTxBurst {
			return fmt.Errorf("worker %d: TX burst %d, want 1..%d", i, burst, MaxTxBurst)
		}
		var mp *C.struct_rte_mempool
		if w.Pool != nil {
			mp = w.Pool.p
		}
		C.dl_gen_set_worker(C.int(i), C.uint16_t(w.TxPort), C.uint16_t(w.TxQueue), C.uint16_t(w.RxPort), C.uint16_t(w.RxQueue),
			cbool(w.TX), cbool(w.RX), mode, C.uint(burst), C.double(w.RatePPS), C.uint64_t(w.MaxPackets), mp)
		if w.StreamRates != nil {
			if len(w.StreamRates) != len(streams) || (w.StreamWeights != nil && len(w.StreamWeights) != len(streams)) {
				return fmt.Errorf("worker %d: %d stream rates and %d weights for %d streams", i, len(w.StreamRates), len(w.StreamWeights), len(streams))
			}
			for k, r := range w.StreamRates {
				weight := 1
				if w.StreamWeights != nil {
					weight = max(w.StreamWeights[k], 1)
				}
				if r < 0 {
					return fmt.Errorf("worker %d: stream %d rate %g", i, k, r)
				}
				C.dl_gen_set_stream_rate(C.int(i), C.uint(k), C.double(r), C.uint(weight))
			}
		}
		if mode == C.DL_MODE_PREFILLED {
			for k, p := range pools {
				if p == nil {
					return fmt.Errorf("worker %d: no pool for stream %d", i, k)
				}
				C.dl_gen_set_spool(C.int(i), C.uint(k), p.p)
			}
		}
	}
	C.dl_set_stop(0, 0)
	return nil
}

// FillPool writes the template of stream (as loaded by SetupGen) into every
// mbuf of pool, for Prefilled. Call it after SetupGen, before launching.
func FillPool(pool *Mempool, stream int) { C.dl_fill_pool(pool.p, C.uint(stream)) }

// LaunchGen starts generator worker i on lcore (a worker lcore, not the main one).
func LaunchGen(i int, lcore uint) error {
	return errRet(fmt.Sprintf("launch generator worker %d on lcore %d", i, lcore), C.dl_gen_launch(C.int(i), C.uint(lcore)))
}

// RunGen runs generator worker i on the calling thread until Stop(true, true).
func RunGen(i int) { C.dl_gen_run(C.int(i)) }

// GenStreamFrames is how many frames worker i has made of stream k (modulo
// 2^32: it is the stream's next probe sequence number).
func GenStreamFrames(i, k int) uint32 { return uint32(C.dl_gen_stream_frames(C.int(i), C.uint(k))) }

// SetGenMaxPackets makes running worker i stop sending once its TX counter
// reaches n (0: no limit). The loop reads it before every burst.
func SetGenMaxPackets(i int, n uint64) { C.dl_gen_set_max(C.int(i), C.uint64_t(n)) }

// CaptureSnap is how many bytes of each frame a capture keeps.
const CaptureSnap = C.DL_CAP_SNAP

// CaptureSnapBytes (config.go, for the cgo-free side) must equal it.
var (
	_ [CaptureSnap - CaptureSnapBytes]struct{}
	_ [CaptureSnapBytes - CaptureSnap]struct{}
)

// CapturedFrame is one frame a worker captured: its first CaptureSnap bytes,
// its length, and when (TSC ns, see NowNS).
type CapturedFrame struct {
	TSCNS uint64
	Len   int
	Data  []byte
}

// GenCapture is where worker i records the first frames it sends and
// receives; call SetupGen first and Frames after the worker stopped.
type GenCapture struct {
	worker int
	tx, rx *C.struct_dl_cap_rec
	max    int
}

// NewGenCapture makes worker i record its first n frames each way.
func NewGenCapture(i, n int) *GenCapture {
	c := &GenCapture{worker: i, max: n}
	size := C.size_t(unsafe.Sizeof(C.struct_dl_cap_rec{}))
	c.tx = (*C.struct_dl_cap_rec)(C.calloc(C.size_t(n), size))
	c.rx = (*C.struct_dl_cap_rec)(C.calloc(C.size_t(n), size))
	C.dl_gen_set_capture(C.int(i), c.tx, c.rx, C.uint32_t(n))
	return c
}

// Frames returns what the worker captured in one direction.
func (c *GenCapture) Frames(rx bool) []CapturedFrame {
	base := c.tx
	if rx {
		base = c.rx
	}
	n := int(C.dl_gen_cap_n(C.int(c.worker), cbool(rx)))
	recs := unsafe.Slice(base, c.max)[:n]
	out := make([]CapturedFrame, n)
	for i, r := range recs {
		out[i] = CapturedFrame{TSCNS: uint64(r.ts_ns), Len: int(r.orig), Data: C.GoBytes(unsafe.Pointer(&r.data[0]), C.int(r.len))}
	}
	return out
}

// Free detaches the capture from the worker and frees its memory.
func (c *GenCapture) Free() {
	C.dl_gen_set_capture(C.int(c.worker), nil, nil, 0)
	C.free(unsafe.Pointer(c.tx))
	C.free(unsafe.Pointer(c.rx))
}

// NowNS is the fast path's clock (TSC in ns) now, to place captures in time.
func NowNS() uint64 { return uint64(C.dl_now_ns()) }

// GenWorkerMax is worker i's current limit (0: none).
func GenWorkerMax(i int) uint64 { return uint64(C.dl_gen_max(C.int(i))) }

// GenCounters reads worker i's counters.
func GenCounters(i int) Counters { return readCounters(C.dl_gen_counters(C.int(i))) }

// histBucket is the C fast path's bucket of v, for the test that holds it
// to measure.BucketOf.
func histBucket(v uint64) int { return int(C.dl_hist_bucket_of(C.uint64_t(v))) }

// GenHistogram adds worker i's latency buckets (ns, see BucketValue) into dst,
// which must hold HistBuckets entries.
func GenHistogram(i int, dst []uint64) {
	src := unsafe.Slice((*C.uint64_t)(C.dl_gen_hist(C.int(i))), HistBuckets)
	for b := range dst[:HistBuckets] {
		dst[b] += uint64(src[b])
	}
}

// StartWindow marks now as the start of the measured window: probes stamped
// earlier count as warm-up.
func StartWindow() { C.dl_set_win_start() }

// Stop sets the fast path's stop flags: tx stops sending (generators keep
// receiving), rx ends every loop.
func Stop(tx, rx bool) { C.dl_set_stop(cbool(tx), cbool(rx)) }

// FwdWorker is one forwarding lcore: In queue -> Out queue.
type FwdWorker struct {
	In, Out           Port
	InQueue, OutQueue uint16
	Rewrite           bool // write Src and Dst into the Ethernet header
	Src, Dst          net.HardwareAddr
	DrainOut          bool // also receive and drop what arrives on Out
}

// SetupFwd loads the forwarding workers into the C fast path.
func SetupFwd(workers []FwdWorker) error {
	if len(workers) == 0 || len(workers) > MaxWorkers {
		return fmt.Errorf("set up forwarder: %d workers, want 1..%d", len(workers), MaxWorkers)
	}
	for i, w := range workers {
		var src, dst [6]byte
		if w.Rewrite && (len(w.Src) != 6 || len(w.Dst) != 6) {
			return fmt.Errorf("forwarder worker %d: MAC rewrite needs 6-byte source and destination", i)
		}
		copy(src[:], w.Src)
		copy(dst[:], w.Dst)
		C.dl_fwd_set_worker(C.int(i), C.uint16_t(w.In), C.uint16_t(w.InQueue), C.uint16_t(w.Out), C.uint16_t(w.OutQueue),
			cbool(w.Rewrite), cbool(w.DrainOut), (*C.uint8_t)(&src[0]), (*C.uint8_t)(&dst[0]))
	}
	C.dl_set_stop(0, 0)
	return nil
}

// LaunchFwd starts forwarding worker i on lcore.
func LaunchFwd(i int, lcore uint) error {
	return errRet(fmt.Sprintf("launch forwarder worker %d on lcore %d", i, lcore), C.dl_fwd_launch(C.int(i), C.uint(lcore)))
}

// RunFwd runs forwarding worker i on the calling thread until Stop(_, true).
func RunFwd(i int) { C.dl_fwd_run(C.int(i)) }

// FwdCounters reads forwarding worker i's counters.
func FwdCounters(i int) Counters { return readCounters(C.dl_fwd_counters(C.int(i))) }

func (m TemplateMode) code() (C.int, error) {
	switch m {
	case Prefilled:
		return C.DL_MODE_PREFILLED, nil
	case "", Copy:
		return C.DL_MODE_COPY, nil
	}
	return 0, fmt.Errorf("template mode %q is not supported; supported modes are %v", string(m), TemplateModes)
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
