package xdplive

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/rcu"
)

// Name is the engine's name in results.
const Name = "xdp-live"

// Defaults for Engine's knobs.
const (
	// DefaultRunLength is the time one scheduler test run aims at: short
	// enough to open and close the window and see a cancel within about a
	// millisecond, long enough that the page pool each run creates does not
	// cost the core (see bpf/sched.c).
	DefaultRunLength = time.Millisecond
	// DefaultBatchSize is the frames per page-pool batch inside a test run,
	// the kernel's own default. On veth a batch lands in the peer's 256-slot
	// ring before its NAPI runs; batches of 256 overflowed it (rx_dropped on
	// the peer) whenever the NAPI was late, batches of 64 did not.
	DefaultBatchSize = 64
	// LatencyBatchSize is the default batch of a job with latency streams.
	// A batch's frames leave together when it ends, and under xdp_sched a
	// batch holds the idle invocations too, so a probe waited half a batch:
	// the loop's latency floor (500 kpps + 5 kpps probes) was p50 1.85 us
	// with batches of 64 and is 0.59 us with 16, for 4% of the ceiling
	// (9.81 -> 9.43 Mpps).
	LatencyBatchSize = 16
	DefaultDrain     = 20 * time.Millisecond
	firstRunIters    = 1024 // invocations of the first run, before one is timed
)

// Engine is the xdp-live engine. The zero value uses the defaults.
type Engine struct {
	RunLength time.Duration // time one scheduler test run aims at
	BatchSize uint32        // kernel batch size of the live-frame test run (0: DefaultBatchSize, LatencyBatchSize with latency streams)
	Drain     time.Duration // wait after the window for frames in flight to reach the sink
}

// New returns the xdp-live engine with default settings.
func New() generator.Engine { return &Engine{} }

// Name returns "xdp-live".
func (e *Engine) Name() string { return Name }

// snapshot is the counters at one instant.
type snapshot struct {
	at        time.Time
	txPkts    uint64
	txBytes   uint64
	txLost    uint64   // frames the TX capture missed
	probeSent []uint64 // frames sent by each latency stream (see latencyIDs)
	rx        sinkCounts
}

