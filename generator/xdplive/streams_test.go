package xdplive

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/dutlab/dutlab/generator"
)

// A job mixing every protocol, VLAN tags, address variation and IMIX-style
// weights, ended by a packet count, over the real loop: the window holds
// exactly the count, the streams share it by weight, and every frame the
// sink captured decodes with the right checksums.
func TestLoopMixedStreams(t *testing.T) {
	lp := newLoop(t)
	syn := testStream(64, 50)
	syn.Name, syn.Proto, syn.VLAN, syn.SrcIPs, syn.DstPorts, syn.Weight = "syn", generator.ProtoTCPSYN, 10, 20, 4, 3
	icmp := testStream6(594, 5)
	icmp.Name, icmp.Proto, icmp.SrcIPs, icmp.SrcRandom, icmp.Weight = "icmp6", generator.ProtoICMPEcho, 1000, true, 2
	ack := testStream(1518, 1)
	ack.Name, ack.Proto, ack.DstIPs, ack.Weight = "ack", generator.ProtoTCPACK, 7, 1
	job := lp.job(syn, 100*time.Millisecond, 0)
	job.Streams = append(job.Streams, icmp, ack)
	const packets = 300_000
	job.Packets = packets
	e := &Engine{} // the scheduler interleaves them frame by frame: all three are in the first 1000
	rxPath := filepath.Join(t.TempDir(), "rx.pcap")
	rxc, err := generator.NewCapture(rxPath, 1000)
	if err != nil {
		t.Fatal(err)
	}
	job.CaptureRX = rxc
	st, err := e.Run(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if err := rxc.Close(); err != nil {
		t.Fatal(err)
	}
	lp.requireDetached(t)
	t.Logf("tx %d rx %d in %v; info %v", st.TxPackets, st.RxPackets, st.Window, st.Info)
	if st.TxPackets != packets {
		t.Errorf("window sent %d frames, want the packet count %d", st.TxPackets, packets)
	}
	if st.RxPackets != st.TxPackets {
		t.Errorf("sink counted %d of %d frames", st.RxPackets, st.TxPackets)
	}
	// Bytes say how the count was shared: 3:2:1 by weight.
	wantBytes := uint64(packets/6) * uint64(3*60+2*590+1514)
	if st.TxBytes < wantBytes*98/100 || st.TxBytes > wantBytes*102/100 {
		t.Errorf("window sent %d bytes, want %d +-2%% (weights 3:2:1)", st.TxBytes, wantBytes)
	}

	frames, err := generator.ReadPcap(rxPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 1000 {
		t.Fatalf("rx capture holds %d frames, want 1000", len(frames))
	}
	kinds := map[string]int{}
	for i, f := range frames {
		if len(f) < captureSnap {
			if err := generator.VerifyFrame(f); err != nil {
				t.Errorf("rx frame %d: %v", i, err)
			}
		}
		pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		switch {
		case pkt.Layer(layers.LayerTypeDot1Q) != nil && pkt.Layer(layers.LayerTypeTCP) != nil:
			if tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); !tcp.SYN || tcp.ACK {
				t.Errorf("rx frame %d: tagged TCP without SYN only", i)
			}
			kinds["syn"]++
		case pkt.Layer(layers.LayerTypeICMPv6Echo) != nil:
			kinds["icmp6"]++
		case pkt.Layer(layers.LayerTypeTCP) != nil:
			if tcp := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); tcp.SYN || !tcp.ACK {
				t.Errorf("rx frame %d: TCP without ACK only", i)
			}
			kinds["ack"]++
		default:
			t.Errorf("rx frame %d is none of the streams: %v", i, pkt)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("captured frames by stream %v, want all three", kinds)
	}
}
