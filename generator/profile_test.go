package generator

import (
	"errors"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/units"
)

var updateGolden = flag.Bool("update", false, "rewrite the .golden files of the bad profiles")

// TestProfileBad parses every profile in testdata/profiles/bad and compares
// the error with the .golden file next to it.
func TestProfileBad(t *testing.T) {
	files, err := filepath.Glob("testdata/profiles/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d bad profiles, want at least 10", len(files))
	}
	lineRE := regexp.MustCompile(`^testdata/profiles/bad/[a-z0-9-]+\.yaml(:[1-9][0-9]*)?: \S`)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			prof, err := ParseProfile(file, data)
			if err == nil {
				t.Fatalf("ParseProfile accepted it: %+v", prof)
			}
			if prof != nil {
				t.Errorf("ParseProfile returned a profile with the error")
			}
			var pe *ProfileError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ProfileError", err)
			}
			got := err.Error() + "\n"
			for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if !lineRE.MatchString(line) {
					t.Errorf("error line %q is not file:line: field: message", line)
				}
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestProfileBad -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestProfileGood(t *testing.T) {
	ep := func(ip string, ipCount int, port uint16, portCount int, mode string) Endpoint {
		return Endpoint{IP: netip.MustParseAddr(ip), IPCount: ipCount, Port: port, PortCount: portCount, Mode: mode}
	}
	tests := []struct {
		file string
		want *Profile
	}{
		{"example.yaml", &Profile{
			Duration: 10 * time.Second,
			Warmup:   time.Second,
			Streams: []StreamSpec{
				{
					Name: "bulk", Kind: KindTraffic, Proto: ProtoUDP, IPVersion: 4, VLAN: 100, FrameSize: 64,
					Rate: units.Rate{PPS: 1e6},
					Src:  ep("198.18.0.1", 1, 1024, 1000, ModeIncrement),
					Dst:  ep("198.19.0.1", 1, 9, 1, ModeIncrement),
				},
				{
					Name: "probes", Kind: KindLatency, Proto: ProtoUDP, IPVersion: 4, FrameSize: 64,
					Rate: units.Rate{PPS: 1000},
					Src:  ep("198.18.0.1", 1, DefaultSrcPort, 1, ModeIncrement),
					Dst:  ep("198.19.0.1", 1, DefaultDstPort, 1, ModeIncrement),
				},
			},
		}},
		{"ipv6-imix.yaml", &Profile{
			Duration: 30 * time.Second,
			Streams: []StreamSpec{
				{
					Name: "syn-flood", Kind: KindTraffic, Proto: ProtoTCPSYN, IPVersion: 6, VLAN: 4094, IMIX: true,
					Rate: units.Rate{Percent: 50},
					Src:  ep("2001:2::10", 256, 1024, 64512, ModeRandom),
					Dst:  ep("2001:2:0:1::1", 1, 80, 1, ModeIncrement),
				},
				{
					Name: "acks", Kind: KindTraffic, Proto: ProtoTCPACK, IPVersion: 6, FrameSize: 1518,
					Rate: units.Rate{BPS: 2.5e9},
					Src:  ep("2001:2::1", 1, DefaultSrcPort, 1, ModeIncrement),
					Dst:  ep("2001:2:0:1::1", 1, DefaultDstPort, 1, ModeIncrement),
				},
				{
					// 14 + 40 + 8 + probe + 4: the default is the smallest frame.
					Name: "probes6", Kind: KindLatency, Proto: ProtoUDP, IPVersion: 6, FrameSize: 66 + ProbeLen,
					Rate: units.Rate{PPS: 10e3},
					Src:  ep("2001:2::1", 1, DefaultSrcPort, 1, ModeIncrement),
					Dst:  ep("2001:2:0:1::1", 1, DefaultDstPort, 1, ModeIncrement),
				},
			},
		}},
		{"packets.yaml", &Profile{
			Packets: 1000000,
			Streams: []StreamSpec{
				{
					Name: "ping", Kind: KindTraffic, Proto: ProtoICMPEcho, IPVersion: 4, FrameSize: 128,
					Rate: units.Rate{PPS: 100000},
					Src:  ep("10.0.0.1", 10, 1, 100, ModeRandom),
					Dst:  ep("10.0.1.1", 1, 0, 1, ModeIncrement),
				},
				{
					Name: "max", Kind: KindTraffic, Proto: ProtoUDP, IPVersion: 4, FrameSize: 64,
					Src: ep("10.0.0.1", 10, 1, 100, ModeRandom),
					Dst: ep("198.19.0.1", 1, DefaultDstPort, 1, ModeIncrement),
				},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadProfile(filepath.Join("testdata/profiles/good", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestProfileStreamHelpers(t *testing.T) {
	prof, err := LoadProfile("testdata/profiles/good/ipv6-imix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	syn := prof.Streams[0]
	if got, want := syn.Flows(), uint64(256*64512); got != want {
		t.Errorf("Flows() = %d, want %d", got, want)
	}
	// IPv6 + VLAN + TCP: 14+4+40+20+4 = 82 replaces the IMIX's 64.
	if got := syn.MinFrameSize(); got != 82 {
		t.Errorf("MinFrameSize() = %d, want 82", got)
	}
	sizes := syn.FrameSizes()
	if len(sizes) != 12 || sizes[0] != 82 {
		t.Errorf("FrameSizes() = %v, want 12 sizes starting at 82", sizes)
	}
	pps, err := syn.PacketsPerSecond(2e6)
	if err != nil || pps != 1e6 {
		t.Errorf("PacketsPerSecond(2e6) = %g, %v; want 1e6", pps, err)
	}
	if _, err := syn.PacketsPerSecond(0); !errors.Is(err, ErrNoCeiling) {
		t.Errorf("PacketsPerSecond(0) error = %v, want ErrNoCeiling", err)
	}
	// 2.5 Gbps of 1518-byte frames: 2.5e9 / ((1518+20)*8).
	if pps, err := prof.Streams[1].PacketsPerSecond(0); err != nil || math.Abs(pps-2.5e9/(1538*8)) > 1e-6 {
		t.Errorf("acks: PacketsPerSecond = %g, %v", pps, err)
	}
}

func TestProfileIMIXSizes(t *testing.T) {
	sizes := IMIXSizes(0)
	count := map[int]int{}
	sum := 0
	for _, s := range sizes {
		count[s]++
		sum += s
	}
	if want := map[int]int{64: 7, 594: 4, 1518: 1}; !reflect.DeepEqual(count, want) {
		t.Errorf("IMIXSizes(0) = %v: counts %v, want %v", sizes, count, want)
	}
	if sum != 4342 {
		t.Errorf("IMIXSizes(0) sums to %d, want 4342", sum)
	}
	// Evenly mixed: never more than two 64-byte frames in a row.
	for i := 2; i < len(sizes); i++ {
		if sizes[i] == 64 && sizes[i-1] == 64 && sizes[i-2] == 64 {
			t.Errorf("IMIXSizes(0) = %v has three 64s in a row", sizes)
		}
	}
	for _, s := range IMIXSizes(78) {
		if s < 78 {
			t.Errorf("IMIXSizes(78) has %d", s)
		}
	}
}

func TestProfileLoadMissing(t *testing.T) {
	_, err := LoadProfile("testdata/profiles/no-such-file.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadProfile(missing) = %v, want ErrNotExist", err)
	}
}

// FuzzParseProfile checks that ParseProfile never panics, that its errors
// name the file, and that every profile it accepts builds.
func FuzzParseProfile(f *testing.F) {
	files, _ := filepath.Glob("testdata/profiles/*/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("duration: 1s\nstreams: [{name: a, ip: 6, proto: icmp-echo, vlan: 1, frame-size: imix}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		prof, err := ParseProfile("fuzz.yaml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.yaml") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		if (prof.Duration > 0) == (prof.Packets > 0) {
			t.Fatalf("accepted duration %v and packets %d", prof.Duration, prof.Packets)
		}
		for _, s := range prof.Streams {
			for _, size := range s.FrameSizes() {
				if _, _, err := BuildFrame(s, frTestSrcMAC, frTestDstMAC, size); err != nil {
					t.Fatalf("accepted stream %+v does not build at %d bytes: %v", s, size, err)
				}
			}
			if _, err := s.PacketsPerSecond(1e6); err != nil {
				t.Fatalf("accepted stream %+v has a bad rate: %v", s, err)
			}
		}
	})
}

// The example profiles in examples/profiles parse and turn into streams on
// the built-in lab's addresses.
func TestProfileExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "profiles", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example profiles: %v", err)
	}
	base := Stream{SrcMAC: frTestSrcMAC, DstMAC: frTestDstMAC, Src: DefaultSrcIPv4, Dst: DefaultDstIPv4}
	for _, f := range files {
		p, err := LoadProfile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		streams, err := p.EngineStreams(f, base, 0)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, s := range streams {
			if _, err := Compile(s); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
