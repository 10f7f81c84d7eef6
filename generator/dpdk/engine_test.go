//go:build dpdk

package dpdk

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/dpdk/dpdktest"
	"github.com/dutlab/dutlab/internal/lab/labtest"
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
	lab := labtest.Through(t, "dlt-")
	e := New(dpdktest.Worker(t))
	// Both ends in one process: a veth pair inside the generator namespace.
	a, b := labtest.Veth(t, lab.Gen, "la", nil, lab.Gen, "lb", nil)
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

// The stream model on the dpdk engine over a veth pair: a TCP stream with
// address variation beside a VLAN-tagged UDP probe stream, ended by a
// packet count, with the first frames of both sides captured. The window
// holds exactly the count, every captured frame decodes with its checksums
// right, and latency counts only the probe stream.
func TestVethMixedStreamsCapture(t *testing.T) {
	testenv.SerializeMeasurement(t) // busy-polls a core
	lab := labtest.Through(t, "dlt-")
	e := New(dpdktest.Worker(t))
	a, b := labtest.Veth(t, lab.Gen, "ma", nil, lab.Gen, "mb", nil)
	syn := testStream()
	syn.Name, syn.Proto, syn.SrcIPs, syn.DstPorts, syn.RatePPS = "syn", generator.ProtoTCPSYN, 8, 4, 30000
	probe := testStream()
	probe.Name, probe.VLAN, probe.Latency, probe.Flows, probe.RatePPS, probe.FrameSize = "probe", 7, true, 1, 10000, 68
	for _, s := range []*generator.Stream{&syn, &probe} {
		s.SrcMAC, s.DstMAC = a.MAC, b.MAC
	}
	dir := t.TempDir()
	txc, err := generator.NewCapture(filepath.Join(dir, "tx.pcap"), 40)
	if err != nil {
		t.Fatal(err)
	}
	rxc, err := generator.NewCapture(filepath.Join(dir, "rx.pcap"), 40)
	if err != nil {
		t.Fatal(err)
	}
	const packets = 20000
	st, err := e.Run(context.Background(), generator.Job{
		TX: generator.Port{Netns: lab.Gen, Name: a.Name}, RX: generator.Port{Netns: lab.Gen, Name: b.Name},
		Streams: []generator.Stream{syn, probe}, Warmup: 200 * time.Millisecond, Packets: packets, Cores: []int{0},
		CaptureTX: txc, CaptureRX: rxc,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(txc.Close(), rxc.Close()); err != nil {
		t.Fatal(err)
	}
	t.Logf("tx %d rx %d in %v; latency %+v; info %v", st.TxPackets, st.RxPackets, st.Window, st.Latency, st.Info)
	if st.TxPackets != packets {
		t.Errorf("window sent %d frames, want the count %d", st.TxPackets, packets)
	}
	// 3:1 by rate; latency counts the probe stream only.
	if l := st.Latency; l == nil || l.Sent < packets/4*95/100 || l.Sent > packets/4*105/100 || l.Received == 0 {
		t.Errorf("latency %+v, want about %d probes sent", st.Latency, packets/4)
	}
	for _, side := range []string{"tx", "rx"} {
		frames, err := generator.ReadPcap(filepath.Join(dir, side+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 40 {
			t.Fatalf("%s capture holds %d frames, want 40", side, len(frames))
		}
		tagged, tcp := 0, 0
		for i, f := range frames {
			if err := generator.VerifyFrame(f); err != nil {
				t.Errorf("%s frame %d: %v", side, i, err)
			}
			pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
			if pkt.Layer(layers.LayerTypeDot1Q) != nil {
				tagged++
			}
			if pkt.Layer(layers.LayerTypeTCP) != nil {
				tcp++
			}
		}
		if tagged == 0 || tcp == 0 || tagged+tcp != 40 {
			t.Errorf("%s capture: %d tagged probes, %d TCP of 40", side, tagged, tcp)
		}
	}
}

// BenchmarkNullStreams is the engine's ceiling on net_null by kind of
// stream: the tuned source-port rewrite against field programs with one
// and four fields (reported as Mpps; one measured lcore).
func BenchmarkNullStreams(b *testing.B) {
	testenv.SerializeMeasurement(b)
	testenv.RequireRoot(b)
	e := New(dpdktest.Worker(b))
	gen, meas := dpdktest.Cores()
	simple := testStream()
	tcp := testStream()
	tcp.Proto = generator.ProtoTCPSYN
	four := testStream()
	four.SrcIPs, four.DstIPs, four.DstPorts = 16, 16, 16
	for _, bc := range []struct {
		name string
		s    generator.Stream
	}{{"udp-sport", simple}, {"tcp-1field", tcp}, {"udp-4fields", four}} {
		b.Run(bc.name, func(b *testing.B) {
			var mpps float64
			for b.Loop() {
				st, err := e.Run(context.Background(), generator.Job{
					TX: generator.Port{Name: "net_null0"}, Streams: []generator.Stream{bc.s},
					Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, Cores: []int{gen, meas},
				})
				if err != nil {
					b.Fatal(err)
				}
				mpps = max(mpps, float64(st.TxPackets)/st.Window.Seconds()/1e6)
			}
			b.ReportMetric(mpps, "Mpps")
		})
	}
}
