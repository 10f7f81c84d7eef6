package topologies

import (
	"net"
	"net/netip"
)

// Spec is a resolved, checked topology: plain data, printable and diffable.
// Nothing in this package touches the kernel; internal/lab brings a Spec up.
type Spec struct {
	Name   string // lab name, [a-z0-9-], at most 12 characters
	Source string // file the spec came from ("builtin:veth-basic" for embedded ones)
	// Purpose is PurposeBenchmark or PurposeSelfCheck; a self-check lab needs no DUT.
	Purpose string
	// AllowHostInterface lets host links use the host's default-route interface.
	AllowHostInterface bool
	Nodes              []Node
	Links              []Link
}

// Lab purposes.
const (
	PurposeBenchmark = "benchmark"  // a generator measures a DUT (the default)
	PurposeSelfCheck = "self-check" // a generator measures itself over a direct link
)

// Limits checked when a topology is resolved.
const (
	MaxCores = 1024  // cores are numbered 0..MaxCores-1
	MinMTU   = 68    // the IPv4 minimum
	MaxMTU   = 65535 // the largest MTU a veth accepts
)

// Node kinds.
const (
	KindGenerator = "generator"
	KindDUT       = "dut"
)

// SupportedKinds lists the node kinds a topology may use.
var SupportedKinds = []string{KindGenerator, KindDUT}

// Interface roles.
const (
	RoleTX  = "tx"  // generator: frames leave here
	RoleRX  = "rx"  // generator: frames come back here
	RoleIn  = "in"  // DUT: frames enter here
	RoleOut = "out" // DUT: frames leave here
)

// Node is one network namespace holding a generator or a DUT.
type Node struct {
	Name       string
	Kind       string // KindGenerator or KindDUT
	Cores      []int  // CPUs this node's work is pinned to
	Netns      string // namespace name: "dl-<lab>-<node>"
	Interfaces []Interface
}

// Interface is one port of a node.
type Interface struct {
	Name    string           // name inside the node's namespace
	Role    string           // RoleTX, RoleRX, RoleIn, RoleOut
	Address netip.Prefix     // optional
	MAC     net.HardwareAddr // optional; the lab assigns a stable one when nil
	MTU     int              // 0 keeps the default
}

// Endpoint names one node interface.
type Endpoint struct {
	Node      string
	Interface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Interface }

// Link types.
const (
	LinkVeth = "veth" // a veth pair between two node interfaces
	LinkHost = "host" // a physical (or other pre-existing) host interface moved into a node
)

// Link wires interfaces. A veth link has A and B; a host link has A and HostInterface.
type Link struct {
	Type          string
	A, B          Endpoint
	HostInterface string
}

// Node returns the node with the given name, or nil.
func (s *Spec) Node(name string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

// Interface returns the named interface of node n, or nil.
func (n *Node) Interface(name string) *Interface {
	for i := range n.Interfaces {
		if n.Interfaces[i].Name == name {
			return &n.Interfaces[i]
		}
	}
	return nil
}

// ByRole returns the first interface of n with the given role, or nil.
func (n *Node) ByRole(role string) *Interface {
	for i := range n.Interfaces {
		if n.Interfaces[i].Role == role {
			return &n.Interfaces[i]
		}
	}
	return nil
}

// Peer returns the endpoint wired to e by a veth link, and false if there is none.
func (s *Spec) Peer(e Endpoint) (Endpoint, bool) {
	for _, l := range s.Links {
		if l.Type != LinkVeth {
			continue
		}
		if l.A == e {
			return l.B, true
		}
		if l.B == e {
			return l.A, true
		}
	}
	return Endpoint{}, false
}

// NetnsName is the namespace a lab gives one of its nodes.
func NetnsName(lab, node string) string { return "dl-" + lab + "-" + node }

// Renamed returns a copy of s under another lab name, with its namespace
// names changed to match; tests use it to run a built-in lab under a unique
// name. The caller keeps name within the rules Parse enforces.
func (s *Spec) Renamed(name string) *Spec {
	c := *s
	c.Name = name
	c.Nodes = append([]Node(nil), s.Nodes...)
	for i := range c.Nodes {
		c.Nodes[i].Netns = NetnsName(name, c.Nodes[i].Name)
	}
	return &c
}
