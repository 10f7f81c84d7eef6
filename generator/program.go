package generator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// A Program is a stream compiled for an engine: the template frame, built
// once, and the few fields the engine rewrites per frame, with everything
// the engine needs to fix the checksums incrementally (RFC 1624). It is the
// dperf-style contract between the stream model and a datapath: engines
// copy the template's headers, write the fields, add their 16-bit words to
// precomputed sums and store the folded checksums. Nothing per frame depends
// on the protocol.
type Program struct {
	Frame []byte // FrameSize-4 bytes; the fields hold their first values
	// CopyLen is how many leading bytes of Frame an engine restores before
	// writing the fields (headers, and the probe when there is one); even.
	CopyLen int
	Fields  []Field
	// Flows is how many frames the increment fields take to repeat: the
	// product of their counts (random fields do not count).
	Flows uint64

	// L3Checksum and L4Checksum are the offsets of the IPv4 header checksum
	// and of the L4 checksum, -1 when the frame has none. L3Sum and L4Sum
	// are what RFC 1624 starts from: the template's checksum, inverted,
	// plus the inverted template words of every field (and probe field) the
	// checksum covers, in host-order 16-bit words of the big-endian wire
	// bytes, not folded. An engine adds the new words and folds.
	L3Checksum, L4Checksum int
	L3Sum, L4Sum           uint32
	// UDPChecksum marks a UDP checksum: a computed 0 is sent as 0xffff
	// (RFC 768: zero means no checksum).
	UDPChecksum bool
	// Probe is the offset of the probe (see ProbeSigOff), -1 when frames
	// carry none. Its stream, sequence and timestamp words are zero in
	// Frame and covered by the L4 checksum.
	Probe int
}

// MaxFields bounds Program.Fields: an address and a port at each end.
const MaxFields = 4

// MaxCopyLen bounds Program.CopyLen: Ethernet, 802.1Q, IPv6, TCP and the
// probe fit.
const MaxCopyLen = 14 + 4 + 40 + 20 + ProbeLen

// Field is one header field an engine rewrites per frame: a big-endian
// integer of Width bytes at Off that takes the values Base..Base+Count-1
// (modulo 2^(8*Width)). In increment mode frame number seq carries value
// Base + (seq/Stride)%Count, so the increment fields together step through
// every combination like an odometer; in random mode the index is drawn
// uniformly for every frame.
type Field struct {
	Name   string // src-ip, src-port, dst-ip, dst-port (the ICMP echo id is src-port)
	Off    int
	Width  int // 2 or 4 (the low 32 bits of an IPv6 address)
	Base   uint32
	Count  uint32
	Stride uint64 // increment mode; 0 in random mode
	Random bool
	InL3   bool // covered by the IPv4 header checksum
	InL4   bool // covered by the L4 checksum (pseudo-header fields too)
}

// Value returns the field's value in frame number seq; r is the random draw
// for random fields.
func (f Field) Value(seq uint64, r uint32) uint32 {
	idx := r % f.Count
	if !f.Random {
		idx = uint32(seq / f.Stride % uint64(f.Count))
	}
	v := f.Base + idx
	if f.Width == 2 {
		v &= 0xffff
	}
	return v
}

// ErrTooManyFlows reports increment fields whose combinations exceed 2^32.
var ErrTooManyFlows = errors.New("more than 2^32 flows")

// Spec returns the StreamSpec that s stands for: what BuildFrame builds.
func (s Stream) Spec() StreamSpec {
	kind := KindTraffic
	if s.Latency {
		kind = KindLatency
	}
	proto := s.Proto
	if proto == "" {
		proto = ProtoUDP
	}
	mode := func(random bool) string {
		if random {
			return ModeRandom
		}
		return ModeIncrement
	}
	return StreamSpec{
		Name: s.Name, Kind: kind, Proto: proto, IPVersion: ipVersion(s.Src.Unmap()), VLAN: s.VLAN,
		FrameSize: s.FrameSize,
		Src:       Endpoint{IP: s.Src.Unmap(), IPCount: max(s.SrcIPs, 1), Port: s.SrcPort, PortCount: max(s.Flows, 1), Mode: mode(s.SrcRandom)},
		Dst:       Endpoint{IP: s.Dst.Unmap(), IPCount: max(s.DstIPs, 1), Port: s.DstPort, PortCount: max(s.DstPorts, 1), Mode: mode(s.DstRandom)},
	}
}

