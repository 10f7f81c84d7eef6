package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/buildinfo"
	"github.com/dutlab/dutlab/internal/dpdk"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/rcu"
	"github.com/dutlab/dutlab/topologies"
)

func newUpCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "up TOPOLOGY",
		Short: "Bring a lab up and leave it up",
		Long: `up creates the topology's namespaces, veth pairs and addresses and returns,
leaving the lab up for your own tools (ip netns exec, tcpdump). Take it down
with dutlab down.`,
		Example: `  sudo dutlab up veth-basic
  sudo dutlab up topologies/builtin/veth-basic.yaml`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			spec, err := topologies.Load(a[0])
			if err != nil {
				return err
			}
			env, err := lab.Up(cmd.Context(), spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "lab %s is up (take it down with: dutlab down %s)\n", spec.Name, spec.Name)
			return printEnv(stdout, env)
		},
	}
}

func printEnv(w io.Writer, env *lab.Env) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
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
	return tw.Flush()
}

func newDownCmd(stdout io.Writer) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down {TOPOLOGY | NAME | --all}",
		Short: "Take a lab down (also after a killed run)",
		Long: `down removes everything a lab made: namespaces, veth pairs, XDP programs,
nftables tables, DPDK runtime and hugepage files, and moves host ports back.
--all removes every dutlab lab and DPDK leftover on this machine.`,
		Example: `  sudo dutlab down veth-basic
  sudo dutlab down --all`,
		Args: args(func(cmd *cobra.Command, a []string) error {
			if all == (len(a) == 1) || len(a) > 1 {
				return errors.New("want a topology or lab name, or --all")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, a []string) error {
			if all {
				// DPDK leftovers (runtime dirs, hugepage files) of dead workers go too.
				return errors.Join(lab.DownAll(), dpdk.Cleanup(), rcu.Restore())
			}
			name := a[0]
			if strings.ContainsRune(name, '/') || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
				spec, err := topologies.Load(name)
				if err != nil {
					return err
				}
				name = spec.Name
			}
			if err := lab.Down(name); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("lab %q is not up (see `dutlab show`; `dutlab down --all` removes leftovers)", name)
				}
				return err
			}
			if err := dpdk.Cleanup(); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "lab %s is down\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "take down every dutlab lab and remove DPDK leftovers")
	return cmd
}

// labRow is one line of `dutlab show`.
type labRow struct {
	lab.State
	Alive bool `json:"alive"`
}

