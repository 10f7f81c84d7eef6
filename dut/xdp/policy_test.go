package xdp

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/dut/policy"
	"github.com/dutlab/dutlab/internal/testenv"
)

// The differential tests run frames through xdp_policy (BPF_PROG_TEST_RUN)
// and through the Go reference model (dut/policy) side by side: the verdict
// and every byte of a forwarded frame must agree, and so must the counters
// at the end.

func loadPolicyFile(t testing.TB, name string) *policy.Policy {
	t.Helper()
	p, err := policy.Load(filepath.Join("..", "..", "examples", "policies", name))
	require.NoError(t, err)
	return p
}

// pair is the program and the model of one policy, fed the same frames.
type pair struct {
	prog  *Policy
	model *policy.Model
	ran   int
}

func newPair(t testing.TB, p *policy.Policy) *pair {
	t.Helper()
	testenv.RequireRoot(t)
	prog, err := LoadPolicy(p, PolicyPorts{OutSMAC: testOutSMAC, OutDMAC: testOutDMAC})
	testenv.SkipIfNotSupported(t, err, ebpf.ErrNotSupported)
	require.NoError(t, err)
	t.Cleanup(func() { prog.Close() })
	return &pair{prog: prog, model: policy.NewModel(p, testOutSMAC, testOutDMAC)}
}

// check runs frame through both and fails on any difference. Frames the
// kernel will not test-run (under 14 bytes, over a page) are skipped.
func (pr *pair) check(t testing.TB, frame []byte, what string) {
	t.Helper()
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+64)}
	ret, err := pr.prog.Program().Run(opts)
	if err != nil && (len(frame) < 14 || len(frame) > maxTestFrame) {
		return
	}
	require.NoError(t, err, what)
	pr.ran++
	o := pr.model.Process(frame)
	switch o.Verdict {
	case policy.VerdictDrop:
		require.Equal(t, uint32(xdpDrop), ret, "%s: the model drops it (%s), the program returned %d", what, o.Reason, ret)
	case policy.VerdictForward:
		require.Equal(t, uint32(xdpTX), ret, "%s: the model forwards it, the program returned %d", what, ret)
		require.Equal(t, o.Frame, opts.DataOut, "%s: output frames differ", what)
	}
}

func (pr *pair) counters(t testing.TB) {
	t.Helper()
	got, err := pr.prog.Counters()
	require.NoError(t, err)
	require.Equal(t, pr.model.C, got, "counters differ")
}

