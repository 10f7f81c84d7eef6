package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dutlab/dutlab/compare/dpdkbench"
	"github.com/dutlab/dutlab/internal/buildinfo"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/dutlab/dutlab/topologies"
)

// throwawayTopology writes the built-in veth-basic topology under a unique
// lab name and returns its path and spec.
func throwawayTopology(t *testing.T) (string, *topologies.Spec) {
	t.Helper()
	lab.StateDir = t.TempDir()
	b, err := os.ReadFile("../../topologies/builtin/veth-basic.yaml")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "lab.yaml")
	text := strings.Replace(string(b), "name: veth-basic", "name: "+lab.UniqueName("c"), 1)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	spec, err := topologies.Load(path)
	require.NoError(t, err)
	return path, spec
}

// writeOversizePcap writes a pcap holding one frame larger than any
// engine sends (a 64 KiB GRO frame as captured on a host).
func writeOversizePcap(t *testing.T) string {
	t.Helper()
	frame := make([]byte, 66014)
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0)      // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0)      // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 262144) // snaplen
	b = binary.LittleEndian.AppendUint32(b, 1)      // Ethernet
	for range 2 {
		b = binary.LittleEndian.AppendUint32(b, 0) // ts
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
	path := filepath.Join(t.TempDir(), "oversize.pcap")
	require.NoError(t, os.WriteFile(path, append(b, frame...), 0o644))
	return path
}

// requireLabGone checks that nothing of the lab is left.
func requireLabGone(t *testing.T, spec *topologies.Spec) {
	t.Helper()
	for _, n := range spec.Nodes {
		require.NoFileExists(t, "/run/netns/"+n.Netns)
	}
}

// TestRunFailedRowExits1: a run whose only row failed exits 1, with the
// table on stdout and the reason on stderr.
func TestRunFailedRowExits1(t *testing.T) {
	testenv.RequireRoot(t)
	topo, spec := throwawayTopology(t)
	code, out, errOut := cli(t, "run", "--topology", topo, "--duration", "1", "--warmup", "0", "-q", "--replay", writeOversizePcap(t))
	require.Equal(t, exitFailed, code, errOut)
	require.Contains(t, out, "error:", "the failed row is in the table")
	require.Contains(t, errOut, "dutlab: kernel:", "stderr names the failed row")
	requireLabGone(t, spec)
}

// TestRunJSONOnStdout: --json - puts one Result document on stdout, the
// table on stderr.
func TestRunJSONOnStdout(t *testing.T) {
	testenv.RequireRoot(t)
	topo, spec := throwawayTopology(t)
	code, out, errOut := cli(t, "run", "--topology", topo, "--duration", "1", "--warmup", "0", "--rate", "10kpps", "--json", "-", "--max-loss", "100")
	require.Equal(t, exitOK, code, errOut)
	var doc struct {
		Schema  int    `json:"schema"`
		Type    string `json:"type"`
		Results []struct {
			Datapath  string `json:"datapath"`
			TxPackets uint64 `json:"tx_packets"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), "stdout holds only the Result: %s", out)
	require.Equal(t, "dutlab.result", doc.Type)
	require.Positive(t, doc.Schema)
	require.Len(t, doc.Results, 1)
	require.Equal(t, "kernel", doc.Results[0].Datapath)
	require.Positive(t, doc.Results[0].TxPackets)
	require.Contains(t, errOut, "datapath  frame", "the table goes to stderr")
	requireLabGone(t, spec)
}

// TestRunProgressJSONOnStdout: with --progress-json every stdout line is a
// progress document.
func TestRunProgressJSONOnStdout(t *testing.T) {
	testenv.RequireRoot(t)
	topo, spec := throwawayTopology(t)
	code, out, errOut := cli(t, "run", "--topology", topo, "--duration", "2", "--warmup", "0", "--rate", "10kpps", "--progress-json")
	require.Equal(t, exitOK, code, errOut)
	sc := bufio.NewScanner(strings.NewReader(out))
	lines := 0
	for sc.Scan() {
		var l map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "stdout line %q is not JSON", sc.Text())
		require.Equal(t, "dutlab.progress", l["type"])
		require.NotNil(t, l["schema"])
		lines++
	}
	require.Positive(t, lines, "a 2 s window gives progress lines")
	require.Contains(t, errOut, "datapath  frame", "the table goes to stderr")
	requireLabGone(t, spec)
}

// TestRunInterruptExits130: SIGINT during a run cleans the lab up and
// exits 130.
func TestRunInterruptExits130(t *testing.T) {
	testenv.RequireRoot(t)
	topo, spec := throwawayTopology(t)
	go func() {
		time.Sleep(2 * time.Second) // execute has installed its handler long before
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	code, _, errOut := cli(t, "run", "--topology", topo, "--duration", "30", "--warmup", "0", "--rate", "10kpps", "-q")
	require.Equal(t, exitInterrupted, code, errOut)
	require.Contains(t, errOut, "interrupted")
	requireLabGone(t, spec)
}

// TestBenchDocument: the bench's JSON carries its rows, the build that
// measured them, schema and type.
func TestBenchDocument(t *testing.T) {
	var b strings.Builder
	doc := benchDoc{Report: dpdkbench.Report{Rows: []dpdkbench.Row{{Name: "null", Peer: "dpdk-testpmd"}}}, Build: buildinfo.Get()}
	require.NoError(t, jsonDoc(&b, "dutlab.bench", doc))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(b.String()), &got))
	require.Equal(t, "dutlab.bench", got["type"])
	require.Equal(t, float64(1), got["schema"])
	require.Len(t, got["rows"], 1)
	require.Contains(t, got["build"], "go_version")
}
