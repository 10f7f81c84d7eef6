package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/dutlab/dutlab/compare/dpdkbench"
)

func cmdBench(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "dpdk" {
		return fmt.Errorf("bench: want a suite; suites are [dpdk]")
	}
	fs := flag.NewFlagSet("bench dpdk", flag.ContinueOnError)
	o := dpdkbench.Options{Duration: 5 * time.Second, Warmup: time.Second}
	fs.Var(durationFlag{&o.Duration}, "duration", "measured seconds per side and case")
	fs.Var(durationFlag{&o.Warmup}, "warmup", "seconds sent before each window")
	fs.IntVar(&o.Rounds, "rounds", 1, "repeat every case and keep each side's best figure")
	fs.IntVar(&o.FrameSize, "frame-size", 64, "frame size in bytes, FCS included")
	fs.IntVar(&o.Flows, "flows", 256, "flows (per-packet field variation on both sides)")
	jsonOut := fs.String("json", "", "write the report as JSON to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	o.Log = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	rep, err := dpdkbench.Run(ctx, o)
	if len(rep.Rows) > 0 {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "case\tours Mpps\tpeer\tpeer Mpps\tratio\tnotes")
		for _, r := range rep.Rows {
			fmt.Fprintf(tw, "%s\t%.3f\t%s\t%.3f\t%.3f\t%s\n", r.Name, r.OursMpps, r.Peer, r.PeerMpps, r.Ratio, r.Notes)
		}
		tw.Flush()
		fmt.Printf("\nboth sides measured in this run, one measured lcore on core %d (main lcores on core %d)\n", max(o.MeasuredCore, 1), o.MainCore)
		if *jsonOut != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				return fmt.Errorf("write %s: %w", *jsonOut, jerr)
			}
		}
	}
	return err
}
