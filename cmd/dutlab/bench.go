package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dutlab/dutlab/compare/dpdkbench"
	"github.com/dutlab/dutlab/internal/buildinfo"
	"github.com/dutlab/dutlab/internal/units"
)

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	bench := &cobra.Command{
		Use:   "bench SUITE",
		Short: "Benchmark suites that measure dutlab against a peer in the same run",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("want a suite; suites are: dpdk")
		},
	}
	o := dpdkbench.Options{Duration: 5 * time.Second, Warmup: time.Second}
	var jsonOut string
	dpdkCmd := &cobra.Command{
		Use:   "dpdk",
		Short: "Our DPDK engine and forwarder against dpdk-testpmd, same run",
		Long: `bench dpdk measures the dpdk engine's TX (on net_null and on af_xdp over a
veth loop) and the dpdk forwarder (af_xdp through a DUT namespace) against
dpdk-testpmd doing the same job in the same run, with the measured lcore on
core 1 and the main lcores on core 0, and prints ours, the peer's and the
ratio per case.`,
		Example: "  sudo dutlab bench dpdk --rounds 3\n  sudo dutlab bench dpdk --duration 3s --json bench.json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchDPDK(cmd, o, jsonOut, stdout, stderr)
		},
	}
	fl := dpdkCmd.Flags()
	fl.Var(units.DurationVar(&o.Duration), "duration", "measured window per side and case: "+units.DurationHelp)
	fl.Var(units.DurationOrZeroVar(&o.Warmup), "warmup", "traffic sent before each window (0 for none)")
	fl.IntVar(&o.Rounds, "rounds", 1, "repeat every case and keep each side's best figure")
	fl.IntVar(&o.FrameSize, "frame-size", 64, "frame size in `BYTES`, FCS included")
	fl.IntVar(&o.Flows, "flows", 256, "flows (per-packet field variation on both sides)")
	jsonFlag(dpdkCmd, &jsonOut)
	bench.AddCommand(dpdkCmd)
	return bench
}

func runBenchDPDK(cmd *cobra.Command, o dpdkbench.Options, jsonOut string, stdout, stderr io.Writer) error {
	switch {
	case o.Rounds < 1:
		return usagef("--rounds %d is not positive", o.Rounds)
	case o.FrameSize < 64 || o.FrameSize > 1518:
		return usagef("--frame-size %d is outside 64..1518", o.FrameSize)
	case o.Flows < 1 || o.Flows > 65535:
		return usagef("--flows %d is outside 1..65535", o.Flows)
	}
	o.Log = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	rep, err := dpdkbench.Run(cmd.Context(), o)
	if len(rep.Rows) == 0 {
		return err
	}
	table := stdout
	if jsonOut == "-" {
		table = stderr
	}
	tw := tabwriter.NewWriter(table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tours Mpps\tpeer\tpeer Mpps\tratio\tnotes")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%.3f\t%.3f\t%s\n", r.Name, r.OursMpps, r.Peer, r.PeerMpps, r.Ratio, r.Notes)
	}
	tw.Flush()
	fmt.Fprintf(table, "\nboth sides measured in this run, one measured lcore on core %d (main lcores on core %d)\n", max(o.MeasuredCore, 1), o.MainCore)
	if jsonOut != "" {
		doc := benchDoc{Report: rep, Build: buildinfo.Get()}
		if jerr := writeJSONTo(stdout, jsonOut, "dutlab.bench", doc); jerr != nil {
			return jerr
		}
	}
	return err
}

// benchDoc is the bench's JSON document: the report and the build that
// measured it (its manifest).
type benchDoc struct {
	dpdkbench.Report
	Build buildinfo.Info `json:"build"`
}