// Run sends job's streams from job.TX and counts them on job.RX. The sender
// runs on a thread inside the TX namespace, pinned to job.Cores[0] when
// given; the sink is attached to job.RX for the run. Stats cover the window
// after the warm-up. On ctx cancel it stops within one run (about RunLength) and returns the
// counts so far with ctx's error. Everything loaded or attached is removed
// before Run returns.
func (e *Engine) Run(ctx context.Context, job generator.Job) (st generator.Stats, err error) {
	st.Engine = Name
	if len(job.Streams) == 0 {
		return st, errors.New("xdp-live: job has no streams")
	}
	if job.Duration <= 0 && job.Packets == 0 {
		return st, errors.New("xdp-live: job duration must be positive (or a packet count given)")
	}
	runLength, batch, drain := e.RunLength, e.BatchSize, e.Drain
	if runLength == 0 {
		runLength = DefaultRunLength
	}
	if batch == 0 {
		batch = DefaultBatchSize
		for _, js := range job.Streams {
			if js.Latency {
				batch = LatencyBatchSize
			}
		}
	}
	if drain == 0 {
		drain = DefaultDrain
	}

	var (
		streams    []*sender
		latencyIDs []int  // indices of the latency streams
		mask       uint64 // the same as a bit set, for the sink
		txCap      runShared
		rxFrames   uint32
	)
	if job.CaptureTX != nil {
		txCap.frames = uint32(job.CaptureTX.Limit())
	}
	if job.CaptureRX != nil {
		rxFrames = uint32(job.CaptureRX.Limit())
	}
	defer func() {
		for _, s := range streams {
			err = errors.Join(err, s.Close())
		}
	}()
	if len(job.Streams) > maxStreams {
		return st, fmt.Errorf("xdp-live: %d streams; the scheduler takes %d", len(job.Streams), maxStreams)
	}
	for _, js := range job.Streams {
		txCap.scrub = txCap.scrub || len(js.Frames) > 0
	}
	maxWeight, frameLen := 1, 0
	for _, js := range job.Streams {
		maxWeight = max(maxWeight, js.Weight)
	}
	var (
		progs   []*ebpf.Program
		entries []schedSchedStream
	)
	for i, js := range job.Streams {
		if js.Latency {
			if i >= maxProbeIDs {
				return st, fmt.Errorf("xdp-live: stream %d (%s): latency streams must be among the first %d streams", i, js.Name, maxProbeIDs)
			}
			latencyIDs = append(latencyIDs, i)
			mask |= 1 << i
		}
		var snd *sender
		if len(js.Frames) > 0 {
			snd, err = loadReplay(js.Frames, i, &txCap)
		} else {
			var p generator.Program
			if p, err = generator.Compile(js); err == nil {
				snd, err = loadSender(p, i, &txCap)
			}
		}
		if err != nil {
			return st, fmt.Errorf("xdp-live: stream %d (%s): %w", i, js.Name, err)
		}
		streams = append(streams, snd)
		progs = append(progs, snd.objs.XdpGen)
		entries = append(entries, schedStream(js.RatePPS, js.Weight, maxWeight, 0))
		frameLen = max(frameLen, len(snd.frame))
	}
	sched, err := loadScheduler(progs, entries, frameLen)
	if err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	defer func() { err = errors.Join(err, sched.Close()) }()

	// A live-frame test run swaps its program into the XDP dispatcher and
	// waits for RCU grace periods doing so, ~24 ms a run, unless the
	// dispatcher holds it already (see dispatcherPin). Failing the pin,
	// expedite the grace periods for the run (see internal/rcu): 0.35 ms.
	// The streams' programs are tail-called, not run: only xdp_sched is.
	progs = []*ebpf.Program{sched.objs.XdpSched}
	pinMode, rcuMode := "", "normal"
	if pin, perr := pinPrograms(progs); perr == nil {
		pinMode = pin.String()
		defer func() { err = errors.Join(err, pin.Close()) }()
	} else {
		pinMode = "not pinned (" + perr.Error() + ")"
		rcuMode = "expedited for the run"
		if hold, herr := rcu.Expedite(); herr != nil {
			rcuMode = "normal (" + herr.Error() + ")"
		} else {
			defer func() { err = errors.Join(err, hold.Release()) }()
		}
	}

	snk, err := attachSink(job.RX.Netns, job.RX.Name, job.RX.Ifindex, sinkConfig{latencyStreams: mask, captureFrames: rxFrames})
	if err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	defer func() { err = errors.Join(err, snk.Close()) }()

	// Captures drain their rings while the run goes on; they stop (after
	// reading what is left) before the programs are unloaded.
	var txCapt, rxCapt *capturer
	if txCap.ring != nil {
		if txCapt, err = startCapture(txCap.ring, job.CaptureTX); err != nil {
			return st, fmt.Errorf("xdp-live: tx %w", err)
		}
	}
	if rxFrames > 0 {
		if rxCapt, err = startCapture(snk.objs.SinkCapture, job.CaptureRX); err != nil {
			if txCapt != nil {
				txCapt.stop()
			}
			return st, fmt.Errorf("xdp-live: rx %w", err)
		}
	}
	stopCaptures := func() (tx, rx int, err error) {
		if txCapt != nil {
			n, cerr := txCapt.stop()
			tx, err = n, errors.Join(err, cerr)
		}
		if rxCapt != nil {
			n, cerr := rxCapt.stop()
			rx, err = n, errors.Join(err, cerr)
		}
		return tx, rx, err
	}
	capturesStopped := false
	defer func() {
		if !capturesStopped {
			_, _, cerr := stopCaptures()
			err = errors.Join(err, cerr)
		}
	}()

	take := func(hist bool) (snapshot, error) {
		var sn snapshot
		sn.at = time.Now()
		for i, s := range streams {
			p, b, lost, err := s.counters()
			if err != nil {
				return sn, err
			}
			sn.txPkts += p
			sn.txBytes += b
			sn.txLost += lost
			if job.Streams[i].Latency {
				sn.probeSent = append(sn.probeSent, p)
			}
		}
		rx, err := snk.counters(hist)
		sn.rx = rx
		return sn, err
	}

	start, err := take(false)
	if err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	// Probes count when stamped inside the window; none is until it starts.
	var windowStartNs uint64
	if err := snk.setWindow(math.MaxUint64, math.MaxUint64); err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	stopProgress := e.progress(job.Progress, start, take)

	txCore := "unpinned"
	var first, last snapshot
	measuring := false
	sendErr := nsexec.Do(job.TX.Netns, func() error {
		if len(job.Cores) > 0 {
			var set unix.CPUSet
			set.Set(job.Cores[0])
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				return fmt.Errorf("pin sender to core %d: %w", job.Cores[0], err)
			}
			txCore = strconv.Itoa(job.Cores[0])
		}
		ifindex, err := resolveIfindex(job.TX.Name, job.TX.Ifindex)
		if err != nil {
			return err
		}
		t0 := time.Now()
		windowStart, end := t0.Add(job.Warmup), t0.Add(job.Warmup+job.Duration)
		if job.Duration <= 0 {
			end = t0.Add(job.Warmup + 365*24*time.Hour) // until job.Packets are sent
		}
		if err := sched.restart(monoNow()); err != nil {
			return err
		}
		iters := uint32(firstRunIters)
		for {
			now := time.Now()
			if !measuring && !now.Before(windowStart) {
				// Every frame sent so far is in first and was stamped
				// before windowStartNs; every later one after it.
				if first, err = take(false); err != nil {
					return err
				}
				windowStartNs = monoNow()
				if err := snk.setWindow(windowStartNs, math.MaxUint64); err != nil {
					return err
				}
				if job.Packets > 0 {
					if err := sched.setBudget(job.Packets); err != nil {
						return err
					}
				}
				if job.Window != nil {
					job.Window(true)
				}
				measuring = true
			}
			if !now.Before(end) || ctx.Err() != nil {
				return ctx.Err()
			}
			if measuring && job.Packets > 0 {
				left, err := sched.budget()
				if err != nil {
					return err
				}
				if left == 0 {
					return ctx.Err()
				}
			}
			edge := end
			if !measuring {
				edge = windowStart
			}
			perIter, err := sched.run(ifindex, iters, batch)
			if err != nil {
				return err
			}
			if perIter > 0 {
				// Aim at runLength, and end near the next window edge.
				want := min(runLength, max(time.Until(edge), 0)+perIter)
				iters = uint32(min(max(int64(want/perIter), 64), 1<<24))
			}
		}
	})
	// The window ends where sending stopped; frames still in flight get
	// drain to reach the sink, and RX is read after it.
	lastTx, lerr := take(false)
	if measuring {
		lerr = errors.Join(lerr, snk.setWindow(windowStartNs, monoNow()))
	}
	time.Sleep(drain)
	lastRx, rerr := take(true)
	probes, perr := snk.probes(latencyIDs)
	rerr = errors.Join(rerr, perr)
	txCaptured, rxCaptured, cerr := stopCaptures()
	capturesStopped = true
	if measuring && job.Window != nil {
		job.Window(false)
	}
	stopProgress()
	last = lastTx
	last.rx = lastRx.rx

	st.Info = map[string]string{
		"rx_xdp_mode": snk.mode,
		"tx_core":     txCore,
		"run_length":  runLength.String(),
		"batch_size":  strconv.FormatUint(uint64(batch), 10),
		"pacing":      "xdp_sched: every frame at its time, to bpf_ktime_get_ns",
		"streams":     strconv.Itoa(len(streams)),
		"packets":     strconv.FormatUint(job.Packets, 10),
		"tx_ifname":   job.TX.Name,
		"rx_ifname":   job.RX.Name,
		"probe_clock": "bpf_ktime_get_ns",
		"rcu":         rcuMode,
		"dispatcher":  pinMode,
	}
	st.Info["interrupted_runs"] = strconv.FormatUint(sched.interrupted, 10)
	if n, rerr := sched.restarts(); rerr == nil {
		st.Info["schedule_restarts"] = strconv.FormatUint(n, 10)
	}
	if txCapt != nil {
		st.Info["capture_tx_frames"] = strconv.Itoa(txCaptured)
		st.Info["capture_tx_lost"] = strconv.FormatUint(lastTx.txLost, 10)
	}
	if rxCapt != nil {
		st.Info["capture_rx_frames"] = strconv.Itoa(rxCaptured)
		st.Info["capture_rx_lost"] = strconv.FormatUint(lastRx.rx.CaptureLost, 10)
	}
	if len(latencyIDs) > 0 {
		st.Info["latency_streams"] = fmt.Sprint(latencyIDs)
	}
	if err := errors.Join(lerr, rerr, cerr); err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	if !measuring {
		// Stopped during the warm-up: nothing was measured.
		if sendErr != nil {
			return st, fmt.Errorf("xdp-live: %w", sendErr)
		}
		return st, nil
	}
	d := last.rx.sub(first.rx)
	st.TxPackets = last.txPkts - first.txPkts
	st.TxBytes = last.txBytes - first.txBytes
	st.RxPackets = d.RxPackets
	st.RxBytes = d.RxBytes
	st.Window = last.at.Sub(first.at)
	st.Info["probe_rx_packets"] = strconv.FormatUint(d.ProbePackets, 10)
	if len(latencyIDs) > 0 {
		var sent uint64
		for i := range latencyIDs {
			sent += last.probeSent[i] - first.probeSent[i]
		}
		st.Latency = summarize(sent, probes, lastRx.rx)
		st.Info["latency_buckets"] = "internal/measure/histogram.h: exact below 128 ns, then 64 linear sub-buckets per power of two; percentiles are bucket midpoints, min and max exact"
		st.Info["probe_too_old"] = strconv.FormatUint(probes.TooOld, 10)
		st.Info["probe_future"] = strconv.FormatUint(lastRx.rx.ProbeFuture, 10)
	}
	if sendErr != nil {
		return st, fmt.Errorf("xdp-live: %w", sendErr)
	}
	return st, nil
}

