package xdplive

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/testenv"
)

var (
	macG0 = net.HardwareAddr{0x02, 0xd1, 0, 0, 0, 0x01}
	macG1 = net.HardwareAddr{0x02, 0xd1, 0, 0, 0, 0x02}
)

func testStream(size, flows int) generator.Stream {
	return generator.Stream{
		Name:   "test",
		SrcMAC: macG0, DstMAC: macG1,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"),
		SrcPort: 10000, DstPort: 9, Flows: flows, FrameSize: size,
	}
}

func testStream6(size, flows int) generator.Stream {
	s := testStream(size, flows)
	s.Src, s.Dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	return s
}

// udpChecksumOK checks the UDP checksum of an untagged frame laid out like
// tp against its pseudo-header: a correct one sums to 0xffff.
func udpChecksumOK(tp generator.Template, f []byte) bool {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(f[tp.IPSrcOff:tp.UDPOff])
	sum += uint32(len(f)-tp.UDPOff) + 17
	add(f[tp.UDPOff:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

func requireBPF(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
}
