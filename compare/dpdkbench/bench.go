// Package dpdkbench compares dutlab's DPDK parts with dpdk-testpmd on the same
// ports, cores and frames: (a) our generator against testpmd txonly on
// net_null, (b) the same on net_af_xdp over a veth pair, (c) our forwarder
// against testpmd io forwarding between two veth pairs, loaded by our
// generator. Each measured lcore is pinned to the same core for both sides.
// The veth cases create throwaway namespaces (198.18.0.0/15 frames only) and
// remove them. `dutlab bench dpdk` calls Run.
package dpdkbench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/dut"
	dutdpdk "github.com/dutlab/dutlab/dut/dpdk"
	"github.com/dutlab/dutlab/generator"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/internal/dpdk"
	"github.com/dutlab/dutlab/internal/lab"
)

// Cases Run knows, in order.
const (
	CaseNull  = "gen-null"   // (a)
	CaseAFXDP = "gen-af_xdp" // (b)
	CaseFwd   = "fwd-af_xdp" // (c)
)

// Options configure a bench run. The zero value runs every case for 5 s.
type Options struct {
	Bin      string        // dutlab-dpdk; "" finds it
	Testpmd  string        // default "dpdk-testpmd" on PATH
	Cases    []string      // default all
	Warmup   time.Duration // default 1 s
	Duration time.Duration // default 5 s
	// MainCore runs the main lcores (and the load generator in CaseFwd);
	// MeasuredCore runs the measured lcore. Defaults 0 and 1.
	MainCore, MeasuredCore int
	FrameSize              int // default 64
	Flows                  int // default 256
	// Rounds repeats every case (ours, then the peer) and keeps each side's
	// best figure: veth figures swing with whatever else the host runs.
	Rounds int // default 1
	Log    func(format string, args ...any)
}

// Row is one comparison.
type Row struct {
	Name     string  `json:"name"`
	OursMpps float64 `json:"ours_mpps"`
	Peer     string  `json:"peer"`
	PeerMpps float64 `json:"peer_mpps"`
	Ratio    float64 `json:"ratio"` // ours / peer
	Notes    string  `json:"notes,omitempty"`
}

// Report is the bench's result.
type Report struct {
	Rows []Row `json:"rows"`
}

func (o *Options) defaults() {
	if o.Testpmd == "" {
		o.Testpmd = "dpdk-testpmd"
	}
	if len(o.Cases) == 0 {
		o.Cases = []string{CaseNull, CaseAFXDP, CaseFwd}
	}
	if o.Warmup == 0 {
		o.Warmup = time.Second
	}
	if o.Duration == 0 {
		o.Duration = 5 * time.Second
	}
	if o.MainCore == 0 && o.MeasuredCore == 0 {
		o.MeasuredCore = 1
	}
	if o.FrameSize == 0 {
		o.FrameSize = 64
	}
	if o.Flows == 0 {
		o.Flows = 256
	}
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
}

