package compare

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dutlab/dutlab/generator"

	"github.com/stretchr/testify/require"
)

func sampleResult() *Result {
	return &Result{
		Schema: SchemaVersion,
		Results: []Row{
			{Datapath: "kernel", Engine: "xdp-live", FrameSize: 64, TxPackets: 2000, RxPackets: 1500, OfferedMpps: 2, RxMpps: 1.5,
				LossPct: 25, DUTCPU: CPU{Cores: []int{1}, BusyPct: 100, SysPct: 10, SoftirqPct: 90}, Cores: map[string]string{"1": "DUT kernel"},
				Latency: &generator.Latency{Received: 10, P50Ns: 12000, P99Ns: 30000, P999Ns: 45000, MaxNs: 90000}},
			{Datapath: "xdp-native", Error: "attach: not supported"},
		},
		SelfCheck: &SelfCheck{RxMpps: 4, OfferedMpps: 4},
		Manifest:  Manifest{Topology: "builtin:veth-basic", Kernel: "6.18", CPUs: 2, Duration: 10},
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleResult().WriteTable(&b))
	out := b.String()
	lines := strings.Split(out, "\n")
	require.Contains(t, lines[0], "received Mpps")
	require.Contains(t, lines[1], "kernel")
	require.Contains(t, lines[1], "1.500")
	require.Contains(t, lines[1], "25.00")
	require.Contains(t, lines[1], "100 (0/10/90)")
	require.Contains(t, lines[1], "core 1: DUT kernel")
	require.Contains(t, lines[1], "12.0/30.0/45.0/90.0")
	require.Contains(t, lines[2], "error: attach: not supported")
	require.Contains(t, out, "generator ceiling (self-check loop): 4.000 Mpps")
}

func TestWriteMarkdownAndCSV(t *testing.T) {
	var md bytes.Buffer
	require.NoError(t, sampleResult().WriteMarkdown(&md))
	require.True(t, strings.HasPrefix(md.String(), "| datapath | frame |"))
	require.Contains(t, md.String(), "|---|---|")

	var c bytes.Buffer
	require.NoError(t, sampleResult().WriteCSV(&c))
	recs, err := csv.NewReader(&c).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, "function", recs[0][1])
	require.Equal(t, "rx_mpps", recs[0][9])
	require.Equal(t, "1.5000", recs[1][9])
	require.Equal(t, "attach: not supported", recs[2][len(recs[2])-1])
	require.Equal(t, "12000", recs[1][len(recs[1])-5])
}

func TestWriteJSONSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, sampleResult().WriteJSON(path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(b, &raw))
	require.EqualValues(t, 1, raw["schema"])
	rows := raw["results"].([]any)
	row := rows[0].(map[string]any)
	for _, k := range []string{"datapath", "frame_size", "offered_mpps", "rx_mpps", "loss_pct", "dut_cpu", "cores"} {
		require.Contains(t, row, k)
	}
	cpu := row["dut_cpu"].(map[string]any)
	for _, k := range []string{"busy_pct", "user_pct", "sys_pct", "softirq_pct"} {
		require.Contains(t, cpu, k)
	}
	require.Contains(t, raw, "manifest")
}

func TestLossPct(t *testing.T) {
	require.InDelta(t, 25.0, lossPct(100, 75), 1e-9)
	require.Zero(t, lossPct(0, 0))
	require.Zero(t, lossPct(100, 101), "more received than sent is not negative loss")
}

func TestProgressPrinter(t *testing.T) {
	var log, js bytes.Buffer
	p := progressPrinter(Options{Log: &log, ProgressJSON: &js}, "kernel")
	p(generator.Sample{Elapsed: time.Second, TxPackets: 2_000_000, RxPackets: 1_000_000})
	p(generator.Sample{Elapsed: 1200 * time.Millisecond, TxPackets: 2_100_000, RxPackets: 1_050_000}) // too soon: skipped
	p(generator.Sample{Elapsed: 2 * time.Second, TxPackets: 4_000_000, RxPackets: 3_000_000, LatencyP50Ns: 12_500, LatencyP99Ns: 40_000})
	dec := json.NewDecoder(&js)
	var lines []ProgressLine
	for dec.More() {
		var l ProgressLine
		require.NoError(t, dec.Decode(&l))
		lines = append(lines, l)
	}
	require.Len(t, lines, 2)
	require.Equal(t, "kernel", lines[1].Datapath)
	require.InDelta(t, 2.0, lines[1].TxMpps, 1e-9)
	require.InDelta(t, 2.0, lines[1].RxMpps, 1e-9)
	require.InDelta(t, 50.0, lines[0].LossPct, 1e-9)
	require.Zero(t, lines[1].LossPct)
	require.Contains(t, log.String(), "loss  50.00%")
	require.InDelta(t, 12.5, lines[1].LatencyP50Us, 1e-9)
	require.Contains(t, log.String(), "latency p50 12.5 us p99 40.0 us")
	require.Zero(t, lines[0].LatencyP50Us)
}
