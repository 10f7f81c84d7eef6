package generator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The probe is the start of every generated UDP payload. Engines overwrite its
// stream id, sequence number and timestamp for each frame; a receiver that
// finds ProbeSignature at the start of a UDP payload can compute latency,
// loss and reorder. All fields are big-endian. It is 18 bytes so that it fits
// the 60 bytes of a 64-byte IPv4 frame (42 bytes of headers).
const (
	ProbeSignature uint32 = 0x444c5031 // "DLP1"

	ProbeSigOff       = 0  // uint32 ProbeSignature
	ProbeStreamOff    = 4  // uint16 index of the stream in the Job
	ProbeSeqOff       = 6  // uint32 per-stream sequence number
	ProbeTimestampOff = 10 // uint64 send time in ns (engine-defined clock)
	ProbeLen          = 18
)

// Frame size limits, FCS included.
const (
	MinFrameSize = 64
	MaxFrameSize = 1518
	fcsLen       = 4
)

// ErrFrameSize reports a Stream.FrameSize that cannot hold the headers and
// the probe, or exceeds an untagged standard Ethernet frame.
var ErrFrameSize = errors.New("frame size out of range")

// Template is a ready-to-send Ethernet/IP/UDP frame (without FCS) plus the
// byte offsets of the fields engines vary. The probe's stream, sequence and
// timestamp fields are zero and the UDP checksum covers the frame as built,
// so an engine that writes those fields adds their 16-bit words to the
// checksum incrementally.
type Template struct {
	Frame []byte // FrameSize-4 bytes
	IPv6  bool

	L3Off           int // IPv4 or IPv6 header
	IPSrcOff        int // 4 (IPv4) or 16 (IPv6) bytes
	IPDstOff        int
	IPv4ChecksumOff int // -1 for IPv6
	UDPOff          int
	UDPSrcPortOff   int
	UDPDstPortOff   int
	UDPChecksumOff  int
	ProbeOff        int // start of the UDP payload; see the Probe* offsets
}

// MinFrameSizeFor returns the smallest frame size (FCS included) that holds
// the headers and the probe for IPv4 (64) or IPv6 (84).
func MinFrameSizeFor(ipv6 bool) int {
	if ipv6 {
		return 14 + 40 + 8 + ProbeLen + fcsLen // 84
	}
	return MinFrameSize // 14+20+8+18+4 = 64 exactly
}

// BuildUDP builds the template of stream s with the source port at
// s.SrcPort (the first of its flows). It checks addresses, ports and the
// frame size; it never touches the kernel.
func BuildUDP(s Stream) (Template, error) {
	if len(s.SrcMAC) != 6 || len(s.DstMAC) != 6 {
		return Template{}, fmt.Errorf("build udp template: source and destination MAC must be 6 bytes, got %d and %d", len(s.SrcMAC), len(s.DstMAC))
	}
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return Template{}, errors.New("build udp template: source and destination address must be set")
	}
	src, dst := s.Src.Unmap(), s.Dst.Unmap()
	if src.Is4() != dst.Is4() {
		return Template{}, fmt.Errorf("build udp template: address families differ (%s, %s)", src, dst)
	}
	if s.Flows < 0 || int(s.SrcPort)+max(s.Flows, 1)-1 > 0xffff {
		return Template{}, fmt.Errorf("build udp template: source ports %d+%d flows overflow 65535", s.SrcPort, s.Flows)
	}
	ipv6 := src.Is6()
	if lo := MinFrameSizeFor(ipv6); s.FrameSize < lo || s.FrameSize > MaxFrameSize {
		fam := "IPv4"
		if ipv6 {
			fam = "IPv6"
		}
		return Template{}, fmt.Errorf("build udp template: %s frame size %d not in %d..%d: %w", fam, s.FrameSize, lo, MaxFrameSize, ErrFrameSize)
	}

	t := Template{IPv6: ipv6, L3Off: 14}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(s.SrcMAC), DstMAC: net.HardwareAddr(s.DstMAC)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(s.SrcPort), DstPort: layers.UDPPort(s.DstPort)}
	var l3 gopacket.SerializableLayer
	if ipv6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return Template{}, fmt.Errorf("build udp template: %w", err)
		}
		l3 = ip
		t.IPSrcOff, t.IPDstOff, t.IPv4ChecksumOff, t.UDPOff = 14+8, 14+24, -1, 14+40
	} else {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
			return Template{}, fmt.Errorf("build udp template: %w", err)
		}
		l3 = ip
		t.IPSrcOff, t.IPDstOff, t.IPv4ChecksumOff, t.UDPOff = 14+12, 14+16, 14+10, 14+20
	}
	t.UDPSrcPortOff, t.UDPDstPortOff, t.UDPChecksumOff = t.UDPOff, t.UDPOff+2, t.UDPOff+6
	t.ProbeOff = t.UDPOff + 8

	payload := make([]byte, s.FrameSize-fcsLen-t.ProbeOff)
	binary.BigEndian.PutUint32(payload[ProbeSigOff:], ProbeSignature)

	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, l3, udp, gopacket.Payload(payload)); err != nil {
		return Template{}, fmt.Errorf("build udp template: serialize: %w", err)
	}
	t.Frame = buf.Bytes()
	if len(t.Frame) != s.FrameSize-fcsLen {
		return Template{}, fmt.Errorf("build udp template: serialized %d bytes, want %d", len(t.Frame), s.FrameSize-fcsLen)
	}
	return t, nil
}