// genFrames makes n frames around policy p's addresses and ports, with the
// edge cases the issue names: IP options, fragments, truncated headers,
// VLAN tags, IPv6 extension headers, bad checksums, TTL 0 and 1, TCP flag
// combinations, blocklisted sources, VIPs.
func genFrames(t testing.TB, rng *rand.Rand, n int) [][]byte {
	t.Helper()
	v4 := []string{"198.18.0.1", "198.19.0.1", "198.19.0.10", "198.19.0.100", "203.0.113.5", "192.0.2.9", "198.51.100.7", "198.18.0.66", "10.1.2.3"}
	v6 := []string{"2001:db8:18::1", "2001:db8:19::1", "2001:db8:19::100", "2001:db8::5", "2001:db8:bad::9", "2001:db8:dead::1", "fe80::1"}
	ports := []uint16{9, 22, 23, 53, 80, 443, 1023, 1024, 40000, 65535}
	out := make([][]byte, 0, n)
	for len(out) < n {
		ipv6 := rng.IntN(3) == 0
		pick := func(list []string) net.IP { return netip.MustParseAddr(list[rng.IntN(len(list))]).AsSlice() }
		var src, dst net.IP
		if ipv6 {
			src, dst = pick(v6), pick(v6)
		} else {
			src, dst = pick(v4), pick(v4)
		}
		protos := []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4, 47}
		proto := protos[rng.IntN(len(protos))]
		if ipv6 && proto == layers.IPProtocolICMPv4 {
			proto = layers.IPProtocolICMPv6
		}
		ttl := uint8(rng.IntN(3))
		if rng.IntN(2) == 0 {
			ttl = 64
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
		ls := []gopacket.SerializableLayer{eth}
		ethType := layers.EthernetTypeIPv4
		if ipv6 {
			ethType = layers.EthernetTypeIPv6
		}
		switch rng.IntN(6) {
		case 0:
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: ethType})
		case 1:
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 8, Type: ethType})
		default:
			eth.EthernetType = ethType
		}
		var nl gopacket.NetworkLayer
		extHdr := ipv6 && rng.IntN(8) == 0
		if ipv6 {
			ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: proto, SrcIP: src, DstIP: dst}
			if extHdr {
				ip.NextHeader = layers.IPProtocolIPv6HopByHop
				ip.HopByHop = &layers.IPv6HopByHop{}
				ip.HopByHop.NextHeader = proto
				ip.HopByHop.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
			}
			ls, nl = append(ls, ip), ip
		} else {
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: proto, SrcIP: src, DstIP: dst, Id: uint16(rng.Uint32())}
			switch rng.IntN(8) {
			case 0:
				ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
			case 1:
				ip.Flags = layers.IPv4MoreFragments
			case 2:
				ip.FragOffset = uint16(1 + rng.IntN(100))
			}
			ls, nl = append(ls, ip), ip
		}
		sport, dport := ports[rng.IntN(len(ports))], ports[rng.IntN(len(ports))]
		if rng.IntN(3) == 0 { // to a VIP of edge.yaml
			proto, dport = layers.IPProtocolTCP, 80
			dst = net.IP{198, 19, 0, 100}
			if ipv6 {
				dst = netip.MustParseAddr("2001:db8:19::100").AsSlice()
			} else if rng.IntN(2) == 0 {
				proto, dport = layers.IPProtocolUDP, 53
			}
			sport = uint16(1024 + rng.IntN(2000))
			if ip, ok := nl.(*layers.IPv4); ok {
				ip.DstIP, ip.Protocol = dst, proto
			} else if ip, ok := nl.(*layers.IPv6); ok {
				ip.DstIP = dst
				if ip.HopByHop != nil {
					ip.HopByHop.NextHeader = proto
				} else {
					ip.NextHeader = proto
				}
			}
		}
		switch proto {
		case layers.IPProtocolTCP:
			f := rng.IntN(64)
			tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: rng.Uint32(), Window: 1000,
				FIN: f&1 != 0, SYN: f&2 != 0, RST: f&4 != 0, PSH: f&8 != 0, ACK: f&16 != 0, URG: f&32 != 0}
			_ = tcp.SetNetworkLayerForChecksum(nl)
			ls = append(ls, tcp)
		case layers.IPProtocolUDP:
			udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
			_ = udp.SetNetworkLayerForChecksum(nl)
			ls = append(ls, udp)
		case layers.IPProtocolICMPv4:
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(uint8([]int{0, 8, 3, 11}[rng.IntN(4)]), 0)})
		case layers.IPProtocolICMPv6:
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(uint8([]int{128, 129, 1, 135}[rng.IntN(4)]), 0)}
			_ = icmp.SetNetworkLayerForChecksum(nl)
			ls = append(ls, icmp)
		}
		ls = append(ls, gopacket.Payload(make([]byte, rng.IntN(64))))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatalf("build frame: %v", err)
		}
		f := append([]byte(nil), buf.Bytes()...)
		switch rng.IntN(8) {
		case 0: // truncated anywhere
			f = f[:rng.IntN(len(f)+1)]
		case 1: // a bad checksum somewhere in the headers
			if len(f) > 40 {
				i := 14 + rng.IntN(min(len(f), 80)-14)
				f[i] ^= byte(1 + rng.IntN(255))
			}
		case 2: // UDP checksum 0 (none) over IPv4
			if !ipv6 && proto == layers.IPProtocolUDP && eth.EthernetType == layers.EthernetTypeIPv4 && len(f) >= 42 {
				binary.BigEndian.PutUint16(f[40:], 0)
			}
		}
		out = append(out, f)
	}
	return out
}

func TestPolicyDifferentialGenerated(t *testing.T) {
	for _, name := range []string{"edge.yaml", "fw-only.yaml"} {
		t.Run(name, func(t *testing.T) {
			pr := newPair(t, loadPolicyFile(t, name))
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for i, f := range genFrames(t, rng, 12000) {
				pr.check(t, f, "generated frame "+strconv.Itoa(i))
			}
			require.GreaterOrEqual(t, pr.ran, 10000)
			pr.counters(t)
			t.Logf("%s: %d frames agree; model counters %+v", name, pr.ran, pr.model.C)
		})
	}
}

