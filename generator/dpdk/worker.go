//go:build dpdk && cgo

package dpdk

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
)

// RunWorker is `dutlab-dpdk gen`: it starts the EAL and sets the ports, pools
// and one generator per worker lcore up (setupGen), then, while the loops
// run, warms up, opens the measurement window, measures, stops TX and
// drains RX (control), and writes the "final" line (report). Progress,
// window_begin and window_end lines go to out as they happen.
func RunWorker(cfg dpdk.GenConfig, out *dpdk.LineWriter) (err error) {
	if err := checkGenConfig(cfg); err != nil {
		return err
	}
	sigc, stopSig := dpdk.StopSignals()
	defer stopSig()
	s, err := dpdk.StartSession(cfg.EAL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()

	lcores := dpdk.WorkerLcores()
	r, err := setupGen(s, cfg, planGen(cfg, len(lcores)), out)
	if err != nil {
		return err
	}
	defer r.freeCaptures()
	r.start = time.Now()
	if cfg.WarmupMS == 0 {
		r.openWindow() // nothing sent yet: the limits are the shares
		dpdk.StartWindow()
		out.Write(dpdk.StatsLine{Kind: "window_begin"})
	}
	windows := make(chan window, 1)
	go func() { windows <- r.control(sigc) }()
	if err := dpdk.RunLoops(lcores, dpdk.LaunchGen, dpdk.RunGen); err != nil {
		return err
	}
	final := r.report(<-windows)
	final.Info = r.info(s, lcores)
	out.Write(final)
	return nil
}

// genRun is one run of the generator workers: its config, plan and output.
type genRun struct {
	cfg      dpdk.GenConfig
	plan     genPlan
	out      *dpdk.LineWriter
	start    time.Time
	captures []*dpdk.GenCapture
	// cf is the counters at the end of the run, for the report.
	cf dpdk.Counters
}

// mark is the counters at one instant: the window opens at one and TX
// stops at another.
type mark struct {
	at     time.Time
	c      dpdk.Counters
	h      []uint64
	probes []uint32
}

// window is the marks at the window's opening and at TX's stop.
type window struct{ open, txEnd mark }

// setupGen sets the ports (one queue pair per worker), the RX pool, each
// worker's TX pools and the fast path up, and prefills the template pools.
func setupGen(s *dpdk.Session, cfg dpdk.GenConfig, plan genPlan, out *dpdk.LineWriter) (*genRun, error) {
	txPort, rxPort, err := genPorts(s, cfg, plan)
	if err != nil {
		return nil, err
	}
	workers := make([]dpdk.GenWorker, plan.Workers)
	for i := range workers {
		w := dpdk.GenWorker{TxPort: txPort, RxPort: rxPort, TxQueue: uint16(i), RxQueue: uint16(i),
			TX: cfg.TXPort != "", RX: cfg.RXPort != "", RatePPS: plan.RatePerWorker,
			Mode: plan.Mode, Burst: cfg.Burst, StreamRates: plan.StreamRates, StreamWeights: plan.StreamWeights}
		if err := txPoolsFor(s, &w, i, plan); err != nil {
			return nil, err
		}
		workers[i] = w
	}
	if err := dpdk.SetupGen(cfg.Streams, workers); err != nil {
		return nil, err
	}
	for _, w := range workers {
		for k, p := range w.Pools {
			dpdk.FillPool(p, k)
		}
	}
	r := &genRun{cfg: cfg, plan: plan, out: out}
	if cfg.CaptureFrames > 0 {
		for i := range workers {
			r.captures = append(r.captures, dpdk.NewGenCapture(i, cfg.CaptureFrames))
		}
	}
	return r, nil
}

// genPorts makes the RX pool and sets the configured ports up, one queue
// pair per worker.
func genPorts(s *dpdk.Session, cfg dpdk.GenConfig, plan genPlan) (txPort, rxPort dpdk.Port, err error) {
	nq := uint16(plan.Workers)
	rxPool, err := s.Pool("rx", plan.RxPoolMbufs)
	if err != nil {
		return 0, 0, err
	}
	if cfg.TXPort != "" {
		if txPort, err = s.Port(cfg.TXPort, nq, plan.Ring, rxPool); err != nil {
			return 0, 0, err
		}
	}
	if cfg.RXPort != "" {
		if rxPort, err = s.Port(cfg.RXPort, nq, plan.Ring, rxPool); err != nil {
			return 0, 0, err
		}
	}
	return txPort, rxPort, nil
}

// txPoolsFor gives worker i its TX pools: one per stream in Prefilled mode
// (Pools), else one (Pool).
func txPoolsFor(s *dpdk.Session, w *dpdk.GenWorker, i int, plan genPlan) error {
	if !w.TX {
		return nil
	}
	if plan.Mode != dpdk.Prefilled {
		var err error
		w.Pool, err = s.PoolSized(fmt.Sprintf("tx%d", i), plan.TxPoolMbufs, plan.TxPoolFloor)
		return err
	}
	for k := 0; k < plan.TxPools; k++ {
		p, err := s.PoolSized(fmt.Sprintf("tx%d_%d", i, k), plan.TxPoolMbufs, plan.TxPoolFloor)
		if err != nil {
			return err
		}
		w.Pools = append(w.Pools, p)
	}
	return nil
}

func (r *genRun) freeCaptures() {
	for _, c := range r.captures {
		c.Free()
	}
}

// sum is the counters of every worker.
func (r *genRun) sum() (c dpdk.Counters) {
	for i := 0; i < r.plan.Workers; i++ {
		c = c.Add(dpdk.GenCounters(i))
	}
	return c
}

// hist is the latency histogram of every worker.
func (r *genRun) hist() []uint64 {
	h := make([]uint64, dpdk.HistBuckets)
	for i := 0; i < r.plan.Workers; i++ {
		dpdk.GenHistogram(i, h)
	}
	return h
}

// probeFrames is how many frames of each probe-carrying stream each
// worker has made (modulo 2^32), for the latency streams' sent count.
func (r *genRun) probeFrames() []uint32 {
	var n []uint32
	for i := 0; i < r.plan.Workers; i++ {
		for k, st := range r.cfg.Streams {
			if st.ProbeOffset > 0 {
				n = append(n, dpdk.GenStreamFrames(i, k))
			}
		}
	}
	return n
}

// openWindow snapshots every worker's counters and, for a packet count,
// sets each worker's limit from its own snapshot: the window then holds
// exactly cfg.Packets frames.
func (r *genRun) openWindow() dpdk.Counters {
	var c dpdk.Counters
	for i := 0; i < r.plan.Workers; i++ {
		ci := dpdk.GenCounters(i)
		if r.cfg.Packets > 0 {
			dpdk.SetGenMaxPackets(i, ci.TxPackets+packetShare(r.cfg.Packets, r.plan.Workers, i))
		}
		c = c.Add(ci)
	}
	return c
}

// windowFull reports whether every worker has sent its share.
func (r *genRun) windowFull() bool {
	for i := 0; i < r.plan.Workers; i++ {
		if w := dpdk.GenWorkerMax(i); w == 0 || dpdk.GenCounters(i).TxPackets < w {
			return false
		}
	}
	return true
}

// control runs beside the loops: warm-up and measurement (measure), then
// TX stops (endWindow) and RX drains (drain).
func (r *genRun) control(sigc <-chan os.Signal) window {
	open := mark{at: r.start, h: make([]uint64, dpdk.HistBuckets), probes: r.probeFrames()}
	open = r.measure(sigc, open)
	txEnd := r.endWindow()
	r.drain()
	return window{open, txEnd}
}

// progress writes a progress line of the counters so far.
func (r *genRun) progress() {
	c := r.sum()
	r.out.Write(dpdk.StatsLine{Kind: "progress", ElapsedNS: int64(time.Since(r.start)), TxPackets: c.TxPackets,
		TxBytes: c.TxBytes, TxDropped: c.TxDropped, RxPackets: c.RxPackets, RxBytes: c.RxBytes, RxProbes: c.RxProbes})
}

// beginWindow opens the window after the warm-up and returns its mark.
func (r *genRun) beginWindow() mark {
	dpdk.StartWindow()
	m := mark{at: time.Now()}
	m.c = r.openWindow()
	m.h = r.hist()
	m.probes = r.probeFrames()
	r.out.Write(dpdk.StatsLine{Kind: "window_begin", ElapsedNS: int64(time.Since(r.start))})
	return m
}

// measure writes a progress line a second, opens the window when the
// warm-up ends and returns its mark (open, when there is no warm-up) once
// the window is over: duration reached, packet count sent, or a signal.
func (r *genRun) measure(sigc <-chan os.Signal, open mark) mark {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var full <-chan time.Time // a packet count: check every millisecond
	if r.cfg.Packets > 0 {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		full = t.C
	}
	windowOpen := r.cfg.WarmupMS == 0
	warm := time.After(ms(r.cfg.WarmupMS))
	var end <-chan time.Time
	if r.cfg.DurationMS > 0 {
		end = time.After(ms(r.cfg.WarmupMS + r.cfg.DurationMS))
	}
	for {
		select {
		case <-tick.C:
			r.progress()
		case <-warm:
			if r.cfg.WarmupMS > 0 {
				open = r.beginWindow()
				windowOpen = true
			}
		case <-full:
			if windowOpen && r.windowFull() {
				return open
			}
		case <-end:
			return open
		case <-sigc:
			return open
		}
	}
}

// endWindow stops TX and returns the mark that closes the window.
func (r *genRun) endWindow() mark {
	dpdk.Stop(true, false)
	m := mark{at: time.Now(), c: r.sum(), probes: r.probeFrames()}
	r.out.Write(dpdk.StatsLine{Kind: "window_end", ElapsedNS: int64(time.Since(r.start))})
	return m
}

// drain lets RX take what is still in flight, then stops the loops.
func (r *genRun) drain() {
	time.Sleep(r.plan.Drain)
	dpdk.Stop(true, true)
}

// report is the "final" line: TX counts between the window's marks, RX
// counts from its opening to the end of the drain.
func (r *genRun) report(w window) dpdk.StatsLine {
	w0, tx1 := w.open, w.txEnd
	cf, hf := r.sum(), r.hist()
	r.cf = cf
	for i := range hf {
		hf[i] -= w0.h[i]
	}
	final := dpdk.StatsLine{Kind: "final", ElapsedNS: int64(time.Since(r.start)), WindowNS: int64(tx1.at.Sub(w0.at)),
		TxPackets: tx1.c.TxPackets - w0.c.TxPackets, TxBytes: tx1.c.TxBytes - w0.c.TxBytes,
		TxDropped: tx1.c.TxDropped - w0.c.TxDropped, RxProbes: cf.RxProbes - w0.c.RxProbes,
		Reorder: cf.Reorder - w0.c.Reorder, Latency: dpdk.Summarize(hf), ProbeRx: cf.RxWindow - w0.c.RxWindow,
		Duplicates: cf.Duplicates - w0.c.Duplicates}
	for i := range tx1.probes {
		final.ProbeTx += uint64(tx1.probes[i] - w0.probes[i])
	}
	if r.captures != nil {
		final.Capture = collectCapture(r.captures, r.cfg.CaptureFrames)
	}
	if r.plan.AllProbes {
		final.RxPackets, final.RxBytes = cf.RxWindow-w0.c.RxWindow, cf.RxWinBytes-w0.c.RxWinBytes
	} else {
		final.RxPackets, final.RxBytes = cf.RxPackets-w0.c.RxPackets, cf.RxBytes-w0.c.RxBytes
	}
	return final
}

// info is the final line's Info: the setup and the ports' counters.
func (r *genRun) info(s *dpdk.Session, lcores []uint) map[string]string {
	info := map[string]string{
		"lcores":       dpdk.JoinLcores(lcores),
		"main_lcore":   strconv.Itoa(int(dpdk.MainLcore())),
		"vdevs":        strings.Join(r.cfg.EAL.VDevs, " "),
		"tx_port":      r.cfg.TXPort,
		"rx_port":      r.cfg.RXPort,
		"rx_all":       strconv.FormatUint(r.cf.RxPackets, 10),
		"alloc_failed": strconv.FormatUint(r.cf.AllocFailed, 10),
		"template":     string(r.plan.Mode),
		"tx_burst":     strconv.Itoa(cmp.Or(r.cfg.Burst, dpdk.DefaultTxBurst)),
		"tsc_hz":       strconv.FormatUint(dpdk.TSCHz(), 10),
	}
	s.PortInfo(info)
	return info
}

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

// collectCapture merges the workers' captures in time order, keeps the
// first n each way and puts them on the wall clock.
func collectCapture(caps []*dpdk.GenCapture, n int) *dpdk.Capture {
	// TSC ns -> Unix ns, from one reading of both clocks.
	offset := time.Now().UnixNano() - int64(dpdk.NowNS())
	side := func(rx bool) []dpdk.WireFrame {
		var all []dpdk.CapturedFrame
		for _, c := range caps {
			all = append(all, c.Frames(rx)...)
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].TSCNS < all[b].TSCNS })
		out := make([]dpdk.WireFrame, 0, min(n, len(all)))
		for _, f := range all[:min(n, len(all))] {
			out = append(out, dpdk.WireFrame{UnixNS: int64(f.TSCNS) + offset, Len: f.Len, Data: f.Data})
		}
		return out
	}
	return &dpdk.Capture{TX: side(false), RX: side(true)}
}
