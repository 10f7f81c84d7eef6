package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/buildinfo"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/units"
	"github.com/dutlab/dutlab/topologies"
)

// Options says what to compare.
type Options struct {
	Spec      *topologies.Spec
	Datapaths []string // dut registry names, measured in this order
	// Functions are what each datapath runs, one row per datapath and
	// function, in this order: FuncForward (nil or empty: only it), FuncFW and
	// FuncLB (built-in policies made for the lab, see functions.go), and
	// FuncPolicy (Policy).
	Functions []string
	// Policy is the policy of FuncPolicy (PolicyFile names it).
	Policy     *policy.Policy
	PolicyFile string
	Engine     generator.Engine
	FrameSize  int
	Flows      int
	// Rate is the total offered rate, probes included (the zero Rate: as
	// fast as the engine can). A percent rate is a percentage of the
	// self-check's ceiling and needs SelfCheck.
	Rate units.Rate
	// ProbeRatePPS adds a latency probe stream at this rate beside the bulk
	// stream, taken out of Rate; 0 runs without probes.
	ProbeRatePPS float64
	// ProbeRateDefault says ProbeRatePPS was not asked for: at a fixed Rate
	// the probes then take at most a tenth of it.
	ProbeRateDefault bool
	// Profile, when set, replaces the bulk and probe streams with its own
	// (ProfileFile names it in errors). Percent rates resolve against the
	// self-check's ceiling.
	Profile     *generator.Profile
	ProfileFile string
	// Replay, when set, replaces the bulk stream with these frames, sent in
	// order and round again with their MACs set to the lab's.
	Replay [][]byte
	// CaptureDir, when set, receives <datapath>-tx.pcap and <datapath>-rx.pcap
	// with the first CaptureFrames frames sent and received in each run.
	CaptureDir    string
	CaptureFrames int
	Warmup        time.Duration
	Duration      time.Duration
	// Packets, when set, ends each run's window after this many frames
	// (Duration, when also set, bounds it).
	Packets uint64
	// SelfCheck first measures the generator over a direct TX->RX link with
	// the same workload; rows at >= 90% of that ceiling are flagged.
	SelfCheck bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
	// ProgressJSON, when set, receives one JSON object per second per run.
	ProgressJSON io.Writer
}

// window describes the measured window for the log.
func (o *Options) window() string {
	switch {
	case o.Packets > 0 && o.Duration > 0:
		return fmt.Sprintf("%d packets (at most %s)", o.Packets, o.Duration)
	case o.Packets > 0:
		return fmt.Sprintf("%d packets", o.Packets)
	}
	return o.Duration.String()
}

