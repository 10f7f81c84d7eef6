package xdplive

import (
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
	"github.com/dutlab/dutlab/internal/testenv"
)

const (
	xdpAborted = 0
	xdpDrop    = 1
)

func TestBuckets(t *testing.T) {
	for b := 0; b < 252; b++ {
		lo, hi := bucketLow(b), bucketHigh(b)
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d: [%d, %d] maps to %d..%d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if b > 0 && bucketHigh(b-1)+1 != lo {
			t.Fatalf("bucket %d does not start after bucket %d", b, b-1)
		}
	}
	if bucketOf(math.MaxUint64) != 251 {
		t.Errorf("MaxUint64 in bucket %d", bucketOf(math.MaxUint64))
	}
	var h [latBuckets]uint64
	h[bucketOf(1000)] = 99
	h[bucketOf(50000)] = 1
	if p := percentile(&h, 0.5); p < 1000 || p > 1250 {
		t.Errorf("p50 = %d, want the bucket of 1000", p)
	}
	if p := percentile(&h, 1); p < 50000 || p > 62500 {
		t.Errorf("max = %d, want the bucket of 50000", p)
	}
}

// A probe made by xdp_gen is recognised and its latency lands in the
// histogram bucket the Go twin of lat_bucket predicts.
func TestSinkProbe(t *testing.T) {
	requireBPF(t)
	s, err := newSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, st := range []generator.Stream{testStream(64, 1), testStream6(84, 1), testStream(1000, 1)} {
		tp, err := generator.BuildUDP(st)
		if err != nil {
			t.Fatal(err)
		}
		f := tp.Frame
		now := monotonicNow(t)
		binary.BigEndian.PutUint64(f[tp.ProbeOff+generator.ProbeTimestampOff:], now-1_000_000) // sent 1 ms ago
		ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: f})
		if err != nil || ret != xdpDrop {
			t.Fatalf("verdict %d, %v", ret, err)
		}
	}
	// A probe stamped in the future is counted apart.
	tp, _ := generator.BuildUDP(testStream(64, 1))
	binary.BigEndian.PutUint64(tp.Frame[tp.ProbeOff+generator.ProbeTimestampOff:], math.MaxUint64)
	if ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: tp.Frame}); err != nil || ret != xdpDrop {
		t.Fatalf("verdict %d, %v", ret, err)
	}
	// Not a probe: wrong signature.
	tp.Frame[tp.ProbeOff] ^= 0xff
	if ret, err := s.objs.XdpSink.Run(&ebpf.RunOptions{Data: tp.Frame}); err != nil || ret != xdpDrop {
		t.Fatalf("verdict %d, %v", ret, err)
	}

	c, err := s.counters(true)
	if err != nil {
		t.Fatal(err)
	}
	if c.RxPackets != 5 || c.ProbePackets != 4 || c.ProbeFuture != 1 {
		t.Errorf("rx %d probes %d future %d, want 5, 4, 1", c.RxPackets, c.ProbePackets, c.ProbeFuture)
	}
	if want := uint64(60 + 80 + 996 + 60 + 60); c.RxBytes != want {
		t.Errorf("rx bytes %d, want %d", c.RxBytes, want)
	}
	var n uint64
	for b, v := range c.latency {
		n += v
		if v != 0 && (bucketHigh(b) < 1_000_000 || bucketLow(b) > 1_100_000) {
			t.Errorf("latency bucket %d [%d, %d] has %d; want about 1 ms", b, bucketLow(b), bucketHigh(b), v)
		}
	}
	if n != 3 {
		t.Errorf("histogram holds %d probes, want 3", n)
	}
	if c.LatSumNs < 3_000_000 || c.LatSumNs > 3_300_000 {
		t.Errorf("latency sum %d ns, want about 3 ms", c.LatSumNs)
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
	s, err := newSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	s, err := newSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
