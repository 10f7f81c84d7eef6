package compare

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/units"

	"github.com/stretchr/testify/require"
)

// TestGenJobRateIncludesProbes: --rate is the total offered rate; the probe
// stream's rate comes out of the bulk stream's.
func TestGenJobRateIncludesProbes(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	port := func(addr string) *lab.Port {
		return &lab.Port{MAC: mac, Addr: netip.MustParsePrefix(addr)}
	}
	g := genNode{node: &lab.Node{}, tx: port("198.18.0.1/24"), rx: port("198.19.0.2/24")}
	d := dutNode{node: &lab.Node{}, in: port("198.18.0.2/24"), out: port("198.19.0.1/24")}
	tests := []struct {
		name            string
		rate            units.Rate
		probe           float64
		auto            bool
		bulk, probePPS  float64
		wantErrContains string
	}{
		{name: "explicit probes come out of the rate", rate: units.PacketRate(100e3), probe: 10e3, bulk: 90e3, probePPS: 10e3},
		{name: "default probes take at most a tenth", rate: units.PacketRate(10e3), probe: 10e3, auto: true, bulk: 9e3, probePPS: 1e3},
		{name: "default probes below a tenth stay", rate: units.PacketRate(1e6), probe: 10e3, auto: true, bulk: 990e3, probePPS: 10e3},
		{name: "flat out: probes beside", rate: units.Rate{}, probe: 10e3, bulk: 0, probePPS: 10e3},
		{name: "no probes", rate: units.PacketRate(50e3), bulk: 50e3},
		{name: "explicit probes at the rate are refused", rate: units.PacketRate(10e3), probe: 10e3, wantErrContains: "not below --rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{Rate: tt.rate, ProbeRatePPS: tt.probe, ProbeRateDefault: tt.auto, FrameSize: 64, Flows: 1}
			job, err := genJob(o, g, d, 1e6)
			if tt.wantErrContains != "" {
				require.ErrorContains(t, err, tt.wantErrContains)
				return
			}
			require.NoError(t, err)
			require.InDelta(t, tt.bulk, job.Streams[0].RatePPS, 1e-6)
			if tt.probePPS == 0 {
				require.Len(t, job.Streams, 1)
				return
			}
			require.Len(t, job.Streams, 2)
			require.True(t, job.Streams[1].Latency)
			require.InDelta(t, tt.probePPS, job.Streams[1].RatePPS, 1e-6)
		})
	}
}

// TestIfaceMismatch: rows whose engine counts and interface counters
// disagree by more than IfaceTolerance are marked, the rest are not.
func TestIfaceMismatch(t *testing.T) {
	tests := []struct {
		name string
		row  Row
		want []string
	}{
		{name: "agree", row: Row{TxPackets: 1000, TxIfacePackets: 990, TxIfaceDropped: 10, RxPackets: 990, RxIfacePackets: 990}},
		{name: "within tolerance", row: Row{TxPackets: 1000, TxIfacePackets: 996, RxPackets: 996, RxIfacePackets: 998}},
		{name: "offered frames unaccounted", row: Row{TxPackets: 1000, TxIfacePackets: 900, RxPackets: 900, RxIfacePackets: 900},
			want: []string{"offered: engine 1000, interface 900 (-10.00%)"}},
		{name: "engine missed received frames", row: Row{TxPackets: 1000, TxIfacePackets: 1000, RxPackets: 0, RxIfacePackets: 500},
			want: []string{"received: engine 0, interface 500 (+50000.00%)"}},
		{name: "nothing counted", row: Row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ifaceMismatch(&tt.row)
			require.Equal(t, tt.want, got)
			tt.row.IfaceMismatch = got
			c := cells(tt.row)
			require.Equal(t, len(tt.want) > 0 && tt.want[0][:7] == "offered", strings.Contains(c[2], "(iface!)"), c[2])
		})
	}
	r := Row{TxPackets: 1000, TxIfacePackets: 900, TxIfaceDropped: 100, RxPackets: 800, LossPct: 20}
	require.Equal(t, "20.00 (ring 10.00)", lossCell(r))
}
