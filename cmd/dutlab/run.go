package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dutlab/dutlab/compare"
	"github.com/dutlab/dutlab/dut"
	_ "github.com/dutlab/dutlab/dut/dpdk"   // registers the dpdk datapath
	_ "github.com/dutlab/dutlab/dut/kernel" // registers the kernel datapath
	"github.com/dutlab/dutlab/dut/policy"
	// The reflector is a datapath like the others: it turns frames around
	// on one port, and its rows give the latency floor of a lab.
	_ "github.com/dutlab/dutlab/dut/reflector"
	_ "github.com/dutlab/dutlab/dut/xdp" // registers xdp-native and xdp-generic
	"github.com/dutlab/dutlab/generator"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/generator/xdplive"
	"github.com/dutlab/dutlab/internal/units"
	"github.com/dutlab/dutlab/topologies"
)

// compareFlags are the flags of compare and run (run: one datapath, no
// self-check by default).
type compareFlags struct {
	topology, datapaths, engine string
	selfCheck                   bool
	frameSize, flows            int
	duration, warmup            time.Duration
	rate                        units.Rate
	probeRate                   units.OptionalRate
	jsonOut, mdOut, csvOut      string
	quiet, progressJSON         bool
	captureDir                  string
	captureFrames               int
	replay, profile             string
	functions, policyFile       string
	maxLoss                     float64
}

func newCompareCmd(name string, stdout, stderr io.Writer) *cobra.Command {
	f := &compareFlags{duration: 10 * time.Second, warmup: time.Second}
	f.probeRate = units.OptionalRate{Rate: units.PacketRate(10e3), On: true}
	cmd := &cobra.Command{
		Use:  name + " [flags]",
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCompare(cmd, name, f, stdout, stderr)
		},
	}
	if name == "run" {
		cmd.Short = "Measure one datapath"
		cmd.Long = `run brings up the topology's lab, starts one datapath on its DUT node, sends
the workload from the generator node for --duration after --warmup, takes
the lab down again and prints one row: offered and received rate, loss, the
DUT's CPU, latency percentiles of the probe stream, and where each core went.`
		cmd.Example = `  sudo dutlab run --datapath xdp-native --rate 1Mpps --duration 5s
  sudo dutlab run --datapath kernel --profile examples/profiles/imix.yaml --json -
  sudo dutlab run --datapath dpdk --engine dpdk --rate 500kpps --max-loss 0.1`
		cmd.Flags().StringVar(&f.datapaths, "datapath", "kernel", "the `DATAPATH` to measure (see dutlab datapaths)")
	} else {
		cmd.Short = "Measure several datapaths on one lab, side by side"
		cmd.Long = `compare first measures the generator alone over a direct loop (its ceiling,
unless --self-check=false), then runs the same workload through each datapath
in turn on one lab and prints one row per datapath. Rows at 90% or more of
the ceiling are marked gen-bound: there the generator, not the DUT, set the
figure.`
		cmd.Example = `  sudo dutlab compare                                  # kernel, xdp-generic, xdp-native, dpdk at max rate
  sudo dutlab compare --duration 5s --datapaths kernel,xdp-native --md table.md
  sudo dutlab compare --rate 50% --json - > result.json  # half the generator's ceiling`
		cmd.Flags().StringVar(&f.datapaths, "datapaths", "kernel,xdp-generic,xdp-native,dpdk", "comma-separated `DATAPATHS` to measure, in order")
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topology, "topology", "veth-basic", "topology `FILE` or built-in name (see dutlab topologies)")
	fl.BoolVar(&f.selfCheck, "self-check", name == "compare", "first measure the generator's ceiling over a direct loop and mark rows near it")
	fl.StringVar(&f.engine, "engine", "xdp-live", "generator `ENGINE`: xdp-live (veth, any XDP netdev) or dpdk (af_xdp vdevs on veth, physical ports)")
	fl.IntVar(&f.frameSize, "frame-size", 64, "Ethernet frame size in `BYTES`, FCS included (64..1518)")
	fl.IntVar(&f.flows, "flows", 1, "number of flows, 1..65535 (the UDP source port varies over them)")
	fl.Var(units.DurationVar(&f.duration), "duration", "measured window per datapath: "+units.DurationHelp+"; an explicit --duration wins over the profile's")
	fl.Var(units.DurationOrZeroVar(&f.warmup), "warmup", "traffic sent before the window, not counted (0 for none); an explicit --warmup wins over the profile's")
	fl.Var(&f.rate, "rate", "total offered rate, probes included (the bulk stream gets --rate less --probe-rate): "+units.RateHelp+" (N% is of the self-check's ceiling)")
	fl.Var(&f.probeRate, "probe-rate", "rate of the latency probe stream, taken out of --rate, or off; unless given, at most a tenth of a fixed --rate")
	jsonFlag(cmd, &f.jsonOut)
	fl.StringVar(&f.mdOut, "md", "", "also write a Markdown table to `FILE`")
	fl.StringVar(&f.csvOut, "csv", "", "also write CSV to `FILE`")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no progress lines on stderr")
	fl.StringVar(&f.captureDir, "capture", "", "write the first frames sent and received per datapath as pcap files into `DIR`")
	fl.IntVar(&f.captureFrames, "capture-frames", 100, "how many frames --capture records per port")
	fl.StringVar(&f.replay, "replay", "", "send the frames of this pcap `FILE` (in order, round again, MACs set to the lab's) instead of the bulk stream, at --rate")
	fl.BoolVar(&f.progressJSON, "progress-json", false, "print per-second progress as JSON lines on stdout (the only thing on stdout; the table goes to stderr)")
	fl.StringVar(&f.profile, "profile", "", "traffic profile `FILE` (YAML: streams, rates, duration, warm-up); refused together with --rate, --flows, --frame-size or --probe-rate")
	fl.StringVar(&f.functions, "functions", "fwd", "comma-separated `FUNCTIONS` each datapath runs, one row per datapath and function: fwd (forward), fw (built-in firewall: 100 rules, 100k blocklisted prefixes), lb (built-in load balancer: the receive address as a VIP with 4 backends), policy (--policy)")
	fl.StringVar(&f.policyFile, "policy", "", "policy `FILE` (YAML) for the policy function; given alone, --functions becomes policy")
	fl.Float64Var(&f.maxLoss, "max-loss", -1, "fail the run (exit 1) when a row loses more than `PCT` percent; negative: loss never fails it")
	return cmd
}

