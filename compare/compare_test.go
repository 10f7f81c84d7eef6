package compare

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	_ "github.com/dutlab/dutlab/dut/kernel"
	_ "github.com/dutlab/dutlab/dut/xdp"
	"github.com/dutlab/dutlab/generator/xdplive"
	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/dutlab/dutlab/internal/units"
	"github.com/dutlab/dutlab/topologies"
)

// TestCompareVethBasic runs the built-in lab end to end with every datapath
// for a short window and checks that the table is honest: the engine's
// receive count agrees with the kernel's counter on the receive port, the
// DUT's own counters agree with what arrived, and nothing is left behind.
func TestCompareVethBasic(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.SerializeMeasurement(t)
	base, err := topologies.Builtin("veth-basic")
	require.NoError(t, err)
	spec := base.Renamed(lab.UniqueName("c"))

	res, err := Run(context.Background(), Options{
		Spec:      spec,
		Datapaths: []string{"kernel", "xdp-generic", "xdp-native"},
		Engine:    xdplive.New(),
		Warmup:    300 * time.Millisecond,
		Duration:  time.Second,
		SelfCheck: true,
		// Probes beside the bulk stream: latency must come back for every row.
		ProbeRatePPS: 5000,
	})
	require.NoError(t, err)
	require.NotNil(t, res.SelfCheck)
	require.Greater(t, res.SelfCheck.RxMpps, 0.0)
	require.Len(t, res.Results, 3)
	for _, r := range res.Results {
		t.Logf("%-12s offered %.3f Mpps rx %.3f Mpps loss %.2f%% DUT busy %.0f%% iface %d engine %d",
			r.Datapath, r.OfferedMpps, r.RxMpps, r.LossPct, r.DUTCPU.BusyPct, r.RxIfacePackets, r.RxPackets)
		require.Empty(t, r.Error, r.Datapath)
		require.Greater(t, r.RxPackets, uint64(0), r.Datapath)
		require.LessOrEqual(t, r.RxPackets, r.TxPackets, r.Datapath)
		require.InEpsilon(t, float64(r.RxPackets), float64(r.RxIfacePackets), 0.01,
			"%s: engine counted %d, kernel counted %d on the receive port", r.Datapath, r.RxPackets, r.RxIfacePackets)
		require.InEpsilon(t, float64(r.RxPackets), float64(r.DUT.Tx), 0.01,
			"%s: DUT forwarded %d, generator received %d", r.Datapath, r.DUT.Tx, r.RxPackets)
		require.Greater(t, r.DUTCPU.BusyPct, 0.0, r.Datapath)
		require.NotEmpty(t, r.Cores, r.Datapath)
		require.NotNil(t, r.Latency, r.Datapath)
		require.Greater(t, r.Latency.Received, uint64(0), r.Datapath)
		require.LessOrEqual(t, r.Latency.MinNs, r.Latency.P50Ns, r.Datapath)
		require.LessOrEqual(t, r.Latency.P50Ns, r.Latency.P99Ns, r.Datapath)
		require.LessOrEqual(t, r.Latency.P99Ns, r.Latency.MaxNs, r.Datapath)
	}
	for _, n := range spec.Nodes {
		_, err := os.Stat("/run/netns/" + n.Netns)
		require.ErrorIs(t, err, os.ErrNotExist, "namespace %s left behind", n.Netns)
	}
}

// TestLoopTopology runs a topology without a DUT: the generator alone.
func TestLoopTopology(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.SerializeMeasurement(t)
	base, err := topologies.Builtin("veth-loop")
	require.NoError(t, err)
	spec := base.Renamed(lab.UniqueName("l"))
	res, err := Run(context.Background(), Options{
		Spec: spec, Engine: xdplive.New(), Rate: units.PacketRate(20e3), ProbeRatePPS: 1000,
		Warmup: 200 * time.Millisecond, Duration: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Len(t, res.Results, 1)
	r := res.Results[0]
	require.Equal(t, LoopDatapath, r.Datapath)
	require.Greater(t, r.TxPackets, uint64(0))
	require.Equal(t, r.TxPackets, r.RxPackets, "nothing is lost on a direct loop at 20 kpps")
	require.Equal(t, r.RxPackets, r.RxIfacePackets)
	require.Equal(t, r.TxPackets, r.TxIfacePackets+r.TxIfaceDropped)
	require.Empty(t, r.IfaceMismatch)
	require.NotNil(t, r.Latency)
	require.Zero(t, r.Latency.Lost)
	for _, n := range spec.Nodes {
		require.NoFileExists(t, "/run/netns/"+n.Netns)
	}
}
