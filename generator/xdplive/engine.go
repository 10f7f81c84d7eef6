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
	r, err := e.newRun(job)
	if err != nil {
		return st, err
	}
	defer func() { err = errors.Join(err, r.close()) }()
	if err := r.loadStreams(); err != nil {
		return st, err
	}
	if err := r.loadScheduler(); err != nil {
		return st, err
	}
	r.pinOrExpedite()
	if err := r.attachSink(); err != nil {
		return st, err
	}
	if err := r.startCaptures(); err != nil {
		return st, err
	}
	start, err := r.take(false)
	if err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	// Probes count when stamped inside the window; none is until it starts.
	if err := r.snk.setWindow(math.MaxUint64, math.MaxUint64); err != nil {
		return st, fmt.Errorf("xdp-live: %w", err)
	}
	stopProgress := e.progress(job.Progress, start, r.take)
	sendErr := nsexec.Do(job.TX.Netns, func() error { return r.send(ctx) })
	end, endErr := r.finish()
	stopProgress()
	st.Info = r.info(end)
	if endErr != nil {
		return st, fmt.Errorf("xdp-live: %w", endErr)
	}
	if r.measuring {
		r.stats(&st, end)
	} // else stopped during the warm-up: nothing was measured
	if sendErr != nil {
		return st, fmt.Errorf("xdp-live: %w", sendErr)
	}
	return st, nil
}

// jobRun is one Run's state, built up by its steps in order.
type jobRun struct {
	job                    generator.Job
	runLength, drain       time.Duration
	batch                  uint32
	streams                []*sender
	latencyIDs             []int  // indices of the latency streams
	mask                   uint64 // the same as a bit set, for the sink
	txCap                  runShared
	rxFrames               uint32
	progs                  []*ebpf.Program
	entries                []schedSchedStream
	frameLen               int
	sched                  *scheduler
	pinMode, rcuMode       string
	snk                    *sink
	txCapt, rxCapt         *capturer
	capturesStopped        bool
	closers                []func() error // undo, in reverse order
	txCore                 string
	first                  snapshot // counters as the window opened
	windowStartNs          uint64
	measuring              bool
	txCaptured, rxCaptured int
}

// runEnd is what finish reads once sending stopped.
type runEnd struct {
	lastTx, lastRx snapshot
	probes         probeCounts
}

// newRun checks job and applies the engine's knobs.
func (e *Engine) newRun(job generator.Job) (*jobRun, error) {
	if len(job.Streams) == 0 {
		return nil, errors.New("xdp-live: job has no streams")
	}
	if job.Duration <= 0 && job.Packets == 0 {
		return nil, errors.New("xdp-live: job duration must be positive (or a packet count given)")
	}
	if len(job.Streams) > maxStreams {
		return nil, fmt.Errorf("xdp-live: %d streams; the scheduler takes %d", len(job.Streams), maxStreams)
	}
	r := &jobRun{job: job, runLength: e.RunLength, batch: e.BatchSize, drain: e.Drain, txCore: "unpinned"}
	if r.runLength == 0 {
		r.runLength = DefaultRunLength
	}
	if r.batch == 0 {
		r.batch = DefaultBatchSize
		for _, js := range job.Streams {
			if js.Latency {
				r.batch = LatencyBatchSize
			}
		}
	}
	if r.drain == 0 {
		r.drain = DefaultDrain
	}
	if job.CaptureTX != nil {
		r.txCap.frames = uint32(job.CaptureTX.Limit())
	}
	if job.CaptureRX != nil {
		r.rxFrames = uint32(job.CaptureRX.Limit())
	}
	return r, nil
}

// close undoes what the steps set up, in reverse order, and closes the
// streams' programs.
func (r *jobRun) close() error {
	var err error
	if !r.capturesStopped {
		_, _, cerr := r.stopCaptures()
		err = errors.Join(err, cerr)
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, r.closers[i]())
	}
	for _, s := range r.streams {
		err = errors.Join(err, s.Close())
	}
	return err
}

// loadStreams loads one sender program per stream: a field program, or a
// replay of the stream's frames.
func (r *jobRun) loadStreams() error {
	for _, js := range r.job.Streams {
		r.txCap.scrub = r.txCap.scrub || len(js.Frames) > 0
	}
	maxWeight := 1
	for _, js := range r.job.Streams {
		maxWeight = max(maxWeight, js.Weight)
	}
	for i, js := range r.job.Streams {
		if js.Latency {
			if i >= maxProbeIDs {
				return fmt.Errorf("xdp-live: stream %d (%s): latency streams must be among the first %d streams", i, js.Name, maxProbeIDs)
			}
			r.latencyIDs = append(r.latencyIDs, i)
			r.mask |= 1 << i
		}
		var snd *sender
		var err error
		if len(js.Frames) > 0 {
			snd, err = loadReplay(js.Frames, i, &r.txCap)
		} else {
			var p generator.Program
			if p, err = generator.Compile(js); err == nil {
				snd, err = loadSender(p, i, &r.txCap)
			}
		}
		if err != nil {
			return fmt.Errorf("xdp-live: stream %d (%s): %w", i, js.Name, err)
		}
		r.streams = append(r.streams, snd)
		r.progs = append(r.progs, snd.objs.XdpGen)
		r.entries = append(r.entries, schedStream(js.RatePPS, js.Weight, maxWeight, 0))
		r.frameLen = max(r.frameLen, len(snd.frame))
	}
	return nil
}