func (o *Options) defaults() {
	if o.FrameSize == 0 {
		o.FrameSize = 64
	}
	if o.Flows == 0 {
		o.Flows = 1
	}
	if o.Duration == 0 && o.Packets == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Run brings the lab up, measures every datapath in turn and takes the lab
// down again, also when ctx is cancelled or a datapath fails. A datapath that
// fails gets a row with Error set; the others still run.
func Run(ctx context.Context, o Options) (*Result, error) {
	o.defaults()
	for _, name := range o.Datapaths {
		if _, err := dut.Lookup(name); err != nil {
			return nil, err
		}
	}
	if err := o.checkProfile(); err != nil {
		return nil, err
	}
	if err := o.checkFunctions(); err != nil {
		return nil, err
	}
	if o.Rate.IsPercent() && !o.SelfCheck {
		return nil, fmt.Errorf("--rate %s: a percent rate is a percentage of the generator's ceiling on this topology, which needs --self-check", o.Rate)
	}
	res := &Result{Schema: SchemaVersion, Type: ResultType, Manifest: manifest(o)}
	if o.Spec.Purpose == topologies.PurposeSelfCheck {
		// No DUT: the generator alone over its loop, at the asked rate.
		fmt.Fprintf(o.Log, "generator %s alone over the loop of %s, %s\n", o.Engine.Name(), o.Spec.Source, o.window())
		row, err := runLoop(ctx, o, o.Spec)
		if err != nil {
			return nil, err
		}
		res.Results = append(res.Results, row)
		return res, nil
	}
	var ceiling float64 // pps the generator reached on its own loop
	if o.SelfCheck {
		fmt.Fprintf(o.Log, "self-check: generator %s over a direct loop, %s\n", o.Engine.Name(), o.window())
		sc, err := selfCheck(ctx, o)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("self-check: %w", err)
		}
		fmt.Fprintf(o.Log, "self-check: generator ceiling %.3f Mpps received (offered %.3f)\n", sc.RxMpps, sc.OfferedMpps)
		res.SelfCheck = sc
		ceiling = sc.RxMpps * 1e6
	}
	fmt.Fprintf(o.Log, "bringing up lab %q (%s)\n", o.Spec.Name, o.Spec.Source)
	env, err := lab.Up(ctx, o.Spec)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := env.Down(); err != nil {
			fmt.Fprintf(o.Log, "warning: take lab down: %v\n", err)
		}
	}()
	gen, d, err := pickNodes(env)
	if err != nil {
		return nil, err
	}
	link := "veth"
	if d.in.Peer == nil {
		link = "host"
	}
	res.Manifest.Ports = map[string]string{
		"gen_tx": gen.tx.Name, "gen_rx": gen.rx.Name, "dut_in": d.in.Name, "dut_out": d.out.Name,
		"link": link, "engine": o.Engine.Name(),
	}
	if slices.Contains(o.Datapaths, "dpdk") {
		res.Manifest.Notes = append(res.Manifest.Notes, "dpdk on veth runs on af_xdp in copy mode: the kernel's NAPI for the DUT's ports shares the DUT core with the busy-polling lcore, so under overload the two compete; physical ports with vfio-pci avoid that")
	}
	runs := o.runs()
	for i, r := range runs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		what := fmt.Sprintf("%d-byte frames", o.FrameSize)
		if o.Profile != nil {
			what = "profile " + o.ProfileFile
		}
		label := r.label()
		fmt.Fprintf(o.Log, "[%d/%d] %s: %s, %s warm-up + %s\n", i+1, len(runs), label, what, o.Warmup, o.window())
		row, err := measureOne(ctx, o, env, gen, d, r, ceiling)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			row.Error = err.Error()
			fmt.Fprintf(o.Log, "[%d/%d] %s: %v\n", i+1, len(runs), label, err)
		} else {
			fmt.Fprintf(o.Log, "[%d/%d] %s: offered %.3f Mpps, received %.3f Mpps, loss %.2f%%, DUT busy %.0f%%\n",
				i+1, len(runs), label, row.OfferedMpps, row.RxMpps, row.LossPct, row.DUTCPU.BusyPct)
		}
		row.GenBoundReason = genBound(row, res.SelfCheck)
		row.GeneratorBound = row.GenBoundReason != ""
		res.Results = append(res.Results, row)
	}
	return res, nil
}

type genNode struct {
	node   *lab.Node
	tx, rx *lab.Port
}

type dutNode struct {
	node    *lab.Node
	in, out *lab.Port
}

func pickNodes(env *lab.Env) (genNode, dutNode, error) {
	g := env.FirstOfKind(topologies.KindGenerator)
	d := env.FirstOfKind(topologies.KindDUT)
	if g == nil || d == nil {
		return genNode{}, dutNode{}, errors.New("compare needs a topology with a generator and a DUT node")
	}
	gn := genNode{node: g, tx: g.ByRole(topologies.RoleTX), rx: g.ByRole(topologies.RoleRX)}
	dn := dutNode{node: d, in: d.ByRole(topologies.RoleIn), out: d.ByRole(topologies.RoleOut)}
	if gn.tx == nil || gn.rx == nil || dn.in == nil || dn.out == nil {
		return gn, dn, errors.New("compare needs generator tx/rx and DUT in/out ports")
	}
	if dn.in.Peer != gn.tx || dn.out.Peer != gn.rx {
		return gn, dn, errors.New("compare needs generator tx wired to DUT in and DUT out wired to generator rx")
	}
	return gn, dn, nil
}

func dutEnv(d dutNode) dut.Env {
	port := func(p *lab.Port) dut.Port {
		return dut.Port{Name: p.Name, Ifindex: p.Ifindex, MAC: p.MAC, Addr: p.Addr, PeerMAC: p.Peer.MAC, PeerAddr: p.Peer.Addr.Addr()}
	}
	return dut.Env{Netns: d.node.Netns, In: port(d.in), Out: port(d.out), Cores: d.node.Cores}
}

