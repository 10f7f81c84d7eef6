package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/dutlab/dutlab/compare"
	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/dutlab/dutlab/topologies"
)

var update = flag.Bool("update", false, "rewrite the golden help texts in testdata/help")

// cli runs dutlab with args and returns its exit status, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "a command is needed"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", []string{"compare", "--frobnicate"}, exitUsage, "unknown flag: --frobnicate"},
		{"single dash long flag", []string{"compare", "-duration", "1"}, exitUsage, "unknown shorthand flag"},
		{"check bad file", []string{"check", "../../topologies/testdata/bad/bad-cidr.yaml"}, exitFailed, "bad-cidr.yaml:"},
		{"check bad profile", []string{"check", "../../generator/testdata/profiles/bad/icmp-ports.yaml"}, exitFailed, "icmp-ports.yaml:5: streams[0].dst.port: icmp-echo has no destination port"},
		{"check nothing", []string{"check"}, exitUsage, "requires at least 1 arg"},
		{"compare bad frame size", []string{"compare", "--frame-size", "20"}, exitUsage, "--frame-size 20 is outside 64..1518"},
		{"compare unknown datapath", []string{"compare", "--datapaths", "kernel,warp", "--duration", "1"}, exitUsage, `datapath "warp" is not supported`},
		{"compare unknown engine", []string{"compare", "--engine", "pktgen"}, exitUsage, `engine "pktgen" is not supported`},
		{"rate nan", []string{"run", "--rate", "nan"}, exitUsage, `rate "nan" is not a finite number`},
		{"rate percent without self-check", []string{"run", "--rate", "50%"}, exitUsage, "needs --self-check"},
		{"duration inf", []string{"run", "--duration", "inf"}, exitUsage, `duration "inf" is not a finite number`},
		{"duration zero", []string{"run", "--duration", "0"}, exitUsage, `duration "0" is zero`},
		{"duration negative", []string{"compare", "--duration", "-3s"}, exitUsage, "is negative"},
		{"probe rate max", []string{"run", "--probe-rate", "max"}, exitUsage, "give probes a fixed rate"},
		{"profile and rate", []string{"run", "--profile", "../../examples/profiles/imix.yaml", "--rate", "1Mpps"}, exitUsage, "--rate and --profile both set the streams"},
		{"progress and json both on stdout", []string{"run", "--progress-json", "--json", "-"}, exitUsage, "both want stdout"},
		{"down needs a name", []string{"down"}, exitUsage, "want a topology or lab name, or --all"},
		{"down name and all", []string{"down", "x", "--all"}, exitUsage, "want a topology or lab name, or --all"},
		{"down unknown lab", []string{"down", "nosuchlab"}, exitFailed, `lab "nosuchlab" is not up`},
		{"bench without suite", []string{"bench"}, exitUsage, "want a suite"},
		{"bench unknown suite", []string{"bench", "testpmd"}, exitUsage, `unknown command "testpmd"`},
	}
	lab.StateDir = t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, tt.args...)
			require.Equal(t, tt.code, code, "stderr: %s", errOut)
			require.Contains(t, errOut, tt.want)
			require.Empty(t, out, "errors go to stderr only")
			if tt.args == nil {
				require.Contains(t, errOut, "Available Commands:", "dutlab alone shows the commands")
			}
			if code == exitUsage && tt.args != nil {
				require.Contains(t, errOut, "--help'", "a usage error points to --help")
				require.LessOrEqual(t, strings.Count(errOut, "\n"), 2, "a usage error is one line and a pointer, not a usage dump: %s", errOut)
			}
		})
	}
}

// allCommands lists every command path of the tree, root first.
func allCommands(c *cobra.Command) [][]string {
	out := [][]string{nil}
	for _, sub := range c.Commands() {
		if sub.Hidden || sub.Name() == "help" {
			continue
		}
		for _, p := range allCommands(sub) {
			out = append(out, append([]string{sub.Name()}, p...))
		}
	}
	return out
}

// TestHelp runs every command with --help and -h: exit 0, the text on
// stdout, and the text equal to testdata/help/<command>.txt (go test
// -run TestHelp -update rewrites them), so a stale flag shows in review.
func TestHelp(t *testing.T) {
	cmds := allCommands(newRoot(nil, nil))
	require.GreaterOrEqual(t, len(cmds), 12)
	for _, path := range cmds {
		name := strings.Join(append([]string{"dutlab"}, path...), "-")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := cli(t, append(path, "--help")...)
			require.Equal(t, exitOK, code, errOut)
			require.Contains(t, out, "Usage:")
			require.NotContains(t, out, "\n  -duration", "flags have double dashes")
			code, short, _ := cli(t, append(path, "-h")...)
			require.Equal(t, exitOK, code)
			require.Equal(t, out, short)
			golden := filepath.Join("testdata", "help", name+".txt")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./cmd/dutlab -run TestHelp -update")
			require.Equal(t, string(want), out, "help text changed: run go test ./cmd/dutlab -run TestHelp -update and review the diff")
		})
	}
}

