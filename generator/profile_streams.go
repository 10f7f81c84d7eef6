package generator

import (
	"errors"
	"fmt"
	"net/netip"
)

// EngineStreams turns the profile's streams into engine Streams. base holds
// what the lab decides (MACs, and addresses when the profile keeps the
// defaults); ceilingPPS resolves percent rates (0 when none was measured).
// An IMIX stream becomes one Stream per frame size, named name/size, whose
// rates (or, flat out, weights) keep the mix. Errors name the stream and the
// field.
func (p *Profile) EngineStreams(file string, base Stream, ceilingPPS float64) ([]Stream, error) {
	var out []Stream
	var errs []error
	for i, spec := range p.Streams {
		s, err := spec.engineStreams(base, ceilingPPS)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: streams[%d] (%s): %w", file, i, spec.Name, err))
			continue
		}
		out = append(out, s...)
	}
	return out, errors.Join(errs...)
}

func (s StreamSpec) engineStreams(base Stream, ceilingPPS float64) ([]Stream, error) {
	out := base
	out.Name = s.Name
	out.Proto = s.Proto
	out.VLAN = s.VLAN
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
		return nil, fmt.Errorf("ip: IPv%d stream but the lab's addresses are %s -> %s; give src.ip and dst.ip", s.IPVersion, out.Src, out.Dst)
	}
	out.SrcPort, out.DstPort = s.Src.Port, s.Dst.Port
	out.Flows = max(s.Src.PortCount, 1)
	out.SrcIPs, out.DstIPs, out.DstPorts = max(s.Src.IPCount, 1), max(s.Dst.IPCount, 1), max(s.Dst.PortCount, 1)
	out.SrcRandom, out.DstRandom = s.Src.Mode == ModeRandom, s.Dst.Mode == ModeRandom
	// Port ranges come from the profile, which the parser checked; the
	// address ranges may start at the lab's addresses.
	if out.Src.Is4() && uint64(addrUint32(out.Src))+uint64(out.SrcIPs) > 1<<32 {
		return nil, fmt.Errorf("src.ip-count: %d addresses from %s run past 255.255.255.255", out.SrcIPs, out.Src)
	}
	if out.Dst.Is4() && uint64(addrUint32(out.Dst))+uint64(out.DstIPs) > 1<<32 {
		return nil, fmt.Errorf("dst.ip-count: %d addresses from %s run past 255.255.255.255", out.DstIPs, out.Dst)
	}
	pps, err := s.PacketsPerSecond(ceilingPPS)
	if err != nil {
		return nil, fmt.Errorf("rate: %w", err)
	}
	if !s.IMIX {
		out.FrameSize = s.FrameSize
		out.RatePPS = pps
		return []Stream{out}, nil
	}
	// One stream per size; its share of the cycle sets its rate and weight.
	sizes := s.FrameSizes()
	var order []int
	count := map[int]int{}
	for _, n := range sizes {
		if count[n] == 0 {
			order = append(order, n)
		}
		count[n]++
	}
	streams := make([]Stream, 0, len(order))
	for _, n := range order {
		o := out
		o.Name = fmt.Sprintf("%s/%d", s.Name, n)
		o.FrameSize = n
		o.Weight = count[n]
		o.RatePPS = pps * float64(count[n]) / float64(len(sizes))
		streams = append(streams, o)
	}
	return streams, nil
}

func addrUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
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