func genJob(o Options, g genNode, d dutNode, ceilingPPS float64) (generator.Job, error) {
	port := func(p *lab.Port) generator.Port {
		return generator.Port{Netns: g.node.Netns, Name: p.Name, Ifindex: p.Ifindex, MAC: p.MAC, Addr: p.Addr.Addr()}
	}
	bulk := generator.Stream{
		Name:   "bulk",
		SrcMAC: g.tx.MAC, DstMAC: d.in.MAC,
		Src: g.tx.Addr.Addr(), Dst: g.rx.Addr.Addr(),
		SrcPort: 1024, DstPort: 9, Flows: o.Flows,
		FrameSize: o.FrameSize,
	}
	pps, err := o.Rate.PacketsPerSecond(float64(o.FrameSize), units.PacketRate(ceilingPPS))
	if err != nil {
		return generator.Job{}, fmt.Errorf("--rate: %w", err)
	}
	bulk.RatePPS = pps
	job := generator.Job{
		TX: port(g.tx), RX: port(g.rx),
		Streams: []generator.Stream{bulk},
		Warmup:  o.Warmup, Duration: o.Duration, Packets: o.Packets, Cores: g.node.Cores,
	}
	if o.Profile != nil {
		streams, err := o.Profile.EngineStreams(o.ProfileFile, bulk, ceilingPPS)
		if err != nil {
			return job, err
		}
		job.Streams = streams
		return job, nil
	}
	if len(o.Replay) > 0 {
		replay := generator.Stream{Name: "replay", RatePPS: pps}
		for _, f := range o.Replay {
			f = append([]byte(nil), f...)
			copy(f[0:6], d.in.MAC)
			copy(f[6:12], g.tx.MAC)
			replay.Frames = append(replay.Frames, f)
		}
		job.Streams[0] = replay
	}
	if o.ProbeRatePPS > 0 {
		// --rate is the total offered rate: the probes come out of it.
		probePPS := o.ProbeRatePPS
		if pps > 0 {
			if o.ProbeRateDefault && probePPS > pps/10 {
				probePPS = pps / 10
			}
			if probePPS >= pps {
				return job, fmt.Errorf("--probe-rate %.0f pps is not below --rate %.0f pps (--rate is the total offered rate, probes included)", probePPS, pps)
			}
			job.Streams[0].RatePPS = pps - probePPS
		}
		probe := bulk
		probe.Name, probe.SrcPort, probe.Flows, probe.RatePPS, probe.Latency = "probe", 7, 1, probePPS, true
		job.Streams = append(job.Streams, probe)
	}
	return job, nil
}

// window samples CPU and the receive port's kernel counters at the engine's
// window edges.
type window struct {
	mu            sync.Mutex
	netns, tx, rx string
	cpu0          map[int]measure.CPUTimes
	cpu1          map[int]measure.CPUTimes
	rx0, rx1      measure.Counters
	tx0, tx1      measure.Counters
	// dutNetns and in are the DUT's In port: on veth, frames the
	// generator's port could not hand to it count as its rx_dropped.
	dutNetns, in string
	in0, in1     measure.Counters
	err          error
}

func (w *window) edge(begin bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cpu, err := measure.ReadCPU()
	if err != nil {
		w.err = errors.Join(w.err, err)
	}
	rx, err := measure.LinkCounters(w.netns, w.rx)
	if err != nil {
		w.err = errors.Join(w.err, err)
	}
	tx, err := measure.LinkCounters(w.netns, w.tx)
	if err != nil {
		w.err = errors.Join(w.err, err)
	}
	in, err := measure.LinkCounters(w.dutNetns, w.in)
	if err != nil {
		w.err = errors.Join(w.err, err)
	}
	if begin {
		w.cpu0, w.rx0, w.tx0, w.in0 = cpu, rx, tx, in
	} else {
		w.cpu1, w.rx1, w.tx1, w.in1 = cpu, rx, tx, in
	}
}

