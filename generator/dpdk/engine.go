// Package dpdk is the generator engine "dpdk": it runs the Job's streams on
// DPDK ports through the dutlab-dpdk worker process (its `gen` subcommand),
// which runs the C fast path of internal/dpdk in the job's namespace.
//
// The engine side is pure Go (no cgo): it builds the templates
// (generator.BuildUDP, BuildFrame's UDP template, for streams that vary only the UDP source port,
// generator.Compile's field programs for the rest, see ProgramStream), picks
// the ports' vdevs, starts the worker and turns its JSON stats lines into
// generator.Stats. The worker side, RunWorker (worker.go, tag "dpdk"), is what
// `dutlab-dpdk gen` runs; its decisions are planGen, plain Go.
//
// On veth its af_xdp/af_packet ports take the kernel's copy path (0.2-0.6
// Mpps); physical ports and net_null are what it is for.
package dpdk

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/dpdk"
)

// PMD selects the DPDK driver used for a port named after a kernel interface.
type PMD string

// PMDs for ports named after kernel interfaces.
const (
	AFXDP    PMD = "af_xdp"    // net_af_xdp,iface=<name> (default)
	AFPacket PMD = "af_packet" // net_af_packet,iface=<name>
)

// Options tune the engine. The zero value is the default.
type Options struct {
	// Bin is the worker binary; "" finds it (see dpdk.FindBinary).
	Bin string
	// PMD drives ports named after kernel interfaces; a Port.Name starting
	// with "net_" (e.g. "net_null0") is used as a --vdev argument verbatim.
	PMD PMD
	// Hugepages runs the EAL on reserved hugepages (--in-memory) instead of
	// --no-huge.
	Hugepages bool
	// NoCopy prefills the TX pool with the template (one stream only).
	NoCopy bool
	// RingSize is descriptors per queue (default 1024).
	RingSize int
	// StopGrace bounds the wait for the worker after the window (default 10 s).
	StopGrace time.Duration
}

// Engine is the "dpdk" generator engine.
type Engine struct{ opts Options }

// New returns the engine with default options, using the worker at binPath
// ("" finds it next to the executable, via $DUTLAB_DPDK or on PATH).
func New(binPath string) generator.Engine { return &Engine{Options{Bin: binPath}} }

// NewWithOptions returns the engine with opts.
func NewWithOptions(opts Options) *Engine { return &Engine{opts} }

// Name implements generator.Engine.
func (e *Engine) Name() string { return "dpdk" }

// vdev returns the --vdev argument and ethdev name for a port. n is the
// port's number in this process; queues is the queue pairs it needs.
func (e *Engine) vdev(name string, n, queues int) (arg, dev string) {
	if strings.HasPrefix(name, "net_") {
		return name, dpdk.DevName(name)
	}
	pmd := e.opts.PMD
	if pmd == "" {
		pmd = AFXDP
	}
	dev = fmt.Sprintf("net_%s%d", pmd, n)
	arg = dev + ",iface=" + name
	if queues > 1 {
		arg += fmt.Sprintf(",%s=%d", map[PMD]string{AFXDP: "queue_count", AFPacket: "qpairs"}[pmd], queues)
	}
	return arg, dev
}

