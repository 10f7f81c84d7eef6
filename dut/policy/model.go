package policy

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Verdict is what a datapath does with a frame.
type Verdict uint8

const (
	VerdictDrop    Verdict = 1
	VerdictForward Verdict = 2
)

func (v Verdict) String() string {
	switch v {
	case VerdictDrop:
		return "drop"
	case VerdictForward:
		return "forward"
	}
	return "?"
}

// Reason says which step decided a frame's verdict.
type Reason uint8

const (
	ReasonForward   Reason = iota // allowed (a rule or the default) or not IP
	ReasonMalformed               // a header cut short
	ReasonBlocklist
	ReasonICMPEcho
	ReasonRule    // a drop rule
	ReasonDefault // the default action dropped it
)

var reasonNames = [...]string{"forward", "malformed", "blocklist", "icmp-echo", "rule", "default"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "?"
}

// Counters are what a policy datapath counts, in the model's terms. The
// BPF program keeps the same counters per CPU.
type Counters struct {
	Forwarded   uint64     `json:"forwarded"`
	Malformed   uint64     `json:"malformed"`
	Blocked     uint64     `json:"blocklisted"`
	ICMPEcho    uint64     `json:"icmp_echo"`
	DefaultDrop uint64     `json:"default_drop"`
	Rules       []uint64   `json:"rules"`    // packets that matched each rule
	VIPs        []uint64   `json:"vips"`     // packets balanced per VIP
	Backends    [][]uint64 `json:"backends"` // per VIP, per backend
}

// Outcome is one frame's fate.
type Outcome struct {
	Verdict Verdict
	Reason  Reason
	Rule    int // the deciding rule (allow or drop), -1 for none
	VIP     int // the VIP that balanced it, -1 for none
	Backend int // the backend it went to, -1 for none
	Frame   []byte
}

// Model is the reference datapath: Process gives each frame's verdict, the
// frame that leaves, and counts. It keeps the load balancer's connection
// table across frames, as the datapaths do.
type Model struct {
	p       *Policy
	outMAC  net.HardwareAddr
	peerMAC net.HardwareAddr
	block   *prefixSet
	maglev  [][]uint32
	conns   map[Flow]uint32 // flow -> backend index of its VIP
	C       Counters
}

// NewModel returns the model of p on a DUT whose Out port has outMAC and
// whose wire peer has peerMAC. p must be valid.
func NewModel(p *Policy, outMAC, peerMAC net.HardwareAddr) *Model {
	m := &Model{p: p, outMAC: outMAC, peerMAC: peerMAC, block: newPrefixSet(p.Firewall.Blocklist), conns: map[Flow]uint32{}}
	m.C.Rules = make([]uint64, len(p.Firewall.Rules))
	m.C.VIPs = make([]uint64, len(p.LB.VIPs))
	for _, v := range p.LB.VIPs {
		m.maglev = append(m.maglev, Maglev(v.Backends))
		m.C.Backends = append(m.C.Backends, make([]uint64, len(v.Backends)))
	}
	return m
}

// SetBackends replaces VIP i's backends (weights, removals) as a running
// datapath does: the Maglev table changes, the connection table stays, so
// established flows keep their backend. Backends are named by index: keep
// the indices of the backends that stay.
func (m *Model) SetBackends(i int, b []Backend) {
	m.p.LB.VIPs[i].Backends = b
	m.maglev[i] = Maglev(b)
	for len(m.C.Backends[i]) < len(b) {
		m.C.Backends[i] = append(m.C.Backends[i], 0)
	}
}

// parsed is what the parse step found in a frame.
type parsed struct {
	l3, l4   int // offsets; l4 < 0: no L4 header
	ipv6     bool
	proto    uint8
	src, dst [16]byte
	hasPorts bool
	sport    uint16
	dport    uint16
	tcpFlags uint8
	hasFlags bool
	icmpType int // -1: not ICMP with a header
}

// Process runs frame (without FCS) through the policy. frame is not
// changed; Outcome.Frame is the frame that leaves (nil when dropped).
func (m *Model) Process(frame []byte) Outcome {
	out := Outcome{Rule: -1, VIP: -1, Backend: -1}
	drop := func(r Reason) Outcome {
		out.Verdict, out.Reason = VerdictDrop, r
		return out
	}
	pk, ok := parse(frame)
	if !ok {
		m.C.Malformed++
		return drop(ReasonMalformed)
	}
	f := append([]byte(nil), frame...)
	if pk.l3 >= 0 {
		if m.block.contains(pk.src, pk.ipv6) {
			m.C.Blocked++
			return drop(ReasonBlocklist)
		}
		if m.p.Firewall.DropICMPEcho && (!pk.ipv6 && pk.icmpType == 8 || pk.ipv6 && pk.icmpType == 128) {
			m.C.ICMPEcho++
			return drop(ReasonICMPEcho)
		}
		if v, rule := m.rules(&pk); v == Drop {
			out.Rule = rule
			if rule < 0 {
				m.C.DefaultDrop++
				return drop(ReasonDefault)
			}
			return drop(ReasonRule)
		} else {
			out.Rule = rule
		}
		if m.p.TTL != 0 {
			setTTL(f, &pk, m.p.TTL)
		}
	}
	dstMAC := m.peerMAC
	if pk.l3 >= 0 && pk.hasPorts {
		if vi, bi, ok := m.balance(&pk); ok {
			b := m.p.LB.VIPs[vi].Backends[bi]
			rewriteDst(f, &pk, b.Addr)
			dstMAC = b.MAC
			out.VIP, out.Backend = vi, int(bi)
			m.C.VIPs[vi]++
			m.C.Backends[vi][bi]++
		}
	}
	copy(f[0:6], dstMAC)
	copy(f[6:12], m.outMAC)
	m.C.Forwarded++
	out.Verdict, out.Reason, out.Frame = VerdictForward, ReasonForward, f
	return out
}