func (w *window) cpu(cores []int) CPU {
	c := CPU{Cores: cores}
	if w.cpu0 == nil || w.cpu1 == nil || len(cores) == 0 {
		return c
	}
	for _, core := range cores {
		u := measure.Usage(w.cpu0[core], w.cpu1[core])
		c.BusyPct += u.BusyPct
		c.UserPct += u.UserPct
		c.SysPct += u.SysPct
		c.SoftirqPct += u.SoftirqPct
		c.IrqPct += u.IrqPct
	}
	n := float64(len(cores))
	c.BusyPct, c.UserPct, c.SysPct, c.SoftirqPct, c.IrqPct = c.BusyPct/n, c.UserPct/n, c.SysPct/n, c.SoftirqPct/n, c.IrqPct/n
	return c
}

func measureOne(ctx context.Context, o Options, env *lab.Env, g genNode, d dutNode, r run, ceiling float64) (Row, error) {
	name := r.datapath
	row := Row{Datapath: name, Function: r.function, Engine: o.Engine.Name(), FrameSize: o.FrameSize, Flows: o.Flows, MixedSizes: o.Profile != nil}
	dp, err := dut.Lookup(name)
	if err != nil {
		return row, err
	}
	denv := dutEnv(d)
	if denv.Policy, err = o.policyFor(r.function, g, d); err != nil {
		return row, err
	}
	running, err := dp.Attach(ctx, denv)
	if err != nil {
		return row, fmt.Errorf("attach %s: %w", name, err)
	}
	defer running.Close()
	row.DUTInfo = running.Info()
	napi, err := env.RepinNAPI()
	if err != nil {
		return row, fmt.Errorf("pin NAPI threads: %w", err)
	}
	before, err := running.Counters()
	if err != nil {
		return row, fmt.Errorf("read %s counters: %w", name, err)
	}
	job, err := genJob(o, g, d, ceiling)
	if err != nil {
		return row, err
	}
	row.RequestedMpps = requestedMpps(job.Streams)
	if o.CaptureDir != "" {
		closeCaptures, err := addCaptures(&job, o, name, &row)
		if err != nil {
			return row, err
		}
		defer closeCaptures()
	}
	w := &window{netns: g.node.Netns, tx: g.tx.Name, rx: g.rx.Name, dutNetns: d.node.Netns, in: d.in.Name}
	var dutAtEnd dut.Counters
	job.Window = func(begin bool) {
		w.edge(begin)
		if begin {
			before, _ = running.Counters()
		} else {
			dutAtEnd, _ = running.Counters()
		}
	}
	job.Progress = progressPrinter(o, name)
	st, err := o.Engine.Run(ctx, job)
	if err != nil {
		return row, fmt.Errorf("generator %s: %w", o.Engine.Name(), err)
	}
	if w.err != nil {
		return row, fmt.Errorf("sample the window: %w", w.err)
	}
	if w.cpu1 == nil {
		return row, fmt.Errorf("generator %s did not report its measurement window", o.Engine.Name())
	}
	row.fill(st, w)
	row.DUTCPU = w.cpu(d.node.Cores)
	row.GenCPU = w.cpu(g.node.Cores)
	row.DUT = DUTCounters{Rx: dutAtEnd.RxPackets - before.RxPackets, Tx: dutAtEnd.TxPackets - before.TxPackets, Drop: dutAtEnd.DropPackets - before.DropPackets}
	if row.RxPackets > 0 {
		busyNs := row.DUTCPU.BusyPct / 100 * float64(len(d.node.Cores)) * st.Window.Seconds() * 1e9
		row.CyclesPerPkt = busyNs / float64(row.RxPackets)
	}
	row.Cores = coreMap(g, d, name, o.Engine.Name(), napi)
	return row, nil
}

