package generator

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// FieldOffsets are the byte offsets, from the start of a frame built by
// BuildFrame, of the fields an engine varies or must fix up. A field the
// frame does not have is -1.
type FieldOffsets struct {
	VLAN       int // 802.1Q TCI (priority and VLAN id), 2 bytes
	L3         int // IPv4 or IPv6 header
	SrcIP      int // IPLen bytes
	DstIP      int
	IPLen      int // 4 or 16
	L3Checksum int // IPv4 header checksum; -1 for IPv6
	L4         int // UDP, TCP or ICMP header
	SrcPort    int // UDP/TCP source port, or the ICMP echo identifier, 2 bytes
	DstPort    int // UDP/TCP destination port; -1 for ICMP
	L4Checksum int // covers the pseudo-header (not for ICMPv4) and the payload
	Payload    int // first byte after the L4 header; latency streams carry the probe here
}

// Fixed header values of built frames.
const (
	frameTTL      = 64
	frameTCPSeq   = 1
	frameTCPAck   = 1
	frameTCPWin   = 65535
	frameICMPSeq  = 1
	ethHeaderLen  = 14
	vlanHeaderLen = 4
)

// BuildFrame builds the first frame of stream s: addresses and ports at the
// start of their ranges, frameSize-4 bytes long (the NIC adds the FCS), with
// lengths and checksums filled in. The bytes after the L4 header belong to
// the L4 payload (the IP length covers them); for latency streams the
// payload starts with ProbeSignature and the other probe fields are zero.
// An empty Proto means udp and a zero IPVersion follows s.Src.IP.
func BuildFrame(s StreamSpec, srcMAC, dstMAC net.HardwareAddr, frameSize int) ([]byte, FieldOffsets, error) {
	var off FieldOffsets
	fail := func(format string, args ...any) ([]byte, FieldOffsets, error) {
		return nil, FieldOffsets{}, fmt.Errorf("build frame for stream %q: "+format, append([]any{s.Name}, args...)...)
	}
	if len(srcMAC) != 6 || len(dstMAC) != 6 {
		return fail("MAC addresses must be 6 bytes, got %d and %d", len(srcMAC), len(dstMAC))
	}
	if s.Proto == "" {
		s.Proto = ProtoUDP
	}
	if s.Kind == "" {
		s.Kind = KindTraffic
	}
	src, dst := s.Src.IP, s.Dst.IP
	if !src.IsValid() || !dst.IsValid() {
		return fail("source and destination addresses must be set")
	}
	if s.IPVersion == 0 {
		s.IPVersion = ipVersion(src)
	}
	if s.IPVersion != 4 && s.IPVersion != 6 {
		return fail("ip version %d is not 4 or 6", s.IPVersion)
	}
	if ipVersion(src) != s.IPVersion || ipVersion(dst) != s.IPVersion {
		return fail("addresses %s and %s are not both IPv%d", src, dst, s.IPVersion)
	}
	if s.VLAN > 4094 {
		return fail("vlan %d is out of range 1..4094", s.VLAN)
	}
	if least := s.MinFrameSize(); frameSize < least || frameSize > MaxFrameSize {
		return fail("frame size %d is out of range %d..%d (%s): %w", frameSize, least, MaxFrameSize, s.describeHeaders(), ErrFrameSize)
	}

	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC}
	stack := []gopacket.SerializableLayer{eth}
	off.VLAN = -1
	off.L3 = ethHeaderLen
	l3Type := layers.EthernetTypeIPv4
	if s.IPVersion == 6 {
		l3Type = layers.EthernetTypeIPv6
	}
	if s.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		stack = append(stack, &layers.Dot1Q{VLANIdentifier: s.VLAN, Type: l3Type})
		off.VLAN = ethHeaderLen
		off.L3 += vlanHeaderLen
	} else {
		eth.EthernetType = l3Type
	}

	var l4Proto layers.IPProtocol
	switch s.Proto {
	case ProtoUDP:
		l4Proto = layers.IPProtocolUDP
	case ProtoTCPSYN, ProtoTCPACK:
		l4Proto = layers.IPProtocolTCP
	case ProtoICMPEcho:
		l4Proto = layers.IPProtocolICMPv4
		if s.IPVersion == 6 {
			l4Proto = layers.IPProtocolICMPv6
		}
	default:
		return fail("proto %q is not supported; supported are %v", s.Proto, protos)
	}

	var netLayer gopacket.NetworkLayer
	if s.IPVersion == 6 {
		ip := &layers.IPv6{Version: 6, HopLimit: frameTTL, NextHeader: l4Proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		netLayer = ip
		stack = append(stack, ip)
		off.SrcIP, off.DstIP, off.IPLen, off.L3Checksum, off.L4 = off.L3+8, off.L3+24, 16, -1, off.L3+40
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: frameTTL, Flags: layers.IPv4DontFragment, Protocol: l4Proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		netLayer = ip
		stack = append(stack, ip)
		off.SrcIP, off.DstIP, off.IPLen, off.L3Checksum, off.L4 = off.L3+12, off.L3+16, 4, off.L3+10, off.L3+20
	}

	setNet := func(l interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
	}) error {
		return l.SetNetworkLayerForChecksum(netLayer)
	}
	var err error
	off.SrcPort, off.DstPort = off.L4, off.L4+2
	switch s.Proto {
	case ProtoUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.Src.Port), DstPort: layers.UDPPort(s.Dst.Port)}
		err = setNet(udp)
		stack = append(stack, udp)
		off.L4Checksum, off.Payload = off.L4+6, off.L4+8
	case ProtoTCPSYN, ProtoTCPACK:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.Src.Port), DstPort: layers.TCPPort(s.Dst.Port), Seq: frameTCPSeq, Window: frameTCPWin}
		if s.Proto == ProtoTCPSYN {
			tcp.SYN = true
		} else {
			tcp.ACK, tcp.Ack = true, frameTCPAck
		}
		err = setNet(tcp)
		stack = append(stack, tcp)
		off.L4Checksum, off.Payload = off.L4+16, off.L4+20
	case ProtoICMPEcho:
		off.DstPort = -1
		off.SrcPort = off.L4 + 4
		off.L4Checksum, off.Payload = off.L4+2, off.L4+8
		if s.IPVersion == 6 {
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
			err = setNet(icmp)
			stack = append(stack, icmp, &layers.ICMPv6Echo{Identifier: s.Src.Port, SeqNumber: frameICMPSeq})
		} else {
			stack = append(stack, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: s.Src.Port, Seq: frameICMPSeq})
		}
	}
	if err != nil {
		return fail("%v", err)
	}

	payload := make([]byte, frameSize-fcsLen-off.Payload)
	if s.Kind == KindLatency {
		binary.BigEndian.PutUint32(payload[ProbeSigOff:], ProbeSignature)
	}
	stack = append(stack, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBufferExpectedSize(frameSize, 0)
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, stack...); err != nil {
		return fail("serialize: %v", err)
	}
	frame := buf.Bytes()
	if len(frame) != frameSize-fcsLen {
		return fail("serialized %d bytes, want %d", len(frame), frameSize-fcsLen)
	}
	return frame, off, nil
}
