package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dutlab/dutlab/compare"
	"github.com/dutlab/dutlab/dut"
	_ "github.com/dutlab/dutlab/dut/dpdk"   // registers the dpdk datapath
	_ "github.com/dutlab/dutlab/dut/kernel" // registers the kernel datapath
	_ "github.com/dutlab/dutlab/dut/xdp"    // registers xdp-native and xdp-generic
	"github.com/dutlab/dutlab/generator"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/generator/xdplive"
	"github.com/dutlab/dutlab/internal/dpdk"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/rcu"
	"github.com/dutlab/dutlab/topologies"
)

// cmdCompare serves `compare` (several datapaths, self-check on) and `run`
// (one datapath, self-check off): the same flags with other defaults.
func cmdCompare(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	topo := fs.String("topology", "veth-basic", "topology file or built-in name")
	var datapaths *string
	if cmd == "run" {
		datapaths = fs.String("datapath", "kernel", "the datapath to measure")
	} else {
		datapaths = fs.String("datapaths", "kernel,xdp-generic,xdp-native,dpdk", "comma-separated datapaths to measure, in order")
	}
	selfCheck := fs.Bool("self-check", cmd == "compare", "first measure the generator's ceiling over a direct loop and flag rows near it")
	engine := fs.String("engine", "xdp-live", "generator engine: xdp-live (veth, any XDP netdev) or dpdk (af_xdp vdevs here, physical ports)")
	frame := fs.Int("frame-size", 64, "Ethernet frame size in bytes, FCS included (64..1518)")
	flows := fs.Int("flows", 1, "number of flows (the UDP source port varies over them)")
	o := compare.Options{Duration: 10 * time.Second, Warmup: time.Second}
	fs.Var(durationFlag{&o.Duration}, "duration", "measured seconds per datapath (10, or 10s)")
	fs.Var(durationFlag{&o.Warmup}, "warmup", "seconds sent before the measurement window")
	fs.Var(rateFlag{&o.RatePPS}, "rate", "offered rate: max, 1000, 100kpps, 1.5Mpps")
	o.ProbeRatePPS = 10e3
	fs.Var(rateFlag{&o.ProbeRatePPS}, "probe-rate", "rate of the latency probe stream sent beside the bulk stream (0 for none)")
	jsonOut := fs.String("json", "", "write the Result as JSON to this file")
	mdOut := fs.String("md", "", "write a Markdown table to this file")
	csvOut := fs.String("csv", "", "write CSV to this file")
	quiet := fs.Bool("q", false, "no progress lines")
	fs.StringVar(&o.CaptureDir, "capture", "", "write the first frames sent and received per datapath as pcap files into this directory")
	fs.IntVar(&o.CaptureFrames, "capture-frames", 100, "how many frames --capture records per port")
	replay := fs.String("replay", "", "send the frames of this pcap (in order, round again, MACs set to the lab's) instead of the bulk stream, at --rate")
	progressJSON := fs.Bool("progress-json", false, "print per-second progress as JSON lines on stdout")
	profile := fs.String("profile", "", "traffic profile (YAML): streams, rates, duration, warm-up; replaces --rate, --flows, --frame-size and --probe-rate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	if *frame < 64 || *frame > 1518 {
		return fmt.Errorf("%s: --frame-size %d is outside 64..1518", cmd, *frame)
	}
	if *flows < 1 || *flows > 65535 {
		return fmt.Errorf("%s: --flows %d is outside 1..65535", cmd, *flows)
	}
	spec, err := topologies.Load(*topo)
	if err != nil {
		return err
	}
	eng, err := pickEngine(*engine)
	if err != nil {
		return err
	}
	o.Spec, o.Engine, o.FrameSize, o.Flows, o.SelfCheck = spec, eng, *frame, *flows, *selfCheck
	if *profile != "" {
		p, err := generator.LoadProfile(*profile)
		if err != nil {
			return err
		}
		o.Profile, o.ProfileFile = p, *profile
		if p.Duration > 0 {
			o.Duration = p.Duration
		}
		if p.Packets > 0 {
			o.Packets, o.Duration = p.Packets, 0
		}
		if p.Warmup > 0 {
			o.Warmup = p.Warmup
		}
	}
	o.Datapaths = splitList(*datapaths)
	if len(o.Datapaths) == 0 {
		return fmt.Errorf("%s: no datapath given", cmd)
	}
	if !*quiet {
		o.Log = os.Stderr
	}
	if *replay != "" {
		frames, err := generator.ReadPcap(*replay)
		if err != nil {
			return err
		}
		if len(frames) == 0 {
			return fmt.Errorf("%s: --replay %s holds no frames", cmd, *replay)
		}
		o.Replay = frames
	}
	if o.CaptureDir != "" {
		if err := os.MkdirAll(o.CaptureDir, 0o755); err != nil {
			return fmt.Errorf("%s: --capture: %w", cmd, err)
		}
	}
	if *progressJSON {
		o.ProgressJSON = os.Stdout
	}
	res, err := compare.Run(ctx, o)
	if res != nil && len(res.Results) > 0 {
		if werr := writeOutputs(res, *jsonOut, *mdOut, *csvOut); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	return err
}

func writeOutputs(res *compare.Result, jsonOut, mdOut, csvOut string) error {
	fmt.Println()
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	if jsonOut != "" {
		if err := res.WriteJSON(jsonOut); err != nil {
			return err
		}
	}
	for _, out := range []struct {
		path  string
		write func(*os.File) error
	}{
		{mdOut, func(f *os.File) error { return res.WriteMarkdown(f) }},
		{csvOut, func(f *os.File) error { return res.WriteCSV(f) }},
	} {
		if out.path == "" {
			continue
		}
		f, err := os.Create(out.path)
		if err != nil {
			return err
		}
		werr := out.write(f)
		if err := errors.Join(werr, f.Close()); err != nil {
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
	return nil, fmt.Errorf("engine %q is not supported; supported engines are [dpdk xdp-live]", name)
}

func cmdUp(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("up: want one topology (a file or a built-in name)")
	}
	spec, err := topologies.Load(args[0])
	if err != nil {
		return err
	}
	env, err := lab.Up(ctx, spec)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s is up (take it down with: dutlab down %s)\n", spec.Name, spec.Name)
	printEnv(env)
	return nil
}

func printEnv(env *lab.Env) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "node\tkind\tnetns\tcores\tport\trole\tmac\taddress\tpeer")
	for _, n := range env.Nodes {
		for _, p := range n.Ports {
			peer := "-"
			if p.Peer != nil {
				peer = p.Peer.Node + ":" + p.Peer.Name
			}
			addr := "-"
			if p.Addr.IsValid() {
				addr = p.Addr.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Kind, n.Netns, n.Cores, p.Name, p.Role, p.MAC, addr, peer)
		}
	}
	tw.Flush()
}

