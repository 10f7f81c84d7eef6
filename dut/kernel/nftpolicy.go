package kernel

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/dut/policy"
)

// The kernel datapath runs a policy's firewall as nftables rules in the
// forward chain of table inet dutlab, after the In counter: the blocklists
// as interval sets (lookup on the source address), ICMP echo drop, the rules
// in order (count rules as counters without a verdict) and the default as a
// final drop. Where the kernel differs from the reference model: it drops
// frames with bad IPv4 header checksums or lengths before the forward hook,
// and with conntrack loaded it reassembles fragments first, so port rules
// see a reassembled datagram. TTL rewrite and the load balancer are not run
// here yet (Attach refuses such a policy).

// checkKernelPolicy refuses what the nftables translation does not run.
func checkKernelPolicy(p *policy.Policy) error {
	if p == nil {
		return nil
	}
	if p.TTL != 0 {
		return fmt.Errorf("kernel: ttl rewrite is not run by the nftables datapath yet: %w", dut.ErrNotSupported)
	}
	if len(p.LB.VIPs) > 0 {
		return fmt.Errorf("kernel: the load balancer is not run by the nftables datapath yet: %w", dut.ErrNotSupported)
	}
	return nil
}

var (
	block4Set = &nftables.Set{Table: table, Name: "block4", KeyType: nftables.TypeIPAddr, Interval: true}
	block6Set = &nftables.Set{Table: table, Name: "block6", KeyType: nftables.TypeIP6Addr, Interval: true}
)

// addPolicy adds p's firewall to the forward chain in one transaction.
func addPolicy(c *nftables.Conn, p *policy.Policy) error {
	fw := p.Firewall
	var b4, b6 []nftables.SetElement
	for _, pf := range fw.Blocklist {
		elems := intervalElems(pf)
		if pf.Addr().Is4() {
			b4 = append(b4, elems...)
		} else {
			b6 = append(b6, elems...)
		}
	}
	for _, s := range []struct {
		set   *nftables.Set
		elems []nftables.SetElement
		proto byte
		off   uint32
		n     uint32
	}{{block4Set, b4, unix.NFPROTO_IPV4, 12, 4}, {block6Set, b6, unix.NFPROTO_IPV6, 8, 16}} {
		if len(s.elems) == 0 {
			continue
		}
		if err := addSetChunked(c, s.set, s.elems); err != nil {
			return err
		}
		addRule(c, "blocklist", append(family(s.proto),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: s.off, Len: s.n},
			&expr.Lookup{SourceRegister: 1, SetName: s.set.Name, SetID: s.set.ID},
			&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})...)
	}
	if fw.DropICMPEcho {
		drop := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
		addRule(c, "icmp-echo", append(append(l4proto(policy.ProtoICMP), icmpType(8)...), drop...)...)
		addRule(c, "icmpv6-echo", append(append(l4proto(policy.ProtoICMPv6), icmpType(128)...), drop...)...)
	}
	for i, r := range fw.Rules {
		exprs := ruleExprs(r)
		switch r.Action {
		case policy.Allow:
			exprs = append(exprs, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept})
		case policy.Drop:
			exprs = append(exprs, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		case policy.Count:
			exprs = append(exprs, &expr.Counter{})
		}
		addRule(c, "rule:"+strconv.Itoa(i), exprs...)
	}
	if fw.Default == policy.Drop {
		addRule(c, "default", &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add the policy to inet %s: %w", TableName, err)
	}
	return nil
}

// addSetChunked creates set and adds elems in batches that fit a netlink
// message (100,000 prefixes do not fit one).
func addSetChunked(c *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	if err := c.AddSet(set, nil); err != nil {
		return fmt.Errorf("blocklist set %s: %w", set.Name, err)
	}
	const chunk = 2048 // an even number: a prefix is two elements
	for i := 0; i < len(elems); i += chunk {
		if err := c.SetAddElements(set, elems[i:min(i+chunk, len(elems))]); err != nil {
			return fmt.Errorf("blocklist set %s: %w", set.Name, err)
		}
		if err := c.Flush(); err != nil {
			return fmt.Errorf("blocklist set %s: add elements: %w", set.Name, err)
		}
	}
	return nil
}

func addRule(c *nftables.Conn, tag string, exprs ...expr.Any) {
	c.AddRule(&nftables.Rule{Table: table, Chain: forwardChain, Exprs: exprs, UserData: []byte("dutlab:" + tag)})
}

// intervalElems is prefix pf as an interval set's two elements.
func intervalElems(pf netip.Prefix) []nftables.SetElement {
	pf = pf.Masked()
	start := pf.Addr().AsSlice()
	end := append([]byte(nil), start...)
	// The end is one past the last address of pf; for the last prefix of
	// the space it wraps to zero, which nftables takes as "to the end".
	host := len(end)*8 - pf.Bits()
	carry := true
	for i := len(end) - 1; i >= 0; i-- {
		bits := min(max(host-(len(end)-1-i)*8, 0), 8)
		if bits > 0 {
			end[i] |= byte(1<<bits - 1)
		}
		if carry {
			end[i]++
			carry = end[i] == 0
		}
	}
	return []nftables.SetElement{{Key: start}, {Key: end, IntervalEnd: true}}
}

func family(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

func l4proto(p uint8) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

func icmpType(t byte) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{t}},
	}
}

// ruleExprs matches what r sets: family, prefixes, protocol, ports, flags.
func ruleExprs(r policy.Rule) []expr.Any {
	var out []expr.Any
	fam := 0
	for _, pf := range []netip.Prefix{r.Src, r.Dst} {
		if pf.IsValid() {
			fam = 4
			if pf.Addr().Is6() {
				fam = 6
			}
		}
	}
	switch fam {
	case 4:
		out = append(out, family(unix.NFPROTO_IPV4)...)
	case 6:
		out = append(out, family(unix.NFPROTO_IPV6)...)
	}
	for _, side := range []struct {
		pf       netip.Prefix
		off4, o6 uint32
	}{{r.Src, 12, 8}, {r.Dst, 16, 24}} {
		if !side.pf.IsValid() {
			continue
		}
		n, off := uint32(4), side.off4
		if side.pf.Addr().Is6() {
			n, off = 16, side.o6
		}
		mask := netip.PrefixFrom(side.pf.Addr(), side.pf.Bits())
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: prefixMask(mask), Xor: make([]byte, n)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: side.pf.Masked().Addr().AsSlice()})
	}
	if r.Proto != 0 {
		out = append(out, l4proto(r.Proto)...)
	}
	for _, pr := range []struct {
		r   policy.PortRange
		off uint32
	}{{r.SrcPorts, 0}, {r.DstPorts, 2}} {
		if pr.r.Any() {
			continue
		}
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: pr.off, Len: 2},
			&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(pr.r.Lo), ToData: be16(pr.r.Hi)})
	}
	if r.FlagsMask != 0 {
		out = append(out,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{r.FlagsMask}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.FlagsSet}})
	}
	return out
}

func prefixMask(pf netip.Prefix) []byte {
	n := pf.Addr().BitLen() / 8
	m := make([]byte, n)
	for i := 0; i < pf.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