func TestPolicyDifferentialCorpus(t *testing.T) {
	dir := corpusDir()
	if _, err := os.Stat(dir); err != nil {
		testenv.SkipOrFail(t, "capture corpus not found (set DUTLAB_CORPUS): "+err.Error())
	}
	frames, _, _ := readCorpus(t, dir)
	require.Greater(t, len(frames), 7000)
	for _, name := range []string{"edge.yaml", "fw-only.yaml"} {
		t.Run(name, func(t *testing.T) {
			pr := newPair(t, loadPolicyFile(t, name))
			for _, f := range frames {
				pr.check(t, f.data, f.file+" #"+strconv.Itoa(f.index))
			}
			pr.counters(t)
			t.Logf("%s: %d corpus frames agree", name, pr.ran)
		})
	}
}

// TestPolicyBackendChange changes a VIP's backends under the running
// program: established flows stay where the connection table put them, in
// the program as in the model.
func TestPolicyBackendChange(t *testing.T) {
	p := loadPolicyFile(t, "edge.yaml")
	pr := newPair(t, p)
	frame := func(port uint16, flags string) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{198, 19, 0, 100}}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(port), DstPort: 80, SYN: flags == "S", ACK: flags == "A", Window: 100}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp))
		return buf.Bytes()
	}
	for port := uint16(2000); port < 2500; port++ {
		pr.check(t, frame(port, "S"), "syn")
	}
	b := append([]policy.Backend(nil), p.LB.VIPs[0].Backends...)
	b[0].Weight = 0
	require.NoError(t, pr.prog.SetBackends(0, b))
	pr.model.SetBackends(0, b)
	for port := uint16(2000); port < 2500; port++ {
		pr.check(t, frame(port, "A"), "established after the change")
	}
	for port := uint16(3000); port < 3500; port++ {
		pr.check(t, frame(port, "S"), "new after the change")
	}
	pr.counters(t)
	require.Greater(t, pr.model.C.Backends[0][0], uint64(0))
}

func TestPolicyRuntRefused(t *testing.T) {
	pr := newPair(t, loadPolicyFile(t, "edge.yaml"))
	_, err := pr.prog.Program().Run(&ebpf.RunOptions{Data: make([]byte, 10)})
	require.ErrorIs(t, err, unix.EINVAL, "the kernel refuses test input under 14 bytes; a runt reaches the program only from a driver")
}

// BenchmarkPolicy measures xdp_policy's ns per frame under
// BPF_PROG_TEST_RUN (one run of b.N repeats: ns/op is the program's time per
// frame), for the firewall, the load balancer and both.
func BenchmarkPolicy(b *testing.B) {
	testenv.RequireRoot(b)
	web := func(dst string, dport uint16) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 18, 0, 1}, DstIP: netip.MustParseAddr(dst).AsSlice()}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(dport), ACK: true, Window: 100}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		_ = gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(make([]byte, 6)))
		return buf.Bytes()
	}
	bigFW := func(rules, prefixes int) *policy.Policy {
		p := &policy.Policy{Firewall: policy.Firewall{Default: policy.Allow}}
		for i := 0; i < rules; i++ {
			p.Firewall.Rules = append(p.Firewall.Rules, policy.Rule{Proto: policy.ProtoUDP, DstPorts: policy.PortRange{Lo: uint16(10000 + i%50000), Hi: uint16(10000 + i%50000)}, Action: policy.Drop})
		}
		for i := 0; i < prefixes; i++ {
			p.Firewall.Blocklist = append(p.Firewall.Blocklist, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(i >> 16), byte(i >> 8), byte(i)}), 32))
		}
		return p
	}
	edge := func() *policy.Policy {
		p, err := policy.Load(filepath.Join("..", "..", "examples", "policies", "edge.yaml"))
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	lbOnly := func() *policy.Policy {
		p := edge()
		p.Firewall = policy.Firewall{Default: policy.Allow}
		p.TTL = 0
		return p
	}
	cases := []struct {
		name  string
		p     *policy.Policy
		frame []byte
	}{
		{"empty", &policy.Policy{}, web("198.19.0.1", 80)},
		{"fw/8-rules+100k-prefixes", bigFW(8, 100000), web("198.19.0.1", 80)},
		{"fw/100-rules+100k-prefixes", bigFW(100, 100000), web("198.19.0.1", 80)},
		{"fw/10k-rules+100k-prefixes", bigFW(10000, 100000), web("198.19.0.1", 80)},
		{"lb", lbOnly(), web("198.19.0.100", 80)},
		{"fw+lb", edge(), web("198.19.0.100", 80)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			prog, err := LoadPolicy(c.p, PolicyPorts{OutSMAC: testOutSMAC, OutDMAC: testOutDMAC})
			if err != nil {
				b.Fatal(err)
			}
			defer prog.Close()
			opts := &ebpf.RunOptions{Data: c.frame, Repeat: uint32(max(b.N, 1))}
			b.ResetTimer()
			ret, err := prog.Program().Run(opts)
			if err != nil || ret != xdpTX {
				b.Fatalf("run: %d, %v", ret, err)
			}
		})
	}
}

