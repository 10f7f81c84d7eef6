package kernel

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/internal/ethtool"
	"github.com/dutlab/dutlab/internal/lab/labtest"
	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
)

func TestRegistered(t *testing.T) {
	d, err := dut.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "kernel" {
		t.Fatalf("got %q", d.Name())
	}
}

func TestPeerPrefix(t *testing.T) {
	tests := []struct {
		name string
		port dut.Port
		want string
	}{
		{"own prefix", dut.Port{Addr: netip.MustParsePrefix("198.18.11.2/24")}, "198.18.11.0/24"},
		{"peer only", dut.Port{PeerAddr: netip.MustParseAddr("198.18.11.1")}, "198.18.11.1/32"},
		{"peer only v6", dut.Port{PeerAddr: netip.MustParseAddr("2001:db8::1")}, "2001:db8::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := peerPrefix(tt.port)
			if err != nil || got.String() != tt.want {
				t.Fatalf("got %v, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := peerPrefix(dut.Port{Name: "b1"}); err == nil {
		t.Fatal("no error for a port without addresses")
	}
}

// Addresses of the two-namespace lab: nsA a0 -- b0 nsB b1 -- a1 nsA.
var (
	addrA0 = netip.MustParsePrefix("198.18.10.1/24")
	addrB0 = netip.MustParsePrefix("198.18.10.2/24")
	addrB1 = netip.MustParsePrefix("198.18.11.2/24")
	addrA1 = netip.MustParsePrefix("198.18.11.1/24")
)

type lab struct {
	nsA, nsB string
	env      dut.Env
	a0       *net.Interface
}

func writeSysctl(t *testing.T, ns, path, value string) {
	t.Helper()
	err := nsexec.Do(ns, func() error {
		err := os.WriteFile(path, []byte(value), 0)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readSysctl(t *testing.T, ns, path string) string {
	t.Helper()
	var v string
	err := nsexec.Do(ns, func() error {
		b, err := os.ReadFile(path)
		v = strings.TrimSpace(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func addr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}

// newLab builds nsA (a0, a1) and nsB (b0, b1) with veths a0-b0 and b1-a1,
// addresses, and static neighbours in nsB so nothing needs ARP. With
// outAddr false, b1 gets no address, so Attach has to add the route.
func newLab(t *testing.T, outAddr bool) *lab {
	t.Helper()
	l := &lab{nsA: labtest.Netns(t, "dlkA-"), nsB: labtest.Netns(t, "dlkB-")}
	// Start from forwarding off, so restoring it is visible.
	writeSysctl(t, l.nsB, ipv4Forward, "0")
	labtest.Veth(t, l.nsA, "a0", nil, l.nsB, "b0", nil)
	labtest.Veth(t, l.nsA, "a1", nil, l.nsB, "b1", nil)

	err := nsexec.Do(l.nsA, func() error {
		return configure(map[string]netip.Prefix{"a0": addrA0, "a1": addrA1})
	})
	if err != nil {
		t.Fatalf("set up nsA: %v", err)
	}
	var a0, a1 *net.Interface
	err = nsexec.Do(l.nsA, func() error {
		if a0, err = net.InterfaceByName("a0"); err != nil {
			return err
		}
		a1, err = net.InterfaceByName("a1")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	l.a0 = a0

	var b0, b1 *net.Interface
	err = nsexec.Do(l.nsB, func() error {
		links := map[string]netip.Prefix{"b0": addrB0, "b1": {}}
		if outAddr {
			links["b1"] = addrB1
		}
		if err := configure(links); err != nil {
			return err
		}
		if b0, err = net.InterfaceByName("b0"); err != nil {
			return err
		}
		if b1, err = net.InterfaceByName("b1"); err != nil {
			return err
		}
		for _, n := range []netlink.Neigh{
			{LinkIndex: b0.Index, IP: addrA0.Addr().AsSlice(), HardwareAddr: a0.HardwareAddr},
			{LinkIndex: b1.Index, IP: addrA1.Addr().AsSlice(), HardwareAddr: a1.HardwareAddr},
		} {
			n.State = netlink.NUD_PERMANENT
			n.Family = netlink.FAMILY_V4
			if err := netlink.NeighAdd(&n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("set up nsB: %v", err)
	}

	l.env = dut.Env{
		Netns: l.nsB,
		In:    dut.Port{Name: "b0", Ifindex: b0.Index, MAC: b0.HardwareAddr, Addr: addrB0, PeerMAC: a0.HardwareAddr, PeerAddr: addrA0.Addr()},
		Out:   dut.Port{Name: "b1", Ifindex: b1.Index, MAC: b1.HardwareAddr, Addr: addrB1, PeerMAC: a1.HardwareAddr, PeerAddr: addrA1.Addr()},
		Cores: []int{1},
	}
	return l
}

// configure sets each link up with its address (if any), in the calling
// thread's namespace.
func configure(links map[string]netip.Prefix) error {
	for name, p := range links {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if p.IsValid() {
			if err := netlink.AddrAdd(link, addr(p)); err != nil {
				return err
			}
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return err
		}
	}
	return nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// send writes n UDP frames a0 -> b0 (addressed to a1) with an AF_PACKET
// socket in nsA, pausing now and then so no queue on the way overflows.
func (l *lab) send(t *testing.T, n int) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: l.a0.HardwareAddr, DstMAC: l.env.In.MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{
		Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: addrA0.Addr().AsSlice(), DstIP: addrA1.Addr().AsSlice(),
	}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(make([]byte, 18))); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()

	err := nsexec.Do(l.nsA, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: l.a0.Index, Protocol: htons(unix.ETH_P_IP)}); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if _, err := unix.Write(fd, frame); err != nil {
				return err
			}
			// Small bursts: b0's veth ring holds 256 frames and its NAPI
			// may wait for a busy core.
			if i%32 == 31 {
				time.Sleep(time.Millisecond)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send frames from a0: %v", err)
	}
}

// waitRx waits until a1 has received want frames more than before.
func (l *lab) waitRx(t *testing.T, before measure.Counters, want uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := measure.LinkCounters(l.nsA, "a1")
		if err != nil {
			t.Fatal(err)
		}
		got := c.Sub(before).RxPackets
		if got >= want || time.Now().After(deadline) {
			time.Sleep(50 * time.Millisecond) // let stragglers show up too
			c, err = measure.LinkCounters(l.nsA, "a1")
			if err != nil {
				t.Fatal(err)
			}
			return c.Sub(before).RxPackets
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func groOn(t *testing.T, ns, ifname string) bool {
	t.Helper()
	on, err := ethtool.GRO(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	return on
}

func tableExists(t *testing.T, ns string) bool {
	t.Helper()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == TableName {
			return true
		}
	}
	return false
}

func hasRoute(t *testing.T, ns string, dst netip.Prefix) bool {
	t.Helper()
	var found bool
	err := nsexec.Do(ns, func() error {
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.String() == dst.String() {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestForward(t *testing.T) {
	testenv.RequireRoot(t)
	tests := []struct {
		name    string
		outAddr bool // b1 has its address, so its connected route exists
	}{
		{"connected route", true},
		{"route added", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, tt.outAddr)
			hostForward := readSysctl(t, "", ipv4Forward)

			run, err := Datapath{}.Attach(context.Background(), l.env)
			testenv.SkipIfNotSupported(t, err, dut.ErrNotSupported)
			closed := false
			t.Cleanup(func() {
				if !closed {
					run.Close()
				}
			})

			// The sysctl is per namespace: nsB changed, the host did not.
			if got := readSysctl(t, l.nsB, ipv4Forward); got != "1" {
				t.Errorf("ip_forward in nsB is %s after Attach", got)
			}
			if got := readSysctl(t, "", ipv4Forward); got != hostForward {
				t.Errorf("host ip_forward changed from %s to %s", hostForward, got)
			}
			if !groOn(t, l.nsB, "b0") {
				t.Error("GRO is off on b0 after Attach")
			}
			info := run.Info()
			for k, v := range map[string]string{"ip_forward": "1", "nftables_table": "inet dutlab", "gro_in": "on"} {
				if info[k] != v {
					t.Errorf("Info()[%q] = %q, want %q", k, info[k], v)
				}
			}
			if _, added := info["route_added"]; added == tt.outAddr {
				t.Errorf("Info() = %v: route_added present %v, want %v", info, added, !tt.outAddr)
			}

			const frames = 1000
			before, err := measure.LinkCounters(l.nsA, "a1")
			if err != nil {
				t.Fatal(err)
			}
			l.send(t, frames)
			if got := l.waitRx(t, before, frames); got != frames {
				t.Errorf("a1 received %d frames, want %d", got, frames)
			}

			c, err := run.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if want := (dut.Counters{RxPackets: frames, TxPackets: frames}); c != want {
				t.Errorf("Counters() = %+v, want %+v", c, want)
			}
			fwd, err := run.(*running).forwarded()
			if err != nil {
				t.Fatal(err)
			}
			if fwd != frames {
				t.Errorf("nftables forward counter = %d, want %d", fwd, frames)
			}

			if err := run.Close(); err != nil {
				t.Fatal(err)
			}
			closed = true
			if err := run.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if tableExists(t, l.nsB) {
				t.Error("table inet dutlab still exists after Close")
			}
			if got := readSysctl(t, l.nsB, ipv4Forward); got != "0" {
				t.Errorf("ip_forward in nsB is %s after Close, want 0", got)
			}
			if groOn(t, l.nsB, "b0") {
				t.Error("GRO still on on b0 after Close")
			}
			if !tt.outAddr && hasRoute(t, l.nsB, addrB1.Masked()) {
				t.Error("added route still there after Close")
			}
		})
	}
}

// TestAttachUndoesOnError has Attach fail at its last step (the table exists
// already) and checks that the earlier steps were reverted.
func TestAttachUndoesOnError(t *testing.T) {
	testenv.RequireRoot(t)
	l := newLab(t, false)

	h, err := netns.GetFromName(l.nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(h)))
	if err != nil {
		t.Fatal(err)
	}
	c.AddTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	run, err := Datapath{}.Attach(context.Background(), l.env)
	if err == nil {
		run.Close()
		t.Fatal("Attach succeeded over an existing table")
	}
	if !strings.Contains(err.Error(), "already exists") {
		t.Errorf("unexpected error: %v", err)
	}
	if !tableExists(t, l.nsB) {
		t.Error("Attach deleted a table it did not create")
	}
	if got := readSysctl(t, l.nsB, ipv4Forward); got != "0" {
		t.Errorf("ip_forward is %s after a failed Attach, want 0", got)
	}
	if groOn(t, l.nsB, "b0") {
		t.Error("GRO left on after a failed Attach")
	}
	if hasRoute(t, l.nsB, addrB1.Masked()) {
		t.Error("route left behind after a failed Attach")
	}
}

func TestAttachCanceled(t *testing.T) {
	testenv.RequireRoot(t)
	l := newLab(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Datapath{}).Attach(ctx, l.env); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := readSysctl(t, l.nsB, ipv4Forward); got != "0" {
		t.Errorf("ip_forward is %s after a canceled Attach", got)
	}
}
