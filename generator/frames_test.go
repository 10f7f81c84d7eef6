package generator

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	frTestSrcMAC = net.HardwareAddr{0x02, 0xd1, 0, 0, 0, 1}
	frTestDstMAC = net.HardwareAddr{0x02, 0xd1, 0, 0, 0, 2}
)

func frTestSpec(proto string, ipv int, vlan uint16, kind string) StreamSpec {
	s := StreamSpec{Name: "t", Kind: kind, Proto: proto, IPVersion: ipv, VLAN: vlan}
	if ipv == 6 {
		s.Src.IP, s.Dst.IP = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2:0:1::1")
	} else {
		s.Src.IP, s.Dst.IP = netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.0.1")
	}
	s.Src.Port, s.Dst.Port = 1234, 5678
	return s
}

// TestBuildFrame builds every proto x IP version x VLAN x size, decodes the
// frame with gopacket and checks fields, lengths, checksums and offsets.
func TestBuildFrame(t *testing.T) {
	for _, kind := range []string{KindTraffic, KindLatency} {
		for _, proto := range protos {
			if kind == KindLatency && proto != ProtoUDP {
				continue
			}
			for _, ipv := range []int{4, 6} {
				for _, vlan := range []uint16{0, 100} {
					for _, size := range []int{64, 128, 1518} {
						name := fmt.Sprintf("%s/%s/ipv%d/vlan%d/%d", kind, proto, ipv, vlan, size)
						t.Run(name, func(t *testing.T) {
							frCheckFrame(t, frTestSpec(proto, ipv, vlan, kind), size)
						})
					}
				}
			}
		}
	}
}

