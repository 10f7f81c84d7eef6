package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dutlab/dutlab/internal/units"
)

// A profile is a YAML file that describes one run: how long, and which
// streams. It is plain data: parsing never touches the kernel, and engines
// get the checked StreamSpecs. An example:
//
//	duration: 10s          # or packets: 1000000
//	warmup: 1s
//	streams:
//	  - name: bulk
//	    proto: udp          # udp | tcp-syn | tcp-ack | icmp-echo
//	    ip: 4               # 4 | 6
//	    vlan: 100           # optional 802.1Q id
//	    frame-size: 64      # 64..1518 (FCS included) or imix
//	    rate: 1Mpps         # 1000, 100kpps, 1Gbps (wire bits), 50% (of the measured ceiling)
//	    src: {ip: 198.18.0.1, ip-count: 1, port: 1024, port-count: 1000, mode: increment}
//	    dst: {ip: 198.19.0.1, port: 9}
//	  - name: probes
//	    kind: latency
//	    rate: 1000pps

// Stream protocols.
const (
	ProtoUDP      = "udp"
	ProtoTCPSYN   = "tcp-syn"   // TCP segments with only SYN set
	ProtoTCPACK   = "tcp-ack"   // TCP segments with only ACK set
	ProtoICMPEcho = "icmp-echo" // ICMPv4 or ICMPv6 echo requests
)

// Stream kinds.
const (
	KindTraffic = "traffic" // load
	KindLatency = "latency" // probes: the payload starts with the probe (see ProbeSignature)
)

// Endpoint variation modes.
const (
	ModeIncrement = "increment" // addresses and ports step through their ranges in order
	ModeRandom    = "random"    // addresses and ports are drawn at random from their ranges
)

var (
	protos = []string{ProtoUDP, ProtoTCPSYN, ProtoTCPACK, ProtoICMPEcho}
	kinds  = []string{KindTraffic, KindLatency}
	modes  = []string{ModeIncrement, ModeRandom}
)

// Defaults for fields a profile leaves out. The addresses come from the
// benchmarking ranges (RFC 2544: 198.18.0.0/15, RFC 5180: 2001:2::/48).
var (
	DefaultSrcIPv4 = netip.MustParseAddr("198.18.0.1")
	DefaultDstIPv4 = netip.MustParseAddr("198.19.0.1")
	DefaultSrcIPv6 = netip.MustParseAddr("2001:2::1")
	DefaultDstIPv6 = netip.MustParseAddr("2001:2:0:1::1")
)

// Default ports: an unprivileged source port and the discard service.
const (
	DefaultSrcPort = 1024
	DefaultDstPort = 9
)

// wireOverhead is what a frame costs on the wire beyond its bytes (FCS
// included): preamble, start delimiter and the inter-frame gap.
const wireOverhead = units.WireOverhead

// Profile is a checked profile: what to run and for how long. Exactly one of
// Duration and Packets is set.
type Profile struct {
	Duration time.Duration // the measured window
	Warmup   time.Duration // sent before the window, not counted
	Packets  uint64        // stop after this many packets instead of after Duration
	Streams  []StreamSpec
}

// StreamSpec is one stream of a profile with every default filled in.
type StreamSpec struct {
	Name      string
	Kind      string     // KindTraffic or KindLatency
	Proto     string     // ProtoUDP, ProtoTCPSYN, ProtoTCPACK or ProtoICMPEcho
	IPVersion int        // 4 or 6
	VLAN      uint16     // 802.1Q VLAN id; 0 means untagged
	FrameSize int        // bytes including the FCS; 0 when IMIX is set
	IMIX      bool       // frame sizes follow the simple IMIX (see IMIXSizes)
	Rate      units.Rate // zero (max) means as fast as the engine can
	Src, Dst  Endpoint
}

