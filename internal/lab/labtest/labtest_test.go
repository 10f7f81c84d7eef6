package labtest_test

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/lab/labtest"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
)

// linkIn returns ifname's attributes inside ns.
func linkIn(t *testing.T, ns, ifname string) *netlink.LinkAttrs {
	t.Helper()
	var a *netlink.LinkAttrs
	err := nsexec.Do(ns, func() error {
		l, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		a = l.Attrs()
		return nil
	})
	if err != nil {
		t.Fatalf("%s in %s: %v", ifname, ns, err)
	}
	return a
}

func TestNetnsVeth(t *testing.T) {
	testenv.RequireRoot(t)
	var nsA, nsB string
	t.Run("lab", func(t *testing.T) {
		nsA, nsB = labtest.Netns(t, "dlt-"), labtest.Netns(t, "dlt-")
		if !strings.HasPrefix(nsA, "dlt-") || nsA == nsB {
			t.Fatalf("names %q, %q", nsA, nsB)
		}
		for _, ns := range []string{nsA, nsB} {
			err := nsexec.Do(ns, func() error {
				for _, p := range []string{"all", "default"} {
					b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + p + "/disable_ipv6")
					if os.IsNotExist(err) {
						continue
					}
					if err != nil {
						return err
					}
					if strings.TrimSpace(string(b)) != "1" {
						t.Errorf("%s: %s disable_ipv6 is %s", ns, p, b)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if lo := linkIn(t, ns, "lo"); lo.Flags&net.FlagUp == 0 {
				t.Errorf("%s: lo is down", ns)
			}
		}

		macA := net.HardwareAddr{0x02, 0xd1, 0, 0, 0xe, 0}
		macB := net.HardwareAddr{0x02, 0xd1, 0, 0, 0xe, 1}
		labtest.Veth(t, nsA, "t0", macA, nsB, "t1", macB)
		labtest.Veth(t, nsA, "t2", nil, nsA, "t3", nil)
		for _, c := range []struct {
			ns, name string
			mac      net.HardwareAddr
		}{{nsA, "t0", macA}, {nsB, "t1", macB}, {nsA, "t2", nil}, {nsA, "t3", nil}} {
			a := linkIn(t, c.ns, c.name)
			if a.Flags&net.FlagUp == 0 {
				t.Errorf("%s/%s is down", c.ns, c.name)
			}
			if c.mac != nil && a.HardwareAddr.String() != c.mac.String() {
				t.Errorf("%s/%s has MAC %s, want %s", c.ns, c.name, a.HardwareAddr, c.mac)
			}
		}
		// Only t0 and t2 went to nsA, only t1 to nsB.
		if err := nsexec.Do(nsB, func() error {
			_, err := netlink.LinkByName("t0")
			return err
		}); err == nil {
			t.Errorf("t0 is also in %s", nsB)
		}
	})
	for _, ns := range []string{nsA, nsB} {
		if ns == "" {
			continue
		}
		if _, err := os.Stat(nsexec.Path(ns)); !os.IsNotExist(err) {
			t.Errorf("netns %s left behind (stat: %v)", ns, err)
		}
	}
}

// TestLoopThrough builds both throwaway labs and checks their wiring, then
// that Close leaves nothing behind.
func TestLoopThrough(t *testing.T) {
	testenv.RequireRoot(t)
	loop, err := lab.NewLoop("dlt-")
	if err != nil {
		t.Fatal(err)
	}
	if a := linkIn(t, loop.Netns, loop.B.Name); a.Flags&net.FlagUp == 0 || a.HardwareAddr.String() != loop.B.MAC.String() {
		t.Errorf("loop end %s: flags %v, MAC %s; want up with MAC %s", loop.B.Name, a.Flags, a.HardwareAddr, loop.B.MAC)
	}
	th, err := lab.NewThrough("dlt-")
	if err != nil {
		t.Fatal(errors.Join(err, loop.Close()))
	}
	for _, e := range []lab.VethEnd{th.G0, th.G1} {
		if e.Netns != th.Gen || linkIn(t, e.Netns, e.Name).Flags&net.FlagUp == 0 {
			t.Errorf("generator end %+v is not up in %s", e, th.Gen)
		}
	}
	for _, e := range []lab.VethEnd{th.D0, th.D1} {
		if e.Netns != th.DUT || linkIn(t, e.Netns, e.Name).Flags&net.FlagUp == 0 {
			t.Errorf("DUT end %+v is not up in %s", e, th.DUT)
		}
	}
	if err := errors.Join(loop.Close(), th.Close()); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{loop.Netns, th.Gen, th.DUT} {
		if _, err := os.Stat(nsexec.Path(ns)); !os.IsNotExist(err) {
			t.Errorf("netns %s left behind (stat: %v)", ns, err)
		}
	}
}
