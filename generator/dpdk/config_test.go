package dpdk

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dutlab/dutlab/generator"
)

func testStream() generator.Stream {
	return generator.Stream{Name: "s", SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"), SrcPort: 1024, DstPort: 9,
		Flows: 100, FrameSize: 64}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		job         generator.Job
		vdevs       []string
		tx, rx      string
		wantErrPart bool
	}{
		{"af_xdp two ports", Options{}, generator.Job{TX: generator.Port{Name: "g0"}, RX: generator.Port{Name: "g1"}, Cores: []int{0}},
			[]string{"net_af_xdp0,iface=g0", "net_af_xdp1,iface=g1"}, "net_af_xdp0", "net_af_xdp1", false},
		{"af_packet, two workers", Options{PMD: AFPacket}, generator.Job{TX: generator.Port{Name: "g0"}, Cores: []int{0, 1, 2}},
			[]string{"net_af_packet0,iface=g0,qpairs=2"}, "net_af_packet0", "", false},
		{"null vdev verbatim, same port both ways", Options{}, generator.Job{TX: generator.Port{Name: "net_null0"}, RX: generator.Port{Name: "net_null0"}},
			[]string{"net_null0"}, "net_null0", "net_null0", false},
		{"namespaces differ", Options{}, generator.Job{TX: generator.Port{Name: "a", Netns: "x"}, RX: generator.Port{Name: "b", Netns: "y"}},
			nil, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.Streams = []generator.Stream{testStream()}
			tt.job.Duration = time.Second
			cfg, err := NewWithOptions(tt.opts).Config(tt.job)
			if tt.wantErrPart {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.EAL.VDevs, tt.vdevs) || cfg.TXPort != tt.tx || cfg.RXPort != tt.rx {
				t.Fatalf("vdevs %q tx %q rx %q", cfg.EAL.VDevs, cfg.TXPort, cfg.RXPort)
			}
			s := cfg.Streams[0]
			if len(s.Template) != 60 || s.SrcPortOffset != 34 || s.ProbeOffset != 42 || s.ChecksumOffset != 40 || s.Flows != 100 || s.SrcPortBase != 1024 {
				t.Fatalf("stream %+v", s)
			}
		})
	}
}

// Streams that vary only the UDP source port go to the tuned rewrite; the
// rest of the stream model goes as a field program. Rates and weights reach
// the worker, and so does a packet count.
func TestConfigStreamFeatures(t *testing.T) {
	job := func(mod func(*generator.Stream)) generator.Job {
		s := testStream()
		mod(&s)
		return generator.Job{TX: generator.Port{Name: "g0"}, RX: generator.Port{Name: "g1"}, Duration: time.Second,
			Streams: []generator.Stream{testStream(), s}}
	}
	for _, tc := range []struct {
		name   string
		mod    func(*generator.Stream)
		fields int
	}{
		{"tcp", func(s *generator.Stream) { s.Proto = generator.ProtoTCPSYN }, 1},
		{"vlan", func(s *generator.Stream) { s.VLAN = 5 }, 1},
		{"addresses", func(s *generator.Stream) { s.DstIPs = 4 }, 2},
		{"dst ports", func(s *generator.Stream) { s.DstPorts = 4 }, 2},
		{"random", func(s *generator.Stream) { s.SrcRandom = true }, 1},
		{"icmp", func(s *generator.Stream) { s.Proto, s.Flows = generator.ProtoICMPEcho, 1 }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := New("").(*Engine).Config(job(tc.mod))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Streams[0].Generic != nil {
				t.Errorf("a source-port-only stream got a field program")
			}
			g := cfg.Streams[1].Generic
			if g == nil || len(g.Fields) != tc.fields || g.L4ChecksumOffset == 0 {
				t.Fatalf("stream 1: program %+v, want %d fields and an L4 checksum", g, tc.fields)
			}
		})
	}
	j := job(func(s *generator.Stream) { s.RatePPS, s.Weight = 5000, 3 })
	cfg, err := New("").(*Engine).Config(j)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Streams[1].RatePPS != 5000 || cfg.Streams[1].Weight != 3 {
		t.Errorf("stream config %+v lost the rate or weight", cfg.Streams[1])
	}
	j.Packets, j.Duration = 10, 0
	if cfg, err := New("").(*Engine).Config(j); err != nil || cfg.Packets != 10 {
		t.Errorf("packet count: cfg.Packets %d, err %v", cfg.Packets, err)
	}
}
