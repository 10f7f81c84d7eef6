package compare

import (
	"context"
	"fmt"

	"github.com/dutlab/dutlab/internal/lab"
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

// selfCheck measures the generator's ceiling for o's workload.
func selfCheck(ctx context.Context, o Options) (*SelfCheck, error) {
	spec, err := loopSpec(o.Spec)
	if err != nil {
		return nil, err
	}
	sc := &SelfCheck{Topology: spec.Source}
	env, err := lab.Up(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer env.Down()
	g := env.Nodes[0]
	gn := genNode{node: g, tx: g.ByRole(topologies.RoleTX), rx: g.ByRole(topologies.RoleRX)}
	// The ceiling is the bulk stream flat out, whatever rate or profile the
	// DUT runs get; straight into the RX port, whose MAC stands in for a DUT's.
	o.RatePPS, o.Profile = 0, nil
	job, err := genJob(o, gn, dutNode{in: gn.rx}, 0)
	if err != nil {
		return nil, err
	}
	w := &window{netns: g.Netns, rx: gn.rx.Name}
	job.Window = w.edge
	st, err := o.Engine.Run(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("generator %s on the self-check loop: %w", o.Engine.Name(), err)
	}
	if w.err != nil {
		return nil, w.err
	}
	if s := st.Window.Seconds(); s > 0 {
		sc.OfferedMpps = float64(st.TxPackets) / s / 1e6
		sc.RxMpps = float64(st.RxPackets) / s / 1e6
	}
	sc.LossPct = lossPct(st.TxPackets, st.RxPackets)
	sc.GenCPU = w.cpu(g.Cores)
	return sc, nil
}

func lossPct(tx, rx uint64) float64 {
	if tx == 0 || rx >= tx {
		return 0
	}
	return 100 * float64(tx-rx) / float64(tx)
}