// Endpoint is one side of a stream: a range of addresses and ports. For
// icmp-echo streams the source port is the echo identifier and the
// destination port is unused.
type Endpoint struct {
	IP        netip.Addr // first address
	IPCount   int        // addresses IP, IP+1, ..., 1..65535
	Port      uint16     // first port
	PortCount int        // ports Port, Port+1, ..., 1..65535
	Mode      string     // ModeIncrement or ModeRandom
}

// ErrNoCeiling is returned when a percent rate is resolved without a
// measured ceiling; it is units.ErrNoReference.
var ErrNoCeiling = units.ErrNoReference

// Flows is the number of distinct 5-tuples the stream cycles through.
func (s StreamSpec) Flows() uint64 {
	n := uint64(1)
	for _, c := range []int{s.Src.IPCount, s.Src.PortCount, s.Dst.IPCount, s.Dst.PortCount} {
		n *= uint64(max(c, 1))
	}
	return n
}

// headerBytes returns the sizes of the stream's headers and, for latency
// streams, of the probe, in the order they appear on the wire.
func (s StreamSpec) headerBytes() []struct {
	name string
	n    int
} {
	type part = struct {
		name string
		n    int
	}
	parts := []part{{"Ethernet", 14}}
	if s.VLAN != 0 {
		parts = append(parts, part{"802.1Q", 4})
	}
	if s.IPVersion == 6 {
		parts = append(parts, part{"IPv6", 40})
	} else {
		parts = append(parts, part{"IPv4", 20})
	}
	switch s.Proto {
	case ProtoTCPSYN, ProtoTCPACK:
		parts = append(parts, part{"TCP", 20})
	case ProtoICMPEcho:
		if s.IPVersion == 6 {
			parts = append(parts, part{"ICMPv6 echo", 8})
		} else {
			parts = append(parts, part{"ICMP echo", 8})
		}
	default:
		parts = append(parts, part{"UDP", 8})
	}
	if s.Kind == KindLatency {
		parts = append(parts, part{"probe", ProbeLen})
	}
	return append(parts, part{"FCS", fcsLen})
}

// MinFrameSize returns the smallest frame (FCS included) that holds the
// stream's headers and, for latency streams, the probe: at least 64.
func (s StreamSpec) MinFrameSize() int {
	n := 0
	for _, p := range s.headerBytes() {
		n += p.n
	}
	return max(n, MinFrameSize)
}

// FrameSizes returns the frame sizes the stream sends, in the order an
// engine should cycle through them: one size, or the IMIX sequence.
func (s StreamSpec) FrameSizes() []int {
	if s.IMIX {
		return IMIXSizes(s.MinFrameSize())
	}
	return []int{s.FrameSize}
}

// PacketsPerSecond resolves the stream's rate with its own frame sizes (the
// mean size for IMIX); see units.Rate.PacketsPerSecond.
func (s StreamSpec) PacketsPerSecond(ceilingPPS float64) (float64, error) {
	sizes := s.FrameSizes()
	sum := 0
	for _, n := range sizes {
		sum += n
	}
	return s.Rate.PacketsPerSecond(float64(sum)/float64(len(sizes)), units.PacketRate(ceilingPPS))
}

// ProfileError is one problem in a profile, at a line and a field path such
// as streams[1].src.ip.
type ProfileError struct {
	File  string
	Line  int // 0 when the problem has no line
	Field string
	Msg   string
}

// Error formats e as file:line: field: message.
func (e *ProfileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// LoadProfile reads and parses the profile at path.
func LoadProfile(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load profile: %w", err)
	}
	return ParseProfile(path, data)
}

// ParseProfile parses and checks a profile; filename only names it in
// errors. The error lists every problem found, one per line, each a
// *ProfileError (use errors.As).
func ParseProfile(filename string, data []byte) (*Profile, error) {
	p := &profileParser{file: filename}
	prof := p.parse(data)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *ProfileError) int { return a.Line - b.Line })
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return prof, nil
}

type profileParser struct {
	file string
	errs []*ProfileError
}

