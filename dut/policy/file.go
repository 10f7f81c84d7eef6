package policy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A policy file is YAML:
//
//	name: edge
//	firewall:
//	  default: allow                  # allow | drop
//	  icmp-echo: drop                 # allow | drop
//	  blocklist: [203.0.113.0/24, "2001:db8:bad::/48"]
//	  blocklist-files: [bad.txt]      # one prefix (or address) a line, # comments
//	  rules:
//	    - {name: telnet, proto: tcp, dst-ports: 23, action: drop}
//	    - {name: web-syn, proto: tcp, dst: 198.19.0.0/24, dst-ports: 80-443, tcp-flags: "syn,!ack", action: count}
//	ttl: 64                           # rewrite TTL / hop limit of forwarded frames
//	lb:
//	  conn-table: 65536
//	  vips:
//	    - address: 198.19.0.100
//	      proto: tcp
//	      port: 80
//	      mode: rewrite
//	      backends:
//	        - {address: 198.19.0.10, mac: "02:00:00:00:01:0a", weight: 1}
//
// Errors name the file, the line and the field.

// Error is one mistake in a policy file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// Load reads and checks the policy file at path.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, b)
}

// Parse reads a policy file's bytes; file names it in errors (and is where
// blocklist files are found relative to).
func Parse(file string, data []byte) (*Policy, error) {
	d := &decoder{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p := &Policy{Firewall: Firewall{Default: Allow}}
	if len(root.Content) == 0 {
		return nil, &Error{File: file, Line: 1, Field: "policy", Msg: "the file is empty"}
	}
	d.policy(root.Content[0], p)
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}

type decoder struct {
	file string
	errs []error
}

func (d *decoder) fail(n *yaml.Node, field, format string, a ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, a...)})
}

// mapping calls fn for each key of n, refusing keys not in known.
func (d *decoder) mapping(n *yaml.Node, field string, known []string, fn func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, field, "want a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(known, k.Value) {
			d.fail(k, join(field, k.Value), "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		fn(k.Value, v)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func join(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func (d *decoder) policy(n *yaml.Node, p *Policy) {
	d.mapping(n, "", []string{"name", "firewall", "ttl", "lb"}, func(k string, v *yaml.Node) {
		switch k {
		case "name":
			p.Name = v.Value
		case "firewall":
			d.firewall(v, &p.Firewall)
		case "ttl":
			if t, ok := d.uint(v, "ttl", 1, 255); ok {
				p.TTL = uint8(t)
			}
		case "lb":
			d.lb(v, &p.LB)
		}
	})
}

func (d *decoder) firewall(n *yaml.Node, fw *Firewall) {
	d.mapping(n, "firewall", []string{"default", "icmp-echo", "blocklist", "blocklist-files", "rules"}, func(k string, v *yaml.Node) {
		field := "firewall." + k
		switch k {
		case "default":
			switch v.Value {
			case "allow":
				fw.Default = Allow
			case "drop":
				fw.Default = Drop
			default:
				d.fail(v, field, "%q is not allow or drop", v.Value)
			}
		case "icmp-echo":
			switch v.Value {
			case "allow":
			case "drop":
				fw.DropICMPEcho = true
			default:
				d.fail(v, field, "%q is not allow or drop", v.Value)
			}
		case "blocklist":
			d.list(v, field, func(i int, e *yaml.Node) {
				if pf, ok := d.prefix(e, fmt.Sprintf("%s[%d]", field, i)); ok {
					fw.Blocklist = append(fw.Blocklist, pf)
				}
			})
		case "blocklist-files":
			d.list(v, field, func(i int, e *yaml.Node) {
				ps, err := ReadPrefixes(filepath.Join(filepath.Dir(d.file), e.Value))
				if err != nil {
					d.fail(e, fmt.Sprintf("%s[%d]", field, i), "%v", err)
				}
				fw.Blocklist = append(fw.Blocklist, ps...)
			})
		case "rules":
			d.list(v, field, func(i int, e *yaml.Node) {
				fw.Rules = append(fw.Rules, d.rule(e, fmt.Sprintf("%s[%d]", field, i)))
			})
		}
	})
}

func (d *decoder) list(n *yaml.Node, field string, fn func(i int, e *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, field, "want a list")
		return
	}
	for i, e := range n.Content {
		fn(i, e)
	}
}

func (d *decoder) rule(n *yaml.Node, field string) Rule {
	r := Rule{Line: n.Line}
	d.mapping(n, field, []string{"name", "src", "dst", "proto", "src-ports", "dst-ports", "tcp-flags", "action"}, func(k string, v *yaml.Node) {
		f := field + "." + k
		switch k {
		case "name":
			r.Name = v.Value
		case "src", "dst":
			pf, ok := d.prefix(v, f)
			if ok && k == "src" {
				r.Src = pf
			} else if ok {
				r.Dst = pf
			}
		case "proto":
			r.Proto = d.proto(v, f, true)
		case "src-ports", "dst-ports":
			pr, ok := d.ports(v, f)
			if ok && k == "src-ports" {
				r.SrcPorts = pr
			} else if ok {
				r.DstPorts = pr
			}
		case "tcp-flags":
			r.FlagsMask, r.FlagsSet = d.flags(v, f)
		case "action":
			switch v.Value {
			case "allow":
				r.Action = Allow
			case "drop":
				r.Action = Drop
			case "count":
				r.Action = Count
			default:
				d.fail(v, f, "%q is not allow, drop or count", v.Value)
			}
		}
	})
	if r.Action == 0 && len(d.errs) == 0 {
		d.fail(n, field+".action", "is not set (allow, drop or count)")
	}
	return r
}

