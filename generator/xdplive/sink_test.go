package xdplive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/testenv"
)

const (
	xdpAborted = 0
	xdpDrop    = 1
)

// probeFrame returns the frame of tp stamped as probe seq of stream id, sent at ts.
func probeFrame(tp generator.Template, id uint16, seq uint32, ts uint64) []byte {
	f := bytes.Clone(tp.Frame)
	p := f[tp.ProbeOff:]
	binary.BigEndian.PutUint16(p[generator.ProbeStreamOff:], id)
	binary.BigEndian.PutUint32(p[generator.ProbeSeqOff:], seq)
	binary.BigEndian.PutUint64(p[generator.ProbeTimestampOff:], ts)
	return f
}

// runSink runs xdp_sink over f and requires XDP_DROP.
func runSink(t *testing.T, s *sink, f []byte) {
	t.Helper()
	ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: f})
	if err != nil || ret != xdpDrop {
		t.Fatalf("verdict %d, %v", ret, err)
	}
}

// A probe made by xdp_gen is recognised and its latency lands in the
// histogram bucket the Go twin of lat_bucket predicts; only latency streams
// and probes stamped inside the window are measured.
func TestSinkProbe(t *testing.T) {
	requireBPF(t)
	s, err := newSink(sinkConfig{latencyStreams: 1<<0 | 1<<5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.setWindow(0, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	// Each probe says it was sent 1 ms before it is built; the sink reads
	// the clock a little later, by at most the time these runs take (slack,
	// measured: a loaded machine can delay a run by a few hundred us).
	t0 := monotonicNow(t)
	for i, st := range []generator.Stream{testStream(64, 1), testStream6(84, 1), testStream(1000, 1)} {
		tp, err := generator.BuildUDP(st)
		if err != nil {
			t.Fatal(err)
		}
		runSink(t, s, probeFrame(tp, 5, uint32(i), monotonicNow(t)-1_000_000)) // sent 1 ms ago
	}
	slack := monotonicNow(t) - t0
	tp, _ := generator.BuildUDP(testStream(64, 1))
	// A probe stamped in the future is counted apart.
	runSink(t, s, probeFrame(tp, 0, 0, math.MaxUint64-1))
	// Not a latency stream: a probe, but not measured.
	runSink(t, s, probeFrame(tp, 1, 0, monotonicNow(t)-1000))
	runSink(t, s, probeFrame(tp, 64, 0, monotonicNow(t)-1000))
	// Not a probe: wrong signature.
	f := probeFrame(tp, 0, 1, monotonicNow(t)-1000)
	f[tp.ProbeOff] ^= 0xff
	runSink(t, s, f)
	// Outside the window: tracked, not measured.
	now := monotonicNow(t)
	if err := s.setWindow(now, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	runSink(t, s, probeFrame(tp, 0, 2, now-1))

	c, err := s.counters(true)
	if err != nil {
		t.Fatal(err)
	}
	if c.RxPackets != 8 || c.ProbePackets != 7 || c.ProbeFuture != 1 || c.LatPackets != 3 {
		t.Errorf("rx %d probes %d future %d measured %d, want 8, 7, 1, 3", c.RxPackets, c.ProbePackets, c.ProbeFuture, c.LatPackets)
	}
	if want := uint64(60 + 80 + 996 + 5*60); c.RxBytes != want {
		t.Errorf("rx bytes %d, want %d", c.RxBytes, want)
	}
	var n uint64
	for b, v := range c.latency {
		n += v
		if v != 0 && (measure.BucketHigh(b) < 1_000_000 || measure.BucketLow(b) > 1_000_000+slack) {
			t.Errorf("latency bucket %d [%d, %d] has %d; want 1 ms + up to %d ns", b, measure.BucketLow(b), measure.BucketHigh(b), v, slack)
		}
	}
	if n != 3 {
		t.Errorf("histogram holds %d probes, want 3", n)
	}
	if c.LatSumNs < 3_000_000 || c.LatSumNs > 3*(1_000_000+slack) {
		t.Errorf("latency sum %d ns, want 3 ms + up to 3 x %d ns", c.LatSumNs, slack)
	}
	if lo, hi := ^c.LatMinInv, c.LatMaxNs; lo < 1_000_000 || hi > 1_000_000+slack || lo > hi {
		t.Errorf("min %d max %d, want 1 ms + up to %d ns", lo, hi, slack)
	}
	p, err := s.probes([]int{0, 5})
	if err != nil {
		t.Fatal(err)
	}
	// Stream 5: seqs 0, 1, 2. Stream 0: the future probe (seq 0, in the
	// window) and seq 2 outside it.
	if p.Received != 4 || p.Reordered != 0 || p.Duplicates != 0 {
		t.Errorf("probe counts %+v, want 4 received", p)
	}
}

// Loss, reorder and duplicates follow RFC 8219 / RFC 4737: a probe below the
// highest sequence seen is reordered, one seen before is a duplicate, and the
// window of remembered sequence numbers moves with the highest.
func TestSinkSequence(t *testing.T) {
	requireBPF(t)
	tests := []struct {
		name                  string
		seqs                  []uint32
		received, reord, dups uint64
		tooOld                uint64
	}{
		{"in order", []uint32{0, 1, 2, 3, 4}, 5, 0, 0, 0},
		{"gap", []uint32{0, 1, 5, 6}, 4, 0, 0, 0},
		{"swap", []uint32{0, 2, 1, 3}, 4, 1, 0, 0},
		{"late by 3", []uint32{0, 2, 3, 4, 1}, 5, 1, 0, 0},
		{"duplicate", []uint32{0, 1, 1, 2, 2, 2}, 3, 0, 3, 0},
		{"duplicate of reordered", []uint32{0, 2, 1, 1}, 3, 1, 1, 0},
		{"start above 0", []uint32{1000, 1001, 999, 1001}, 3, 1, 1, 0},
		{"window edge", []uint32{0, 4031, 0, 0, 1}, 3, 1, 2, 0},
		{"beyond window", []uint32{0, 4032, 0}, 3, 1, 0, 1},
		{"window moved", []uint32{100, 100 + 5000, 100 + 5000 - 4031, 100 + 5000 - 4031}, 3, 1, 1, 0},
		{"word reused", []uint32{0, 1, 4096 + 1, 4096 + 1}, 3, 0, 1, 0},
		{"stale word", []uint32{5, 4096 + 10, 4096 + 5}, 3, 1, 0, 0},
		{"wrap", []uint32{0xfffffffe, 0xffffffff, 0, 1, 0xffffffff}, 4, 0, 1, 0},
	}
	tp, _ := generator.BuildUDP(testStream(64, 1))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSink(sinkConfig{latencyStreams: 1 << 3})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.setWindow(0, math.MaxUint64); err != nil {
				t.Fatal(err)
			}
			for _, q := range tt.seqs {
				runSink(t, s, probeFrame(tp, 3, q, monotonicNow(t)))
			}
			p, err := s.probes([]int{3})
			if err != nil {
				t.Fatal(err)
			}
			want := probeCounts{Received: tt.received, Reordered: tt.reord, Duplicates: tt.dups, TooOld: tt.tooOld}
			if p != want {
				t.Errorf("seqs %v: got %+v, want %+v", tt.seqs, p, want)
			}
		})
	}
}

// A sent count, the sink's probe counts and a histogram become a Latency.
func TestSummarize(t *testing.T) {
	var rx sinkCounts
	rx.LatPackets, rx.LatSumNs, rx.LatMaxNs, rx.LatMinInv = 4, 4000, 1300, ^uint64(700)
	for _, v := range []uint64{700, 1000, 1000, 1300} {
		rx.latency[measure.BucketOf(v)]++
	}
	l := summarize(10, probeCounts{Received: 4, Reordered: 1, Duplicates: 2}, rx)
	if l.Sent != 10 || l.Received != 4 || l.Lost != 6 || l.Reordered != 1 || l.Duplicates != 2 {
		t.Errorf("counts %+v", l)
	}
	if l.MinNs != 700 || l.MaxNs != 1300 || l.MeanNs != 1000 || l.ErrorPct != LatencyErrorPct {
		t.Errorf("min %d max %d mean %d error %v", l.MinNs, l.MaxNs, l.MeanNs, l.ErrorPct)
	}
	if e := math.Abs(float64(l.P50Ns)-1000) / 10; e > LatencyErrorPct {
		t.Errorf("p50 %d", l.P50Ns)
	}
	if e := math.Abs(float64(l.P999Ns)-1300) / 13; e > LatencyErrorPct {
		t.Errorf("p99.9 %d", l.P999Ns)
	}
	// More received than sent (in flight at the window start): no loss.
	if l := summarize(3, probeCounts{Received: 4}, rx); l.Lost != 0 {
		t.Errorf("lost %d", l.Lost)
	}
}

// corpusDir is the shared capture corpus (the tcpdump captures);
// DUTLAB_CORPUS overrides it, as in dut/xdp.
func corpusDir() string {
	if d := os.Getenv("DUTLAB_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus", "tcpdump")
}

// xdp_sink sees whatever arrives on the RX port: run it over every frame of
// a pcap corpus and require a drop every time, never an abort.
func TestSinkCorpus(t *testing.T) {
	requireBPF(t)
	dir := corpusDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		testenv.SkipOrFail(t, "no pcap corpus in "+dir+" (set DUTLAB_CORPUS)")
	}
	s, err := newSink(sinkConfig{latencyStreams: ^uint64(0), captureFrames: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.setWindow(0, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	var frames, short, unreadable int
	for _, path := range files {
		err := eachPacket(path, func(data []byte) error {
			if len(data) < 14 { // BPF_PROG_TEST_RUN wants an Ethernet header
				short++
				return nil
			}
			if len(data) > 3000 { // keep it in one page
				data = data[:3000]
			}
			ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: data})
			if err != nil {
				return err
			}
			if ret != xdpDrop {
				t.Errorf("%s frame %d: verdict %d, want XDP_DROP", filepath.Base(path), frames, ret)
			}
			frames++
			return nil
		})
		if err != nil {
			unreadable++
			t.Logf("%s: %v", filepath.Base(path), err)
		}
	}
	c, err := s.counters(false)
	if err != nil {
		t.Fatal(err)
	}
	if c.RxPackets != uint64(frames) {
		t.Errorf("sink counted %d frames, ran %d", c.RxPackets, frames)
	}
	t.Logf("%d files (%d unreadable), %d frames run, %d shorter than 14 bytes skipped, %d probes seen",
		len(files), unreadable, frames, short, c.ProbePackets)
	if frames < 1000 {
		t.Errorf("only %d frames from the corpus", frames)
	}
}

// eachPacket calls fn with every packet of a pcap or pcapng file.
func eachPacket(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	next := func() ([]byte, error) { return nil, io.EOF }
	if r, err := pcapgo.NewReader(f); err == nil {
		next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
	} else {
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return serr
		}
		r, nerr := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if nerr != nil {
			return errors.Join(err, nerr)
		}
		next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
	}
	for {
		d, err := next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err // a truncated capture ends here
		}
		if err := fn(d); err != nil {
			return err
		}
	}
}