// progress calls fn about once a second with totals since start, until the
// returned stop is called; stop waits for a running call to finish.
func (e *Engine) progress(fn func(generator.Sample), start snapshot, take func(bool) (snapshot, error)) (stop func()) {
	if fn == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		prev := start
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sn, err := take(true)
				if err != nil {
					continue
				}
				sample := generator.Sample{Elapsed: sn.at.Sub(start.at), TxPackets: sn.txPkts - start.txPkts, RxPackets: sn.rx.RxPackets - start.rx.RxPackets}
				// Latency of the probes of the last interval (none before the
				// window opens: the sink counts probes stamped inside it).
				if d := sn.rx.sub(prev.rx); d.LatPackets > 0 {
					sample.LatencyP50Ns = percentile(&d.latency, 0.5)
					sample.LatencyP99Ns = percentile(&d.latency, 0.99)
				}
				prev = sn
				fn(sample)
			}
		}
	}()
	return func() { close(done); <-finished }
}

// summarize turns what the sink counted over the window (it counts only
// probes stamped inside it) and the probes sent in it into RFC 8219 terms.
func summarize(sent uint64, p probeCounts, rx sinkCounts) *generator.Latency {
	l := &generator.Latency{
		Clock:      "bpf_ktime_get_ns",
		Sent:       sent,
		Received:   p.Received,
		Reordered:  p.Reordered,
		Duplicates: p.Duplicates,
		ErrorPct:   LatencyErrorPct,
	}
	if sent > p.Received {
		l.Lost = sent - p.Received
	}
	if n := rx.LatPackets; n > 0 {
		l.MinNs, l.MaxNs, l.MeanNs = ^rx.LatMinInv, rx.LatMaxNs, rx.LatSumNs/n
		// Percentiles are bucket midpoints; the exact min and max bound them.
		l.P50Ns = min(max(percentile(&rx.latency, 0.5), l.MinNs), l.MaxNs)
		l.P99Ns = min(max(percentile(&rx.latency, 0.99), l.MinNs), l.MaxNs)
		l.P999Ns = min(max(percentile(&rx.latency, 0.999), l.MinNs), l.MaxNs)
	}
	return l
}