// Run runs the cases one after another and returns a row per case.
func Run(ctx context.Context, o Options) (Report, error) {
	o.defaults()
	var rep Report
	bin, err := dpdk.FindBinary(o.Bin)
	if err != nil {
		return rep, err
	}
	o.Bin = bin
	if o.Testpmd, err = exec.LookPath(o.Testpmd); err != nil {
		return rep, fmt.Errorf("find dpdk-testpmd (apt-get install dpdk-dev): %w", err)
	}
	for _, c := range o.Cases {
		var row Row
		var ours, peer []string
		for range o.Rounds {
			var r Row
			switch c {
			case CaseNull:
				r, err = genCase(ctx, o, false)
			case CaseAFXDP:
				r, err = genCase(ctx, o, true)
			case CaseFwd:
				r, err = fwdCase(ctx, o)
			default:
				err = fmt.Errorf("case %q is not supported; supported cases are %v", c, []string{CaseNull, CaseAFXDP, CaseFwd})
			}
			if err != nil {
				return rep, fmt.Errorf("%s: %w", c, err)
			}
			ours = append(ours, strconv.FormatFloat(r.OursMpps, 'f', 3, 64))
			peer = append(peer, strconv.FormatFloat(r.PeerMpps, 'f', 3, 64))
			r.OursMpps, r.PeerMpps = max(r.OursMpps, row.OursMpps), max(r.PeerMpps, row.PeerMpps)
			row = r
		}
		if o.Rounds > 1 {
			row.Notes += fmt.Sprintf("; best of %d rounds: ours %s, peer %s Mpps", o.Rounds, strings.Join(ours, " "), strings.Join(peer, " "))
		}
		if row.PeerMpps > 0 {
			row.Ratio = math.Round(row.OursMpps/row.PeerMpps*1000) / 1000
		}
		o.Log("%s: ours %.3f Mpps, %s %.3f Mpps, ratio %.3f", row.Name, row.OursMpps, row.Peer, row.PeerMpps, row.Ratio)
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

func stream(o Options, src, dst net.HardwareAddr) generator.Stream {
	return generator.Stream{Name: "bench", SrcMAC: src, DstMAC: dst,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"),
		SrcPort: 1024, DstPort: 9, Flows: o.Flows, FrameSize: o.FrameSize}
}

func mpps(pkts uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(pkts)/d.Seconds()/1e3) / 1e3
}

var prefixes int

func testpmdEAL(o Options, lcores []int, vdevs ...string) dpdk.EALOptions {
	prefixes++
	return dpdk.EALOptions{Lcores: lcores, FilePrefix: dpdk.FilePrefix("tp" + strconv.Itoa(prefixes)), VDevs: vdevs}
}

// runTestpmd runs testpmd for warm-up + duration and returns port's mean
// Tx-pps over the samples after the warm-up.
func runTestpmd(ctx context.Context, o Options, netns string, eal dpdk.EALOptions, args []string, port int) (float64, error) {
	tp, err := startTestpmd(o.Testpmd, netns, eal, args)
	if err != nil {
		return 0, err
	}
	if err := tp.waitShown(30 * time.Second); err != nil {
		return 0, errors.Join(err, tp.stop())
	}
	skip := int(math.Ceil(o.Warmup.Seconds()))
	want := skip + max(int(o.Duration.Seconds()), 1)
	select {
	case <-time.After(o.Warmup + o.Duration):
	case <-ctx.Done():
	}
	// Stats blocks come once a second on testpmd's own clock: wait for the
	// last one of the window.
	for end := time.Now().Add(5 * time.Second); ctx.Err() == nil && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, n := tp.meanTx(port, 0); n >= want {
			break
		}
	}
	if err := tp.stop(); err != nil {
		return 0, err
	}
	v, n := tp.meanTx(port, skip)
	if n == 0 {
		return 0, fmt.Errorf("dpdk-testpmd gave no Tx-pps samples after the warm-up: %s", tp.output())
	}
	return math.Round(v/1e3) / 1e3, ctx.Err()
}

