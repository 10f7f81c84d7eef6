package compare

import (
	"context"
	"fmt"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/units"
	"github.com/dutlab/dutlab/topologies"
)

// GeneratorBoundShare is the share of the generator's own ceiling above which
// a DUT result says more about the generator than about the DUT.
const GeneratorBoundShare = 0.9

// Generator-bound rows are found in the run itself, not only against the
// self-check's ceiling: the ceiling is measured on a direct loop, where the
// generator's pages recycle on its own core, and through a DUT the same
// generator offers less, so a ceiling test alone never fires (measured:
// 2.8-3.6 Mpps offered through DUTs against a 5.9 Mpps loop ceiling). A row
// is generator-bound when the generator offered all it could (flat out, or
// short of the rate asked) and the DUT lost nothing of what reached it: the
// DUT had headroom the row does not show.
const (
	// GenBoundDUTLoss is the share of the frames that reached the DUT's In
	// port at or below which the DUT lost nothing.
	GenBoundDUTLoss = 0.001
	// GenShortShare is the share of a fixed rate below which the generator
	// fell short of it.
	GenShortShare = 0.98
)

// genBound says why row is generator-bound, or "" when it is not.
func genBound(row Row, sc *SelfCheck) string {
	if row.Error != "" || row.TxPackets == 0 {
		return ""
	}
	if sc != nil && sc.RxMpps > 0 && row.RxMpps >= GeneratorBoundShare*sc.RxMpps {
		return fmt.Sprintf("received %.3f Mpps, at least %.0f%% of the generator's ceiling (%.3f Mpps)", row.RxMpps, GeneratorBoundShare*100, sc.RxMpps)
	}
	reached := row.TxIfacePackets + row.TxIfaceDropped
	if reached == 0 { // no interface counters: the engine's count
		reached = row.TxPackets
	}
	lost := 0.0
	if reached > row.RxPackets {
		lost = float64(reached-row.RxPackets) / float64(reached)
	}
	if lost > GenBoundDUTLoss {
		return ""
	}
	switch {
	case row.RequestedMpps == 0:
		return fmt.Sprintf("the generator was flat out at %.3f Mpps and the DUT lost %.2f%% of what reached it", row.OfferedMpps, lost*100)
	case row.OfferedMpps < GenShortShare*row.RequestedMpps:
		return fmt.Sprintf("the generator offered %.3f of the %.3f Mpps asked and the DUT lost %.2f%% of what reached it", row.OfferedMpps, row.RequestedMpps, lost*100)
	}
	return ""
}

// SelfCheck is the generator measured over a direct link from its TX to its
// RX port with the same workload: its ceiling for this run.
type SelfCheck struct {
	Topology    string  `json:"topology"`
	OfferedMpps float64 `json:"offered_mpps"`
	RxMpps      float64 `json:"rx_mpps"`
	LossPct     float64 `json:"loss_pct"`
	GenCPU      CPU     `json:"gen_cpu"`
	Error       string  `json:"error,omitempty"`
}

// loopSpec derives the self-check lab from spec: the same generator node,
// its TX port wired straight to its RX port.
func loopSpec(spec *topologies.Spec) (*topologies.Spec, error) {
	var g *topologies.Node
	for i := range spec.Nodes {
		if spec.Nodes[i].Kind == topologies.KindGenerator {
			g = &spec.Nodes[i]
			break
		}
	}
	if g == nil {
		return nil, fmt.Errorf("%s: no generator node", spec.Source)
	}
	tx, rx := g.ByRole(topologies.RoleTX), g.ByRole(topologies.RoleRX)
	if tx == nil || rx == nil {
		return nil, fmt.Errorf("%s: generator %s needs tx and rx ports", spec.Source, g.Name)
	}
	name := spec.Name
	if len(name) > 10 {
		name = name[:10]
	}
	name += "-l"
	node := *g
	node.Netns = topologies.NetnsName(name, g.Name)
	node.Interfaces = []topologies.Interface{*tx, *rx}
	return &topologies.Spec{
		Name: name, Source: spec.Source + " (self-check loop)", Purpose: topologies.PurposeSelfCheck,
		Nodes: []topologies.Node{node},
		Links: []topologies.Link{{Type: topologies.LinkVeth,
			A: topologies.Endpoint{Node: g.Name, Interface: tx.Name},
			B: topologies.Endpoint{Node: g.Name, Interface: rx.Name}}},
	}, nil
}

// selfCheck measures the generator's ceiling for o's workload: the bulk
// stream flat out, whatever rate or profile the DUT runs get.
func selfCheck(ctx context.Context, o Options) (*SelfCheck, error) {
	spec, err := loopSpec(o.Spec)
	if err != nil {
		return nil, err
	}
	o.Rate, o.Profile = units.Rate{}, nil
	row, err := runLoop(ctx, o, spec)
	if err != nil {
		return nil, err
	}
	return &SelfCheck{Topology: spec.Source, OfferedMpps: row.OfferedMpps, RxMpps: row.RxMpps, LossPct: row.LossPct, GenCPU: row.GenCPU}, nil
}

// LoopDatapath names the row of a run without a DUT.
const LoopDatapath = "loop"

// runLoop brings up spec, a generator whose TX port is wired to its RX port,
// and runs o's workload over it.
func runLoop(ctx context.Context, o Options, spec *topologies.Spec) (Row, error) {
	row := Row{Datapath: LoopDatapath, Engine: o.Engine.Name(), FrameSize: o.FrameSize, Flows: o.Flows}
	env, err := lab.Up(ctx, spec)
	if err != nil {
		return row, err
	}
	defer env.Down()
	g := env.FirstOfKind(topologies.KindGenerator)
	gn := genNode{node: g, tx: g.ByRole(topologies.RoleTX), rx: g.ByRole(topologies.RoleRX)}
	if gn.tx == nil || gn.rx == nil || gn.tx.Peer != gn.rx {
		return row, fmt.Errorf("%s: a loop needs the generator's tx port wired to its rx port", spec.Source)
	}
	// Straight into the RX port, whose MAC stands in for a DUT's.
	job, err := genJob(o, gn, dutNode{in: gn.rx}, 0)
	if err != nil {
		return row, err
	}
	w := &window{netns: g.Netns, tx: gn.tx.Name, rx: gn.rx.Name, dutNetns: g.Netns, in: gn.rx.Name}
	job.Window = w.edge
	job.Progress = progressPrinter(o, LoopDatapath)
	st, err := o.Engine.Run(ctx, job)
	if err != nil {
		return row, fmt.Errorf("generator %s on the loop: %w", o.Engine.Name(), err)
	}
	if w.err != nil {
		return row, w.err
	}
	row.fill(st, w)
	row.GenCPU = w.cpu(g.Cores)
	row.Cores = map[string]string{}
	for _, c := range g.Cores {
		row.Cores[fmt.Sprint(c)] = "generator " + o.Engine.Name() + " tx, rx " + gn.rx.Name + " (softirq)"
	}
	return row, nil
}

func lossPct(tx, rx uint64) float64 {
	if tx == 0 || rx >= tx {
		return 0
	}
	return 100 * float64(tx-rx) / float64(tx)
}