// Compile builds s's template with gopacket and the program that varies it.
// UDP frames carry the probe whenever it fits (so that any UDP stream can be
// traced on the receive side); latency streams must be UDP.
func Compile(s Stream) (Program, error) {
	spec := s.Spec() // BuildFrame checks its MACs and addresses
	if spec.Proto != ProtoUDP && s.Latency {
		return Program{}, fmt.Errorf("compile stream %q: latency streams are udp, not %s", s.Name, spec.Proto)
	}
	if spec.Proto == ProtoUDP && !s.Latency {
		// Carry the probe when it fits: the receive side then knows the
		// stream of every frame.
		probe := spec
		probe.Kind = KindLatency
		if s.FrameSize >= probe.MinFrameSize() {
			spec = probe
		}
	}
	frame, off, err := BuildFrame(spec, s.SrcMAC, s.DstMAC, s.FrameSize)
	if err != nil {
		return Program{}, err
	}
	p := Program{Frame: frame, CopyLen: off.Payload, L3Checksum: off.L3Checksum, L4Checksum: off.L4Checksum, Probe: -1,
		UDPChecksum: spec.Proto == ProtoUDP}
	if spec.Kind == KindLatency {
		p.Probe = off.Payload
		p.CopyLen = off.Payload + ProbeLen
	}
	if p.CopyLen > MaxCopyLen || p.CopyLen%2 != 0 {
		return Program{}, fmt.Errorf("compile stream %q: %d header bytes (max %d, even)", s.Name, p.CopyLen, MaxCopyLen)
	}

	v4 := spec.IPVersion == 4
	// ICMPv4's checksum covers only the ICMP message; UDP, TCP and ICMPv6
	// cover the addresses through the pseudo-header.
	addrInL4 := !(v4 && spec.Proto == ProtoICMPEcho)
	addrField := func(name string, ep Endpoint, at int) Field {
		base := ep.IP.As16()
		return Field{Name: name, Off: at + off.IPLen - 4, Width: 4, Base: binary.BigEndian.Uint32(base[12:]),
			Count: uint32(ep.IPCount), Random: ep.Mode == ModeRandom, InL3: v4, InL4: addrInL4}
	}
	portField := func(name string, ep Endpoint, at int) Field {
		return Field{Name: name, Off: at, Width: 2, Base: uint32(ep.Port), Count: uint32(ep.PortCount),
			Random: ep.Mode == ModeRandom, InL4: true}
	}
	if spec.Src.IPCount > 1 {
		p.Fields = append(p.Fields, addrField("src-ip", spec.Src, off.SrcIP))
	}
	if spec.Src.PortCount > 1 {
		p.Fields = append(p.Fields, portField("src-port", spec.Src, off.SrcPort))
	}
	if spec.Dst.IPCount > 1 {
		p.Fields = append(p.Fields, addrField("dst-ip", spec.Dst, off.DstIP))
	}
	if spec.Dst.PortCount > 1 {
		if off.DstPort < 0 {
			return Program{}, fmt.Errorf("compile stream %q: %s has no destination port to vary", s.Name, spec.Proto)
		}
		p.Fields = append(p.Fields, portField("dst-port", spec.Dst, off.DstPort))
	}
	for _, f := range p.Fields {
		if f.Width == 2 && uint64(f.Base)+uint64(f.Count) > 1<<16 {
			return Program{}, fmt.Errorf("compile stream %q: %s %d+%d runs past 65535", s.Name, f.Name, f.Base, f.Count)
		}
	}
	// Odometer strides: the last field turns fastest, so a port range
	// cycles within each address.
	p.Flows = 1
	for i := len(p.Fields) - 1; i >= 0; i-- {
		f := &p.Fields[i]
		if f.Random {
			continue
		}
		f.Stride = p.Flows
		p.Flows *= uint64(f.Count)
		if p.Flows > 1<<32 {
			return Program{}, fmt.Errorf("compile stream %q: %w", s.Name, ErrTooManyFlows)
		}
	}

	be := binary.BigEndian
	if p.L3Checksum >= 0 {
		p.L3Sum = uint32(^be.Uint16(frame[p.L3Checksum:]))
	}
	if p.L4Checksum >= 0 {
		p.L4Sum = uint32(^be.Uint16(frame[p.L4Checksum:]))
	}
	for _, f := range p.Fields {
		inv := 0
		for i := 0; i < f.Width; i += 2 {
			inv += int(^be.Uint16(frame[f.Off+i:]))
		}
		if f.InL3 {
			p.L3Sum += uint32(inv)
		}
		if f.InL4 {
			p.L4Sum += uint32(inv)
		}
	}
	return p, nil
}

