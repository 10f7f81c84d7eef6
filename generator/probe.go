package generator

import (
	"errors"
	"fmt"
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
// s.SrcPort (the first of its flows): BuildFrame's UDP frame with the probe
// signature at the start of the payload, and the offsets engines that only
// vary the source port need. It checks addresses, ports and the frame size;
// it never touches the kernel.
func BuildUDP(s Stream) (Template, error) {
	if s.Flows < 0 || int(s.SrcPort)+max(s.Flows, 1)-1 > 0xffff {
		return Template{}, fmt.Errorf("build udp template: source ports %d+%d flows overflow 65535", s.SrcPort, s.Flows)
	}
	spec := s.Spec()
	spec.Proto, spec.Kind, spec.VLAN = ProtoUDP, KindLatency, 0
	frame, off, err := BuildFrame(spec, s.SrcMAC, s.DstMAC, s.FrameSize)
	if err != nil {
		return Template{}, fmt.Errorf("build udp template: %w", err)
	}
	return Template{
		Frame: frame, IPv6: off.IPLen == 16, L3Off: off.L3,
		IPSrcOff: off.SrcIP, IPDstOff: off.DstIP, IPv4ChecksumOff: off.L3Checksum,
		UDPOff: off.L4, UDPSrcPortOff: off.SrcPort, UDPDstPortOff: off.DstPort, UDPChecksumOff: off.L4Checksum,
		ProbeOff: off.Payload,
	}, nil
}