// loadScheduler loads xdp_sched, which tail-calls the streams' programs.
func (r *jobRun) loadScheduler() error {
	sched, err := loadScheduler(r.progs, r.entries, r.frameLen)
	if err != nil {
		return fmt.Errorf("xdp-live: %w", err)
	}
	r.sched = sched
	r.closers = append(r.closers, sched.Close)
	return nil
}

// pinOrExpedite keeps the scheduler in the XDP dispatcher for the run.
//
// A live-frame test run swaps its program into the XDP dispatcher and waits
// for RCU grace periods doing so, ~24 ms a run, unless the dispatcher holds
// it already (see dispatcherPin). Failing the pin, expedite the grace
// periods for the run (see internal/rcu): 0.35 ms. The streams' programs are
// tail-called, not run: only xdp_sched is.
func (r *jobRun) pinOrExpedite() {
	r.rcuMode = "normal"
	pin, perr := pinPrograms([]*ebpf.Program{r.sched.objs.XdpSched})
	if perr == nil {
		r.pinMode = pin.String()
		r.closers = append(r.closers, pin.Close)
		return
	}
	r.pinMode = "not pinned (" + perr.Error() + ")"
	r.rcuMode = "expedited for the run"
	if hold, herr := rcu.Expedite(); herr != nil {
		r.rcuMode = "normal (" + herr.Error() + ")"
	} else {
		r.closers = append(r.closers, hold.Release)
	}
}

// attachSink attaches xdp_sink to the receive port.
func (r *jobRun) attachSink() error {
	snk, err := attachSink(r.job.RX.Netns, r.job.RX.Name, r.job.RX.Ifindex, sinkConfig{latencyStreams: r.mask, captureFrames: r.rxFrames})
	if err != nil {
		return fmt.Errorf("xdp-live: %w", err)
	}
	r.snk = snk
	r.closers = append(r.closers, snk.Close)
	return nil
}

// startCaptures drains the capture rings while the run goes on; they stop
// (after reading what is left) before the programs are unloaded.
func (r *jobRun) startCaptures() error {
	var err error
	if r.txCap.ring != nil {
		if r.txCapt, err = startCapture(r.txCap.ring, r.job.CaptureTX); err != nil {
			return fmt.Errorf("xdp-live: tx %w", err)
		}
	}
	if r.rxFrames > 0 {
		if r.rxCapt, err = startCapture(r.snk.objs.SinkCapture, r.job.CaptureRX); err != nil {
			return fmt.Errorf("xdp-live: rx %w", err)
		}
	}
	return nil
}

func (r *jobRun) stopCaptures() (tx, rx int, err error) {
	r.capturesStopped = true
	if r.txCapt != nil {
		n, cerr := r.txCapt.stop()
		tx, err = n, errors.Join(err, cerr)
	}
	if r.rxCapt != nil {
		n, cerr := r.rxCapt.stop()
		rx, err = n, errors.Join(err, cerr)
	}
	return tx, rx, err
}

// take reads every counter at one instant; with hist also the latency
// histogram.
func (r *jobRun) take(hist bool) (snapshot, error) {
	var sn snapshot
	sn.at = time.Now()
	for i, s := range r.streams {
		p, b, lost, err := s.counters()
		if err != nil {
			return sn, err
		}
		sn.txPkts += p
		sn.txBytes += b
		sn.txLost += lost
		if r.job.Streams[i].Latency {
			sn.probeSent = append(sn.probeSent, p)
		}
	}
	rx, err := r.snk.counters(hist)
	sn.rx = rx
	return sn, err
}

// send runs on a thread inside the TX namespace: it pins itself, then runs
// the scheduler in test runs of about runLength until the window (or the
// packet budget) ends or ctx is cancelled, opening the window on the way.
func (r *jobRun) send(ctx context.Context) error {
	job := r.job
	if len(job.Cores) > 0 {
		var set unix.CPUSet
		set.Set(job.Cores[0])
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("pin sender to core %d: %w", job.Cores[0], err)
		}
		r.txCore = strconv.Itoa(job.Cores[0])
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
	if err := r.sched.restart(monoNow()); err != nil {
		return err
	}
	iters := uint32(firstRunIters)
	for {
		now := time.Now()
		if !r.measuring && !now.Before(windowStart) {
			if err := r.openWindow(); err != nil {
				return err
			}
		}
		if !now.Before(end) || ctx.Err() != nil {
			return ctx.Err()
		}
		if r.measuring && job.Packets > 0 {
			left, err := r.sched.budget()
			if err != nil {
				return err
			}
			if left == 0 {
				return ctx.Err()
			}
		}
		edge := end
		if !r.measuring {
			edge = windowStart
		}
		perIter, err := r.sched.run(ifindex, iters, r.batch)
		if err != nil {
			return err
		}
		if perIter > 0 {
			// Aim at runLength, and end near the next window edge.
			want := min(r.runLength, max(time.Until(edge), 0)+perIter)
			iters = uint32(min(max(int64(want/perIter), 64), 1<<24))
		}
	}
}