func (p *profileParser) fail(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &ProfileError{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax records a YAML syntax error with the line yaml.v3 reports.
func (p *profileParser) syntax(err error) {
	msg := err.Error()
	if m := yamlLineErr.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errs = append(p.errs, &ProfileError{File: p.file, Line: line, Msg: "yaml syntax: " + m[2]})
		return
	}
	p.errs = append(p.errs, &ProfileError{File: p.file, Msg: "yaml syntax: " + strings.TrimPrefix(msg, "yaml: ")})
}

func (p *profileParser) parse(data []byte) *Profile {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(nil, "", "empty profile")
		} else {
			p.syntax(err)
		}
		return nil
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		p.fail(&more, "", "a profile is one YAML document; found another")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil
	}
	if len(doc.Content) == 0 {
		p.fail(&doc, "", "empty profile")
		return nil
	}
	top, _ := p.mapping(doc.Content[0], "", "duration", "warmup", "packets", "streams")
	if top == nil {
		return nil
	}
	prof := &Profile{}
	if n := top["duration"]; n != nil {
		prof.Duration, _ = p.duration(n, "duration", false)
	}
	if n := top["warmup"]; n != nil {
		prof.Warmup, _ = p.duration(n, "warmup", true)
	}
	if n := top["packets"]; n != nil {
		if v, ok := p.scalar(n, "packets"); ok {
			u, err := strconv.ParseUint(v, 10, 64)
			if err != nil || u == 0 {
				p.fail(n, "packets", "want a whole number of packets above 0, got %q", v)
			}
			prof.Packets = u
		}
		if top["duration"] != nil {
			p.fail(n, "packets", "set duration or packets, not both")
		}
	} else if _, set := top["duration"]; !set {
		p.fail(doc.Content[0], "", "set duration (for example 10s) or packets")
	}
	sn, set := top["streams"]
	if !set {
		p.fail(doc.Content[0], "streams", "required: a list of streams")
		return prof
	}
	if sn == nil {
		return prof
	}
	if sn.Kind != yaml.SequenceNode {
		p.fail(sn, "streams", "want a list of streams, got %s", describe(sn))
		return prof
	}
	if len(sn.Content) == 0 {
		p.fail(sn, "streams", "needs at least one stream")
	}
	names := map[string]int{}
	for i, n := range sn.Content {
		field := fmt.Sprintf("streams[%d]", i)
		s, ok := p.stream(deref(n), field)
		if s.Name != "" {
			if first, dup := names[s.Name]; dup {
				p.fail(n, field+".name", "stream name %q is already used by streams[%d]", s.Name, first)
			} else {
				names[s.Name] = i
			}
		}
		if !ok {
			continue
		}
		prof.Streams = append(prof.Streams, s)
	}
	return prof
}

// rawEndpoint is an endpoint as written, with the nodes of the fields that
// were set.
type rawEndpoint struct {
	node                      *yaml.Node
	ip, ipCount, port, portCt *yaml.Node
	ep                        Endpoint
}

