package policy

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

var (
	inMAC   = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	dutMAC  = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	outMAC  = net.HardwareAddr{2, 0, 0, 0, 0, 3}
	peerMAC = net.HardwareAddr{2, 0, 0, 0, 0, 4}
)

// frameSpec describes a test frame; build makes it with gopacket.
type frameSpec struct {
	src, dst     string
	proto        string // tcp, udp, icmp
	sport, dport uint16
	flags        string // tcp: "S", "SA", "A", "F", "R"
	icmpType     uint8
	ttl          uint8
	vlan         uint16
	payload      int
}

func build(t testing.TB, s frameSpec) []byte {
	t.Helper()
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	eth := &layers.Ethernet{SrcMAC: inMAC, DstMAC: dutMAC}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	ethType := layers.EthernetTypeIPv4
	if src.Is6() {
		ethType = layers.EthernetTypeIPv6
	}
	if s.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: s.vlan, Type: ethType})
	} else {
		eth.EthernetType = ethType
	}
	ttl := s.ttl
	if ttl == 0 {
		ttl = 64
	}
	var netLayer gopacket.NetworkLayer
	var ipProto layers.IPProtocol
	switch s.proto {
	case "tcp":
		ipProto = layers.IPProtocolTCP
	case "udp":
		ipProto = layers.IPProtocolUDP
	default:
		ipProto = layers.IPProtocolICMPv4
		if src.Is6() {
			ipProto = layers.IPProtocolICMPv6
		}
	}
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: ttl, Protocol: ipProto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, netLayer = append(ls, ip), ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: ttl, NextHeader: ipProto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		ls, netLayer = append(ls, ip), ip
	}
	switch s.proto {
	case "tcp":
		tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: 1, Window: 1000,
			SYN: strings.Contains(s.flags, "S"), ACK: strings.Contains(s.flags, "A"), FIN: strings.Contains(s.flags, "F"), RST: strings.Contains(s.flags, "R")}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(netLayer))
		ls = append(ls, tcp)
	case "udp":
		udp := &layers.UDP{SrcPort: layers.UDPPort(s.sport), DstPort: layers.UDPPort(s.dport)}
		require.NoError(t, udp.SetNetworkLayerForChecksum(netLayer))
		ls = append(ls, udp)
	default:
		if src.Is4() {
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(s.icmpType, 0), Id: 1, Seq: 1})
		} else {
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(s.icmpType, 0)}
			require.NoError(t, icmp.SetNetworkLayerForChecksum(netLayer))
			ls = append(ls, icmp)
		}
	}
	ls = append(ls, gopacket.Payload(make([]byte, s.payload)))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes()
}

func loadExample(t testing.TB, name string) *Policy {
	t.Helper()
	p, err := Load(filepath.Join("..", "..", "examples", "policies", name))
	require.NoError(t, err)
	return p
}

// checksumsOK decodes f and recomputes every checksum: a rewritten frame
// must still be valid.
func checksumsOK(t testing.TB, f []byte) {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	require.Nil(t, pkt.ErrorLayer(), "decode")
	re := make([]gopacket.SerializableLayer, 0, 4)
	for _, l := range pkt.Layers() {
		if sl, ok := l.(gopacket.SerializableLayer); ok {
			re = append(re, sl)
		}
	}
	if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		require.NoError(t, tcp.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
	}
	if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		require.NoError(t, udp.SetNetworkLayerForChecksum(pkt.NetworkLayer()))
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, re...))
	require.Equal(t, f, buf.Bytes(), "checksums after the rewrite differ from recomputed ones")
}