// openWindow starts the measured window: every frame sent so far is in
// first and was stamped before windowStartNs; every later one after it.
func (r *jobRun) openWindow() error {
	var err error
	if r.first, err = r.take(false); err != nil {
		return err
	}
	r.windowStartNs = monoNow()
	if err := r.snk.setWindow(r.windowStartNs, math.MaxUint64); err != nil {
		return err
	}
	if r.job.Packets > 0 {
		if err := r.sched.setBudget(r.job.Packets); err != nil {
			return err
		}
	}
	if r.job.Window != nil {
		r.job.Window(true)
	}
	r.measuring = true
	return nil
}

// finish ends the window where sending stopped; frames still in flight get
// drain to reach the sink, and RX is read after it.
func (r *jobRun) finish() (runEnd, error) {
	var end runEnd
	var lerr error
	end.lastTx, lerr = r.take(false)
	if r.measuring {
		lerr = errors.Join(lerr, r.snk.setWindow(r.windowStartNs, monoNow()))
	}
	time.Sleep(r.drain)
	var rerr, perr error
	end.lastRx, rerr = r.take(true)
	end.probes, perr = r.snk.probes(r.latencyIDs)
	var cerr error
	r.txCaptured, r.rxCaptured, cerr = r.stopCaptures()
	if r.measuring && r.job.Window != nil {
		r.job.Window(false)
	}
	return end, errors.Join(lerr, rerr, perr, cerr)
}

// info describes the run for the Result.
func (r *jobRun) info(end runEnd) map[string]string {
	info := map[string]string{
		"rx_xdp_mode":      r.snk.mode,
		"tx_core":          r.txCore,
		"run_length":       r.runLength.String(),
		"batch_size":       strconv.FormatUint(uint64(r.batch), 10),
		"pacing":           "xdp_sched: every frame at its time, to bpf_ktime_get_ns",
		"streams":          strconv.Itoa(len(r.streams)),
		"packets":          strconv.FormatUint(r.job.Packets, 10),
		"tx_ifname":        r.job.TX.Name,
		"rx_ifname":        r.job.RX.Name,
		"probe_clock":      "bpf_ktime_get_ns",
		"rcu":              r.rcuMode,
		"dispatcher":       r.pinMode,
		"interrupted_runs": strconv.FormatUint(r.sched.interrupted, 10),
	}
	if n, err := r.sched.restarts(); err == nil {
		info["schedule_restarts"] = strconv.FormatUint(n, 10)
	}
	if r.txCapt != nil {
		info["capture_tx_frames"] = strconv.Itoa(r.txCaptured)
		info["capture_tx_lost"] = strconv.FormatUint(end.lastTx.txLost, 10)
	}
	if r.rxCapt != nil {
		info["capture_rx_frames"] = strconv.Itoa(r.rxCaptured)
		info["capture_rx_lost"] = strconv.FormatUint(end.lastRx.rx.CaptureLost, 10)
	}
	if len(r.latencyIDs) > 0 {
		info["latency_streams"] = fmt.Sprint(r.latencyIDs)
	}
	return info
}

// stats fills st with the window's counts: TX up to where sending stopped,
// RX after the drain.
func (r *jobRun) stats(st *generator.Stats, end runEnd) {
	last := end.lastTx
	last.rx = end.lastRx.rx
	d := last.rx.sub(r.first.rx)
	st.TxPackets = last.txPkts - r.first.txPkts
	st.TxBytes = last.txBytes - r.first.txBytes
	st.RxPackets = d.RxPackets
	st.RxBytes = d.RxBytes
	st.Window = last.at.Sub(r.first.at)
	st.Info["probe_rx_packets"] = strconv.FormatUint(d.ProbePackets, 10)
	if len(r.latencyIDs) > 0 {
		var sent uint64
		for i := range r.latencyIDs {
			sent += last.probeSent[i] - r.first.probeSent[i]
		}
		st.Latency = summarize(sent, end.probes, end.lastRx.rx)
		st.Info["latency_buckets"] = "internal/measure/histogram.h: exact below 128 ns, then 64 linear sub-buckets per power of two; percentiles are bucket midpoints, min and max exact"
		st.Info["probe_too_old"] = strconv.FormatUint(end.probes.TooOld, 10)
		st.Info["probe_future"] = strconv.FormatUint(end.lastRx.rx.ProbeFuture, 10)
	}
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
