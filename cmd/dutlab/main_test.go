package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/dutlab/dutlab/topologies"
)

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"check bad file", []string{"check", "../../topologies/testdata/bad/bad-cidr.yaml"}, "bad-cidr.yaml:"},
		{"check bad profile", []string{"check", "../../generator/testdata/profiles/bad/icmp-ports.yaml"}, "icmp-ports.yaml:5: streams[0].dst.port: icmp-echo has no destination port"},
		{"compare bad frame size", []string{"compare", "--frame-size", "20"}, "--frame-size 20 is outside 64..1518"},
		{"compare unknown datapath", []string{"compare", "--datapaths", "kernel,warp", "--duration", "1"}, `datapath "warp" is not supported`},
		{"compare unknown engine", []string{"compare", "--engine", "pktgen"}, `engine "pktgen" is not supported`},
		{"down needs a name", []string{"down"}, "want a topology, a lab name, or --all"},
		{"down unknown lab", []string{"down", "nosuchlab"}, `lab "nosuchlab" is not up`},
	}
	lab.StateDir = t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, run(tt.args), tt.want)
		})
	}
}

func TestCheckBuiltins(t *testing.T) {
	require.NoError(t, run(append([]string{"check"}, topologies.BuiltinNames()...)))
}

func TestCheckExampleProfiles(t *testing.T) {
	files, err := filepath.Glob("../../examples/profiles/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	require.NoError(t, run(append([]string{"check"}, files...)))
}

// TestUpShowDown drives the lab commands as a user would.
func TestUpShowDown(t *testing.T) {
	testenv.RequireRoot(t)
	lab.StateDir = t.TempDir()
	name := testenv.UniqueName("u")
	b, err := os.ReadFile("../../topologies/builtin/veth-basic.yaml")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "lab.yaml")
	text := strings.Replace(string(b), "name: veth-basic", "name: "+name, 1)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	spec, err := topologies.Load(path)
	require.NoError(t, err)

	require.NoError(t, cmdUp(context.Background(), []string{path}))
	t.Cleanup(func() { _ = lab.Down(name) })
	for _, n := range spec.Nodes {
		require.FileExists(t, "/run/netns/"+n.Netns)
	}
	require.NoError(t, cmdShow(nil))
	require.NoError(t, run([]string{"down", path}))
	for _, n := range spec.Nodes {
		require.NoFileExists(t, "/run/netns/"+n.Netns)
	}
}
