//go:build dpdk && cgo

package dpdk

import (
	"cmp"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
)

func ms(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func RunWorker(cfg dpdk.GenConfig, out *dpdk.LineWriter) (err error) {
	if len(cfg.Streams) == 0 {
		return errors.New("gen: no streams")
	}
	if cfg.TXPort == "" && cfg.RXPort == "" {
		return errors.New("gen: neither tx_port nor rx_port")
	}
	sigc, stopSig := dpdk.StopSignals()
	defer stopSig()
	s, err := dpdk.StartSession(cfg.EAL)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Close()) }()

	lcores := dpdk.WorkerLcores()
	nq, ring := uint16(len(lcores)), dpdk.RingSize(cfg.RingSize)
	rxPool, err := s.Pool("rx", uint(4*int(ring)*len(lcores)))
	if err != nil {
		return err
	}
	var txPort, rxPort dpdk.Port
	if cfg.TXPort != "" {
		if txPort, err = s.Port(cfg.TXPort, nq, ring, rxPool); err != nil {
			return err
		}
	}
	if cfg.RXPort != "" {
		if rxPort, err = s.Port(cfg.RXPort, nq, ring, rxPool); err != nil {
			return err
		}
	}
	rate := cfg.RatePPS
	if rate == 0 {
		for _, st := range cfg.Streams {
			if st.RatePPS == 0 {
				rate = 0
				break
			}
			rate += st.RatePPS
		}
	}
	// Streams of different rates or weights are paced each on its own;
	// equal ones go round robin at their summed rate (the faster loop).
	var streamRates []float64
	var streamWeights []int
	if cfg.RatePPS == 0 && len(cfg.Streams) > 1 {
		differ := false
		for _, st := range cfg.Streams[1:] {
			differ = differ || st.RatePPS != cfg.Streams[0].RatePPS || max(st.Weight, 1) != max(cfg.Streams[0].Weight, 1)
		}
		if differ {
			for _, st := range cfg.Streams {
				streamRates = append(streamRates, st.RatePPS/float64(len(lcores)))
				streamWeights = append(streamWeights, st.Weight)
			}
		}
	}
	mode := cfg.TemplateMode
	if mode == "" { // NoCopy, the older name of Prefilled, is the default now
		mode = dpdk.Prefilled
	}
	for _, st := range cfg.Streams {
		if len(st.Frames) > 0 {
			mode = dpdk.Copy // replayed frames differ one from the next: nothing to prefill
		}
	}
	workers := make([]dpdk.GenWorker, len(lcores))
	for i := range workers {
		w := dpdk.GenWorker{TxPort: txPort, RxPort: rxPort, TxQueue: uint16(i), RxQueue: uint16(i),
			TX: cfg.TXPort != "", RX: cfg.RXPort != "", RatePPS: rate / float64(len(lcores)),
			Mode: mode, Burst: cfg.Burst, StreamRates: streamRates, StreamWeights: streamWeights}
		if w.TX && mode == dpdk.Prefilled {
			// A pool per stream, each holding its template; smaller pools
			// when there are many.
			n := uint(2*int(ring) + 4096)
			if len(cfg.Streams) > 2 {
				n = max(n/uint(len(cfg.Streams)), 2047)
			}
			for k := range cfg.Streams {
				p, err := s.PoolSized(fmt.Sprintf("tx%d_%d", i, k), n, 2047)
				if err != nil {
					return err
				}
				w.Pools = append(w.Pools, p)
			}
		} else if w.TX {
			if w.Pool, err = s.Pool(fmt.Sprintf("tx%d", i), uint(2*int(ring)+4096)); err != nil {
				return err
			}
		}
		workers[i] = w
	}
	if err := dpdk.SetupGen(cfg.Streams, workers); err != nil {
		return err
	}
	for _, w := range workers {
		for k, p := range w.Pools {
			dpdk.FillPool(p, k)
		}
	}

	sum := func() (c dpdk.Counters) {
		for i := range workers {
			c = c.Add(dpdk.GenCounters(i))
		}
		return c
	}
	hist := func() []uint64 {
		h := make([]uint64, dpdk.HistBuckets)
		for i := range workers {
			dpdk.GenHistogram(i, h)
		}
		return h
	}
	probes := true
	for _, st := range cfg.Streams {
		probes = probes && st.ProbeOffset > 0
	}
	// probeFrames is how many frames of each probe-carrying stream each
	// worker has made (modulo 2^32), for the latency streams' sent count.
	probeFrames := func() []uint32 {
		var n []uint32
		for i := range workers {
			for k, st := range cfg.Streams {
				if st.ProbeOffset > 0 {
					n = append(n, dpdk.GenStreamFrames(i, k))
				}
			}
		}
		return n
	}
	type mark struct {
		at     time.Time
		c      dpdk.Counters
		h      []uint64
		probes []uint32
	}
	var captures []*dpdk.GenCapture
	if cfg.CaptureFrames > 0 {
		for i := range workers {
			c := dpdk.NewGenCapture(i, cfg.CaptureFrames)
			defer c.Free()
			captures = append(captures, c)
		}
	}
	marks := make(chan [2]mark, 1)
	// share is worker i's part of cfg.Packets.
	share := func(i int) uint64 {
		n := uint64(len(workers))
		v := cfg.Packets / n
		if uint64(i) < cfg.Packets%n {
			v++
		}
		return v
	}
	// openWindow snapshots every worker's counters and, for a packet
	// count, sets each worker's limit from its own snapshot: the window
	// then holds exactly cfg.Packets frames.
	openWindow := func() dpdk.Counters {
		var c dpdk.Counters
		for i := range workers {
			ci := dpdk.GenCounters(i)
			if cfg.Packets > 0 {
				dpdk.SetGenMaxPackets(i, ci.TxPackets+share(i))
			}
			c = c.Add(ci)
		}
		return c
	}
	windowFull := func() bool {
		for i := range workers {
			if w := dpdk.GenWorkerMax(i); w == 0 || dpdk.GenCounters(i).TxPackets < w {
				return false
			}
		}
		return true
	}
	start := time.Now()
	if cfg.WarmupMS == 0 {
		openWindow() // nothing sent yet: the limits are the shares
		dpdk.StartWindow()
		out.Write(dpdk.StatsLine{Kind: "window_begin"})
	}
	go func() {
		var w0, tx1 mark
		w0.at, w0.h, w0.probes = start, make([]uint64, dpdk.HistBuckets), probeFrames()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var full <-chan time.Time // a packet count: check every millisecond
		if cfg.Packets > 0 {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			full = t.C
		}
		windowOpen := cfg.WarmupMS == 0
		warm := time.After(ms(cfg.WarmupMS))
		var end <-chan time.Time
		if cfg.DurationMS > 0 {
			end = time.After(ms(cfg.WarmupMS + cfg.DurationMS))
		}
	loop:
		for {
			select {
			case <-tick.C:
				c := sum()
				out.Write(dpdk.StatsLine{Kind: "progress", ElapsedNS: int64(time.Since(start)), TxPackets: c.TxPackets,
					TxBytes: c.TxBytes, TxDropped: c.TxDropped, RxPackets: c.RxPackets, RxBytes: c.RxBytes, RxProbes: c.RxProbes})
			case <-warm:
				if cfg.WarmupMS > 0 {
					dpdk.StartWindow()
					w0.at = time.Now()
					w0.c = openWindow()
					w0.h = hist()
					w0.probes = probeFrames()
					windowOpen = true
					out.Write(dpdk.StatsLine{Kind: "window_begin", ElapsedNS: int64(time.Since(start))})
				}
			case <-full:
				if windowOpen && windowFull() {
					break loop
				}
			case <-end:
				break loop
			case <-sigc:
				break loop
			}
		}
		dpdk.Stop(true, false)
		tx1.at = time.Now()
		tx1.c = sum()
		tx1.probes = probeFrames()
		out.Write(dpdk.StatsLine{Kind: "window_end", ElapsedNS: int64(time.Since(start))})
		drain := cfg.DrainMS
		if drain == 0 {
			drain = 200
		}
		time.Sleep(ms(drain))
		dpdk.Stop(true, true)
		marks <- [2]mark{w0, tx1}
	}()
	if err := dpdk.RunLoops(lcores, dpdk.LaunchGen, dpdk.RunGen); err != nil {
		return err
	}
	m := <-marks
	w0, tx1 := m[0], m[1]
	cf, hf := sum(), hist()
	for i := range hf {
		hf[i] -= w0.h[i]
	}
	final := dpdk.StatsLine{Kind: "final", ElapsedNS: int64(time.Since(start)), WindowNS: int64(tx1.at.Sub(w0.at)),
		TxPackets: tx1.c.TxPackets - w0.c.TxPackets, TxBytes: tx1.c.TxBytes - w0.c.TxBytes,
		TxDropped: tx1.c.TxDropped - w0.c.TxDropped, RxProbes: cf.RxProbes - w0.c.RxProbes,
		Reorder: cf.Reorder - w0.c.Reorder, Latency: dpdk.Summarize(hf), ProbeRx: cf.RxWindow - w0.c.RxWindow,
		Duplicates: cf.Duplicates - w0.c.Duplicates}
	for i := range tx1.probes {
		final.ProbeTx += uint64(tx1.probes[i] - w0.probes[i])
	}
	if captures != nil {
		final.Capture = collectCapture(captures, cfg.CaptureFrames)
	}
	if probes {
		final.RxPackets, final.RxBytes = cf.RxWindow-w0.c.RxWindow, cf.RxWinBytes-w0.c.RxWinBytes
	} else {
		final.RxPackets, final.RxBytes = cf.RxPackets-w0.c.RxPackets, cf.RxBytes-w0.c.RxBytes
	}
	final.Info = map[string]string{
		"lcores":       dpdk.JoinLcores(lcores),
		"main_lcore":   strconv.Itoa(int(dpdk.MainLcore())),
		"vdevs":        strings.Join(cfg.EAL.VDevs, " "),
		"tx_port":      cfg.TXPort,
		"rx_port":      cfg.RXPort,
		"rx_all":       strconv.FormatUint(cf.RxPackets, 10),
		"alloc_failed": strconv.FormatUint(cf.AllocFailed, 10),
		"template":     string(mode),
		"tx_burst":     strconv.Itoa(cmp.Or(cfg.Burst, dpdk.DefaultTxBurst)),
		"tsc_hz":       strconv.FormatUint(dpdk.TSCHz(), 10),
	}
	s.PortInfo(final.Info)
	out.Write(final)
	return nil
}

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