func cmdDown(args []string) error {
	if len(args) != 1 {
		return errors.New("down: want a topology, a lab name, or --all")
	}
	if args[0] == "--all" || args[0] == "-all" {
		// DPDK leftovers (runtime dirs, hugepage files) of dead workers go too.
		return errors.Join(lab.DownAll(), dpdk.Cleanup(), rcu.Restore())
	}
	name := args[0]
	if strings.ContainsRune(name, '/') || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
		spec, err := topologies.Load(name)
		if err != nil {
			return err
		}
		name = spec.Name
	}
	if err := lab.Down(name); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("down: lab %q is not up (see `dutlab show`; `dutlab down --all` removes leftovers)", name)
		}
		return err
	}
	if err := dpdk.Cleanup(); err != nil {
		return err
	}
	fmt.Printf("lab %s is down\n", name)
	return nil
}

func cmdShow(args []string) error {
	if len(args) != 0 {
		return errors.New("show: takes no arguments")
	}
	states, err := lab.List()
	if err != nil {
		return err
	}
	if len(states) == 0 {
		fmt.Println("no lab is up")
		return nil
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "lab\tsource\tpid\tup since\tnamespaces")
	for _, st := range states {
		state := ""
		if !alive(st.PID) {
			state = " (gone: `dutlab down " + st.Name + "` cleans up)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d%s\t%s\t%s\n", st.Name, st.Source, st.PID, state, st.CreatedAt.Local().Format(time.DateTime), strings.Join(st.Netns, " "))
	}
	return tw.Flush()
}

func cmdCheck(args []string) error {
	if len(args) == 0 {
		return errors.New("check: want one or more topology or profile files")
	}
	var errs []error
	for _, a := range args {
		if isProfile(a) {
			p, err := generator.LoadProfile(a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			window := p.Duration.String()
			if p.Packets > 0 {
				window = fmt.Sprintf("%d packets", p.Packets)
			}
			fmt.Printf("%s: ok (profile, %d streams, %s after %s warm-up)\n", a, len(p.Streams), window, p.Warmup)
			continue
		}
		spec, err := topologies.Load(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Printf("%s: ok (lab %s, %d nodes, %d links)\n", a, spec.Name, len(spec.Nodes), len(spec.Links))
	}
	return errors.Join(errs...)
}

// isProfile says whether the file at path is a traffic profile rather than a
// topology: a mapping with a top-level streams key and no topology key.
func isProfile(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var top map[string]any
	if yaml.Unmarshal(b, &top) != nil {
		return false
	}
	_, streams := top["streams"]
	_, topology := top["topology"]
	return streams && !topology
}

func cmdTopologies() error {
	for _, n := range topologies.BuiltinNames() {
		fmt.Println(n)
	}
	return nil
}

func cmdDatapaths() error {
	for _, n := range dut.Names() {
		fmt.Println(n)
	}
	return nil
}

func version() string {
	v := "dutlab (devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	exe, _ := os.Executable()
	return v + " " + filepath.Base(exe)
}
