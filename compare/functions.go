package compare

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/dutlab/dutlab/dut/policy"
)

// Functions a DUT runs in a compare: what each row's datapath does with
// the traffic.
const (
	FuncForward = "fwd"    // forward (the datapath's own job)
	FuncFW      = "fw"     // the built-in firewall policy (FirewallPolicy)
	FuncLB      = "lb"     // the built-in load-balancer policy (LoadBalancerPolicy)
	FuncPolicy  = "policy" // Options.Policy, from --policy FILE
)

// Functions lists the function names compare takes.
var Functions = []string{FuncForward, FuncFW, FuncLB, FuncPolicy}

// run is one row to measure: a datapath running a function.
type run struct{ datapath, function string }

func (r run) label() string {
	if r.function == FuncForward || r.function == "" {
		return r.datapath
	}
	return r.datapath + "/" + r.function
}

// runs lists the rows in order: every function for the first datapath,
// then for the next.
func (o *Options) runs() []run {
	fns := o.Functions
	if len(fns) == 0 {
		fns = []string{FuncForward}
	}
	var out []run
	for _, d := range o.Datapaths {
		for _, f := range fns {
			out = append(out, run{d, f})
		}
	}
	return out
}

func (o *Options) checkFunctions() error {
	for _, f := range o.Functions {
		if !slices.Contains(Functions, f) {
			return fmt.Errorf("function %q is not one of %v", f, Functions)
		}
		if f == FuncPolicy && o.Policy == nil {
			return fmt.Errorf("function %q needs a policy file (--policy)", f)
		}
	}
	return nil
}

// policyFor is the policy the DUT runs for function fn (nil: forward).
func (o *Options) policyFor(fn string, g genNode, d dutNode) (*policy.Policy, error) {
	switch fn {
	case FuncForward, "":
		return nil, nil
	case FuncFW:
		return FirewallPolicy(), nil
	case FuncLB:
		return LoadBalancerPolicy(g.rx.Addr.Addr(), d.out.Peer.MAC, 9), nil
	case FuncPolicy:
		return o.Policy, nil
	}
	return nil, fmt.Errorf("unknown function %q", fn)
}

// FirewallPolicy is the built-in fw function: 100 rules and 100,000
// blocklisted prefixes that the lab's traffic never matches (so every frame
// pays for the lookups and is forwarded), a count rule that matches it, ICMP
// echo drop and a default of allow. Frames the generator sends are UDP
// from 198.18.0.0/15 to port 9.
func FirewallPolicy() *policy.Policy {
	p := &policy.Policy{Name: "builtin-fw", Firewall: policy.Firewall{Default: policy.Allow, DropICMPEcho: true}}
	for i := 0; i < 99; i++ {
		port := uint16(1000 + i)
		p.Firewall.Rules = append(p.Firewall.Rules, policy.Rule{
			Name: fmt.Sprintf("deny-tcp-%d", port), Proto: policy.ProtoTCP,
			DstPorts: policy.PortRange{Lo: port, Hi: port}, Action: policy.Drop,
		})
	}
	p.Firewall.Rules = append(p.Firewall.Rules, policy.Rule{Name: "count-bench", Proto: policy.ProtoUDP,
		DstPorts: policy.PortRange{Lo: 9, Hi: 9}, Action: policy.Count})
	for i := 0; i < 100000; i++ {
		// 100.64.0.0/10 (shared address space): never the lab's.
		a := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16&0x3f), byte(i >> 8), byte(i)})
		p.Firewall.Blocklist = append(p.Firewall.Blocklist, netip.PrefixFrom(a, 32))
	}
	return p
}

// LoadBalancerPolicy is the built-in lb function: the generator's receive
// address (vip, UDP port) becomes a VIP with four backends (the next four
// addresses) whose MAC is the generator's receive port's, so every balanced
// frame still reaches the generator.
func LoadBalancerPolicy(vip netip.Addr, rxMAC net.HardwareAddr, port uint16) *policy.Policy {
	v := policy.VIP{Addr: vip, Proto: policy.ProtoUDP, Port: port, Mode: policy.Rewrite}
	a := vip
	for range 4 {
		a = a.Next()
		v.Backends = append(v.Backends, policy.Backend{Addr: a, MAC: rxMAC, Weight: 1})
	}
	return &policy.Policy{Name: "builtin-lb", LB: policy.LoadBalancer{VIPs: []policy.VIP{v}}}
}
