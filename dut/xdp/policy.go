package xdp

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"

	"github.com/dutlab/dutlab/dut/policy"
)

// Policy is the policy appliance loaded as the xdp_policy program
// (bpf/policy.c) with its maps filled from a policy.Policy. The program is
// not attached: Program is for an attachment or for BPF_PROG_TEST_RUN.
type Policy struct {
	objs  policyObjects
	p     *policy.Policy
	class *classifier
}

// Program is xdp_policy.
func (l *Policy) Program() *ebpf.Program { return l.objs.XdpPolicy }

// PolicyPorts are where forwarded frames go: the Out port's MAC, the MAC
// across its wire, and its ifindex (0: XDP_TX, as under BPF_PROG_TEST_RUN).
type PolicyPorts struct {
	OutSMAC, OutDMAC net.HardwareAddr
	OutIfindex       int
}

// LoadPolicy loads xdp_policy and fills its maps with p. p must be valid.
func LoadPolicy(p *policy.Policy, ports PolicyPorts) (*Policy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	spec, err := loadPolicy()
	if err != nil {
		return nil, fmt.Errorf("load policy program spec: %w", err)
	}
	if n := p.LB.ConnTable; n > 0 {
		spec.Maps["pol_conns"].MaxEntries = uint32(n)
	}
	l := &Policy{p: p, class: buildClassifier(p.Firewall.Rules)}
	spec.Maps["pol_bitmaps"].MaxEntries = uint32(max(len(l.class.bitmaps), 1))
	if err := spec.LoadAndAssign(&l.objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_policy: %w", err)
	}
	if err := l.fill(ports); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

// Close unloads the program and its maps.
func (l *Policy) Close() error { return l.objs.Close() }

func (l *Policy) fill(ports PolicyPorts) error {
	p := l.p
	cfg := policyPolConfig{Nrules: uint32(len(p.Firewall.Rules)), OutIfindex: uint32(ports.OutIfindex), Ttl: p.TTL}
	if p.Firewall.Default == policy.Drop {
		cfg.DefaultDrop = 1
	}
	if p.Firewall.DropICMPEcho {
		cfg.IcmpDrop = 1
	}
	copy(cfg.OutSmac[:], ports.OutSMAC)
	copy(cfg.OutDmac[:], ports.OutDMAC)
	for i, r := range p.Firewall.Rules {
		if err := l.objs.PolRules.Put(uint32(i), ruleOf(r)); err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
	}
	if err := l.fillClassifier(); err != nil {
		return fmt.Errorf("rule classifier: %w", err)
	}
	if err := l.fillBlocklist(); err != nil {
		return err
	}
	for i, v := range p.LB.VIPs {
		key := policyVipKey{Port: v.Port, Proto: v.Proto, Family: family(v.Addr.Is6())}
		copy(key.Addr[:], v.Addr.AsSlice())
		if err := l.objs.PolVips.Put(key, policyVipVal{Index: uint32(i), Nbackends: uint32(len(v.Backends))}); err != nil {
			return fmt.Errorf("vip %d: %w", i, err)
		}
		if err := l.SetBackends(i, v.Backends); err != nil {
			return err
		}
	}
	// The config goes last: until it is in, nrules is 0.
	if err := l.objs.PolCfg.Put(uint32(0), cfg); err != nil {
		return fmt.Errorf("policy config: %w", err)
	}
	return nil
}

func family(ipv6 bool) uint8 {
	if ipv6 {
		return 6
	}
	return 4
}

func ruleOf(r policy.Rule) policyPolRule {
	out := policyPolRule{Proto: r.Proto, FlagsMask: r.FlagsMask, FlagsSet: r.FlagsSet,
		SportLo: 0, SportHi: 0xffff, DportLo: 0, DportHi: 0xffff}
	switch r.Action {
	case policy.Allow:
		out.Action = 1
	case policy.Drop:
		out.Action = 2
	case policy.Count:
		out.Action = 3
	}
	if r.Src.IsValid() {
		out.HasSrc, out.SrcLen, out.Family = 1, uint8(r.Src.Bits()), family(r.Src.Addr().Is6())
		copy(out.Src[:], r.Src.Addr().AsSlice())
	}
	if r.Dst.IsValid() {
		out.HasDst, out.DstLen, out.Family = 1, uint8(r.Dst.Bits()), family(r.Dst.Addr().Is6())
		copy(out.Dst[:], r.Dst.Addr().AsSlice())
	}
	if !r.SrcPorts.Any() || !r.DstPorts.Any() {
		out.HasPorts = 1
		if !r.SrcPorts.Any() {
			out.SportLo, out.SportHi = r.SrcPorts.Lo, r.SrcPorts.Hi
		}
		if !r.DstPorts.Any() {
			out.DportLo, out.DportHi = r.DstPorts.Lo, r.DstPorts.Hi
		}
	}
	return out
}

// fillBlocklist puts the blocklist in the LPM tries, in batches.
func (l *Policy) fillBlocklist() error {
	var k4 []policyLpmKey4
	var k6 []policyLpmKey6
	for _, pf := range l.p.Firewall.Blocklist {
		if pf.Addr().Is4() {
			k := policyLpmKey4{Prefixlen: uint32(pf.Bits())}
			copy(k.Addr[:], pf.Addr().AsSlice())
			k4 = append(k4, k)
		} else {
			k := policyLpmKey6{Prefixlen: uint32(pf.Bits())}
			copy(k.Addr[:], pf.Addr().AsSlice())
			k6 = append(k6, k)
		}
	}
	if err := putAll(l.objs.PolBlock4, k4); err != nil {
		return fmt.Errorf("ipv4 blocklist: %w", err)
	}
	if err := putAll(l.objs.PolBlock6, k6); err != nil {
		return fmt.Errorf("ipv6 blocklist: %w", err)
	}
	return nil
}

// putAll puts keys with value 1, in batches where the kernel has them.
func putAll[K any](m *ebpf.Map, keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	vals := make([]uint8, len(keys))
	for i := range vals {
		vals[i] = 1
	}
	if _, err := m.BatchUpdate(keys, vals, nil); err == nil {
		return nil
	} else if !errors.Is(err, ebpf.ErrNotSupported) {
		return err
	}
	for _, k := range keys {
		if err := m.Put(k, uint8(1)); err != nil {
			return err
		}
	}
	return nil
}

// SetBackends replaces VIP vip's backends under a running program, as
// policy.Model.SetBackends does: the backend table, then the Maglev slots
// (each slot switches atomically); the connection table keeps established
// flows on their backends. Keep the indices of the backends that stay.
func (l *Policy) SetBackends(vip int, backends []policy.Backend) error {
	base := uint32(vip * policy.MaxBackends)
	for i, b := range backends {
		be := policyBackend{Family: family(b.Addr.Is6())}
		copy(be.Addr[:], b.Addr.AsSlice())
		copy(be.Mac[:], b.MAC)
		if err := l.objs.PolBackends.Put(base+uint32(i), be); err != nil {
			return fmt.Errorf("vip %d backend %d: %w", vip, i, err)
		}
	}
	table := policy.Maglev(backends)
	keys := make([]uint32, len(table))
	for i := range keys {
		keys[i] = uint32(vip*policy.MaglevRing + i)
	}
	if _, err := l.objs.PolMaglev.BatchUpdate(keys, table, nil); err != nil {
		return fmt.Errorf("vip %d maglev table: %w", vip, err)
	}
	return nil
}

// Counters reads the program's counters (summed over CPUs) in the model's
// terms.
func (l *Policy) Counters() (policy.Counters, error) {
	var c policy.Counters
	sum := func(m *ebpf.Map, key uint32) (uint64, error) {
		var per []uint64
		if err := m.Lookup(key, &per); err != nil {
			return 0, err
		}
		var s uint64
		for _, v := range per {
			s += v
		}
		return s, nil
	}
	var errs []error
	get := func(m *ebpf.Map, key uint32) uint64 {
		v, err := sum(m, key)
		errs = append(errs, err)
		return v
	}
	c.Forwarded = get(l.objs.PolCounters, 0)
	c.Malformed = get(l.objs.PolCounters, 1)
	c.Blocked = get(l.objs.PolCounters, 2)
	c.ICMPEcho = get(l.objs.PolCounters, 3)
	c.DefaultDrop = get(l.objs.PolCounters, 4)
	c.Rules = make([]uint64, 0, len(l.p.Firewall.Rules))
	for i := range l.p.Firewall.Rules {
		c.Rules = append(c.Rules, get(l.objs.PolRuleHits, uint32(i)))
	}
	c.VIPs = make([]uint64, 0, len(l.p.LB.VIPs))
	for vi, v := range l.p.LB.VIPs {
		c.VIPs = append(c.VIPs, get(l.objs.PolVipHits, uint32(vi)))
		bs := make([]uint64, 0, len(v.Backends))
		for bi := range v.Backends {
			bs = append(bs, get(l.objs.PolBackendHits, uint32(vi*policy.MaxBackends+bi)))
		}
		c.Backends = append(c.Backends, bs)
	}
	return c, errors.Join(errs...)
}

// fillClassifier loads the rule classifier's bitmaps, field arrays and
// prefix tries.
func (l *Policy) fillClassifier() error {
	c := l.class
	keys := make([]uint32, len(c.bitmaps))
	vals := make([]mapBitmap, len(c.bitmaps))
	for i, b := range c.bitmaps {
		keys[i], vals[i] = uint32(i), b.forMap()
	}
	if len(keys) > 0 {
		if _, err := l.objs.PolBitmaps.BatchUpdate(keys, vals, nil); err != nil {
			return fmt.Errorf("bitmaps: %w", err)
		}
	}
	var dims []uint32
	dims = append(dims, c.none[:]...)
	dims = append(dims, c.proto[:]...)
	dims = append(dims, c.sport[:]...)
	dims = append(dims, c.dport[:]...)
	dims = append(dims, c.flags[:]...)
	dkeys := make([]uint32, len(dims))
	for i := range dkeys {
		dkeys[i] = uint32(i)
	}
	if _, err := l.objs.PolDims.BatchUpdate(dkeys, dims, nil); err != nil {
		return fmt.Errorf("field arrays: %w", err)
	}
	for _, t := range []struct {
		m       *ebpf.Map
		entries []lpmEntry
		v6      bool
	}{{l.objs.PolSrc4, c.src4, false}, {l.objs.PolSrc6, c.src6, true}, {l.objs.PolDst4, c.dst4, false}, {l.objs.PolDst6, c.dst6, true}} {
		for _, e := range t.entries {
			var err error
			if t.v6 {
				err = t.m.Put(lpmKey6(e.prefix), e.bitmap)
			} else {
				err = t.m.Put(lpmKey4(e.prefix), e.bitmap)
			}
			if err != nil {
				return fmt.Errorf("prefix %s: %w", e.prefix, err)
			}
		}
	}
	return nil
}