// Config turns a job into the worker's configuration (exported for tests and
// for the bench).
func (e *Engine) Config(job generator.Job) (dpdk.GenConfig, error) {
	var cfg dpdk.GenConfig
	if len(job.Streams) == 0 {
		return cfg, errors.New("dpdk engine: job has no streams")
	}
	if job.TX.Name == "" && job.RX.Name == "" {
		return cfg, errors.New("dpdk engine: job has neither a TX nor an RX port")
	}
	if job.TX.Name != "" && job.RX.Name != "" && job.TX.Netns != job.RX.Netns {
		return cfg, fmt.Errorf("dpdk engine: TX (%s) and RX (%s) must share a namespace", job.TX.Netns, job.RX.Netns)
	}
	cores := job.Cores
	if len(cores) == 0 {
		cores = []int{0}
	}
	workers := max(len(cores)-1, 1)
	cfg.EAL = dpdk.EALOptions{Lcores: cores, FilePrefix: dpdk.FilePrefix("gen"), Hugepages: e.opts.Hugepages}
	if job.TX.Name != "" {
		arg, dev := e.vdev(job.TX.Name, 0, workers)
		cfg.EAL.VDevs = append(cfg.EAL.VDevs, arg)
		cfg.TXPort = dev
	}
	if job.RX.Name != "" {
		if job.RX.Name == job.TX.Name {
			cfg.RXPort = cfg.TXPort
		} else {
			arg, dev := e.vdev(job.RX.Name, 1, workers)
			cfg.EAL.VDevs = append(cfg.EAL.VDevs, arg)
			cfg.RXPort = dev
		}
	}
	for i, s := range job.Streams {
		gs, err := genStream(s)
		if err != nil {
			return cfg, fmt.Errorf("dpdk engine: stream %d (%s): %w", i, s.Name, err)
		}
		cfg.Streams = append(cfg.Streams, gs)
	}
	cfg.WarmupMS = job.Warmup.Milliseconds()
	cfg.DurationMS = job.Duration.Milliseconds()
	cfg.Packets = job.Packets
	for _, c := range []*generator.Capture{job.CaptureTX, job.CaptureRX} {
		if c != nil {
			cfg.CaptureFrames = max(cfg.CaptureFrames, c.Limit())
		}
	}
	if cfg.DurationMS <= 0 && cfg.Packets == 0 {
		return cfg, errors.New("dpdk engine: job duration must be positive (or a packet count given)")
	}
	cfg.NoCopy = e.opts.NoCopy
	cfg.RingSize = e.opts.RingSize
	return cfg, nil
}

// genStream is s for the C fast path: the source-port rewrite it is tuned
// for when that is all s varies (untagged UDP, one address each way, one
// destination port, increment mode), a field program otherwise.
func genStream(s generator.Stream) (dpdk.GenStream, error) {
	if len(s.Frames) > 0 {
		return dpdk.GenStream{Template: s.Frames[0], Frames: s.Frames, Flows: 1, RatePPS: s.RatePPS, Weight: s.Weight}, nil
	}
	simple := (s.Proto == "" || s.Proto == generator.ProtoUDP) && s.VLAN == 0 && s.SrcIPs <= 1 && s.DstIPs <= 1 &&
		s.DstPorts <= 1 && !s.SrcRandom && !s.DstRandom
	if simple {
		t, err := generator.BuildUDP(s)
		if err != nil {
			return dpdk.GenStream{}, err
		}
		return dpdk.GenStream{
			Template:       t.Frame,
			SrcPortOffset:  t.UDPSrcPortOff,
			ProbeOffset:    t.ProbeOff,
			ChecksumOffset: t.UDPChecksumOff,
			SrcPortBase:    s.SrcPort,
			Flows:          max(s.Flows, 1),
			RatePPS:        s.RatePPS,
			Weight:         s.Weight,
		}, nil
	}
	p, err := generator.Compile(s)
	if err != nil {
		return dpdk.GenStream{}, err
	}
	gs := ProgramStream(p)
	gs.RatePPS, gs.Weight = s.RatePPS, s.Weight
	return gs, nil
}