// FuzzPolicyXDP feeds arbitrary frames to xdp_policy and the model: they
// must agree on every one the kernel runs. CI runs it for a bounded time.
func FuzzPolicyXDP(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, fr := range genFrames(f, rng, 64) {
		f.Add(fr)
	}
	pr := newPair(f, loadPolicyFile(f, "edge.yaml"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		pr.check(t, frame, "fuzzed frame")
	})
}

// TestPolicyDifferentialRandomRules holds the rule classifier to the
// model's first-match scan on random rule sets: nested and overlapping
// prefixes of both families, port ranges, protocols, TCP flag masks, count
// rules, both default actions.
func TestPolicyDifferentialRandomRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	v4 := []string{"198.18.0.0/15", "198.18.0.0/24", "198.18.0.1/32", "198.19.0.0/16", "198.19.0.0/28", "198.19.0.100/32", "10.0.0.0/8", "0.0.0.0/0"}
	v6 := []string{"2001:db8::/32", "2001:db8:18::/48", "2001:db8:19::100/128", "::/0"}
	protos := []uint8{0, 0, policy.ProtoTCP, policy.ProtoUDP, policy.ProtoICMP, policy.ProtoICMPv6, 47}
	for round := 0; round < 6; round++ {
		p := &policy.Policy{Firewall: policy.Firewall{Default: []policy.Action{policy.Allow, policy.Drop}[round%2]}}
		for i := 0; i < 10+rng.IntN(300); i++ {
			r := policy.Rule{Proto: protos[rng.IntN(len(protos))], Action: []policy.Action{policy.Allow, policy.Drop, policy.Count}[rng.IntN(3)]}
			fam := rng.IntN(3)
			pfx := func() netip.Prefix {
				if fam == 1 {
					return netip.MustParsePrefix(v6[rng.IntN(len(v6))])
				}
				return netip.MustParsePrefix(v4[rng.IntN(len(v4))])
			}
			if fam > 0 && rng.IntN(2) == 0 {
				r.Src = pfx()
			}
			if fam > 0 && rng.IntN(2) == 0 {
				r.Dst = pfx()
			}
			if r.Proto == policy.ProtoTCP || r.Proto == policy.ProtoUDP {
				pr := func() policy.PortRange {
					lo := uint16([]int{1, 9, 22, 53, 80, 1000, 40000}[rng.IntN(7)])
					return policy.PortRange{Lo: lo, Hi: lo + uint16(rng.IntN(3)*rng.IntN(500))}
				}
				if rng.IntN(3) == 0 {
					r.SrcPorts = pr()
				}
				if rng.IntN(2) == 0 {
					r.DstPorts = pr()
				}
				if r.Proto == policy.ProtoTCP && rng.IntN(3) == 0 {
					r.FlagsMask = uint8(rng.IntN(64))
					r.FlagsSet = r.FlagsMask & uint8(rng.IntN(64))
				}
			}
			p.Firewall.Rules = append(p.Firewall.Rules, r)
		}
		require.NoError(t, p.Validate())
		pr := newPair(t, p)
		for i, f := range genFrames(t, rng, 1500) {
			pr.check(t, f, "round "+strconv.Itoa(round)+" frame "+strconv.Itoa(i))
		}
		pr.counters(t)
		pr.prog.Close()
	}
}
