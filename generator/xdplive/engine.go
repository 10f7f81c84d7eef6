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
	DefaultChunk = 1 << 16 // frames per test run when sending flat out (~8-16 ms at 4-8 Mpps)
	// DefaultBatchSize is the frames per page-pool batch inside a test run,
	// the kernel's own default. On veth a batch lands in the peer's 256-slot
	// ring before its NAPI runs; batches of 256 overflowed it (rx_dropped on
	// the peer) whenever the NAPI was late, batches of 64 did not.
	DefaultBatchSize = 64
	DefaultDrain     = 20 * time.Millisecond
	pacingTick       = 100 * time.Microsecond // a paced stream sends once it owes a tick's worth of frames
	maxBacklog       = 500                    // ticks (50 ms) a paced stream may fall behind before its schedule resets
)

// Engine is the xdp-live engine. The zero value uses the defaults.
type Engine struct {
	Chunk     uint32        // frames per test run when sending flat out
	BatchSize uint32        // kernel batch size of the live-frame test run
	Drain     time.Duration // wait after the window for frames in flight to reach the sink
}

// New returns the xdp-live engine with default settings.
func New() generator.Engine { return &Engine{} }

// Name returns "xdp-live".
func (e *Engine) Name() string { return Name }

// stream is one Job stream's sender and pacing state. A paced stream is a
// token bucket: by time t it owes rate*(t-base) - sent frames, and it sends
// them in one test run once they reach a tick's worth. A test run costs a
// fixed ~0.4 ms besides the frames (measured on 6.18), so the owed count,
// not a fixed chunk, sets the size: late wake-ups and slow runs are made up
// by the next one.
type stream struct {
	*sender
	rate float64   // frames per second, 0 = flat out
	flat uint64    // frames per turn when flat out (the chunk scaled by the stream's weight)
	min  uint64    // frames owed before a paced run is worth it (one tick's worth)
	base time.Time // start of the schedule
	sent uint64    // frames sent since base
}

// owed returns how many frames the stream should have sent by now beyond
// what it sent, and when it will owe min frames if it owes fewer now.
func (s *stream) owed(now time.Time) (uint64, time.Time) {
	due := uint64(s.rate * now.Sub(s.base).Seconds())
	if due < s.sent+s.min {
		at := s.base.Add(time.Duration(float64(s.sent+s.min) / s.rate * float64(time.Second)))
		return 0, at
	}
	return due - s.sent, now
}

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
// after the warm-up. On ctx cancel it stops within one chunk and returns the
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
	chunk, batch, drain := e.Chunk, e.BatchSize, e.Drain
	if chunk == 0 {
		chunk = DefaultChunk
	}
	if batch == 0 {
		batch = DefaultBatchSize
	}
	if drain == 0 {
		drain = DefaultDrain
	}

	var (
		streams    []*stream
		latencyIDs []int  // indices of the latency streams
		mask       uint64 // the same as a bit set, for the sink
		txCap      txCapture
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
		s := &stream{sender: snd, rate: js.RatePPS}
		if js.RatePPS > 0 {
			s.min = uint64(max(1, min(float64(chunk), js.RatePPS*pacingTick.Seconds())))
		}
		streams = append(streams, s)
	}
	// Flat-out streams share a turn by weight: the heaviest sends a chunk.
	maxWeight := 1
	for _, js := range job.Streams {
		maxWeight = max(maxWeight, js.Weight)
	}
	for i, s := range streams {
		s.flat = max(1, uint64(chunk)*uint64(max(job.Streams[i].Weight, 1))/uint64(maxWeight))
	}

	// A live-frame test run swaps its program into the XDP dispatcher and
	// waits for RCU grace periods doing so, ~24 ms a run, unless the
	// dispatcher holds it already (see dispatcherPin). Failing the pin,
	// expedite the grace periods for the run (see internal/rcu): 0.35 ms.
	var progs []*ebpf.Program
	for _, s := range streams {
		progs = append(progs, s.objs.XdpGen)
	}
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
	var windowSent uint64 // frames sent in the window, for job.Packets
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
		for _, s := range streams {
			s.base = t0
		}
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
				if job.Window != nil {
					job.Window(true)
				}
				measuring = true
			}
			if !now.Before(end) || ctx.Err() != nil {
				return ctx.Err()
			}
			wake := end
			if !measuring {
				wake = windowStart
			}
			sent := false
			for _, s := range streams {
				n := s.flat
				if s.rate > 0 {
					owed, at := s.owed(now)
					if owed == 0 {
						if at.Before(wake) {
							wake = at
						}
						continue
					}
					if owed > maxBacklog*s.min {
						// Too far behind (the core was busy elsewhere):
						// restart the schedule rather than send a burst.
						s.base, s.sent, owed = now, 0, s.min
					}
					n = min(owed, uint64(chunk))
				}
				if measuring && job.Packets > 0 {
					if windowSent >= job.Packets {
						return ctx.Err()
					}
					n = min(n, job.Packets-windowSent)
				}
				if err := s.send(ifindex, uint32(n), batch); err != nil {
					return err
				}
				s.sent += n
				if measuring {
					windowSent += n
				}
				sent = true
			}
			if job.Packets > 0 && windowSent >= job.Packets {
				return ctx.Err()
			}
			if !sent {
				sleepCtx(ctx, time.Until(wake))
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
		"chunk":       strconv.FormatUint(uint64(chunk), 10),
		"batch_size":  strconv.FormatUint(uint64(batch), 10),
		"pacing_tick": pacingTick.String(),
		"streams":     strconv.Itoa(len(streams)),
		"packets":     strconv.FormatUint(job.Packets, 10),
		"tx_ifname":   job.TX.Name,
		"rx_ifname":   job.RX.Name,
		"probe_clock": "bpf_ktime_get_ns",
		"rcu":         rcuMode,
		"dispatcher":  pinMode,
	}
	var interrupted uint64
	for _, s := range streams {
		interrupted += s.interrupted
	}
	st.Info["interrupted_runs"] = strconv.FormatUint(interrupted, 10)
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
		st.Info["latency_buckets"] = "exact below 128 ns, then 64 linear sub-buckets per power of two; percentiles are bucket midpoints, min and max exact"
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

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
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
