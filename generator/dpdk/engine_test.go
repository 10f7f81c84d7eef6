//go:build dpdk

package dpdk

import (
	"context"
	"testing"
	"time"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/dpdk/dpdktest"
	"github.com/dutlab/dutlab/internal/testenv"
)

// TestNullCeiling sends on net_null: the engine's own ceiling.
func TestNullCeiling(t *testing.T) {
	testenv.SerializeMeasurement(t) // busy-polls a core
	testenv.RequireRoot(t)
	e := New(dpdktest.Worker(t))
	gen, meas := dpdktest.Cores()
	var samples int
	st, err := e.Run(context.Background(), generator.Job{
		TX: generator.Port{Name: "net_null0"}, Streams: []generator.Stream{testStream()},
		Warmup: 200 * time.Millisecond, Duration: time.Second, Cores: []int{gen, meas},
		Progress: func(generator.Sample) { samples++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.TxPackets == 0 || st.Window < 900*time.Millisecond || samples == 0 {
		t.Fatalf("stats %+v after %d progress samples", st, samples)
	}
	t.Logf("net_null: %.1f Mpps over %v", float64(st.TxPackets)/st.Window.Seconds()/1e6, st.Window)
}

// TestVethLoop sends g0 -> d0 over af_xdp with the worker's RX on d0, in a
// throwaway namespace: deliveries are counted by the receiving port.
func TestVethLoop(t *testing.T) {
	testenv.SerializeMeasurement(t) // busy-polls a core
	lab := dpdktest.RequireLab(t)
	e := New(dpdktest.Worker(t))
	// Both ends in one process: a veth pair inside the generator namespace.
	a, b, err := dpdktest.Veth(lab.Gen, "la", lab.Gen, "lb")
	if err != nil {
		t.Fatal(err)
	}
	s := testStream()
	s.SrcMAC, s.DstMAC, s.RatePPS = a.MAC, b.MAC, 50000
	windows := 0
	st, err := e.Run(context.Background(), generator.Job{
		TX: generator.Port{Netns: lab.Gen, Name: a.Name}, RX: generator.Port{Netns: lab.Gen, Name: b.Name},
		Streams: []generator.Stream{s}, Warmup: 300 * time.Millisecond, Duration: time.Second, Cores: []int{0},
		Window: func(bool) { windows++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.TxPackets == 0 || st.RxPackets == 0 || windows != 2 {
		t.Fatalf("stats %+v, %d window calls", st, windows)
	}
	if l := st.Latency; l == nil || l.Received != st.RxPackets || l.P50Ns == 0 || l.Clock != "tsc" {
		t.Fatalf("latency %+v for %d received", st.Latency, st.RxPackets)
	}
	t.Logf("veth af_xdp at 50 kpps: tx %d rx %d in %v, latency p50 %s ns p99 %s ns",
		st.TxPackets, st.RxPackets, st.Window, st.Info["latency_p50_ns"], st.Info["latency_p99_ns"])
}