func TestModelEdge(t *testing.T) {
	p := loadExample(t, "edge.yaml")
	m := NewModel(p, outMAC, peerMAC)
	cases := []struct {
		name    string
		f       frameSpec
		verdict Verdict
		reason  Reason
		vip     int
	}{
		{"plain udp forwarded", frameSpec{src: "198.18.0.1", dst: "198.19.0.1", proto: "udp", sport: 1024, dport: 9, payload: 18}, VerdictForward, ReasonForward, -1},
		{"blocklisted source", frameSpec{src: "203.0.113.9", dst: "198.19.0.1", proto: "udp", sport: 1, dport: 9}, VerdictDrop, ReasonBlocklist, -1},
		{"blocklisted from file", frameSpec{src: "198.51.100.7", dst: "198.19.0.1", proto: "udp", sport: 1, dport: 9}, VerdictDrop, ReasonBlocklist, -1},
		{"blocklisted v6", frameSpec{src: "2001:db8:bad::1", dst: "2001:db8:19::1", proto: "udp", sport: 1, dport: 9}, VerdictDrop, ReasonBlocklist, -1},
		{"icmp echo", frameSpec{src: "198.18.0.1", dst: "198.19.0.1", proto: "icmp", icmpType: 8}, VerdictDrop, ReasonICMPEcho, -1},
		{"icmp echo reply passes", frameSpec{src: "198.18.0.1", dst: "198.19.0.1", proto: "icmp", icmpType: 0}, VerdictForward, ReasonForward, -1},
		{"icmpv6 echo", frameSpec{src: "2001:db8:18::1", dst: "2001:db8:19::1", proto: "icmp", icmpType: 128}, VerdictDrop, ReasonICMPEcho, -1},
		{"telnet", frameSpec{src: "198.18.0.1", dst: "198.19.0.1", proto: "tcp", sport: 5000, dport: 23, flags: "S"}, VerdictDrop, ReasonRule, -1},
		{"telnet in a vlan", frameSpec{src: "198.18.0.1", dst: "198.19.0.1", proto: "tcp", sport: 5000, dport: 23, flags: "S", vlan: 7}, VerdictDrop, ReasonRule, -1},
		{"udp to backends' low ports", frameSpec{src: "198.18.0.1", dst: "198.19.0.10", proto: "udp", sport: 5000, dport: 53}, VerdictDrop, ReasonRule, -1},
		{"v6 ssh", frameSpec{src: "2001:db8::5", dst: "2001:db8:19::1", proto: "tcp", sport: 5000, dport: 22, flags: "S"}, VerdictDrop, ReasonRule, -1},
		{"web syn to the VIP", frameSpec{src: "198.18.0.1", dst: "198.19.0.100", proto: "tcp", sport: 40000, dport: 80, flags: "S"}, VerdictForward, ReasonForward, 0},
		{"dns to the VIP", frameSpec{src: "198.18.0.1", dst: "198.19.0.100", proto: "udp", sport: 40000, dport: 53}, VerdictForward, ReasonForward, 1},
		{"v6 web to the VIP", frameSpec{src: "2001:db8:18::1", dst: "2001:db8:19::100", proto: "tcp", sport: 40000, dport: 80, flags: "S"}, VerdictForward, ReasonForward, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := build(t, c.f)
			keep := append([]byte(nil), in...)
			o := m.Process(in)
			require.Equal(t, keep, in, "Process changed its input")
			require.Equal(t, c.verdict, o.Verdict)
			require.Equal(t, c.reason, o.Reason)
			require.Equal(t, c.vip, o.VIP)
			if o.Verdict != VerdictForward {
				require.Nil(t, o.Frame)
				return
			}
			require.Equal(t, []byte(outMAC), o.Frame[6:12])
			checksumsOK(t, o.Frame)
			pkt := gopacket.NewPacket(o.Frame, layers.LayerTypeEthernet, gopacket.Default)
			if c.vip >= 0 {
				b := p.LB.VIPs[c.vip].Backends[o.Backend]
				require.Equal(t, []byte(b.MAC), o.Frame[0:6])
				require.Equal(t, b.Addr.AsSlice(), []byte(pkt.NetworkLayer().NetworkFlow().Dst().Raw()))
			} else {
				require.Equal(t, []byte(peerMAC), o.Frame[0:6])
			}
			if ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
				require.Equal(t, uint8(64), ip.TTL, "ttl: 64 rewrites the TTL")
			}
		})
	}
	require.Equal(t, uint64(2), m.C.Rules[1], "web-syn counts both SYNs to port 80 and goes on")
}