// genCase is (a) on net_null or (b) on af_xdp over a veth pair.
func genCase(ctx context.Context, o Options, veth bool) (Row, error) {
	row := Row{Name: CaseNull, Peer: "dpdk-testpmd txonly"}
	port, vdev, netns := "net_null0", "net_null0", ""
	src, dst := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	if veth {
		row.Name = CaseAFXDP
		loop, err := lab.NewLoop("dlb-")
		if err != nil {
			return row, err
		}
		defer loop.Close()
		a, b := loop.A, loop.B
		port, vdev, netns, src, dst = a.Name, "net_af_xdp0,iface="+a.Name, loop.Netns, a.MAC, b.MAC
	}
	cores := []int{o.MainCore, o.MeasuredCore}
	st, err := gendpdk.New(o.Bin).Run(ctx, generator.Job{
		TX: generator.Port{Netns: netns, Name: port}, Streams: []generator.Stream{stream(o, src, dst)},
		Warmup: o.Warmup, Duration: o.Duration, Cores: cores,
	})
	if err != nil {
		return row, err
	}
	row.OursMpps = mpps(st.TxPackets, st.Window)
	args := []string{"--forward-mode=txonly", "--txonly-multi-flow", "--txpkts=" + strconv.Itoa(o.FrameSize-4),
		"--nb-cores=1", "--total-num-mbufs=16384", "--burst=" + strconv.Itoa(dpdk.DefaultTxBurst),
		"--eth-peer=0," + dst.String()}
	row.PeerMpps, err = runTestpmd(ctx, o, netns, testpmdEAL(o, cores, vdev), args, 0)
	row.Notes = fmt.Sprintf("%d-byte frames, TX burst %s, testpmd %d; ours: %d flows (UDP source port), probe (stream, sequence, TSC time) + incremental UDP checksum written per frame, template mode %s; testpmd: --txonly-multi-flow (IP source per frame); measured lcore on core %d; ours counts tx_burst accepts, testpmd Tx-pps from port stats",
		o.FrameSize, st.Info["tx_burst"], dpdk.DefaultTxBurst, o.Flows, st.Info["template"], o.MeasuredCore)
	return row, err
}

// fwdCase is (c): our generator (main core) sends g0 -> d0 as fast as it
// can; the forwarder under test (measured core) forwards d0 -> d1; the
// generator counts what arrives on g1. The same count rates both forwarders.
func fwdCase(ctx context.Context, o Options) (Row, error) {
	row := Row{Name: CaseFwd, Peer: "dpdk-testpmd io"}
	l, err := lab.NewThrough("dlt-")
	if err != nil {
		return row, err
	}
	defer l.Close()
	gen := gendpdk.New(o.Bin)
	job := generator.Job{
		TX: generator.Port{Netns: l.Gen, Name: l.G0.Name}, RX: generator.Port{Netns: l.Gen, Name: l.G1.Name},
		Streams: []generator.Stream{stream(o, l.G0.MAC, l.D0.MAC)},
		Warmup:  o.Warmup, Duration: o.Duration, Cores: []int{o.MainCore},
	}
	// Ours.
	r, err := dutdpdk.New(o.Bin).Attach(ctx, dut.Env{Netns: l.DUT,
		In:    dut.Port{Name: l.D0.Name, MAC: l.D0.MAC, PeerMAC: l.G0.MAC},
		Out:   dut.Port{Name: l.D1.Name, MAC: l.D1.MAC, PeerMAC: l.G1.MAC},
		Cores: []int{o.MeasuredCore}})
	if err != nil {
		return row, err
	}
	st, err := gen.Run(ctx, job)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return row, err
	}
	row.OursMpps = mpps(st.RxPackets, st.Window)
	offered := mpps(st.TxPackets, st.Window)

	// testpmd io between the same veths; it needs a main lcore besides the
	// forwarding one.
	tp, err := startTestpmd(o.Testpmd, l.DUT,
		testpmdEAL(o, []int{o.MainCore, o.MeasuredCore}, "net_af_xdp0,iface="+l.D0.Name, "net_af_xdp1,iface="+l.D1.Name),
		[]string{"--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=32768", "--burst=32"})
	if err != nil {
		return row, err
	}
	if err := tp.waitShown(30 * time.Second); err != nil {
		return row, errors.Join(err, tp.stop())
	}
	st2, err := gen.Run(ctx, job)
	if serr := tp.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return row, err
	}
	row.PeerMpps = mpps(st2.RxPackets, st2.Window)
	row.Notes = fmt.Sprintf("delivered to g1 as counted by our generator (offered %.3f / %.3f Mpps from core %d); forwarders on core %d; ours rewrites MACs, testpmd io does not",
		offered, mpps(st2.TxPackets, st2.Window), o.MainCore, o.MeasuredCore)
	return row, nil
}
