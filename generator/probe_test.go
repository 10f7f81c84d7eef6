package generator

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	testSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	testDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func testStream(src, dst string, size int) Stream {
	return Stream{
		SrcMAC: testSrcMAC, DstMAC: testDstMAC,
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
		SrcPort: 1024, DstPort: 4791, Flows: 16, FrameSize: size,
	}
}

// csum16 is the Internet checksum sum (RFC 1071) of b added to sum, unfolded.
func csum16(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// udpChecksumOK recomputes the UDP checksum over the pseudo-header and the
// datagram: a correct one sums to 0xffff.
func udpChecksumOK(t *testing.T, tp Template) bool {
	t.Helper()
	f := tp.Frame
	udpLen := len(f) - tp.UDPOff
	var sum uint32
	sum = csum16(sum, f[tp.IPSrcOff:tp.UDPOff]) // src+dst (adjacent in both families)
	sum += uint32(udpLen) + uint32(layers.IPProtocolUDP)
	sum = csum16(sum, f[tp.UDPOff:])
	return fold(sum) == 0xffff
}

func TestBuildUDP(t *testing.T) {
	tests := []struct {
		name     string
		src, dst string
		size     int
	}{
		{"ipv4 64", "198.18.0.1", "198.19.0.1", 64},
		{"ipv4 65 odd", "198.18.0.1", "198.19.0.1", 65},
		{"ipv4 1518", "198.18.0.1", "198.19.0.1", 1518},
		{"ipv6 84", "2001:db8::1", "2001:db8::2", 84},
		{"ipv6 1518", "2001:db8::1", "2001:db8::2", 1518},
		{"ipv4-mapped is ipv4", "::ffff:198.18.0.1", "198.19.0.1", 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStream(tt.src, tt.dst, tt.size)
			tp, err := BuildUDP(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(tp.Frame) != tt.size-4 {
				t.Fatalf("frame is %d bytes, want %d", len(tp.Frame), tt.size-4)
			}
			pkt := gopacket.NewPacket(tp.Frame, layers.LayerTypeEthernet, gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatalf("decode: %v", el.Error())
			}
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if eth.SrcMAC.String() != testSrcMAC.String() || eth.DstMAC.String() != testDstMAC.String() {
				t.Errorf("MACs %s -> %s", eth.SrcMAC, eth.DstMAC)
			}
			src, dst := s.Src.Unmap(), s.Dst.Unmap()
			if tp.IPv6 {
				ip, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				if !ok {
					t.Fatal("no IPv6 layer")
				}
				if !ip.SrcIP.Equal(src.AsSlice()) || !ip.DstIP.Equal(dst.AsSlice()) || ip.HopLimit != 64 {
					t.Errorf("IPv6 %s -> %s hop limit %d", ip.SrcIP, ip.DstIP, ip.HopLimit)
				}
				if int(ip.Length) != len(tp.Frame)-tp.UDPOff {
					t.Errorf("IPv6 payload length %d", ip.Length)
				}
				if tp.IPv4ChecksumOff != -1 {
					t.Errorf("IPv4ChecksumOff = %d for IPv6", tp.IPv4ChecksumOff)
				}
			} else {
				ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if !ok {
					t.Fatal("no IPv4 layer")
				}
				if !ip.SrcIP.Equal(src.AsSlice()) || !ip.DstIP.Equal(dst.AsSlice()) || ip.TTL != 64 || ip.Protocol != layers.IPProtocolUDP {
					t.Errorf("IPv4 %s -> %s ttl %d proto %d", ip.SrcIP, ip.DstIP, ip.TTL, ip.Protocol)
				}
				if int(ip.Length) != len(tp.Frame)-tp.L3Off {
					t.Errorf("IPv4 total length %d", ip.Length)
				}
				if fold(csum16(0, tp.Frame[tp.L3Off:tp.L3Off+20])) != 0xffff {
					t.Error("IPv4 header checksum is wrong")
				}
				if got := binary.BigEndian.Uint16(tp.Frame[tp.IPv4ChecksumOff:]); got != ip.Checksum {
					t.Errorf("IPv4ChecksumOff points at %#x, checksum is %#x", got, ip.Checksum)
				}
			}
			udp := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if udp.SrcPort != 1024 || udp.DstPort != 4791 || int(udp.Length) != len(tp.Frame)-tp.UDPOff {
				t.Errorf("UDP %d -> %d length %d", udp.SrcPort, udp.DstPort, udp.Length)
			}
			if udp.Checksum == 0 || !udpChecksumOK(t, tp) {
				t.Errorf("UDP checksum %#x is wrong", udp.Checksum)
			}
			for name, off := range map[string]int{"src": tp.IPSrcOff, "dst": tp.IPDstOff} {
				want := src
				if name == "dst" {
					want = dst
				}
				n := 4
				if tp.IPv6 {
					n = 16
				}
				if got, _ := netip.AddrFromSlice(tp.Frame[off : off+n]); got != want {
					t.Errorf("IP%sOff points at %s, want %s", name, got, want)
				}
			}
			be := binary.BigEndian
			if be.Uint16(tp.Frame[tp.UDPSrcPortOff:]) != 1024 || be.Uint16(tp.Frame[tp.UDPDstPortOff:]) != 4791 || be.Uint16(tp.Frame[tp.UDPChecksumOff:]) != udp.Checksum {
				t.Error("UDP offsets point at the wrong fields")
			}
			p := tp.Frame[tp.ProbeOff:]
			if len(p) < ProbeLen || be.Uint32(p[ProbeSigOff:]) != ProbeSignature {
				t.Fatalf("probe missing: % x", p)
			}
			for i, b := range p[ProbeStreamOff:] {
				if b != 0 {
					t.Fatalf("probe byte %d after the signature is %#x, want 0", ProbeStreamOff+i, b)
				}
			}
		})
	}
}

// An engine varies the source port and fills the probe, then fixes the UDP
// checksum incrementally from the template's; check that arithmetic.
func TestTemplateIncrementalChecksum(t *testing.T) {
	for _, addrs := range [][2]string{{"198.18.0.1", "198.19.0.1"}, {"2001:db8::1", "2001:db8::2"}} {
		tp, err := BuildUDP(testStream(addrs[0], addrs[1], 128))
		if err != nil {
			t.Fatal(err)
		}
		f := tp.Frame
		be := binary.BigEndian
		old := be.Uint16(f[tp.UDPChecksumOff:])
		oldPort := be.Uint16(f[tp.UDPSrcPortOff:])
		be.PutUint16(f[tp.UDPSrcPortOff:], oldPort+7)
		be.PutUint16(f[tp.ProbeOff+ProbeStreamOff:], 3)
		be.PutUint32(f[tp.ProbeOff+ProbeSeqOff:], 0xdeadbeef)
		be.PutUint64(f[tp.ProbeOff+ProbeTimestampOff:], 0x0123456789abcdef)
		sum := uint32(^old) + uint32(^oldPort) + uint32(oldPort+7)
		sum = csum16(sum, f[tp.ProbeOff+ProbeStreamOff:tp.ProbeOff+ProbeLen])
		c := ^fold(sum)
		if c == 0 {
			c = 0xffff
		}
		be.PutUint16(f[tp.UDPChecksumOff:], c)
		if !udpChecksumOK(t, tp) {
			t.Errorf("%s: incremental UDP checksum is wrong", addrs[0])
		}
	}
}

func TestBuildUDPRejects(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Stream)
		sizeErr bool
	}{
		{"ipv4 63", func(s *Stream) { s.FrameSize = 63 }, true},
		{"ipv4 1519", func(s *Stream) { s.FrameSize = 1519 }, true},
		{"ipv6 83", func(s *Stream) {
			s.Src, s.Dst, s.FrameSize = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 83
		}, true},
		{"mixed families", func(s *Stream) { s.Dst = netip.MustParseAddr("2001:db8::2") }, false},
		{"no source", func(s *Stream) { s.Src = netip.Addr{} }, false},
		{"short MAC", func(s *Stream) { s.DstMAC = s.DstMAC[:5] }, false},
		{"port overflow", func(s *Stream) { s.SrcPort, s.Flows = 65535, 2 }, false},
		{"negative flows", func(s *Stream) { s.Flows = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStream("198.18.0.1", "198.19.0.1", 64)
			tt.mod(&s)
			_, err := BuildUDP(s)
			if err == nil {
				t.Fatal("BuildUDP accepted the stream")
			}
			if got := errors.Is(err, ErrFrameSize); got != tt.sizeErr {
				t.Errorf("errors.Is(err, ErrFrameSize) = %v: %v", got, err)
			}
		})
	}
}