func frCheckFrame(t *testing.T, s StreamSpec, size int) {
	t.Helper()
	frame, off, err := BuildFrame(s, frTestSrcMAC, frTestDstMAC, size)
	if size < s.MinFrameSize() {
		if !errors.Is(err, ErrFrameSize) {
			t.Fatalf("BuildFrame at %d < minimum %d: err = %v, want ErrFrameSize", size, s.MinFrameSize(), err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != size-4 {
		t.Fatalf("frame is %d bytes, want %d", len(frame), size-4)
	}
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	// Decoded L4 layers do not know their network layer until told.
	for _, l := range pkt.Layers() {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(pkt.NetworkLayer()); err != nil {
				t.Fatal(err)
			}
		}
	}
	err, mismatches := pkt.VerifyChecksums()
	if err != nil || len(mismatches) > 0 {
		t.Fatalf("VerifyChecksums: %v %+v", err, mismatches)
	}

	eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, frTestSrcMAC) || !bytes.Equal(eth.DstMAC, frTestDstMAC) {
		t.Errorf("MACs %s -> %s", eth.SrcMAC, eth.DstMAC)
	}
	if s.VLAN != 0 {
		q, ok := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if !ok || q.VLANIdentifier != s.VLAN {
			t.Fatalf("802.1Q layer %+v, want VLAN %d", q, s.VLAN)
		}
		if got := binary.BigEndian.Uint16(frame[off.VLAN:]) & 0xfff; got != s.VLAN {
			t.Errorf("VLAN at offset %d = %d", off.VLAN, got)
		}
	} else if pkt.Layer(layers.LayerTypeDot1Q) != nil || off.VLAN != -1 {
		t.Errorf("untagged stream has an 802.1Q tag (offset %d)", off.VLAN)
	}

	l3Len := size - 4 - off.L3
	var src, dst net.IP
	if s.IPVersion == 6 {
		ip, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if !ok {
			t.Fatal("no IPv6 layer")
		}
		src, dst = ip.SrcIP, ip.DstIP
		if int(ip.Length) != l3Len-40 {
			t.Errorf("IPv6 payload length %d, want %d", ip.Length, l3Len-40)
		}
		if off.L3Checksum != -1 || off.IPLen != 16 {
			t.Errorf("IPv6 offsets %+v", off)
		}
	} else {
		ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			t.Fatal("no IPv4 layer")
		}
		src, dst = ip.SrcIP, ip.DstIP
		if int(ip.Length) != l3Len {
			t.Errorf("IPv4 total length %d, want %d", ip.Length, l3Len)
		}
		if got := binary.BigEndian.Uint16(frame[off.L3Checksum:]); got != ip.Checksum || got == 0 {
			t.Errorf("IPv4 checksum at offset = %#x, decoded %#x", got, ip.Checksum)
		}
		if off.IPLen != 4 {
			t.Errorf("IPLen %d", off.IPLen)
		}
	}
	if !src.Equal(s.Src.IP.AsSlice()) || !dst.Equal(s.Dst.IP.AsSlice()) {
		t.Errorf("addresses %s -> %s, want %s -> %s", src, dst, s.Src.IP, s.Dst.IP)
	}
	if !bytes.Equal(frame[off.SrcIP:off.SrcIP+off.IPLen], s.Src.IP.AsSlice()) || !bytes.Equal(frame[off.DstIP:off.DstIP+off.IPLen], s.Dst.IP.AsSlice()) {
		t.Errorf("addresses at offsets %d, %d do not match", off.SrcIP, off.DstIP)
	}

	var l4Sum uint16
	var payload []byte
	switch s.Proto {
	case ProtoUDP:
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			t.Fatal("no UDP layer")
		}
		if uint16(udp.SrcPort) != s.Src.Port || uint16(udp.DstPort) != s.Dst.Port || int(udp.Length) != size-4-off.L4 {
			t.Errorf("UDP %d -> %d length %d", udp.SrcPort, udp.DstPort, udp.Length)
		}
		l4Sum, payload = udp.Checksum, udp.Payload
	case ProtoTCPSYN, ProtoTCPACK:
		tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatal("no TCP layer")
		}
		if uint16(tcp.SrcPort) != s.Src.Port || uint16(tcp.DstPort) != s.Dst.Port || tcp.DataOffset != 5 {
			t.Errorf("TCP %d -> %d data offset %d", tcp.SrcPort, tcp.DstPort, tcp.DataOffset)
		}
		wantSYN := s.Proto == ProtoTCPSYN
		if tcp.SYN != wantSYN || tcp.ACK == wantSYN || tcp.RST || tcp.FIN || tcp.PSH {
			t.Errorf("TCP flags SYN=%v ACK=%v RST=%v FIN=%v PSH=%v", tcp.SYN, tcp.ACK, tcp.RST, tcp.FIN, tcp.PSH)
		}
		l4Sum, payload = tcp.Checksum, tcp.Payload
	case ProtoICMPEcho:
		if off.DstPort != -1 {
			t.Errorf("ICMP DstPort offset %d, want -1", off.DstPort)
		}
		if s.IPVersion == 6 {
			icmp, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			echo, ok2 := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo)
			if !ok || !ok2 {
				t.Fatal("no ICMPv6 echo layer")
			}
			if icmp.TypeCode.Type() != layers.ICMPv6TypeEchoRequest || echo.Identifier != s.Src.Port {
				t.Errorf("ICMPv6 %v id %d", icmp.TypeCode, echo.Identifier)
			}
			l4Sum, payload = icmp.Checksum, echo.Payload
		} else {
			icmp, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
			if !ok {
				t.Fatal("no ICMPv4 layer")
			}
			if icmp.TypeCode.Type() != layers.ICMPv4TypeEchoRequest || icmp.Id != s.Src.Port {
				t.Errorf("ICMPv4 %v id %d", icmp.TypeCode, icmp.Id)
			}
			l4Sum, payload = icmp.Checksum, icmp.Payload
		}
	}
	if got := binary.BigEndian.Uint16(frame[off.SrcPort:]); got != s.Src.Port {
		t.Errorf("source port / echo id at offset %d = %d, want %d", off.SrcPort, got, s.Src.Port)
	}
	if off.DstPort >= 0 {
		if got := binary.BigEndian.Uint16(frame[off.DstPort:]); got != s.Dst.Port {
			t.Errorf("destination port at offset %d = %d", off.DstPort, got)
		}
	}
	if got := binary.BigEndian.Uint16(frame[off.L4Checksum:]); got != l4Sum || got == 0 {
		t.Errorf("L4 checksum at offset = %#x, decoded %#x", got, l4Sum)
	}
	if len(payload) != size-4-off.Payload || !bytes.Equal(payload, frame[off.Payload:]) {
		t.Errorf("payload is %d bytes, offsets say %d", len(payload), size-4-off.Payload)
	}
	hasSig := len(payload) >= 4 && binary.BigEndian.Uint32(payload) == ProbeSignature
	if hasSig != (s.Kind == KindLatency) {
		t.Errorf("probe signature present = %v for kind %s", hasSig, s.Kind)
	}
}

