package generator

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrUnsupported is returned when a profile asks for something the engines'
// templates cannot send yet. The profile format is ahead of the engines on
// purpose: files written today keep working as the engines catch up.
var ErrUnsupported = errors.New("not supported by the engines yet")

// EngineStreams turns the profile's streams into engine Streams. base holds
// what the lab decides (MACs, and addresses when the profile keeps the
// defaults); ceilingPPS resolves percent rates (0 when none was measured).
// Errors name the stream and the field.
func (p *Profile) EngineStreams(file string, base Stream, ceilingPPS float64) ([]Stream, error) {
	if p.Packets != 0 {
		return nil, fmt.Errorf("%s: packets: %w (use duration)", file, ErrUnsupported)
	}
	var out []Stream
	var errs []error
	for i, spec := range p.Streams {
		s, err := spec.engineStream(base, ceilingPPS)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: streams[%d] (%s): %w", file, i, spec.Name, err))
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func (s StreamSpec) engineStream(base Stream, ceilingPPS float64) (Stream, error) {
	unsupported := func(field, what string) error {
		return fmt.Errorf("%s: %s: %w", field, what, ErrUnsupported)
	}
	switch {
	case s.Proto != ProtoUDP:
		return Stream{}, unsupported("proto", s.Proto+" templates (udp only)")
	case s.VLAN != 0:
		return Stream{}, unsupported("vlan", "VLAN tags")
	case s.IMIX:
		return Stream{}, unsupported("frame-size", "imix")
	case s.Src.IPCount > 1 || s.Dst.IPCount > 1:
		return Stream{}, unsupported("ip-count", "address variation (ports vary)")
	case s.Dst.PortCount > 1:
		return Stream{}, unsupported("dst.port-count", "destination port variation (the source port varies)")
	case s.Src.Mode == ModeRandom:
		return Stream{}, unsupported("src.mode", "random variation (increment)")
	}
	out := base
	out.Name = s.Name
	out.Latency = s.Kind == KindLatency
	// The lab's addresses are the defaults; a profile that names its own is
	// taken at its word (the DUT must route them).
	if s.Src.IP != defaultSrc(s.IPVersion) {
		out.Src = s.Src.IP
	}
	if s.Dst.IP != defaultDst(s.IPVersion) {
		out.Dst = s.Dst.IP
	}
	if out.Src.Is6() != out.Dst.Is6() || (s.IPVersion == 6) != out.Dst.Is6() {
		return Stream{}, fmt.Errorf("ip: IPv%d stream but the lab's addresses are %s -> %s; give src.ip and dst.ip", s.IPVersion, out.Src, out.Dst)
	}
	out.SrcPort, out.DstPort = s.Src.Port, s.Dst.Port
	out.Flows = max(s.Src.PortCount, 1)
	if int(out.SrcPort)+out.Flows-1 > 65535 {
		return Stream{}, fmt.Errorf("src.port-count: ports %d..%d run past 65535", out.SrcPort, int(out.SrcPort)+out.Flows-1)
	}
	out.FrameSize = s.FrameSize
	pps, err := s.PacketsPerSecond(ceilingPPS)
	if err != nil {
		return Stream{}, fmt.Errorf("rate: %w", err)
	}
	out.RatePPS = pps
	return out, nil
}

func defaultSrc(ipVersion int) netip.Addr {
	if ipVersion == 6 {
		return DefaultSrcIPv6
	}
	return DefaultSrcIPv4
}

func defaultDst(ipVersion int) netip.Addr {
	if ipVersion == 6 {
		return DefaultDstIPv6
	}
	return DefaultDstIPv4
}