// TestModelConnTable changes a VIP's backends under established flows: with
// the connection table none of them moves; new flows spread over what is
// left.
func TestModelConnTable(t *testing.T) {
	p := loadExample(t, "edge.yaml")
	m := NewModel(p, outMAC, peerMAC)
	backendOf := map[uint16]int{}
	for port := uint16(1024); port < 1024+3000; port++ {
		o := m.Process(build(t, frameSpec{src: "198.18.0.1", dst: "198.19.0.100", proto: "tcp", sport: port, dport: 80, flags: "S"}))
		require.Equal(t, 0, o.VIP)
		backendOf[port] = o.Backend
	}
	// Backend 0 goes: weight 0 keeps its index.
	b := append([]Backend(nil), p.LB.VIPs[0].Backends...)
	b[0].Weight = 0
	m.SetBackends(0, b)
	for port, was := range backendOf {
		o := m.Process(build(t, frameSpec{src: "198.18.0.1", dst: "198.19.0.100", proto: "tcp", sport: port, dport: 80, flags: "A"}))
		require.Equal(t, was, o.Backend, "established flow from port %d moved", port)
	}
	for port := uint16(20000); port < 21000; port++ {
		o := m.Process(build(t, frameSpec{src: "198.18.0.1", dst: "198.19.0.100", proto: "tcp", sport: port, dport: 80, flags: "S"}))
		require.NotEqual(t, 0, o.Backend, "a new flow went to the removed backend")
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ yaml, want string }{
		{"firewall: {default: maybe}", `p.yaml:1: firewall.default: "maybe" is not allow or drop`},
		{"firewall:\n  rules:\n    - {proto: tcp, dst-ports: 99999, action: drop}", `p.yaml:3: firewall.rules[0].dst-ports: "99999" is not a port`},
		{"firewall:\n  rules:\n    - {proto: tcp}", "p.yaml:3: firewall.rules[0].action: is not set"},
		{"firewall:\n  rules:\n    - {proto: udp, tcp-flags: syn, action: drop}", "line 3: firewall.rules[0]: tcp-flags needs proto tcp"},
		{"firewall:\n  blocklist: [10.0.0.0/33]", `p.yaml:2: firewall.blocklist[0]: "10.0.0.0/33" is not an address or prefix`},
		{"fw: {}", "p.yaml:1: fw: unknown field"},
		{"lb:\n  vips:\n    - {address: 10.0.0.1, proto: tcp, port: 80, backends: [{address: 10.0.0.2}]}", "lb.vips[0].backends[0]: mac is not set"},
		{"lb:\n  vips:\n    - {address: 10.0.0.1, proto: icmp, port: 80}", `p.yaml:3: lb.vips[0].proto: "icmp" is not tcp or udp`},
		{"lb:\n  vips:\n    - {address: 10.0.0.1, proto: tcp, port: 80, mode: encap}", "is not rewrite (encap comes later)"},
		{"firewall:\n  blocklist-files: [nope.txt]", "p.yaml:2: firewall.blocklist-files[0]: open"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, "p.yaml")
		require.NoError(t, os.WriteFile(path, []byte(c.yaml), 0o644))
		_, err := Load(path)
		require.Error(t, err, c.yaml)
		require.Contains(t, strings.ReplaceAll(err.Error(), dir+"/", ""), c.want, c.yaml)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"edge.yaml", "fw-only.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "policies", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz.yaml", b)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy that Validate refuses: %v", err)
		}
		m := NewModel(p, outMAC, peerMAC)
		m.Process(make([]byte, 60))
	})
}