// Apply writes frame number seq of the program into frame (at least
// len(p.Frame) bytes) the way an engine does: it restores the headers, sets
// the fields and probe and fixes the checksums. rnd supplies the random
// draws. It is the reference the engines' C and BPF code are tested against.
func (p *Program) Apply(frame []byte, seq uint64, streamID uint16, ts uint64, rnd func() uint32) {
	be := binary.BigEndian
	copy(frame[:p.CopyLen], p.Frame)
	l3, l4 := p.L3Sum, p.L4Sum
	for _, f := range p.Fields {
		var r uint32
		if f.Random {
			r = rnd()
		}
		v := f.Value(seq, r)
		var words uint32
		if f.Width == 2 {
			be.PutUint16(frame[f.Off:], uint16(v))
			words = v
		} else {
			be.PutUint32(frame[f.Off:], v)
			words = v>>16 + v&0xffff
		}
		if f.InL3 {
			l3 += words
		}
		if f.InL4 {
			l4 += words
		}
	}
	if p.Probe >= 0 {
		pr := frame[p.Probe:]
		be.PutUint16(pr[ProbeStreamOff:], streamID)
		be.PutUint32(pr[ProbeSeqOff:], uint32(seq))
		be.PutUint64(pr[ProbeTimestampOff:], ts)
		for i := ProbeStreamOff; i < ProbeLen; i += 2 {
			l4 += uint32(be.Uint16(pr[i:]))
		}
	}
	if p.L3Checksum >= 0 {
		be.PutUint16(frame[p.L3Checksum:], ^csumFold(l3))
	}
	if p.L4Checksum >= 0 {
		c := ^csumFold(l4)
		if c == 0 && p.UDPChecksum {
			c = 0xffff
		}
		be.PutUint16(frame[p.L4Checksum:], c)
	}
}

func csumFold(sum uint32) uint16 {
	sum = sum&0xffff + sum>>16
	sum = sum&0xffff + sum>>16
	return uint16(sum)
}

// Covers reports which of the stream's address ranges holds a: "src.ip",
// "dst.ip" or "" for neither. A lab uses it to refuse ranges that run into
// a DUT's own address (a router drops frames from its own address).
func (s Stream) Covers(a netip.Addr) string {
	in := func(first netip.Addr, n int) bool {
		first, a := first.Unmap(), a.Unmap()
		if !first.IsValid() || first.Is4() != a.Is4() || a.Less(first) {
			return false
		}
		x := first
		for range max(n, 1) {
			if x == a {
				return true
			}
			x = x.Next()
		}
		return false
	}
	switch {
	case in(s.Src, s.SrcIPs):
		return "src.ip"
	case in(s.Dst, s.DstIPs):
		return "dst.ip"
	}
	return ""
}

// Draws reads back from frame, sent by an engine running p, the random draw
// behind every random field's value (its index in the field's range), and
// returns them as the rnd that makes Apply build the same frame. It fails
// when a random field's value lies outside its range. Tests of the engines'
// senders use it to compare their frames with Apply's.
func (p *Program) Draws(frame []byte) (rnd func() uint32, err error) {
	var draws []uint32
	for _, f := range p.Fields {
		if !f.Random {
			continue
		}
		if f.Off+f.Width > len(frame) {
			return nil, fmt.Errorf("%s at %d: frame of %d bytes", f.Name, f.Off, len(frame))
		}
		var v uint32
		for _, b := range frame[f.Off : f.Off+f.Width] {
			v = v<<8 | uint32(b)
		}
		if v-f.Base >= f.Count {
			return nil, fmt.Errorf("%s = %d outside %d+%d", f.Name, v, f.Base, f.Count)
		}
		draws = append(draws, v-f.Base)
	}
	return func() uint32 { d := draws[0]; draws = draws[1:]; return d }, nil
}
