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