// parse reads the headers (see the package comment); ok is false for a
// malformed frame. l3 is -1 for a frame that is not IP.
func parse(b []byte) (p parsed, ok bool) {
	p.l3, p.l4, p.icmpType = -1, -1, -1
	if len(b) < 14 {
		return p, false
	}
	off, proto := 14, binary.BigEndian.Uint16(b[12:])
	for range 2 { // VLAN_MAX_DEPTH
		if proto != 0x8100 && proto != 0x88a8 {
			break
		}
		if off+4 > len(b) {
			return p, false
		}
		proto = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	switch proto {
	case 0x0800:
		if off+20 > len(b) {
			return p, false
		}
		ihl := int(b[off]&0x0f) * 4
		if ihl < 20 || off+ihl > len(b) {
			return p, false
		}
		p.l3, p.proto = off, b[off+9]
		copy(p.src[:4], b[off+12:off+16])
		copy(p.dst[:4], b[off+16:off+20])
		if binary.BigEndian.Uint16(b[off+6:])&0x1fff == 0 {
			p.l4 = off + ihl
		}
	case 0x86dd:
		if off+40 > len(b) {
			return p, false
		}
		p.l3, p.ipv6, p.proto = off, true, b[off+6]
		copy(p.src[:], b[off+8:off+24])
		copy(p.dst[:], b[off+24:off+40])
		p.l4 = off + 40
	default:
		return p, true
	}
	if p.l4 < 0 {
		return p, true
	}
	l4 := p.l4
	switch {
	case p.proto == ProtoTCP:
		if l4+20 > len(b) {
			return p, false
		}
		p.hasPorts, p.hasFlags = true, true
		p.sport, p.dport = binary.BigEndian.Uint16(b[l4:]), binary.BigEndian.Uint16(b[l4+2:])
		p.tcpFlags = b[l4+13]
	case p.proto == ProtoUDP:
		if l4+8 > len(b) {
			return p, false
		}
		p.hasPorts = true
		p.sport, p.dport = binary.BigEndian.Uint16(b[l4:]), binary.BigEndian.Uint16(b[l4+2:])
	case !p.ipv6 && p.proto == ProtoICMP || p.ipv6 && p.proto == ProtoICMPv6:
		if l4+4 > len(b) {
			return p, false
		}
		p.icmpType = int(b[l4])
	default:
		p.l4 = -1
	}
	return p, true
}

// rules runs the rule list: the action that ended it (the default when
// none did) and the rule that did (-1 for the default).
func (m *Model) rules(p *parsed) (Action, int) {
	for i := range m.p.Firewall.Rules {
		r := &m.p.Firewall.Rules[i]
		if !r.matches(p) {
			continue
		}
		m.C.Rules[i]++
		if r.Action == Count {
			continue
		}
		return r.Action, i
	}
	if m.p.Firewall.Default == Drop {
		return Drop, -1
	}
	return Allow, -1
}

func (r *Rule) matches(p *parsed) bool {
	if fam := r.family(); fam != 0 && (fam == 6) != p.ipv6 {
		return false
	}
	if r.Src.IsValid() && !prefixHas(r.Src, p.src) || r.Dst.IsValid() && !prefixHas(r.Dst, p.dst) {
		return false
	}
	if r.Proto != 0 && r.Proto != p.proto {
		return false
	}
	if !r.SrcPorts.Any() || !r.DstPorts.Any() {
		if !p.hasPorts || !r.SrcPorts.has(p.sport) || !r.DstPorts.has(p.dport) {
			return false
		}
	}
	if r.FlagsMask != 0 && (!p.hasFlags || p.tcpFlags&r.FlagsMask != r.FlagsSet) {
		return false
	}
	return true
}

// family is 4 or 6 for a rule with a prefix, 0 for one that matches both.
func (r *Rule) family() int {
	for _, pf := range []netip.Prefix{r.Src, r.Dst} {
		if pf.IsValid() {
			if pf.Addr().Is4() {
				return 4
			}
			return 6
		}
	}
	return 0
}

// prefixHas says whether addr (16 bytes, IPv4 in the first 4) is in pf.
func prefixHas(pf netip.Prefix, addr [16]byte) bool {
	if pf.Addr().Is4() {
		return pf.Contains(netip.AddrFrom4([4]byte(addr[:4])))
	}
	return pf.Contains(netip.AddrFrom16(addr))
}

// balance finds the frame's VIP and backend: the connection table's, or
// the Maglev slot's for a new flow (then remembered).
func (m *Model) balance(p *parsed) (int, uint32, bool) {
	for vi := range m.p.LB.VIPs {
		v := &m.p.LB.VIPs[vi]
		if v.Proto != p.proto || v.Port != p.dport || v.Addr.Is6() != p.ipv6 || !addrEq(v.Addr, p.dst) {
			continue
		}
		fl := Flow{Src: p.src, Dst: p.dst, SrcPort: p.sport, DstPort: p.dport, Proto: p.proto, IPv6: p.ipv6}
		if b, ok := m.conns[fl]; ok && int(b) < len(v.Backends) {
			return vi, b, true
		}
		b := m.maglev[vi][fl.Hash()%MaglevRing]
		m.conns[fl] = b
		return vi, b, true
	}
	return 0, 0, false
}

func addrEq(a netip.Addr, b [16]byte) bool {
	if a.Is4() {
		return a.As4() == [4]byte(b[:4])
	}
	return a.As16() == b
}

// setTTL sets the IPv4 TTL (updating the header checksum) or IPv6 hop
// limit.
func setTTL(f []byte, p *parsed, ttl uint8) {
	if p.ipv6 {
		f[p.l3+7] = ttl
		return
	}
	old := []byte{f[p.l3+8], f[p.l3+9]}
	f[p.l3+8] = ttl
	sum := binary.BigEndian.Uint16(f[p.l3+10:])
	binary.BigEndian.PutUint16(f[p.l3+10:], csumReplace(sum, old, f[p.l3+8:p.l3+10]))
}

// rewriteDst sets the destination address to to, fixing the IPv4 header
// checksum and the TCP or UDP checksum incrementally.
func rewriteDst(f []byte, p *parsed, to netip.Addr) {
	n, dstOff := 4, p.l3+16
	if p.ipv6 {
		n, dstOff = 16, p.l3+24
	}
	old := append([]byte(nil), f[dstOff:dstOff+n]...)
	copy(f[dstOff:], to.AsSlice())
	if !p.ipv6 {
		sum := binary.BigEndian.Uint16(f[p.l3+10:])
		binary.BigEndian.PutUint16(f[p.l3+10:], csumReplace(sum, old, f[dstOff:dstOff+n]))
	}
	if p.l4 < 0 {
		return
	}
	csOff := p.l4 + 16
	if p.proto == ProtoUDP {
		csOff = p.l4 + 6
	}
	sum := binary.BigEndian.Uint16(f[csOff:])
	if p.proto == ProtoUDP && sum == 0 && !p.ipv6 {
		return // no checksum
	}
	ns := csumReplace(sum, old, f[dstOff:dstOff+n])
	if p.proto == ProtoUDP && ns == 0 {
		ns = 0xffff
	}
	binary.BigEndian.PutUint16(f[csOff:], ns)
}

// csumReplace updates checksum sum for the 16-bit words of old becoming
// new (RFC 1624, eqn. 3): ~(~HC + ~m + m'), folded twice. policy.c's
// csum_replace does the same arithmetic.
func csumReplace(sum uint16, old, new []byte) uint16 {
	s := uint32(^sum)
	for i := 0; i+1 < len(old); i += 2 {
		s += uint32(^binary.BigEndian.Uint16(old[i:]))
		s += uint32(binary.BigEndian.Uint16(new[i:]))
	}
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// prefixSet is a longest-prefix-match set of source prefixes.
type prefixSet struct {
	v4, v6 map[int]map[[16]byte]bool // prefix length -> masked address
}

func newPrefixSet(ps []netip.Prefix) *prefixSet {
	s := &prefixSet{v4: map[int]map[[16]byte]bool{}, v6: map[int]map[[16]byte]bool{}}
	for _, p := range ps {
		p = p.Masked()
		m, key := s.v4, [16]byte{}
		if p.Addr().Is6() {
			m = s.v6
			key = p.Addr().As16()
		} else {
			copy(key[:], p.Addr().AsSlice())
		}
		if m[p.Bits()] == nil {
			m[p.Bits()] = map[[16]byte]bool{}
		}
		m[p.Bits()][key] = true
	}
	return s
}

func (s *prefixSet) contains(addr [16]byte, ipv6 bool) bool {
	m, bitsMax := s.v4, 32
	if ipv6 {
		m, bitsMax = s.v6, 128
	}
	for bits, set := range m {
		if bits > bitsMax {
			continue
		}
		var key [16]byte
		for i := 0; i < bits/8; i++ {
			key[i] = addr[i]
		}
		if r := bits % 8; r != 0 {
			key[bits/8] = addr[bits/8] & byte(0xff<<(8-r))
		}
		if set[key] {
			return true
		}
	}
	return false
}
