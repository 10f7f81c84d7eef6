package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"github.com/spf13/cobra"

	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/dut/xdp"
	"github.com/dutlab/dutlab/generator"
)

// MACs the evaluated frames leave with: what a DUT's Out port and its
// peer would have.
var (
	evalOutMAC  = []byte{0x02, 0xd1, 0, 0, 0xb, 1}
	evalPeerMAC = []byte{0x02, 0xd1, 0, 0, 0xa, 1}
)

func newPolicyCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with policy files: the firewall and load balancer a policy DUT runs",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("want a subcommand: eval")
		},
	}
	cmd.AddCommand(newPolicyEvalCmd(stdout, stderr))
	return cmd
}

// evalFrame is one frame's line in `dutlab policy eval`.
type evalFrame struct {
	Index   int    `json:"index"`
	Len     int    `json:"len"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Rule    string `json:"rule,omitempty"`
	VIP     int    `json:"vip"`
	Backend int    `json:"backend"`
	// Diff, when set, is how the datapath disagreed with the model.
	Diff string `json:"diff,omitempty"`
}

type evalResult struct {
	Policy      string          `json:"policy"`
	Datapath    string          `json:"datapath"`
	Pcap        string          `json:"pcap"`
	Frames      []evalFrame     `json:"frames"`
	Counters    policy.Counters `json:"counters"`
	Differences int             `json:"differences"`
	Skipped     int             `json:"skipped"` // frames the kernel's test run refuses (under 14 bytes)
}

func newPolicyEvalCmd(stdout, stderr io.Writer) *cobra.Command {
	var policyFile, datapath, pcapIn, pcapOut, jsonOut string
	cmd := &cobra.Command{
		Use:   "eval --policy FILE --pcap IN",
		Short: "Run the frames of a pcap through a policy: each frame's verdict, and every difference from the model",
		Long: `eval runs every frame of a pcap through the policy's reference model and, with
--datapath xdp, through the xdp_policy BPF program (BPF_PROG_TEST_RUN, no lab
needed, root), and prints each frame's verdict and reason. A frame on which
the datapath and the model disagree (verdict or any byte of the output) is
marked, and the run exits 1. --out writes the frames that leave (the
datapath's) as a pcap.`,
		Example: `  dutlab policy eval --policy examples/policies/edge.yaml --pcap in.pcap
  sudo dutlab policy eval --policy edge.yaml --datapath xdp --pcap in.pcap --out out.pcap --json -`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if policyFile == "" || pcapIn == "" {
				return usagef("--policy and --pcap are required")
			}
			if datapath != "model" && datapath != "xdp" {
				return usagef("--datapath %q: want model or xdp", datapath)
			}
			res, out, err := evalPolicy(policyFile, datapath, pcapIn)
			if err != nil {
				return err
			}
			if pcapOut != "" {
				if err := writeFrames(pcapOut, out); err != nil {
					return err
				}
			}
			text := stdout
			if jsonOut == "-" {
				text = stderr
			}
			printEval(text, res)
			if jsonOut != "" {
				if err := writeJSONTo(stdout, jsonOut, "dutlab.policy-eval", res); err != nil {
					return err
				}
			}
			if res.Differences > 0 {
				return fmt.Errorf("%d frames differ between %s and the model", res.Differences, datapath)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&policyFile, "policy", "", "policy `FILE` (YAML)")
	fl.StringVar(&datapath, "datapath", "model", "`DATAPATH` to run beside the model: model (the model alone) or xdp")
	fl.StringVar(&pcapIn, "pcap", "", "the frames to run, a pcap or pcapng `FILE` (Ethernet)")
	fl.StringVar(&pcapOut, "out", "", "write the frames that leave to this pcap `FILE`")
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func evalPolicy(policyFile, datapath, pcapIn string) (*evalResult, [][]byte, error) {
	p, err := policy.Load(policyFile)
	if err != nil {
		return nil, nil, err
	}
	frames, err := generator.ReadPcap(pcapIn)
	if err != nil {
		return nil, nil, err
	}
	model := policy.NewModel(p, evalOutMAC, evalPeerMAC)
	var prog *xdp.Policy
	if datapath == "xdp" {
		if prog, err = xdp.LoadPolicy(p, xdp.PolicyPorts{OutSMAC: evalOutMAC, OutDMAC: evalPeerMAC}); err != nil {
			return nil, nil, err
		}
		defer prog.Close()
	}
	names := p.RuleNames()
	res := &evalResult{Policy: policyFile, Datapath: datapath, Pcap: pcapIn}
	var out [][]byte
	for i, f := range frames {
		o := model.Process(f)
		ef := evalFrame{Index: i, Len: len(f), Verdict: o.Verdict.String(), Reason: o.Reason.String(), VIP: o.VIP, Backend: o.Backend}
		if o.Rule >= 0 {
			ef.Rule = names[o.Rule]
		}
		leaves := o.Frame
		if prog != nil {
			got, verdict, skipped, err := runXDP(prog.Program(), f)
			switch {
			case err != nil:
				return nil, nil, fmt.Errorf("frame %d: %w", i, err)
			case skipped:
				res.Skipped++
			default:
				ef.Diff = compareOutcome(o, verdict, got)
				leaves = got
			}
		}
		if ef.Diff != "" {
			res.Differences++
		}
		if leaves != nil {
			out = append(out, leaves)
		}
		res.Frames = append(res.Frames, ef)
	}
	res.Counters = model.C
	if prog != nil {
		c, err := prog.Counters()
		if err != nil {
			return nil, nil, err
		}
		res.Counters = c
	}
	return res, out, nil
}

// runXDP test-runs prog on frame: the output frame (nil when dropped), the
// verdict, and whether the kernel refused a runt.
func runXDP(prog *ebpf.Program, frame []byte) ([]byte, uint32, bool, error) {
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+64)}
	ret, err := prog.Run(opts)
	if err != nil && len(frame) < 14 {
		return nil, 0, true, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	if ret != 3 { // XDP_TX
		return nil, ret, false, nil
	}
	return opts.DataOut, ret, false, nil
}

func compareOutcome(o policy.Outcome, verdict uint32, got []byte) string {
	switch {
	case o.Verdict == policy.VerdictDrop && verdict != 1:
		return fmt.Sprintf("the model drops it (%s), xdp returned %d", o.Reason, verdict)
	case o.Verdict == policy.VerdictForward && verdict != 3:
		return fmt.Sprintf("the model forwards it, xdp returned %d", verdict)
	case o.Verdict == policy.VerdictForward && !bytes.Equal(o.Frame, got):
		for i := range min(len(got), len(o.Frame)) {
			if got[i] != o.Frame[i] {
				return fmt.Sprintf("output differs from byte %d (model %#02x, xdp %#02x)", i, o.Frame[i], got[i])
			}
		}
		return fmt.Sprintf("output is %d bytes, the model's %d", len(got), len(o.Frame))
	}
	return ""
}

func printEval(w io.Writer, r *evalResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "frame\tlen\tverdict\treason\trule\tvip/backend\tdiff")
	for _, f := range r.Frames {
		lb := "-"
		if f.VIP >= 0 {
			lb = fmt.Sprintf("%d/%d", f.VIP, f.Backend)
		}
		rule, diff := f.Rule, f.Diff
		if rule == "" {
			rule = "-"
		}
		if diff == "" {
			diff = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", f.Index, f.Len, f.Verdict, f.Reason, rule, lb, diff)
	}
	tw.Flush()
	c := r.Counters
	fmt.Fprintf(w, "\n%d frames through %s (%s): forwarded %d, malformed %d, blocklisted %d, icmp echo %d, default drop %d; %d differences from the model",
		len(r.Frames), r.Datapath, r.Policy, c.Forwarded, c.Malformed, c.Blocked, c.ICMPEcho, c.DefaultDrop, r.Differences)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "; %d runts the kernel's test run refuses", r.Skipped)
	}
	fmt.Fprintln(w)
}

func writeFrames(path string, frames [][]byte) error {
	c, err := generator.NewCapture(path, max(len(frames), 1))
	if err != nil {
		return err
	}
	now := time.Now()
	for i, f := range frames {
		c.Add(now.Add(time.Duration(i)*time.Microsecond), f)
	}
	return errors.Join(c.Close())
}