func (p *profileParser) stream(n *yaml.Node, field string) (StreamSpec, bool) {
	f, valid := p.mapping(n, field, "name", "kind", "proto", "ip", "vlan", "frame-size", "rate", "src", "dst")
	if f == nil {
		return StreamSpec{}, false
	}
	s := StreamSpec{Kind: KindTraffic, Proto: ProtoUDP}
	var ok bool
	check := func(ok bool) {
		valid = valid && ok
	}
	if v, set := f["name"]; !set {
		p.fail(n, field+".name", "required")
		valid = false
	} else if v == nil {
		valid = false
	} else if name, ok := p.scalar(v, field+".name"); ok {
		if strings.TrimSpace(name) == "" {
			p.fail(v, field+".name", "must not be empty")
			valid = false
		}
		s.Name = name
	} else {
		valid = false
	}
	if v := f["kind"]; v != nil {
		s.Kind, ok = p.oneOf(v, field+".kind", "kind", kinds)
		check(ok)
	}
	if v := f["proto"]; v != nil {
		s.Proto, ok = p.oneOf(v, field+".proto", "proto", protos)
		check(ok)
	}
	if v := f["ip"]; v != nil {
		var ipv int64
		ipv, ok = p.integer(v, field+".ip", 4, 6)
		if ok && ipv != 4 && ipv != 6 {
			p.fail(v, field+".ip", "want 4 or 6, got %d", ipv)
			ok = false
		}
		s.IPVersion = int(ipv)
		check(ok)
	}
	if v := f["vlan"]; v != nil {
		var id int64
		id, ok = p.integer(v, field+".vlan", 1, 4094)
		s.VLAN = uint16(id)
		check(ok)
	}
	if v := f["frame-size"]; v != nil {
		if raw, isStr := p.scalar(v, field+".frame-size"); !isStr {
			valid = false
		} else if strings.EqualFold(raw, "imix") {
			s.IMIX = true
		} else {
			size, err := strconv.ParseInt(raw, 10, 64)
			switch {
			case err != nil:
				p.fail(v, field+".frame-size", "want a frame size in %d..%d (FCS included) or imix, got %q", MinFrameSize, MaxFrameSize, raw)
				valid = false
			case size < MinFrameSize || size > MaxFrameSize:
				p.fail(v, field+".frame-size", "%d is out of range %d..%d (FCS included)", size, MinFrameSize, MaxFrameSize)
				valid = false
			}
			s.FrameSize = int(size)
		}
	}
	if v := f["rate"]; v != nil {
		if raw, isStr := p.scalar(v, field+".rate"); isStr {
			r, err := units.ParseRate(raw)
			if err != nil {
				p.fail(v, field+".rate", "%v", err)
				valid = false
			}
			s.Rate = r
		} else {
			valid = false
		}
	} else if _, set := f["rate"]; !set && s.Kind == KindLatency {
		p.fail(n, field+".rate", "required for a latency stream (for example 1000pps)")
		valid = false
	}
	if s.Kind == KindLatency && s.Proto != "" && s.Proto != ProtoUDP {
		p.fail(f["proto"], field+".proto", "a latency stream must be udp: receivers look for the probe in UDP payloads")
		valid = false
	}
	var src, dst rawEndpoint
	for _, e := range []struct {
		key string
		raw *rawEndpoint
	}{{"src", &src}, {"dst", &dst}} {
		e.raw.node = n
		if v := f[e.key]; v != nil {
			check(p.endpoint(v, field+"."+e.key, e.raw))
		}
	}
	if !valid {
		return s, false
	}

	// Cross-field checks, once every field parsed.
	if s.IPVersion == 0 {
		s.IPVersion = 4
		switch {
		case src.ep.IP.IsValid():
			s.IPVersion = ipVersion(src.ep.IP)
		case dst.ep.IP.IsValid():
			s.IPVersion = ipVersion(dst.ep.IP)
		}
	}
	for _, e := range []struct {
		key string
		raw *rawEndpoint
	}{{"src", &src}, {"dst", &dst}} {
		ip := e.raw.ep.IP
		if !ip.IsValid() {
			continue
		}
		if v := ipVersion(ip); v != s.IPVersion {
			why := fmt.Sprintf("the stream is ip: %d", s.IPVersion)
			if f["ip"] == nil {
				why = fmt.Sprintf("src.ip %s is IPv%d", src.ep.IP, s.IPVersion)
			}
			p.fail(e.raw.ip, field+"."+e.key+".ip", "%s is IPv%d but %s", ip, v, why)
			valid = false
		}
	}
	if s.Proto == ProtoICMPEcho {
		for _, k := range []struct {
			n    *yaml.Node
			name string
		}{{dst.port, "port"}, {dst.portCt, "port-count"}} {
			if k.n != nil {
				p.fail(k.n, field+".dst."+k.name, "icmp-echo has no destination port; src.port and src.port-count set the echo identifier")
				valid = false
			}
		}
	}
	if !valid {
		return s, false
	}
	src.defaults(s.IPVersion, DefaultSrcIPv4, DefaultSrcIPv6, DefaultSrcPort)
	dst.defaults(s.IPVersion, DefaultDstIPv4, DefaultDstIPv6, DefaultDstPort)
	if s.Proto == ProtoICMPEcho {
		dst.ep.Port = 0
	}
	for _, e := range []struct {
		key string
		raw *rawEndpoint
	}{{"src", &src}, {"dst", &dst}} {
		valid = p.checkRanges(e.raw, field+"."+e.key) && valid
	}
	s.Src, s.Dst = src.ep, dst.ep

	least := s.MinFrameSize()
	switch {
	case s.IMIX:
		// IMIXSizes raises the smallest size to least.
	case s.FrameSize == 0:
		s.FrameSize = least
	case s.FrameSize < least:
		p.fail(f["frame-size"], field+".frame-size", "%d bytes cannot hold %s: needs at least %d", s.FrameSize, s.describeHeaders(), least)
		valid = false
	}
	return s, valid
}