// TestJSONDocuments checks that --json - puts one JSON document with schema
// and type on stdout and nothing else.
func TestJSONDocuments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		typ  string
	}{
		{[]string{"topologies", "--json", "-"}, "dutlab.topologies"},
		{[]string{"datapaths", "--json", "-"}, "dutlab.datapaths"},
		{[]string{"version", "--json", "-"}, "dutlab.version"},
		{[]string{"check", "--json", "-", "../../topologies/builtin/veth-basic.yaml"}, "dutlab.check"},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			code, out, errOut := cli(t, tt.args...)
			require.Equal(t, exitOK, code, errOut)
			var doc map[string]any
			require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
			require.Equal(t, float64(1), doc["schema"])
			require.Equal(t, tt.typ, doc["type"])
		})
	}
	code, out, _ := cli(t, "datapaths", "--json", "-")
	require.Equal(t, exitOK, code)
	for _, d := range []string{"kernel", "xdp-native", "xdp-generic", "dpdk", "reflector"} {
		require.Contains(t, out, `"`+d+`"`)
	}
}

func TestCheckBuiltins(t *testing.T) {
	code, out, errOut := cli(t, append([]string{"check"}, topologies.BuiltinNames()...)...)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, len(topologies.BuiltinNames()), strings.Count(out, ": ok ("))
}

func TestCheckExampleProfiles(t *testing.T) {
	files, err := filepath.Glob("../../examples/profiles/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	code, out, errOut := cli(t, append([]string{"check"}, files...)...)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, len(files), strings.Count(out, ": ok (profile"))
}

// TestUpShowDown drives the lab commands as a user would.
func TestUpShowDown(t *testing.T) {
	testenv.RequireRoot(t)
	lab.StateDir = t.TempDir()
	name := lab.UniqueName("u")
	b, err := os.ReadFile("../../topologies/builtin/veth-basic.yaml")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "lab.yaml")
	text := strings.Replace(string(b), "name: veth-basic", "name: "+name, 1)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	spec, err := topologies.Load(path)
	require.NoError(t, err)

	code, out, errOut := cli(t, "up", path)
	require.Equal(t, exitOK, code, errOut)
	t.Cleanup(func() { _ = lab.Down(name) })
	require.Contains(t, out, "node")
	for _, n := range spec.Nodes {
		require.FileExists(t, "/run/netns/"+n.Netns)
	}
	code, out, _ = cli(t, "show", "--json", "-")
	require.Equal(t, exitOK, code)
	require.Contains(t, out, `"name": "`+name+`"`)
	code, _, errOut = cli(t, "down", path)
	require.Equal(t, exitOK, code, errOut)
	for _, n := range spec.Nodes {
		require.NoFileExists(t, "/run/netns/"+n.Netns)
	}
}

func TestRowFailures(t *testing.T) {
	res := &compare.Result{Results: []compare.Row{
		{Datapath: "kernel", LossPct: 0.5},
		{Datapath: "xdp-native", LossPct: 0},
	}}
	require.NoError(t, rowFailures(res, -1), "without --max-loss, loss is a figure, not a failure")
	require.NoError(t, rowFailures(res, 1))
	require.ErrorContains(t, rowFailures(res, 0.1), "kernel: loss 0.500% is above --max-loss 0.1%")
	res.Results[1].Error = "attach: operation not permitted"
	err := rowFailures(res, -1)
	require.ErrorContains(t, err, "xdp-native: attach: operation not permitted", "a failed row fails the run")
}

// TestPolicyEval runs a pcap through the model and, as root, through
// xdp_policy: the verdicts come out, and the datapath agrees with the model.
func TestPolicyEval(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	frames := [][]byte{
		// 198.18.0.1 -> 198.19.0.100 TCP 40000 -> 80 SYN: balanced.
		mustHex(t, "020000000002020000000001080045000028000100004006f0fec6120001c6130064"+"9c400050000000010000000050020000d9e50000"),
		make([]byte, 60), // not IP: forwarded unchanged but for its MACs
	}
	c, err := generator.NewCapture(in, len(frames))
	require.NoError(t, err)
	for _, f := range frames {
		c.Add(time.Now(), f)
	}
	require.NoError(t, c.Close())
	datapaths := []string{"model"}
	if os.Geteuid() == 0 {
		datapaths = append(datapaths, "xdp")
	}
	for _, dp := range datapaths {
		code, out, errOut := cli(t, "policy", "eval", "--policy", "../../examples/policies/edge.yaml", "--datapath", dp, "--pcap", in, "--json", "-")
		require.Equal(t, exitOK, code, errOut)
		var res evalResult
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		require.Len(t, res.Frames, 2)
		require.Equal(t, "forward", res.Frames[0].Verdict)
		require.Equal(t, 0, res.Frames[0].VIP, "the SYN to 198.19.0.100:80 is balanced")
		require.Equal(t, 0, res.Differences)
		require.Equal(t, uint64(2), res.Counters.Forwarded)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