// fill sets the rows's rates from what the engine and the window measured.
func (row *Row) fill(st generator.Stats, w *window) {
	row.EngineInfo = st.Info
	row.Latency = st.Latency
	row.WindowSec = st.Window.Seconds()
	row.TxPackets, row.RxPackets = st.TxPackets, st.RxPackets
	if s := st.Window.Seconds(); s > 0 {
		row.OfferedMpps = float64(st.TxPackets) / s / 1e6
		row.RxMpps = float64(st.RxPackets) / s / 1e6
		wire := float64(row.FrameSize+20) * 8
		row.OfferedGbps = row.OfferedMpps * wire / 1e3
		row.RxGbps = row.RxMpps * wire / 1e3
		// Engines count frame bytes (no FCS): with them, mixed sizes
		// (profiles, IMIX) get their real wire rate.
		const perFrame = 4 + 20 // FCS, preamble + start delimiter + gap
		if st.TxBytes > 0 {
			row.OfferedGbps = float64(st.TxBytes+perFrame*st.TxPackets) * 8 / s / 1e9
		}
		if st.RxBytes > 0 {
			row.RxGbps = float64(st.RxBytes+perFrame*st.RxPackets) * 8 / s / 1e9
		}
		if row.MixedSizes && st.TxPackets > 0 {
			row.FrameSize = int(math.Round(float64(st.TxBytes)/float64(st.TxPackets))) + 4
		}
	}
	row.LossPct = lossPct(st.TxPackets, st.RxPackets)
	rx, tx := w.rx1.Sub(w.rx0), w.tx1.Sub(w.tx0)
	row.RxIfacePackets = rx.RxPackets
	row.TxIfacePackets, row.TxIfaceDropped = tx.TxPackets, tx.TxDropped+w.in1.Sub(w.in0).RxDropped
	row.IfaceMismatch = ifaceMismatch(row)
}

// requestedMpps is the total rate streams ask for, 0 when one of them runs
// flat out.
func requestedMpps(streams []generator.Stream) float64 {
	total := 0.0
	for _, st := range streams {
		if st.RatePPS <= 0 {
			return 0
		}
		total += st.RatePPS
	}
	return total / 1e6
}

// IfaceTolerance is how far (a share) the kernel's interface counters may
// be from the engine's counts before a row is marked.
const IfaceTolerance = 0.005

// ifaceMismatch names the counts where the engine and the kernel's
// interface counters disagree by more than IfaceTolerance.
func ifaceMismatch(r *Row) []string {
	var out []string
	check := func(what string, engine, iface uint64) {
		if engine == 0 && iface == 0 {
			return
		}
		d := (float64(iface) - float64(engine)) / math.Max(float64(engine), 1)
		if math.Abs(d) > IfaceTolerance {
			out = append(out, fmt.Sprintf("%s: engine %d, interface %d (%+.2f%%)", what, engine, iface, d*100))
		}
	}
	// On veth a frame the engine sent is either taken by the DUT's In port
	// or dropped because that port's ring was full (tx_dropped).
	check("offered", r.TxPackets, r.TxIfacePackets+r.TxIfaceDropped)
	check("received", r.RxPackets, r.RxIfacePackets)
	return out
}

func coreMap(g genNode, d dutNode, datapath, engine string, napi []lab.NAPIEntry) map[string]string {
	m := map[string]string{}
	add := func(cores []int, what string) {
		for _, c := range cores {
			k := fmt.Sprint(c)
			if m[k] != "" {
				m[k] += ", "
			}
			m[k] += what
		}
	}
	add(g.node.Cores, "generator "+engine+" tx")
	add(d.node.Cores, "DUT "+datapath)
	// The generator's receive port is unthreaded: its NAPI runs in the softirq
	// of the core that transmits into it, the DUT's (see internal/lab).
	add(d.node.Cores, "generator rx "+g.rx.Name+" (softirq)")
	for _, n := range napi {
		add(n.Cores, n.Comm)
	}
	return m
}