func (d *decoder) lb(n *yaml.Node, lb *LoadBalancer) {
	d.mapping(n, "lb", []string{"conn-table", "vips"}, func(k string, v *yaml.Node) {
		switch k {
		case "conn-table":
			if t, ok := d.uint(v, "lb.conn-table", 1, 1<<24); ok {
				lb.ConnTable = int(t)
			}
		case "vips":
			d.list(v, "lb.vips", func(i int, e *yaml.Node) {
				lb.VIPs = append(lb.VIPs, d.vip(e, fmt.Sprintf("lb.vips[%d]", i)))
			})
		}
	})
}

func (d *decoder) vip(n *yaml.Node, field string) VIP {
	v := VIP{Line: n.Line, Mode: Rewrite}
	d.mapping(n, field, []string{"address", "proto", "port", "mode", "backends"}, func(k string, e *yaml.Node) {
		f := field + "." + k
		switch k {
		case "address":
			v.Addr, _ = d.addr(e, f)
		case "proto":
			v.Proto = d.proto(e, f, false)
		case "port":
			if p, ok := d.uint(e, f, 1, 65535); ok {
				v.Port = uint16(p)
			}
		case "mode":
			if e.Value != "rewrite" {
				d.fail(e, f, "%q is not rewrite (encap comes later)", e.Value)
			}
		case "backends":
			d.list(e, f, func(i int, b *yaml.Node) {
				v.Backends = append(v.Backends, d.backend(b, fmt.Sprintf("%s[%d]", f, i)))
			})
		}
	})
	return v
}

func (d *decoder) backend(n *yaml.Node, field string) Backend {
	b := Backend{Line: n.Line, Weight: 1}
	d.mapping(n, field, []string{"address", "mac", "weight"}, func(k string, e *yaml.Node) {
		f := field + "." + k
		switch k {
		case "address":
			b.Addr, _ = d.addr(e, f)
		case "mac":
			mac, err := net.ParseMAC(e.Value)
			if err != nil || len(mac) != 6 {
				d.fail(e, f, "%q is not a MAC address", e.Value)
				return
			}
			b.MAC = mac
		case "weight":
			if w, ok := d.uint(e, f, 0, 100); ok {
				b.Weight = int(w)
			}
		}
	})
	return b
}

func (d *decoder) uint(n *yaml.Node, field string, lo, hi uint64) (uint64, bool) {
	v, err := strconv.ParseUint(n.Value, 10, 64)
	if err != nil || v < lo || v > hi {
		d.fail(n, field, "%q is not a whole number in %d..%d", n.Value, lo, hi)
		return 0, false
	}
	return v, true
}

func (d *decoder) addr(n *yaml.Node, field string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(n.Value)
	if err != nil || a.Zone() != "" {
		d.fail(n, field, "%q is not an IP address", n.Value)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (d *decoder) prefix(n *yaml.Node, field string) (netip.Prefix, bool) {
	pf, err := parsePrefix(n.Value)
	if err != nil {
		d.fail(n, field, "%v", err)
		return netip.Prefix{}, false
	}
	return pf, true
}

// parsePrefix takes a prefix or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or prefix", s)
	}
	return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()).Masked(), nil
}

var protoNames = map[string]uint8{"tcp": ProtoTCP, "udp": ProtoUDP, "icmp": ProtoICMP, "icmpv6": ProtoICMPv6}

func (d *decoder) proto(n *yaml.Node, field string, any bool) uint8 {
	if p, ok := protoNames[n.Value]; ok && (any || p == ProtoTCP || p == ProtoUDP) {
		return p
	}
	if any {
		if v, err := strconv.ParseUint(n.Value, 10, 8); err == nil && v > 0 {
			return uint8(v)
		}
		d.fail(n, field, "%q is not tcp, udp, icmp, icmpv6 or a protocol number 1..255", n.Value)
	} else {
		d.fail(n, field, "%q is not tcp or udp", n.Value)
	}
	return 0
}

func (d *decoder) ports(n *yaml.Node, field string) (PortRange, bool) {
	lo, hi, found := strings.Cut(n.Value, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || a == 0 || a > b {
		d.fail(n, field, "%q is not a port (1..65535) or a range lo-hi", n.Value)
		return PortRange{}, false
	}
	return PortRange{uint16(a), uint16(b)}, true
}

var flagNames = map[string]uint8{"fin": FlagFIN, "syn": FlagSYN, "rst": FlagRST, "psh": FlagPSH, "ack": FlagACK, "urg": FlagURG}

// flags reads "syn,!ack": flags that must be set, and with ! clear.
func (d *decoder) flags(n *yaml.Node, field string) (mask, set uint8) {
	for _, f := range strings.Split(n.Value, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		neg := strings.HasPrefix(f, "!")
		bit, ok := flagNames[strings.TrimPrefix(f, "!")]
		if !ok {
			d.fail(n, field, "%q is not a flag list such as \"syn,!ack\" (fin, syn, rst, psh, ack, urg)", n.Value)
			return 0, 0
		}
		mask |= bit
		if !neg {
			set |= bit
		}
	}
	return mask, set
}

// ReadPrefixes reads a blocklist file: one prefix or address a line, blank
// lines and # comments ignored. Errors name the line.
func ReadPrefixes(path string) ([]netip.Prefix, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		pf, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		out = append(out, pf)
	}
	return out, sc.Err()
}

// Names of the rules for counters, in order.
func (p *Policy) RuleNames() []string {
	out := make([]string, len(p.Firewall.Rules))
	for i, r := range p.Firewall.Rules {
		out[i] = r.Name
		if out[i] == "" {
			out[i] = "rule" + strconv.Itoa(i)
		}
	}
	return out
}