func TestBuildFrameMinimumSizes(t *testing.T) {
	tests := []struct {
		proto string
		ipv   int
		vlan  uint16
		kind  string
		want  int
	}{
		{ProtoUDP, 4, 0, KindTraffic, 64},
		{ProtoUDP, 6, 0, KindTraffic, 66},
		{ProtoUDP, 6, 1, KindTraffic, 70},
		{ProtoTCPSYN, 6, 0, KindTraffic, 78},
		{ProtoTCPACK, 6, 1, KindTraffic, 82},
		{ProtoICMPEcho, 6, 1, KindTraffic, 70},
		{ProtoUDP, 4, 1, KindLatency, 14 + 4 + 20 + 8 + ProbeLen + 4},
		{ProtoUDP, 6, 1, KindLatency, 14 + 4 + 40 + 8 + ProbeLen + 4},
	}
	for _, tt := range tests {
		s := frTestSpec(tt.proto, tt.ipv, tt.vlan, tt.kind)
		if got := s.MinFrameSize(); got != tt.want {
			t.Errorf("%s ipv%d vlan %d %s: MinFrameSize() = %d, want %d", tt.proto, tt.ipv, tt.vlan, tt.kind, got, tt.want)
		}
		frCheckFrame(t, s, tt.want)
		if _, _, err := BuildFrame(s, frTestSrcMAC, frTestDstMAC, tt.want-1); !errors.Is(err, ErrFrameSize) {
			t.Errorf("%s ipv%d vlan %d: BuildFrame at %d: %v, want ErrFrameSize", tt.proto, tt.ipv, tt.vlan, tt.want-1, err)
		}
	}
}

func TestBuildFrameRejects(t *testing.T) {
	good := frTestSpec(ProtoUDP, 4, 0, KindTraffic)
	tests := []struct {
		name   string
		edit   func(*StreamSpec)
		srcMAC net.HardwareAddr
	}{
		{name: "short MAC", srcMAC: net.HardwareAddr{1, 2, 3}},
		{name: "no address", edit: func(s *StreamSpec) { s.Dst.IP = netip.Addr{} }},
		{name: "mixed families", edit: func(s *StreamSpec) { s.Dst.IP = netip.MustParseAddr("2001:2::1") }},
		{name: "version mismatch", edit: func(s *StreamSpec) { s.IPVersion = 6 }},
		{name: "bad proto", edit: func(s *StreamSpec) { s.Proto = "sctp" }},
		{name: "bad vlan", edit: func(s *StreamSpec) { s.VLAN = 4095 }},
	}
	for _, tt := range tests {
		s := good
		if tt.edit != nil {
			tt.edit(&s)
		}
		mac := frTestSrcMAC
		if tt.srcMAC != nil {
			mac = tt.srcMAC
		}
		if _, _, err := BuildFrame(s, mac, frTestDstMAC, 128); err == nil {
			t.Errorf("%s: BuildFrame accepted it", tt.name)
		}
	}
	if _, _, err := BuildFrame(good, frTestSrcMAC, frTestDstMAC, 1519); !errors.Is(err, ErrFrameSize) {
		t.Errorf("BuildFrame(1519) = %v, want ErrFrameSize", err)
	}
}
