package generator

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
)

func progTestStream(proto string, ipv int, vlan uint16, latency bool) Stream {
	s := Stream{Name: "p", Proto: proto, VLAN: vlan, SrcMAC: frTestSrcMAC, DstMAC: frTestDstMAC,
		SrcPort: 1024, DstPort: 2000, FrameSize: 128, Latency: latency}
	if ipv == 6 {
		s.Src, s.Dst = netip.MustParseAddr("2001:2::fffe"), netip.MustParseAddr("2001:2:0:1::1")
	} else {
		s.Src, s.Dst = netip.MustParseAddr("198.18.0.254"), netip.MustParseAddr("198.19.0.1")
	}
	return s
}

// tuple decodes the fields a program varies from a frame.
func progTuple(t *testing.T, frame []byte) (src, dst netip.Addr, sport, dport uint16) {
	t.Helper()
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
	default:
		t.Fatalf("no IP layer in %x", frame)
	}
	switch l4 := pkt.TransportLayer().(type) {
	case *layers.UDP:
		sport, dport = uint16(l4.SrcPort), uint16(l4.DstPort)
	case *layers.TCP:
		sport, dport = uint16(l4.SrcPort), uint16(l4.DstPort)
	default:
		if e, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			sport = e.Id
		} else if e, ok := pkt.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
			sport = e.Identifier
		} else {
			t.Fatalf("no L4 layer in %x", frame)
		}
	}
	return src, dst, sport, dport
}

func addrPlus(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

// TestProgramApply compiles every proto x family x VLAN x variation, applies
// it to frames starting from garbage and checks that gopacket decodes the
// fields the odometer predicts with every checksum right.
func TestProgramApply(t *testing.T) {
	for _, proto := range protos {
		for _, ipv := range []int{4, 6} {
			for _, vlan := range []uint16{0, 42} {
				for _, random := range []bool{false, true} {
					name := fmt.Sprintf("%s/ipv%d/vlan%d/random=%v", proto, ipv, vlan, random)
					t.Run(name, func(t *testing.T) {
						s := progTestStream(proto, ipv, vlan, false)
						s.SrcIPs, s.Flows, s.DstIPs = 3, 5, 2
						if proto != ProtoICMPEcho {
							s.DstPorts = 4
						}
						s.SrcRandom, s.DstRandom = random, random
						p, err := Compile(s)
						require.NoError(t, err)
						wantFlows := uint64(3 * 5 * 2 * max(s.DstPorts, 1))
						if random {
							wantFlows = 1
						}
						require.Equal(t, wantFlows, p.Flows)
						rng := rand.New(rand.NewPCG(1, 2))
						seen := map[string]bool{}
						for seq := range uint64(200) {
							frame := make([]byte, len(p.Frame))
							for i := range p.CopyLen {
								frame[i] = 0xa5
							}
							copy(frame[p.CopyLen:], p.Frame[p.CopyLen:])
							p.Apply(frame, seq, 7, 1e9+seq, rng.Uint32)
							require.NoError(t, VerifyFrame(frame), "seq %d", seq)
							src, dst, sport, dport := progTuple(t, frame)
							if !random {
								// The last field turns fastest.
								dp := int(seq % uint64(max(s.DstPorts, 1)))
								rest := seq / uint64(max(s.DstPorts, 1))
								di := int(rest % 2)
								rest /= 2
								sp := int(rest % 5)
								si := int(rest / 5 % 3)
								require.Equal(t, addrPlus(s.Src, si), src, "seq %d src", seq)
								require.Equal(t, addrPlus(s.Dst, di), dst, "seq %d dst", seq)
								require.Equal(t, s.SrcPort+uint16(sp), sport, "seq %d sport", seq)
								if s.DstPorts > 0 {
									require.Equal(t, s.DstPort+uint16(dp), dport, "seq %d dport", seq)
								}
							}
							seen[fmt.Sprint(src, dst, sport, dport)] = true
						}
						// Increment covers every combination in 200 frames;
						// random draws most of them.
						require.GreaterOrEqual(t, len(seen), int(3*5*2*max(s.DstPorts, 1))*3/4)
					})
				}
			}
		}
	}
}

func TestProgramProbe(t *testing.T) {
	for _, ipv := range []int{4, 6} {
		s := progTestStream(ProtoUDP, ipv, 0, true)
		s.Flows = 3
		p, err := Compile(s)
		require.NoError(t, err)
		require.Positive(t, p.Probe)
		frame := make([]byte, len(p.Frame))
		copy(frame, p.Frame)
		p.Apply(frame, 0x1_0000_0005, 9, 0x0102030405060708, nil)
		require.NoError(t, VerifyFrame(frame))
		pr := frame[p.Probe:]
		be := binary.BigEndian
		require.Equal(t, ProbeSignature, be.Uint32(pr[ProbeSigOff:]))
		require.Equal(t, uint16(9), be.Uint16(pr[ProbeStreamOff:]))
		require.Equal(t, uint32(5), be.Uint32(pr[ProbeSeqOff:]))
		require.Equal(t, uint64(0x0102030405060708), be.Uint64(pr[ProbeTimestampOff:]))
		// VerifyFrame notices a wrong checksum at either layer.
		for _, off := range []int{p.L3Checksum, p.L4Checksum} {
			if off < 0 {
				continue
			}
			bad := append([]byte(nil), frame...)
			bad[off] ^= 1
			require.Error(t, VerifyFrame(bad), "checksum at %d flipped", off)
		}
	}

	// UDP traffic carries the probe when it fits; TCP never does.
	p, err := Compile(progTestStream(ProtoUDP, 4, 0, false))
	require.NoError(t, err)
	require.Positive(t, p.Probe)
	tcp := progTestStream(ProtoTCPSYN, 4, 0, false)
	p, err = Compile(tcp)
	require.NoError(t, err)
	require.Equal(t, -1, p.Probe)
	require.Equal(t, 14+20+20, p.CopyLen)
	tcp.Latency = true
	_, err = Compile(tcp)
	require.ErrorContains(t, err, "latency streams are udp")
}

func TestCompileRejects(t *testing.T) {
	s := progTestStream(ProtoUDP, 4, 0, false)
	s.SrcPort, s.Flows = 65000, 1000
	_, err := Compile(s)
	require.ErrorContains(t, err, "src-port 65000+1000 runs past 65535")

	s = progTestStream(ProtoUDP, 4, 0, false)
	s.SrcPort, s.DstPort = 1, 1
	s.SrcIPs, s.DstIPs, s.Flows, s.DstPorts = 65535, 65535, 65535, 2
	_, err = Compile(s)
	require.ErrorIs(t, err, ErrTooManyFlows)

	s = progTestStream(ProtoICMPEcho, 4, 0, false)
	s.DstPorts = 2
	_, err = Compile(s)
	require.ErrorContains(t, err, "no destination port to vary")
}

func TestStreamCovers(t *testing.T) {
	s := progTestStream(ProtoUDP, 4, 0, false)
	s.SrcIPs, s.DstIPs = 4, 1 // 198.18.0.254 .. 198.18.1.1
	require.Equal(t, "src.ip", s.Covers(netip.MustParseAddr("198.18.1.1")))
	require.Equal(t, "", s.Covers(netip.MustParseAddr("198.18.1.2")))
	require.Equal(t, "", s.Covers(netip.MustParseAddr("198.18.0.253")))
	require.Equal(t, "dst.ip", s.Covers(netip.MustParseAddr("198.19.0.1")))
	require.Equal(t, "", s.Covers(netip.MustParseAddr("2001:2::1")))
}
