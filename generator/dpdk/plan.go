package dpdk

import (
	"errors"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
)

// defaultDrain is how long RX keeps going after TX stops when the config
// sets no drain_ms.
const defaultDrain = 200 * time.Millisecond

// genPlan is what the `gen` worker decides from its config and its number
// of worker lcores before it touches DPDK: plain data, tested without cgo.
type genPlan struct {
	Workers int
	Ring    uint16
	// RxPoolMbufs is the one RX pool shared by every queue: four rings'
	// worth per worker.
	RxPoolMbufs uint
	// RatePerWorker is each worker's share of the total rate; 0 = flat out.
	RatePerWorker float64
	// StreamRates and StreamWeights, when set, pace each stream on its own
	// (its rate split across the workers); nil = the streams go round robin.
	StreamRates   []float64
	StreamWeights []int
	Mode          dpdk.TemplateMode
	// TX pools per worker: TxPools of TxPoolMbufs (at least TxPoolFloor)
	// each; one per stream in Prefilled mode, one in Copy mode.
	TxPools     int
	TxPoolMbufs uint
	TxPoolFloor uint
	Drain       time.Duration
	// AllProbes: every stream carries a probe, so the window's RX counts
	// are the probes' (frames of the window only).
	AllProbes bool
}

// checkGenConfig refuses a config the worker cannot run.
func checkGenConfig(cfg dpdk.GenConfig) error {
	if len(cfg.Streams) == 0 {
		return errors.New("gen: no streams")
	}
	if cfg.TXPort == "" && cfg.RXPort == "" {
		return errors.New("gen: neither tx_port nor rx_port")
	}
	return nil
}

// planGen is the plan for cfg on workers worker lcores (at least 1).
func planGen(cfg dpdk.GenConfig, workers int) genPlan {
	ring := dpdk.RingSize(cfg.RingSize)
	p := genPlan{
		Workers:       workers,
		Ring:          ring,
		RxPoolMbufs:   uint(4 * int(ring) * workers),
		RatePerWorker: totalRate(cfg) / float64(workers),
		Mode:          templateMode(cfg),
		Drain:         defaultDrain,
		AllProbes:     true,
	}
	p.StreamRates, p.StreamWeights = streamPacing(cfg, workers)
	if cfg.DrainMS != 0 {
		p.Drain = time.Duration(cfg.DrainMS) * time.Millisecond
	}
	for _, st := range cfg.Streams {
		p.AllProbes = p.AllProbes && st.ProbeOffset > 0
	}
	if cfg.TXPort != "" {
		p.TxPools, p.TxPoolMbufs, p.TxPoolFloor = txPools(p.Mode, ring, len(cfg.Streams))
	}
	return p
}

// totalRate is the config's rate, or the sum of the streams' rates when
// every stream has one; 0 = as fast as possible.
func totalRate(cfg dpdk.GenConfig) float64 {
	if cfg.RatePPS != 0 {
		return cfg.RatePPS
	}
	var rate float64
	for _, st := range cfg.Streams {
		if st.RatePPS == 0 {
			return 0
		}
		rate += st.RatePPS
	}
	return rate
}

// streamPacing paces streams of different rates or weights each on its
// own, with each worker taking 1/workers of every stream's rate; equal
// streams (or a total rate in the config) get nil: they go round robin at
// their summed rate, the faster loop.
func streamPacing(cfg dpdk.GenConfig, workers int) (rates []float64, weights []int) {
	if cfg.RatePPS != 0 || len(cfg.Streams) < 2 {
		return nil, nil
	}
	first := cfg.Streams[0]
	differ := false
	for _, st := range cfg.Streams[1:] {
		differ = differ || st.RatePPS != first.RatePPS || max(st.Weight, 1) != max(first.Weight, 1)
	}
	if !differ {
		return nil, nil
	}
	for _, st := range cfg.Streams {
		rates = append(rates, st.RatePPS/float64(workers))
		weights = append(weights, st.Weight)
	}
	return rates, weights
}

// templateMode is the configured mode (Prefilled when unset), or Copy when
// a stream replays frames: they differ one from the next, nothing to
// prefill.
func templateMode(cfg dpdk.GenConfig) dpdk.TemplateMode {
	mode := cfg.TemplateMode
	if mode == "" { // NoCopy, the older name of Prefilled, is the default now
		mode = dpdk.Prefilled
	}
	for _, st := range cfg.Streams {
		if len(st.Frames) > 0 {
			mode = dpdk.Copy
		}
	}
	return mode
}

// txPools sizes a worker's TX pools: in Prefilled mode one per stream, each
// holding its template, smaller when there are more than two streams; in
// Copy mode one pool. Each holds two rings and 4096 mbufs in flight.
func txPools(mode dpdk.TemplateMode, ring uint16, streams int) (pools int, mbufs, floor uint) {
	n := uint(2*int(ring) + 4096)
	if mode != dpdk.Prefilled {
		return 1, n, dpdk.PoolFloor
	}
	if streams > 2 {
		n = max(n/uint(streams), dpdk.SmallPoolFloor)
	}
	return streams, n, dpdk.SmallPoolFloor
}

// packetShare is worker i's part of total frames over n workers: the first
// total%n workers send one more.
func packetShare(total uint64, n, i int) uint64 {
	v := total / uint64(n)
	if uint64(i) < total%uint64(n) {
		v++
	}
	return v
}
