//go:build dpdk

package dpdk

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/generator"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/internal/dpdk/dpdktest"
	"github.com/dutlab/dutlab/internal/lab/labtest"
	"github.com/dutlab/dutlab/internal/testenv"
)

// TestForwardVeth runs the forwarder in a throwaway DUT namespace between two
// veth pairs and the dpdk generator engine on the other ends: what the
// generator receives on g1 went through the forwarder.
func TestForwardVeth(t *testing.T) {
	testenv.SerializeMeasurement(t) // busy-polls a core
	lab := labtest.Through(t, "dlt-")
	bin := dpdktest.Worker(t)
	genCore, dutCore := dpdktest.Cores()
	env := dut.Env{
		Netns: lab.DUT,
		In:    dut.Port{Name: lab.D0.Name, MAC: lab.D0.MAC, PeerMAC: lab.G0.MAC},
		Out:   dut.Port{Name: lab.D1.Name, MAC: lab.D1.MAC, PeerMAC: lab.G1.MAC},
		Cores: []int{dutCore},
	}
	ctx := context.Background()
	r, err := New(bin).Attach(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			r.Close()
		}
	})
	s := generator.Stream{Name: "fwd", SrcMAC: lab.G0.MAC, DstMAC: lab.D0.MAC,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"),
		SrcPort: 1024, DstPort: 9, Flows: 64, FrameSize: 64, RatePPS: 20000}
	st, err := gendpdk.New(bin).Run(ctx, generator.Job{
		TX:      generator.Port{Netns: lab.Gen, Name: lab.G0.Name},
		RX:      generator.Port{Netns: lab.Gen, Name: lab.G1.Name},
		Streams: []generator.Stream{s}, Warmup: 300 * time.Millisecond, Duration: time.Second,
		Cores: []int{genCore},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	c, err := r.Counters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generator: tx %d rx %d in %v (latency p50 %s ns); forwarder: rx %d tx %d drop %d",
		st.TxPackets, st.RxPackets, st.Window, st.Info["latency_p50_ns"], c.RxPackets, c.TxPackets, c.DropPackets)
	if st.TxPackets == 0 || st.RxPackets == 0 {
		t.Fatalf("nothing delivered through the forwarder: %+v", st)
	}
	if c.RxPackets < st.RxPackets || c.TxPackets < st.RxPackets {
		t.Fatalf("forwarder counted rx %d tx %d, fewer than the %d the generator received", c.RxPackets, c.TxPackets, st.RxPackets)
	}
	if info := r.Info(); info["mac_rewrite"] != "true" || info["out_port"] == "" {
		t.Fatalf("info %v", info)
	}
}
