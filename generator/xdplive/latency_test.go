package xdplive

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/testenv"
)

// A bulk stream and a probe stream over the loop: only the probe stream is
// measured, nothing is lost, reordered or duplicated, and the summary is
// consistent.
func TestLoopLatency(t *testing.T) {
	lp := newLoop(t)
	testenv.SerializeMeasurement(t)
	bulk, probe := testStream(64, 64), testStream(64, 1)
	bulk.Name, bulk.RatePPS = "bulk", 500_000
	probe.Name, probe.RatePPS, probe.Latency = "probe", 5_000, true
	probe.SrcPort = 20000
	retry(t, func() error {
		job := lp.job(bulk, 200*time.Millisecond, time.Second)
		job.Streams = append(job.Streams, probe)
		st, err := New().Run(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		lp.requireDetached(t)
		l := st.Latency
		if l == nil {
			t.Fatal("no latency summary for a job with a latency stream")
		}
		t.Logf("window %v: tx %d rx %d; probes %+v; info %v", st.Window.Round(time.Millisecond), st.TxPackets, st.RxPackets, *l, st.Info)
		if l.Clock != "bpf_ktime_get_ns" || l.ErrorPct <= 0 || l.ErrorPct > 3 {
			t.Errorf("clock %q error %.3f%%", l.Clock, l.ErrorPct)
		}
		if !(l.MinNs <= l.P50Ns && l.P50Ns <= l.P99Ns && l.P99Ns <= l.P999Ns && l.P999Ns <= l.MaxNs+l.MaxNs/64) || l.MinNs == 0 {
			t.Errorf("percentiles out of order: %+v", *l)
		}
		if l.MeanNs < l.MinNs || l.MeanNs > l.MaxNs {
			t.Errorf("mean %d outside [%d, %d]", l.MeanNs, l.MinNs, l.MaxNs)
		}
		if l.Reordered != 0 || l.Duplicates != 0 {
			t.Errorf("reordered %d duplicates %d on a veth loop", l.Reordered, l.Duplicates)
		}
		if l.Received+l.Lost != l.Sent && l.Received <= l.Sent {
			t.Errorf("received %d + lost %d != sent %d", l.Received, l.Lost, l.Sent)
		}
		rate := float64(l.Sent) / st.Window.Seconds()
		if !within(rate, probe.RatePPS, 0.02) {
			return fmt.Errorf("probes sent at %.0f pps, want %.0f ± 2%%", rate, probe.RatePPS)
		}
		if l.Lost > l.Sent/1000 {
			return fmt.Errorf("lost %d of %d probes", l.Lost, l.Sent)
		}
		return nil
	})
}

// The first frames sent and received go to pcap files that decode and carry
// the probe; frames longer than the snap length are cut to it.
func TestLoopCapture(t *testing.T) {
	lp := newLoop(t)
	testenv.SerializeMeasurement(t) // pins core 0
	dir := t.TempDir()
	tests := []struct {
		name   string
		stream generator.Stream
	}{
		{"ipv4 64", testStream(64, 4)},
		{"ipv6 1000", testStream6(1000, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.stream
			s.RatePPS, s.Latency = 10_000, true
			txPath, rxPath := filepath.Join(dir, "tx.pcap"), filepath.Join(dir, "rx.pcap")
			txc, err := generator.NewCapture(txPath, 10)
			if err != nil {
				t.Fatal(err)
			}
			rxc, err := generator.NewCapture(rxPath, 10)
			if err != nil {
				t.Fatal(err)
			}
			job := lp.job(s, 0, 200*time.Millisecond)
			job.CaptureTX, job.CaptureRX = txc, rxc
			st, err := New().Run(context.Background(), job)
			if err != nil {
				t.Fatal(err)
			}
			if err := txc.Close(); err != nil {
				t.Fatal(err)
			}
			if err := rxc.Close(); err != nil {
				t.Fatal(err)
			}
			lp.requireDetached(t)
			t.Logf("tx %d rx %d; info %v", st.TxPackets, st.RxPackets, st.Info)
			tp, _ := generator.BuildUDP(s)
			for _, side := range []struct{ name, path string }{{"tx", txPath}, {"rx", rxPath}} {
				frames, err := generator.ReadPcap(side.path)
				if err != nil {
					t.Fatal(err)
				}
				if len(frames) != 10 {
					t.Fatalf("%s capture holds %d frames, want 10", side.name, len(frames))
				}
				for i, f := range frames {
					if want := min(len(tp.Frame), captureSnap); len(f) != want {
						t.Errorf("%s frame %d: %d bytes, want %d", side.name, i, len(f), want)
					}
					pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
					udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
					if udp == nil {
						t.Fatalf("%s frame %d does not decode to UDP: %v", side.name, i, pkt)
					}
					p := udp.Payload
					if len(p) < generator.ProbeLen || binary.BigEndian.Uint32(p) != generator.ProbeSignature {
						t.Fatalf("%s frame %d: no probe signature in % x", side.name, i, p)
					}
					// One stream, one sender, a loop: both sides see
					// sequence numbers 0..9 in order.
					if seq := binary.BigEndian.Uint32(p[generator.ProbeSeqOff:]); seq != uint32(i) {
						t.Errorf("%s frame %d: probe seq %d", side.name, i, seq)
					}
					if len(f) == len(tp.Frame) && !udpChecksumOK(tp, f) {
						t.Errorf("%s frame %d: bad UDP checksum", side.name, i)
					}
				}
			}
			if st.Info["capture_tx_frames"] != "10" || st.Info["capture_rx_frames"] != "10" || st.Info["capture_tx_lost"] != "0" || st.Info["capture_rx_lost"] != "0" {
				t.Errorf("capture info %v", st.Info)
			}
		})
	}
}