func newShowCmd(stdout io.Writer) *cobra.Command {
	var jsonOut string
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "List the labs that are up",
		Example: "  dutlab show\n  dutlab show --json - | jq '.labs[].name'",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			states, err := lab.List()
			if err != nil {
				return err
			}
			rows := make([]labRow, 0, len(states))
			for _, st := range states {
				rows = append(rows, labRow{*st, alive(st.PID)})
			}
			if jsonOut != "" {
				return writeJSONTo(stdout, jsonOut, "dutlab.labs", struct {
					Labs []labRow `json:"labs"`
				}{rows})
			}
			if len(rows) == 0 {
				fmt.Fprintln(stdout, "no lab is up")
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "lab\tsource\tpid\tup since\tnamespaces")
			for _, r := range rows {
				state := ""
				if !r.Alive {
					state = " (gone: `dutlab down " + r.Name + "` cleans up)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d%s\t%s\t%s\n", r.Name, r.Source, r.PID, state, r.CreatedAt.Local().Format(time.DateTime), strings.Join(r.Netns, " "))
			}
			return tw.Flush()
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

// checked is one file's verdict in `dutlab check`.
type checked struct {
	File    string `json:"file"`
	Kind    string `json:"kind"` // topology or profile
	OK      bool   `json:"ok"`
	Summary string `json:"summary,omitempty"`
	Error   string `json:"error,omitempty"`
}

func newCheckCmd(stdout, stderr io.Writer) *cobra.Command {
	var jsonOut string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate topology, profile and policy files",
		Long: `check parses each file as a topology, as a traffic profile (a top-level
streams key) or as a policy (a top-level firewall or lb key), and reports
every error with file:line: field. It exits 1 when a file has errors.`,
		Example: "  dutlab check topologies/builtin/*.yaml examples/profiles/*.yaml examples/policies/*.yaml",
		Args:    args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			var errs []error
			var out []checked
			for _, file := range a {
				c := checkFile(file)
				if !c.OK {
					errs = append(errs, errors.New(c.Error))
				}
				out = append(out, c)
			}
			if jsonOut != "" {
				if err := writeJSONTo(stdout, jsonOut, "dutlab.check", struct {
					Files []checked `json:"files"`
				}{out}); err != nil {
					return err
				}
			} else {
				for _, c := range out {
					if c.OK {
						fmt.Fprintf(stdout, "%s: ok (%s)\n", c.File, c.Summary)
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func checkFile(file string) checked {
	if isPolicy(file) {
		c := checked{File: file, Kind: "policy"}
		p, err := policy.Load(file)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		c.OK, c.Summary = true, fmt.Sprintf("policy %s, %d rules, %d blocklisted prefixes, %d VIPs", p.Name, len(p.Firewall.Rules), len(p.Firewall.Blocklist), len(p.LB.VIPs))
		return c
	}
	if isProfile(file) {
		c := checked{File: file, Kind: "profile"}
		p, err := generator.LoadProfile(file)
		if err != nil {
			c.Error = err.Error()
			return c
		}
		window := p.Duration.String()
		if p.Packets > 0 {
			window = fmt.Sprintf("%d packets", p.Packets)
		}
		c.OK, c.Summary = true, fmt.Sprintf("profile, %d streams, %s after %s warm-up", len(p.Streams), window, p.Warmup)
		return c
	}
	c := checked{File: file, Kind: "topology"}
	spec, err := topologies.Load(file)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.OK, c.Summary = true, fmt.Sprintf("lab %s, %d nodes, %d links", spec.Name, len(spec.Nodes), len(spec.Links))
	return c
}

// isPolicy says whether the file at path is a policy: a mapping with a
// top-level firewall or lb key.
func isPolicy(path string) bool {
	top := topKeys(path)
	_, fw := top["firewall"]
	_, lb := top["lb"]
	return fw || lb
}

func topKeys(path string) map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var top map[string]any
	if yaml.Unmarshal(b, &top) != nil {
		return nil
	}
	return top
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

func newTopologiesCmd(stdout io.Writer) *cobra.Command {
	return listCmd(stdout, "topologies", "List the built-in topologies",
		"  dutlab topologies\n  sudo dutlab compare --topology veth-basic", topologies.BuiltinNames)
}

func newDatapathsCmd(stdout io.Writer) *cobra.Command {
	return listCmd(stdout, "datapaths", "List the DUT datapaths",
		"  dutlab datapaths\n  sudo dutlab run --datapath reflector", dut.Names)
}

// listCmd is a command that lists names: one a line, or as JSON of type
// dutlab.<name> holding {"<name>": [...]}.
func listCmd(stdout io.Writer, name, short, example string, names func() []string) *cobra.Command {
	var jsonOut string
	cmd := &cobra.Command{
		Use:     name,
		Short:   short,
		Example: example,
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := names()
			if jsonOut != "" {
				return writeJSONTo(stdout, jsonOut, "dutlab."+name, map[string][]string{name: list})
			}
			for _, n := range list {
				fmt.Fprintln(stdout, n)
			}
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	var jsonOut string
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date",
		Example: "  dutlab version\n  dutlab version --json -",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi := buildinfo.Get()
			if jsonOut != "" {
				return writeJSONTo(stdout, jsonOut, "dutlab.version", bi)
			}
			commit, date := bi.Commit, bi.Date
			if commit == "" {
				commit = "unknown"
			}
			if date == "" {
				date = "at an unknown date"
			}
			version := bi.Version
			if version == "" {
				version = "(devel)"
			}
			fmt.Fprintf(stdout, "dutlab %s (commit %s, built %s with %s)\n", version, commit, date, bi.GoVersion)
			return nil
		},
	}
	jsonFlag(cmd, &jsonOut)
	return cmd
}