// Every prefix of probe frames the sink parses (IPv4 with and without
// options, IPv6, VLAN-tagged) is dropped, and only whole probes count.
func TestSinkTruncated(t *testing.T) {
	requireBPF(t)
	s, err := newSink(sinkConfig{latencyStreams: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.setWindow(0, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	v4, _ := generator.BuildUDP(testStream(64, 1))
	v6, _ := generator.BuildUDP(testStream6(84, 1))
	// IPv4 with 4 bytes of NOP options: IHL 6.
	opts := append(append(append([]byte{}, v4.Frame[:34]...), 1, 1, 1, 1), v4.Frame[34:]...)
	opts[14] = 0x46
	// 802.1Q tag in front of the IPv6 header.
	vlan := append(append(append([]byte{}, v6.Frame[:12]...), 0x81, 0x00, 0x00, 0x64), v6.Frame[12:]...)
	frames := []struct {
		name     string
		f        []byte
		probeEnd int // a prefix this long or longer carries the whole probe
	}{
		{"ipv4", v4.Frame, v4.ProbeOff + generator.ProbeLen},
		{"ipv4 options", opts, v4.ProbeOff + 4 + generator.ProbeLen},
		{"ipv6", v6.Frame, v6.ProbeOff + generator.ProbeLen},
		{"vlan ipv6", vlan, v6.ProbeOff + 4 + generator.ProbeLen},
	}
	for _, fr := range frames {
		before, err := s.counters(false)
		if err != nil {
			t.Fatal(err)
		}
		var runs, wantProbes uint64
		for n := 14; n <= len(fr.f); n++ {
			ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: fr.f[:n]})
			if err != nil {
				t.Fatal(err)
			}
			if ret != xdpDrop {
				t.Errorf("%s cut at %d: verdict %d", fr.name, n, ret)
			}
			runs++
			if n >= fr.probeEnd {
				wantProbes++
			}
		}
		after, err := s.counters(false)
		if err != nil {
			t.Fatal(err)
		}
		d := after.sub(before)
		if d.RxPackets != runs || d.ProbePackets != wantProbes {
			t.Errorf("%s: %d frames %d probes counted, want %d and %d", fr.name, d.RxPackets, d.ProbePackets, runs, wantProbes)
		}
	}
}
