package xdplive

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/generator"
)

func monotonicNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// xdp_gen without live frames: each run rewrites the frame it is given, so
// the output shows exactly what a live frame would carry.
func TestGenRewritesFields(t *testing.T) {
	requireBPF(t)
	tests := []struct {
		name   string
		stream generator.Stream
		id     int
	}{
		{"ipv4 64", testStream(64, 5), 3},
		{"ipv4 1518", testStream(1518, 1), 0},
		{"ipv6 84", testStream6(84, 7), 9},
		{"ipv6 512", testStream6(512, 300), 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := generator.BuildUDP(tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			s, err := loadSender(tp, tt.id, tt.stream.Flows, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			be := binary.BigEndian
			for seq := 0; seq < 12; seq++ {
				// Start from garbage: recycled pages carry whatever the
				// last user left in them.
				in := bytes.Repeat([]byte{0xa5}, len(tp.Frame))
				copy(in[copyLen(tp.IPv6):], tp.Frame[copyLen(tp.IPv6):])
				out := make([]byte, len(in)+256)
				before := monotonicNow(t)
				opts := &ebpf.RunOptions{Data: in, DataOut: out}
				ret, err := s.objs.XdpGen.Run(opts)
				if err != nil {
					t.Fatal(err)
				}
				after := monotonicNow(t)
				if ret != 3 { // XDP_TX
					t.Fatalf("verdict %d, want XDP_TX", ret)
				}
				f := opts.DataOut
				if len(f) != len(tp.Frame) {
					t.Fatalf("output %d bytes, want %d", len(f), len(tp.Frame))
				}
				p := f[tp.ProbeOff:]
				wantPort := uint16(tt.stream.SrcPort) + uint16(seq%tt.stream.Flows)
				if got := be.Uint16(f[tp.UDPSrcPortOff:]); got != wantPort {
					t.Errorf("seq %d: source port %d, want %d", seq, got, wantPort)
				}
				if got := be.Uint32(p[generator.ProbeSeqOff:]); got != uint32(seq) {
					t.Errorf("probe seq %d, want %d", got, seq)
				}
				if got := be.Uint16(p[generator.ProbeStreamOff:]); got != uint16(tt.id) {
					t.Errorf("probe stream %d, want %d", got, tt.id)
				}
				if got := be.Uint32(p[generator.ProbeSigOff:]); got != generator.ProbeSignature {
					t.Errorf("probe signature %#x", got)
				}
				if ts := be.Uint64(p[generator.ProbeTimestampOff:]); ts < before || ts > after {
					t.Errorf("probe timestamp %d outside [%d, %d]", ts, before, after)
				}
				if !udpChecksumOK(tp, f) {
					t.Errorf("seq %d: UDP checksum %#x is wrong", seq, be.Uint16(f[tp.UDPChecksumOff:]))
				}
				// Everything but the varying fields equals the template.
				want := bytes.Clone(tp.Frame)
				copy(want[tp.UDPSrcPortOff:], f[tp.UDPSrcPortOff:tp.UDPSrcPortOff+2])
				copy(want[tp.UDPChecksumOff:], f[tp.UDPChecksumOff:tp.UDPChecksumOff+2])
				copy(want[tp.ProbeOff+generator.ProbeStreamOff:], p[generator.ProbeStreamOff:generator.ProbeLen])
				if !bytes.Equal(f, want) {
					t.Errorf("seq %d: frame differs from the template outside the varying fields:\n got % x\nwant % x", seq, f, want)
				}
			}
			pk, by, _, err := s.counters()
			if err != nil {
				t.Fatal(err)
			}
			if pk != 12 || by != 12*uint64(len(tp.Frame)) {
				t.Errorf("counters %d frames %d bytes, want 12 and %d", pk, by, 12*len(tp.Frame))
			}
		})
	}
}

// A frame shorter than the headers it must rewrite is aborted, not sent.
func TestGenShortFrame(t *testing.T) {
	requireBPF(t)
	tp, err := generator.BuildUDP(testStream6(84, 1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSender(tp, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ret, err := s.objs.XdpGen.Run(&ebpf.RunOptions{Data: tp.Frame[:70]})
	if err != nil {
		t.Fatal(err)
	}
	if ret != 0 { // XDP_ABORTED
		t.Errorf("verdict %d for a truncated frame, want XDP_ABORTED", ret)
	}
}

// BenchmarkGenRun measures xdp_gen's cost per frame without a device
// (BPF_PROG_TEST_RUN with repeat, no live frames).
func BenchmarkGenRun(b *testing.B) {
	requireBPF(b)
	tp, err := generator.BuildUDP(testStream(64, 256))
	if err != nil {
		b.Fatal(err)
	}
	s, err := loadSender(tp, 0, 256, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const repeat = 100000
	start := time.Now()
	for b.Loop() {
		if _, err := s.objs.XdpGen.Run(&ebpf.RunOptions{Data: tp.Frame, Repeat: repeat}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*repeat), "ns/frame")
}