// options turns the flags into compare.Options, with usage errors for
// combinations that make no sense.
func (f *compareFlags) options(cmd *cobra.Command, name string, stderr io.Writer) (compare.Options, error) {
	o := compare.Options{Duration: f.duration, Warmup: f.warmup, FrameSize: f.frameSize, Flows: f.flows,
		Rate: f.rate, SelfCheck: f.selfCheck, CaptureDir: f.captureDir, CaptureFrames: f.captureFrames}
	switch {
	case f.frameSize < 64 || f.frameSize > 1518:
		return o, usagef("--frame-size %d is outside 64..1518", f.frameSize)
	case f.flows < 1 || f.flows > 65535:
		return o, usagef("--flows %d is outside 1..65535", f.flows)
	case f.progressJSON && f.jsonOut == "-":
		return o, usagef("--progress-json and --json - both want stdout; write the Result to a file with --json FILE")
	case f.captureFrames < 1:
		return o, usagef("--capture-frames %d is not positive", f.captureFrames)
	}
	if f.probeRate.On {
		if f.probeRate.IsMax() || f.probeRate.IsPercent() {
			return o, usagef("--probe-rate %s: give probes a fixed rate (pps or bps) or off", f.probeRate)
		}
		pps, err := f.probeRate.PacketsPerSecond(float64(f.frameSize), units.Rate{})
		if err != nil {
			return o, usagef("--probe-rate: %v", err)
		}
		o.ProbeRatePPS = pps
		o.ProbeRateDefault = !cmd.Flags().Changed("probe-rate")
	}
	if f.rate.IsPercent() && !f.selfCheck {
		return o, usagef("--rate %s is a percentage of the generator's ceiling, which needs --self-check", f.rate)
	}
	var err error
	if o.Spec, err = topologies.Load(f.topology); err != nil {
		return o, err
	}
	if o.Engine, err = pickEngine(f.engine); err != nil {
		return o, err
	}
	if f.profile != "" {
		if err := f.applyProfile(cmd, &o); err != nil {
			return o, err
		}
	}
	if err := f.applyFunctions(cmd, &o); err != nil {
		return o, err
	}
	if o.Datapaths = splitList(f.datapaths); len(o.Datapaths) == 0 {
		return o, usagef("no datapath given")
	}
	for _, d := range o.Datapaths {
		if _, err := dut.Lookup(d); err != nil {
			return o, &usageError{err}
		}
	}
	if !f.quiet {
		o.Log = stderr
	}
	if f.replay != "" {
		if o.Replay, err = generator.ReadPcap(f.replay); err != nil {
			return o, err
		}
		if len(o.Replay) == 0 {
			return o, fmt.Errorf("--replay %s holds no frames", f.replay)
		}
	}
	if o.CaptureDir != "" {
		if err := os.MkdirAll(o.CaptureDir, 0o755); err != nil {
			return o, fmt.Errorf("--capture: %w", err)
		}
	}
	return o, nil
}