func manifest(o Options) Manifest {
	m := Manifest{
		Tool: "dutlab", GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
		Topology: o.Spec.Source, Lab: o.Spec.Name, Started: time.Now().UTC(),
		Duration: o.Duration.Seconds(), Warmup: o.Warmup.Seconds(), Packets: o.Packets,
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	bi := buildinfo.Get()
	m.Version, m.Commit, m.BuildDate = bi.Version, bi.Commit, bi.Date
	return m
}

// ProgressLine is one per-second JSON progress record.
type ProgressLine struct {
	Schema    int     `json:"schema"`
	Type      string  `json:"type"` // ProgressType
	Datapath  string  `json:"datapath"`
	ElapsedS  float64 `json:"elapsed_s"`
	TxPackets uint64  `json:"tx_packets"`
	RxPackets uint64  `json:"rx_packets"`
	TxMpps    float64 `json:"tx_mpps"` // over the last interval
	RxMpps    float64 `json:"rx_mpps"`
	LossPct   float64 `json:"loss_pct"` // over the last interval
	// Probe latency over the last interval (0: no probe came back).
	LatencyP50Us float64 `json:"latency_p50_us"`
	LatencyP99Us float64 `json:"latency_p99_us"`
}

// progressPrinter turns the engine's running totals into per-interval rates
// on the terminal and, when asked, as JSON lines.
func progressPrinter(o Options, datapath string) func(generator.Sample) {
	var prev generator.Sample
	var mu sync.Mutex
	return func(s generator.Sample) {
		mu.Lock()
		defer mu.Unlock()
		dt := (s.Elapsed - prev.Elapsed).Seconds()
		if dt < 0.5 {
			return
		}
		tx, rx := s.TxPackets-prev.TxPackets, s.RxPackets-prev.RxPackets
		l := ProgressLine{Schema: SchemaVersion, Type: ProgressType, Datapath: datapath, ElapsedS: s.Elapsed.Seconds(), TxPackets: s.TxPackets, RxPackets: s.RxPackets,
			TxMpps: float64(tx) / dt / 1e6, RxMpps: float64(rx) / dt / 1e6, LossPct: lossPct(tx, rx),
			LatencyP50Us: float64(s.LatencyP50Ns) / 1e3, LatencyP99Us: float64(s.LatencyP99Ns) / 1e3}
		prev = s
		lat := ""
		if s.LatencyP50Ns > 0 {
			lat = fmt.Sprintf("  latency p50 %.1f us p99 %.1f us", l.LatencyP50Us, l.LatencyP99Us)
		}
		fmt.Fprintf(o.Log, "    %5.1fs  tx %8.3f Mpps  rx %8.3f Mpps  loss %6.2f%%%s\n", l.ElapsedS, l.TxMpps, l.RxMpps, l.LossPct, lat)
		if o.ProgressJSON != nil {
			b, _ := json.Marshal(l)
			o.ProgressJSON.Write(append(b, '\n'))
		}
	}
}

// checkProfile turns the profile into streams before anything is brought
// up, so a stream the engines cannot send fails at once.
func (o Options) checkProfile() error {
	if o.Profile == nil {
		return nil
	}
	var base generator.Stream
	for _, n := range o.Spec.Nodes {
		if n.Kind != topologies.KindGenerator {
			continue
		}
		if tx := n.ByRole(topologies.RoleTX); tx != nil {
			base.Src = tx.Address.Addr()
		}
		if rx := n.ByRole(topologies.RoleRX); rx != nil {
			base.Dst = rx.Address.Addr()
		}
	}
	ceiling := 0.0
	if o.SelfCheck {
		ceiling = 1 // any value: percent rates resolve once the self-check ran
	}
	streams, err := o.Profile.EngineStreams(o.ProfileFile, base, ceiling)
	if errors.Is(err, generator.ErrNoCeiling) {
		return fmt.Errorf("%w (run with --self-check)", err)
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range streams {
		for _, n := range o.Spec.Nodes {
			if n.Kind != topologies.KindDUT {
				continue
			}
			for _, ifc := range n.Interfaces {
				if !ifc.Address.IsValid() {
					continue
				}
				if field := s.Covers(ifc.Address.Addr()); field != "" {
					errs = append(errs, fmt.Errorf("%s: stream %s: %s range covers %s, the address of %s:%s; the DUT drops frames from or to its own address: start the range elsewhere or shorten it",
						o.ProfileFile, s.Name, field, ifc.Address.Addr(), n.Name, ifc.Name))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// addCaptures opens the run's pcap files and returns what closes them.
func addCaptures(job *generator.Job, o Options, datapath string, row *Row) (func(), error) {
	n := o.CaptureFrames
	if n <= 0 {
		n = 100
	}
	tx, err := generator.NewCapture(filepath.Join(o.CaptureDir, datapath+"-tx.pcap"), n)
	if err != nil {
		return nil, err
	}
	rx, err := generator.NewCapture(filepath.Join(o.CaptureDir, datapath+"-rx.pcap"), n)
	if err != nil {
		tx.Close()
		return nil, err
	}
	job.CaptureTX, job.CaptureRX = tx, rx
	row.Captures = []string{filepath.Join(o.CaptureDir, datapath+"-tx.pcap"), filepath.Join(o.CaptureDir, datapath+"-rx.pcap")}
	return func() {
		if err := errors.Join(tx.Close(), rx.Close()); err != nil {
			fmt.Fprintf(o.Log, "warning: capture: %v\n", err)
		}
	}, nil
}