// Run implements generator.Engine: it starts the worker in the TX port's
// namespace and waits for its final line. Cancelling ctx stops the worker
// early; the Stats then cover the window up to the stop.
func (e *Engine) Run(ctx context.Context, job generator.Job) (generator.Stats, error) {
	st := generator.Stats{Engine: e.Name()}
	cfg, err := e.Config(job)
	if err != nil {
		return st, err
	}
	bin, err := dpdk.FindBinary(e.opts.Bin)
	if err != nil {
		return st, fmt.Errorf("dpdk engine: %w", err)
	}
	ns := job.TX.Netns
	if job.TX.Name == "" {
		ns = job.RX.Netns
	}
	p, err := dpdk.Start(bin, "gen", ns, cfg)
	if err != nil {
		return st, fmt.Errorf("dpdk engine: %w", err)
	}
	grace := e.opts.StopGrace
	if grace == 0 {
		grace = 10 * time.Second
	}
	var final *dpdk.StatsLine
	var failure string
	var cancelled error
	lines := p.Lines()
	deadline := time.After(job.Warmup + job.Duration + 30*time.Second)
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			switch l.Kind {
			case "progress":
				if job.Progress != nil {
					job.Progress(generator.Sample{Elapsed: time.Duration(l.ElapsedNS), TxPackets: l.TxPackets, RxPackets: l.RxPackets})
				}
			case "window_begin", "window_end":
				if job.Window != nil {
					job.Window(l.Kind == "window_begin")
				}
			case "final":
				final = &l
			case "error":
				failure = l.Error
			}
		case <-ctx.Done():
			p.Signal()
			cancelled = ctx.Err()
			ctx = context.Background() // keep reading until the final line
		case <-deadline:
			_ = p.Stop(grace)
		}
	}
	werr := p.Err()
	if final == nil {
		if failure != "" {
			return st, fmt.Errorf("dpdk engine: %s", failure)
		}
		return st, fmt.Errorf("dpdk engine: worker ended without a result: %w", werr)
	}
	st.TxPackets, st.TxBytes = final.TxPackets, final.TxBytes
	st.RxPackets, st.RxBytes = final.RxPackets, final.RxBytes
	st.Window = time.Duration(final.WindowNS)
	st.Info = map[string]string{
		"tx_dropped":       strconv.FormatUint(final.TxDropped, 10),
		"probe_rx_packets": strconv.FormatUint(final.RxProbes, 10),
		"reorder":          strconv.FormatUint(final.Reorder, 10),
		"probe_clock":      "tsc",
		"eal_args":         strings.Join(cfg.EAL.Args(dpdk.BinaryName), " "),
	}
	maps.Copy(st.Info, final.Info)
	if c := final.Capture; c != nil {
		for _, side := range []struct {
			name   string
			to     *generator.Capture
			frames []dpdk.WireFrame
		}{{"tx", job.CaptureTX, c.TX}, {"rx", job.CaptureRX, c.RX}} {
			if side.to == nil {
				continue
			}
			for _, f := range side.frames {
				side.to.AddCut(time.Unix(0, f.UnixNS), f.Data, f.Len)
			}
			st.Info["capture_"+side.name+"_frames"] = strconv.Itoa(len(side.frames))
		}
		st.Info["capture_snap"] = strconv.Itoa(dpdk.CaptureSnapBytes)
	}
	if l := final.Latency; l != nil {
		for k, v := range map[string]int64{"min": l.Min, "p50": l.P50, "p99": l.P99, "p999": l.P999, "max": l.Max} {
			st.Info["latency_"+k+"_ns"] = strconv.FormatInt(v, 10)
		}
		st.Info["latency_mean_ns"] = strconv.FormatInt(int64(l.Mean), 10)
		st.Info["latency_buckets"] = "internal/measure/histogram.h: exact below 128 ns, then 64 linear sub-buckets per power of two; values are bucket midpoints"
		// The probe-carrying frames made in the window and received stamped
		// inside it, once each (the fast path counts duplicates over the
		// last 2048 sequence numbers of each stream).
		received := final.ProbeRx - min(final.Duplicates, final.ProbeRx)
		st.Latency = &generator.Latency{Clock: "tsc", Sent: final.ProbeTx, Received: received, Duplicates: final.Duplicates,
			Reordered: final.Reorder, MinNs: uint64(l.Min), P50Ns: uint64(l.P50), P99Ns: uint64(l.P99),
			P999Ns: uint64(l.P999), MaxNs: uint64(l.Max), MeanNs: uint64(l.Mean), ErrorPct: 100.0 / 64}
		if final.ProbeTx > received {
			st.Latency.Lost = final.ProbeTx - received
		}
	}
	if werr != nil {
		return st, fmt.Errorf("dpdk engine: %w", werr)
	}
	return st, cancelled
}
