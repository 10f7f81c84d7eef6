package xdp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/ethtool"
	"github.com/dutlab/dutlab/internal/lab/labtest"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
)

// vethLab is the end-to-end test's throwaway topology:
//
//	nsA: a0 ──veth── b0 :nsB: b1 ──veth── a1 :nsA
//
// Frames written to a0 reach the DUT on b0; what the DUT forwards out of b1
// arrives on a1.
type vethLab struct {
	nsA, nsB string
	mac      map[string]net.HardwareAddr
}

func newVethLab(t *testing.T) *vethLab {
	t.Helper()
	testenv.RequireRoot(t)
	// Netns turns IPv6 off: its ND/MLD chatter would cross the DUT too.
	l := &vethLab{
		nsA: labtest.Netns(t, "dlx"),
		nsB: labtest.Netns(t, "dlx"),
		mac: map[string]net.HardwareAddr{
			"a0": {0x02, 0xd1, 0, 0, 0xa, 0},
			"a1": {0x02, 0xd1, 0, 0, 0xa, 1},
			"b0": {0x02, 0xd1, 0, 0, 0xb, 0},
			"b1": {0x02, 0xd1, 0, 0, 0xb, 1},
		},
	}
	for _, pair := range [][2]string{{"a0", "b0"}, {"a1", "b1"}} {
		labtest.Veth(t, l.nsA, pair[0], l.mac[pair[0]], l.nsB, pair[1], l.mac[pair[1]])
	}
	return l
}

// xdpState reports whether an XDP program is attached to ifname in ns.
func xdpState(t *testing.T, ns, ifname string) bool {
	t.Helper()
	return xdpProgID(t, ns, ifname) != 0
}

// xdpProgID returns the id of the XDP program attached to ifname in ns, or 0.
func xdpProgID(t *testing.T, ns, ifname string) uint32 {
	t.Helper()
	var id uint32
	require.NoError(t, nsexec.Do(ns, func() error {
		lk, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		if x := lk.Attrs().Xdp; x != nil && x.Attached {
			id = x.ProgId
			if id == 0 {
				id = ^uint32(0) // attached, id unknown
			}
		}
		return nil
	}))
	return id
}

// groEnabled reads a device's GRO flag.
func groEnabled(t *testing.T, ns, ifname string) bool {
	t.Helper()
	on, err := ethtool.GRO(ns, ifname)
	require.NoError(t, err)
	return on
}

// setGRO turns a device's GRO on or off.
func setGRO(t *testing.T, ns, ifname string, on bool) {
	t.Helper()
	_, err := ethtool.SetGRO(ns, ifname, on)
	require.NoError(t, err)
}

// bpftoolNetClean reports whether `bpftool net show` in ns lists no XDP or
// TC program. It skips the check (returns true) when bpftool is missing.
func bpftoolNetClean(t *testing.T, ns string) bool {
	t.Helper()
	if _, err := exec.LookPath("bpftool"); err != nil {
		t.Log("bpftool not found; relying on netlink's view only")
		return true
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "bpftool", "-j", "net", "show").Output()
	require.NoError(t, err)
	var nets []struct {
		XDP []json.RawMessage `json:"xdp"`
		TC  []json.RawMessage `json:"tc"`
	}
	require.NoError(t, json.Unmarshal(out, &nets), "bpftool output %s", out)
	for _, n := range nets {
		if len(n.XDP)+len(n.TC) > 0 {
			t.Logf("bpftool net show in %s: %s", ns, out)
			return false
		}
	}
	return true
}

// packetSocket opens an AF_PACKET socket bound to ifname inside ns.
func packetSocket(t *testing.T, ns, ifname string) int {
	t.Helper()
	proto := int(htons(unix.ETH_P_ALL))
	var fd int
	require.NoError(t, nsexec.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind AF_PACKET to %s: %w", ifname, err)
		}
		// Room for every frame of a run, so the socket never drops.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}))
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// e2eMagic marks the test's frames, so no other traffic is counted.
var e2eMagic = []byte("dutlab-xdp-e2e")

// e2eFrame is one test frame a0 -> b0: UDP 198.18.0.1 -> 198.18.1.1 with
// the magic, a run id and a sequence number as payload.
func e2eFrame(t testing.TB, l *vethLab, run byte, seq uint32) []byte {
	payload := append(append([]byte{}, e2eMagic...), run, byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
	eth := &layers.Ethernet{SrcMAC: l.mac["a0"], DstMAC: l.mac["b0"], EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.IPv4(198, 18, 0, 1), DstIP: net.IPv4(198, 18, 1, 1)}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)))
	return buf.Bytes()
}

// sendAndCount writes n test frames into a0 and returns how many distinct
// ones arrived on a1 carrying the forwarder's MACs (b1 -> a1), and how many
// arrived with other MACs.
func sendAndCount(t *testing.T, l *vethLab, run byte, n int) (delivered, wrongMAC int) {
	t.Helper()
	rx := packetSocket(t, l.nsA, "a1")
	tx := packetSocket(t, l.nsA, "a0")
	for seq := range uint32(n) {
		_, err := unix.Write(tx, e2eFrame(t, l, run, seq))
		require.NoError(t, err)
		if seq%64 == 63 {
			time.Sleep(time.Millisecond) // stay well inside the veth rings
		}
	}
	seen := make(map[uint32]bool, n)
	buf := make([]byte, 2048)
	for idle := 0; idle < 3 && len(seen) < n; {
		m, from, err := unix.Recvfrom(rx, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			idle++
			continue
		}
		require.NoError(t, err)
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		f := buf[:m]
		pl := f[len(f)-len(e2eMagic)-5:]
		if m < 14+len(e2eMagic)+5 || string(pl[:len(e2eMagic)]) != string(e2eMagic) || pl[len(e2eMagic)] != run {
			continue
		}
		if string(f[0:6]) != string(l.mac["a1"]) || string(f[6:12]) != string(l.mac["b1"]) {
			wrongMAC++
			continue
		}
		p := pl[len(e2eMagic)+1:]
		seen[uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])] = true
	}
	return len(seen), wrongMAC
}
