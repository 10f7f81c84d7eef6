package kernel

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/testenv"
)

func TestIntervalElems(t *testing.T) {
	for _, c := range []struct{ pf, start, end string }{
		{"10.0.0.0/8", "10.0.0.0", "11.0.0.0"},
		{"198.51.100.7/32", "198.51.100.7", "198.51.100.8"},
		{"192.0.2.0/25", "192.0.2.0", "192.0.2.128"},
		{"255.255.255.0/24", "255.255.255.0", "0.0.0.0"},
		{"2001:db8::/32", "2001:db8::", "2001:db9::"},
	} {
		e := intervalElems(netip.MustParsePrefix(c.pf))
		require.Len(t, e, 2)
		require.Equal(t, netip.MustParseAddr(c.start).AsSlice(), e[0].Key, c.pf)
		require.Equal(t, netip.MustParseAddr(c.end).AsSlice(), e[1].Key, c.pf)
		require.True(t, e[1].IntervalEnd)
	}
}

// TestPolicyFirewall runs policies through the kernel datapath on a real
// lab: the frames newLab sends (UDP 40000 -> 9 from addrA0) get through a
// policy that allows them and are dropped by a rule, by the blocklist (one
// of 100,000 prefixes) and by a default of drop.
func TestPolicyFirewall(t *testing.T) {
	testenv.RequireRoot(t)
	src := addrA0.Addr()
	blocklist := func(extra ...netip.Prefix) []netip.Prefix {
		var out []netip.Prefix
		for i := 0; i < 100000; i++ {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(i>>16&0x3f), byte(i >> 8), byte(i)}), 32))
		}
		return append(out, extra...)
	}
	cases := []struct {
		name string
		fw   policy.Firewall
		want uint64
	}{
		{"allowed", policy.Firewall{Default: policy.Drop, Rules: []policy.Rule{
			{Proto: policy.ProtoTCP, DstPorts: policy.PortRange{Lo: 9, Hi: 9}, Action: policy.Drop},
			{Proto: policy.ProtoUDP, DstPorts: policy.PortRange{Lo: 1, Hi: 100}, Action: policy.Count},
			{Src: netip.PrefixFrom(src, 24).Masked(), Proto: policy.ProtoUDP, DstPorts: policy.PortRange{Lo: 9, Hi: 9}, Action: policy.Allow},
		}}, 200},
		{"rule drop", policy.Firewall{Default: policy.Allow, Rules: []policy.Rule{
			{Proto: policy.ProtoUDP, SrcPorts: policy.PortRange{Lo: 39000, Hi: 41000}, Action: policy.Drop},
		}}, 0},
		{"blocklist", policy.Firewall{Default: policy.Allow, Blocklist: blocklist(netip.PrefixFrom(src, 32))}, 0},
		{"blocklist miss", policy.Firewall{Default: policy.Allow, Blocklist: blocklist()}, 200},
		{"default drop", policy.Firewall{Default: policy.Drop}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, true)
			env := l.env
			env.Policy = &policy.Policy{Name: c.name, Firewall: c.fw}
			require.NoError(t, env.Policy.Validate())
			run, err := Datapath{}.Attach(context.Background(), env)
			testenv.SkipIfNotSupported(t, err, dut.ErrNotSupported)
			require.NoError(t, err)
			defer func() { require.NoError(t, run.Close()) }()
			before, err := measure.LinkCounters(l.nsA, "a1")
			require.NoError(t, err)
			l.send(t, 200)
			require.Equal(t, c.want, l.waitRx(t, before, 200))
		})
	}
}

func TestPolicyRefused(t *testing.T) {
	for _, p := range []*policy.Policy{{TTL: 64}, {LB: policy.LoadBalancer{VIPs: []policy.VIP{{}}}}} {
		require.ErrorIs(t, checkKernelPolicy(p), dut.ErrNotSupported)
	}
}