// describeHeaders spells out the minimum frame: "14 Ethernet + 40 IPv6 + 8
// UDP + 4 FCS".
func (s StreamSpec) describeHeaders() string {
	var parts []string
	for _, h := range s.headerBytes() {
		parts = append(parts, fmt.Sprintf("%d %s", h.n, h.name))
	}
	return strings.Join(parts, " + ")
}

func (e *rawEndpoint) defaults(ipv int, v4, v6 netip.Addr, port uint16) {
	if !e.ep.IP.IsValid() {
		e.ep.IP = v4
		if ipv == 6 {
			e.ep.IP = v6
		}
	}
	if e.port == nil {
		e.ep.Port = port
	}
	e.ep.IPCount = max(e.ep.IPCount, 1)
	e.ep.PortCount = max(e.ep.PortCount, 1)
	if e.ep.Mode == "" {
		e.ep.Mode = ModeIncrement
	}
}

// checkRanges checks that the address and port ranges stay inside their
// families and 0..65535.
func (p *profileParser) checkRanges(e *rawEndpoint, field string) bool {
	ok := true
	if _, fits := addrAdd(e.ep.IP, uint64(e.ep.IPCount-1)); !fits {
		n := e.ipCount
		if n == nil {
			n = e.ip
		}
		p.fail(n, field+".ip-count", "%d addresses from %s run past the end of the address space", e.ep.IPCount, e.ep.IP)
		ok = false
	}
	if last := int(e.ep.Port) + e.ep.PortCount - 1; last > math.MaxUint16 {
		n := e.portCt
		if n == nil {
			n = e.node
		}
		p.fail(n, field+".port-count", "%d ports from %d end at %d, above 65535", e.ep.PortCount, e.ep.Port, last)
		ok = false
	}
	return ok
}

