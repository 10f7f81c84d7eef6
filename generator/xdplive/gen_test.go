package xdplive

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/testenv"
)

func monotonicNow(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

// genCases covers every protocol, both families, VLAN tags, address and
// port variation in both modes and frames from the smallest to the largest.
func genCases() []struct {
	name   string
	stream generator.Stream
	id     int
} {
	with := func(s generator.Stream, f func(*generator.Stream)) generator.Stream {
		f(&s)
		return s
	}
	return []struct {
		name   string
		stream generator.Stream
		id     int
	}{
		{"udp4 64", testStream(64, 5), 3},
		{"udp4 1518", testStream(1518, 1), 0},
		{"udp6 84", testStream6(84, 7), 9},
		{"udp6 512", testStream6(512, 300), 65535},
		{"udp4 vlan latency", with(testStream(68, 4), func(s *generator.Stream) { s.VLAN, s.Latency = 7, true }), 1},
		{"udp4 4-tuple", with(testStream(64, 3), func(s *generator.Stream) { s.SrcIPs, s.DstIPs, s.DstPorts = 5, 2, 3 }), 2},
		{"tcp-syn4 vlan", with(testStream(64, 9), func(s *generator.Stream) {
			s.Proto, s.VLAN, s.SrcIPs, s.DstPorts = generator.ProtoTCPSYN, 100, 3, 4
		}), 4},
		{"tcp-ack6 vlan", with(testStream6(96, 2), func(s *generator.Stream) {
			s.Proto, s.VLAN, s.DstIPs = generator.ProtoTCPACK, 4094, 6
		}), 5},
		{"icmp4", with(testStream(64, 11), func(s *generator.Stream) { s.Proto, s.SrcIPs = generator.ProtoICMPEcho, 4 }), 6},
		{"icmp6", with(testStream6(70, 3), func(s *generator.Stream) { s.Proto, s.SrcIPs = generator.ProtoICMPEcho, 2 }), 7},
		{"udp4 random", with(testStream(64, 1000), func(s *generator.Stream) {
			s.SrcIPs, s.DstPorts, s.SrcRandom, s.DstRandom = 200, 50, true, true
		}), 8},
		{"tcp-syn6 random src", with(testStream6(128, 100), func(s *generator.Stream) {
			s.Proto, s.SrcIPs, s.SrcRandom, s.DstPorts = generator.ProtoTCPSYN, 1000, true, 3
		}), 10},
	}
}

// xdp_gen without live frames: each run rewrites the frame it is given, so
// the output shows exactly what a live frame would carry. It must equal
// what generator.Program.Apply, the reference, makes of the same frame
// number, and gopacket must find every checksum right.
func TestGenRewritesFields(t *testing.T) {
	requireBPF(t)
	for _, tt := range genCases() {
		t.Run(tt.name, func(t *testing.T) {
			p, err := generator.Compile(tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			s, err := loadSender(p, tt.id, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			random := false
			for _, f := range p.Fields {
				random = random || f.Random
			}
			const frames = 64
			seen := map[string]bool{}
			for seq := range uint64(frames) {
				// Start from garbage: recycled pages carry whatever the
				// last user left in them.
				in := bytes.Repeat([]byte{0xa5}, len(p.Frame))
				copy(in[p.CopyLen:], p.Frame[p.CopyLen:])
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
				if len(f) != len(p.Frame) {
					t.Fatalf("output %d bytes, want %d", len(f), len(p.Frame))
				}
				if err := generator.VerifyFrame(f); err != nil {
					t.Fatalf("seq %d: %v\n% x", seq, err, f)
				}
				var ts uint64
				if p.Probe > 0 {
					pr := f[p.Probe:]
					ts = binary.BigEndian.Uint64(pr[generator.ProbeTimestampOff:])
					if ts < before || ts > after {
						t.Errorf("probe timestamp %d outside [%d, %d]", ts, before, after)
					}
				}
				// Random fields: replay the draws the program made.
				rnd, err := p.Draws(f)
				if err != nil {
					t.Fatalf("seq %d: %v", seq, err)
				}
				want := make([]byte, len(p.Frame))
				copy(want, p.Frame)
				p.Apply(want, seq, uint16(tt.id), ts, rnd)
				if !bytes.Equal(f, want) {
					t.Fatalf("seq %d: xdp_gen and Program.Apply differ:\n got % x\nwant % x", seq, f, want)
				}
				seen[fmt.Sprintf("% x", flowKey(f))] = true
			}
			wantFlows := int(min(p.Flows, frames))
			if random {
				wantFlows = frames / 2 // draws from hundreds of values rarely repeat
			}
			if len(seen) < wantFlows {
				t.Errorf("%d distinct flows in %d frames, want at least %d", len(seen), frames, wantFlows)
			}
			pk, by, _, err := s.counters()
			if err != nil {
				t.Fatal(err)
			}
			if pk != frames || by != frames*uint64(len(p.Frame)) {
				t.Errorf("counters %d frames %d bytes, want %d and %d", pk, by, frames, frames*len(p.Frame))
			}
		})
	}
}

// flowKey is a frame's addresses and ports (or echo id) as gopacket sees them.
func flowKey(f []byte) []byte {
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	var key []byte
	if nl := pkt.NetworkLayer(); nl != nil {
		key = append(key, nl.NetworkFlow().Src().Raw()...)
		key = append(key, nl.NetworkFlow().Dst().Raw()...)
	}
	if tl := pkt.TransportLayer(); tl != nil {
		key = append(key, tl.TransportFlow().Src().Raw()...)
		key = append(key, tl.TransportFlow().Dst().Raw()...)
	} else if e, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		key = binary.BigEndian.AppendUint16(key, e.Id)
	} else if e, ok := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
		key = binary.BigEndian.AppendUint16(key, e.Identifier)
	}
	return key
}

// A frame shorter than the headers it must rewrite is aborted, not sent.
func TestGenShortFrame(t *testing.T) {
	requireBPF(t)
	p, err := generator.Compile(testStream6(84, 1))
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSender(p, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ret, err := s.objs.XdpGen.Run(&ebpf.RunOptions{Data: p.Frame[:70]})
	if err != nil {
		t.Fatal(err)
	}
	if ret != 0 { // XDP_ABORTED
		t.Errorf("verdict %d for a truncated frame, want XDP_ABORTED", ret)
	}
}

// BenchmarkGenRun measures xdp_gen's cost per frame without a device
// (BPF_PROG_TEST_RUN with repeat, no live frames): one varying port (the
// common case) against four varying fields.
func BenchmarkGenRun(b *testing.B) {
	requireBPF(b)
	four := testStream(64, 256)
	four.SrcIPs, four.DstIPs, four.DstPorts = 16, 16, 16
	for _, bc := range []struct {
		name string
		s    generator.Stream
	}{{"1field", testStream(64, 256)}, {"4fields", four}} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := generator.Compile(bc.s)
			if err != nil {
				b.Fatal(err)
			}
			s, err := loadSender(p, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const repeat = 100000
			start := time.Now()
			for b.Loop() {
				if _, err := s.objs.XdpGen.Run(&ebpf.RunOptions{Data: p.Frame, Repeat: repeat}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*repeat), "ns/frame")
		})
	}
}

