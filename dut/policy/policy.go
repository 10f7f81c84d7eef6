package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// Action is what a firewall rule or the default does with a frame.
type Action uint8

const (
	Allow Action = iota + 1
	Drop
	Count
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Drop:
		return "drop"
	case Count:
		return "count"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// IP protocol numbers a rule or VIP names.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// TCP flag bits, as in the TCP header's flags byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
	FlagURG = 0x20
)

// Policy is one appliance: a firewall and a load balancer. The zero Policy
// forwards everything.
type Policy struct {
	Name     string
	Firewall Firewall
	// TTL, when set, rewrites the IPv4 TTL or IPv6 hop limit of every
	// forwarded frame to this value (the article's TTL rewrite).
	TTL uint8
	LB  LoadBalancer
}

// Firewall is an ordered rule list behind prefix blocklists.
type Firewall struct {
	Default      Action // Allow (the zero value means Allow) or Drop
	DropICMPEcho bool
	Blocklist    []netip.Prefix // source prefixes dropped before any rule
	Rules        []Rule
}

// Rule is one firewall rule; a field left zero matches anything.
type Rule struct {
	Name      string
	Src, Dst  netip.Prefix // one family per rule; both set must agree
	Proto     uint8        // 0: any
	SrcPorts  PortRange
	DstPorts  PortRange
	FlagsMask uint8 // TCP flags that must have FlagsSet's values
	FlagsSet  uint8
	Action    Action
	Line      int // in the policy file, for errors and counters
}

// PortRange is an inclusive range; the zero range matches any port.
type PortRange struct{ Lo, Hi uint16 }

// Any says whether r matches every port.
func (r PortRange) Any() bool { return r.Lo == 0 && r.Hi == 0 }

func (r PortRange) has(p uint16) bool { return r.Any() || p >= r.Lo && p <= r.Hi }

// LoadBalancer is a set of VIPs.
type LoadBalancer struct {
	VIPs []VIP
	// ConnTable is the connection table's size (LRU); 0 means
	// DefaultConnTable.
	ConnTable int
}

// DefaultConnTable is the connection table's default size.
const DefaultConnTable = 65536

// Mode is how a VIP sends a frame to its backend.
type Mode uint8

const (
	Rewrite Mode = iota + 1 // destination address and MAC rewritten
)

func (m Mode) String() string {
	if m == Rewrite {
		return "rewrite"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// VIP is a virtual service: frames to Addr, Proto and Port go to one of
// Backends by weighted Maglev.
type VIP struct {
	Addr     netip.Addr
	Proto    uint8 // ProtoTCP or ProtoUDP
	Port     uint16
	Mode     Mode
	Backends []Backend
	Line     int
}

// Backend is one real server behind a VIP.
type Backend struct {
	Addr   netip.Addr
	MAC    net.HardwareAddr
	Weight int // >= 1; 0 takes the backend out of the Maglev table
	Line   int
}

// Limits of what the datapaths hold.
const (
	MaxRules     = 10240
	MaxVIPs      = 16
	MaxBackends  = 64 // per VIP
	MaxBlocklist = 1 << 20
	MaglevRing   = 65537
)

// Validate checks p for what no datapath can run. Errors name the rule or
// VIP (and its line when p came from a file).
func (p *Policy) Validate() error {
	var errs []error
	add := func(line int, format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		if line > 0 {
			msg = fmt.Sprintf("line %d: %s", line, msg)
		}
		errs = append(errs, errors.New(msg))
	}
	fw := &p.Firewall
	if fw.Default != 0 && fw.Default != Allow && fw.Default != Drop {
		add(0, "firewall.default: %s is not allow or drop", fw.Default)
	}
	if len(fw.Rules) > MaxRules {
		add(0, "firewall.rules: %d rules, at most %d", len(fw.Rules), MaxRules)
	}
	if len(fw.Blocklist) > MaxBlocklist {
		add(0, "firewall.blocklist: %d prefixes, at most %d", len(fw.Blocklist), MaxBlocklist)
	}
	for i, r := range fw.Rules {
		where := fmt.Sprintf("firewall.rules[%d]", i)
		if r.Src.IsValid() && r.Dst.IsValid() && r.Src.Addr().Is4() != r.Dst.Addr().Is4() {
			add(r.Line, "%s: src %s and dst %s are of different families", where, r.Src, r.Dst)
		}
		if r.Action != Allow && r.Action != Drop && r.Action != Count {
			add(r.Line, "%s: action %s is not allow, drop or count", where, r.Action)
		}
		for _, pr := range []struct {
			name string
			r    PortRange
		}{{"src-ports", r.SrcPorts}, {"dst-ports", r.DstPorts}} {
			if pr.r.Any() {
				continue
			}
			if pr.r.Lo > pr.r.Hi {
				add(r.Line, "%s: %s %d-%d is empty", where, pr.name, pr.r.Lo, pr.r.Hi)
			}
			if r.Proto != ProtoTCP && r.Proto != ProtoUDP {
				add(r.Line, "%s: %s needs proto tcp or udp", where, pr.name)
			}
		}
		if r.FlagsMask != 0 && r.Proto != ProtoTCP {
			add(r.Line, "%s: tcp-flags needs proto tcp", where)
		}
		if r.FlagsSet&^r.FlagsMask != 0 {
			add(r.Line, "%s: tcp-flags set outside the mask", where)
		}
	}
	if len(p.LB.VIPs) > MaxVIPs {
		add(0, "lb.vips: %d VIPs, at most %d", len(p.LB.VIPs), MaxVIPs)
	}
	seen := map[string]int{}
	for i, v := range p.LB.VIPs {
		where := fmt.Sprintf("lb.vips[%d]", i)
		key := fmt.Sprintf("%s/%d/%d", v.Addr, v.Proto, v.Port)
		if j, dup := seen[key]; dup {
			add(v.Line, "%s: the same VIP as lb.vips[%d]", where, j)
		}
		seen[key] = i
		if !v.Addr.IsValid() {
			add(v.Line, "%s: address is not set", where)
		}
		if v.Proto != ProtoTCP && v.Proto != ProtoUDP {
			add(v.Line, "%s: proto must be tcp or udp", where)
		}
		if v.Port == 0 {
			add(v.Line, "%s: port is not set", where)
		}
		if v.Mode != Rewrite {
			add(v.Line, "%s: mode %s is not rewrite", where, v.Mode)
		}
		if len(v.Backends) == 0 || len(v.Backends) > MaxBackends {
			add(v.Line, "%s: %d backends, want 1..%d", where, len(v.Backends), MaxBackends)
		}
		live := 0
		for j, b := range v.Backends {
			bw := fmt.Sprintf("%s.backends[%d]", where, j)
			if !b.Addr.IsValid() || b.Addr.Is4() != v.Addr.Is4() {
				add(b.Line, "%s: address %s is not of the VIP's family", bw, b.Addr)
			}
			if len(b.MAC) != 6 {
				add(b.Line, "%s: mac is not set", bw)
			}
			if b.Weight < 0 || b.Weight > 100 {
				add(b.Line, "%s: weight %d is outside 0..100", bw, b.Weight)
			}
			if b.Weight > 0 {
				live++
			}
		}
		if len(v.Backends) > 0 && live == 0 {
			add(v.Line, "%s: every backend has weight 0", where)
		}
	}
	if p.LB.ConnTable < 0 {
		add(0, "lb.conn-table: %d is negative", p.LB.ConnTable)
	}
	return errors.Join(errs...)
}