// addrAdd returns a+n and whether it stays inside a's family.
func addrAdd(a netip.Addr, n uint64) (netip.Addr, bool) {
	b := a.AsSlice()
	carry := n
	for i := len(b) - 1; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	if carry > 0 {
		return netip.Addr{}, false
	}
	r, _ := netip.AddrFromSlice(b)
	return r, true
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

func (p *profileParser) endpoint(n *yaml.Node, field string, e *rawEndpoint) bool {
	f, valid := p.mapping(n, field, "ip", "ip-count", "port", "port-count", "mode")
	if f == nil {
		return false
	}
	e.node = n
	if v := f["ip"]; v != nil {
		e.ip = v
		if raw, ok := p.scalar(v, field+".ip"); ok {
			a, err := netip.ParseAddr(raw)
			switch {
			case err != nil:
				p.fail(v, field+".ip", "want an IPv4 or IPv6 address, got %q", raw)
				valid = false
			case a.Zone() != "":
				p.fail(v, field+".ip", "%s: zones are not allowed", raw)
				valid = false
			}
			e.ep.IP = a
		} else {
			valid = false
		}
	}
	counts := []struct {
		key  string
		node **yaml.Node
		dst  *int
	}{{"ip-count", &e.ipCount, &e.ep.IPCount}, {"port-count", &e.portCt, &e.ep.PortCount}}
	for _, c := range counts {
		if v := f[c.key]; v != nil {
			*c.node = v
			n, ok := p.integer(v, field+"."+c.key, 1, math.MaxUint16)
			*c.dst = int(n)
			valid = valid && ok
		}
	}
	if v := f["port"]; v != nil {
		e.port = v
		port, ok := p.integer(v, field+".port", 0, math.MaxUint16)
		e.ep.Port = uint16(port)
		valid = valid && ok
	}
	if v := f["mode"]; v != nil {
		var ok bool
		e.ep.Mode, ok = p.oneOf(v, field+".mode", "mode", modes)
		valid = valid && ok
	}
	return valid
}

// mapping returns the value nodes of mapping n by key, nil if n is not a
// mapping. Unknown, repeated and empty keys are reported and left out; clean
// says there were none.
func (p *profileParser) mapping(n *yaml.Node, field string, known ...string) (vals map[string]*yaml.Node, clean bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		what := "a mapping"
		if field == "" {
			what = "a mapping of " + strings.Join(known, ", ")
		}
		p.fail(n, field, "want %s, got %s", what, describe(n))
		return nil, false
	}
	vals = map[string]*yaml.Node{}
	lines := map[string]int{}
	clean = true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.fail(k, field, "keys must be names, got %s", describe(k))
			clean = false
			continue
		}
		sub := joinField(field, k.Value)
		if !slices.Contains(known, k.Value) {
			p.fail(k, sub, "unknown field; known fields are %s", strings.Join(known, ", "))
			clean = false
			continue
		}
		if first, dup := lines[k.Value]; dup {
			p.fail(k, sub, "set twice (first at line %d)", first)
			clean = false
			continue
		}
		lines[k.Value] = k.Line
		if v.ShortTag() == "!!null" {
			p.fail(v, sub, "has no value")
			clean = false
			vals[k.Value] = nil // present, so not reported as missing too
			continue
		}
		vals[k.Value] = v
	}
	return vals, clean
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// deref follows aliases (*name) to the anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// scalar returns the text of a scalar node.
func (p *profileParser) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, field, "want a single value, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (p *profileParser) integer(n *yaml.Node, field string, lo, hi int64) (int64, bool) {
	raw, ok := p.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		p.fail(n, field, "want a whole number in %d..%d, got %q", lo, hi, raw)
		return 0, false
	}
	if v < lo || v > hi {
		p.fail(n, field, "%d is out of range %d..%d", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (p *profileParser) oneOf(n *yaml.Node, field, what string, allowed []string) (string, bool) {
	raw, ok := p.scalar(n, field)
	if !ok {
		return "", false
	}
	if !slices.Contains(allowed, raw) {
		p.fail(n, field, "%s %q is not supported; supported are %s", what, raw, strings.Join(allowed, ", "))
		return "", false
	}
	return raw, true
}

func (p *profileParser) duration(n *yaml.Node, field string, zeroOK bool) (time.Duration, bool) {
	raw, ok := p.scalar(n, field)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		p.fail(n, field, "want a duration such as 10s or 500ms, got %q", raw)
		return 0, false
	}
	if d < 0 && zeroOK {
		p.fail(n, field, "%s is negative", raw)
		return 0, false
	}
	if d <= 0 && !zeroOK {
		p.fail(n, field, "%s is not positive", raw)
		return 0, false
	}
	return d, true
}