// applyFunctions reads --functions and --policy.
func (f *compareFlags) applyFunctions(cmd *cobra.Command, o *compare.Options) error {
	o.Functions = splitList(f.functions)
	if f.policyFile != "" {
		p, err := policy.Load(f.policyFile)
		if err != nil {
			return err
		}
		o.Policy, o.PolicyFile = p, f.policyFile
		if !cmd.Flags().Changed("functions") {
			o.Functions = []string{compare.FuncPolicy}
		}
	}
	for _, fn := range o.Functions {
		if !slices.Contains(compare.Functions, fn) {
			return usagef("--functions: %q is not one of %s", fn, strings.Join(compare.Functions, ", "))
		}
		if fn == compare.FuncPolicy && o.Policy == nil {
			return usagef("--functions policy needs --policy FILE")
		}
	}
	if len(o.Functions) == 0 {
		return usagef("--functions is empty")
	}
	return nil
}

// applyProfile loads --profile into o. The profile owns the streams, so the
// flags that shape the built-in streams are refused beside it; an explicit
// --duration or --warmup wins over the profile's.
func (f *compareFlags) applyProfile(cmd *cobra.Command, o *compare.Options) error {
	for _, flag := range []string{"rate", "flows", "frame-size", "probe-rate"} {
		if cmd.Flags().Changed(flag) {
			return usagef("--%s and --profile both set the streams; put the %s in the profile", flag, flag)
		}
	}
	p, err := generator.LoadProfile(f.profile)
	if err != nil {
		return err
	}
	o.Profile, o.ProfileFile, o.ProbeRatePPS = p, f.profile, 0
	if !cmd.Flags().Changed("duration") {
		switch {
		case p.Packets > 0:
			o.Packets, o.Duration = p.Packets, 0
		case p.Duration > 0:
			o.Duration = p.Duration
		}
	} else if p.Packets > 0 {
		o.Packets = p.Packets // the explicit --duration bounds the count
	}
	if !cmd.Flags().Changed("warmup") && p.Warmup > 0 {
		o.Warmup = p.Warmup
	}
	return nil
}

func runCompare(cmd *cobra.Command, name string, f *compareFlags, stdout, stderr io.Writer) error {
	o, err := f.options(cmd, name, stderr)
	if err != nil {
		return err
	}
	// stdout carries one thing: the table, the Result JSON or the progress lines.
	table := stdout
	if f.jsonOut == "-" || f.progressJSON {
		table = stderr
	}
	if f.progressJSON {
		o.ProgressJSON = stdout
	}
	res, err := compare.Run(cmd.Context(), o)
	if res != nil && len(res.Results) > 0 {
		if werr := writeOutputs(res, table, stdout, f); werr != nil {
			err = errors.Join(err, werr)
		}
		if err == nil {
			err = rowFailures(res, f.maxLoss)
		}
	}
	return err
}

// rowFailures fails a run whose rows failed or lost more than maxLoss
// percent (maxLoss < 0: loss is never a failure).
func rowFailures(res *compare.Result, maxLoss float64) error {
	var errs []error
	for _, r := range res.Results {
		switch {
		case r.Error != "":
			errs = append(errs, fmt.Errorf("%s: %s", r.Datapath, r.Error))
		case maxLoss >= 0 && r.LossPct > maxLoss:
			errs = append(errs, fmt.Errorf("%s: loss %.3f%% is above --max-loss %g%%", r.Datapath, r.LossPct, maxLoss))
		}
	}
	return errors.Join(errs...)
}

func writeOutputs(res *compare.Result, table, stdout io.Writer, f *compareFlags) error {
	fmt.Fprintln(table)
	if err := res.WriteTable(table); err != nil {
		return err
	}
	if f.jsonOut == "-" {
		if err := res.EncodeJSON(stdout); err != nil {
			return err
		}
	} else if f.jsonOut != "" {
		if err := res.WriteJSON(f.jsonOut); err != nil {
			return err
		}
	}
	for _, out := range []struct {
		path  string
		write func(*os.File) error
	}{
		{f.mdOut, func(w *os.File) error { return res.WriteMarkdown(w) }},
		{f.csvOut, func(w *os.File) error { return res.WriteCSV(w) }},
	} {
		if out.path == "" {
			continue
		}
		w, err := os.Create(out.path)
		if err != nil {
			return err
		}
		werr := out.write(w)
		if err := errors.Join(werr, w.Close()); err != nil {
			return fmt.Errorf("write %s: %w", out.path, err)
		}
	}
	return nil
}

func pickEngine(name string) (generator.Engine, error) {
	switch name {
	case "xdp-live":
		return xdplive.New(), nil
	case "dpdk":
		return gendpdk.New(""), nil
	}
	return nil, usagef("--engine %q is not supported; engines are dpdk and xdp-live", name)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