// A recycled page can hold anything (a DUT may have rewritten it, or it
// may be a frame of some other size): run xdp_gen over every frame of the
// capture corpus as the page's old contents. It must abort what is shorter
// than the headers it restores and otherwise leave exactly what
// Program.Apply makes of the same bytes, checksums right.
func TestGenCorpus(t *testing.T) {
	requireBPF(t)
	dir := corpusDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		testenv.SkipOrFail(t, "no pcap corpus in "+dir+" (set DUTLAB_CORPUS)")
	}
	st := testStream6(128, 40)
	st.Proto, st.VLAN, st.SrcIPs, st.DstPorts = generator.ProtoTCPACK, 9, 3, 2
	p, err := generator.Compile(st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadSender(p, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seq uint64
	var frames, aborted int
	for _, path := range files {
		_ = eachPacket(path, func(data []byte) error {
			if len(data) < 14 || len(data) > 3000 {
				return nil
			}
			in := append([]byte(nil), data...)
			out := make([]byte, len(in)+256)
			opts := &ebpf.RunOptions{Data: in, DataOut: out}
			ret, err := s.objs.XdpGen.Run(opts)
			if err != nil {
				return err
			}
			frames++
			if len(in) < max(p.CopyLen, minFrameLen) {
				if ret != 0 {
					t.Errorf("%s: %d-byte page: verdict %d, want XDP_ABORTED", filepath.Base(path), len(in), ret)
				}
				aborted++
				return nil
			}
			if ret != 3 {
				t.Fatalf("%s: %d-byte page: verdict %d, want XDP_TX", filepath.Base(path), len(in), ret)
			}
			// The reference: the template's first 60 bytes (or more) over
			// the old contents, then the fields; a page longer than the
			// frame is cut to it (under xdp_sched every page is as long as
			// the run's longest frame).
			want := append([]byte(nil), data[:min(len(data), len(p.Frame))]...)
			copy(want, p.Frame[:max(p.CopyLen, minFrameLen)])
			p.Apply(want, seq, 1, 0, nil)
			seq++
			if !bytes.Equal(opts.DataOut, want) {
				t.Fatalf("%s: xdp_gen and Apply differ on a %d-byte page:\n got % x\nwant % x", filepath.Base(path), len(in), opts.DataOut, want)
			}
			return nil
		})
	}
	t.Logf("%d corpus frames run, %d too short and aborted", frames, aborted)
	if frames < 1000 {
		t.Errorf("only %d frames from the corpus", frames)
	}
}
