package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dutlab/dutlab/internal/nsexec"
)

// Netns creates a throwaway named network namespace, prefix followed by 6
// random hex characters, and returns its name. IPv6 is off in it (all and
// default disable_ipv6, so no router solicitation, DAD, ND or MLD frame
// disturbs a counter) and lo is up. The namespace is deleted when the test
// ends. A missing privilege skips the test (fails it in CI); any other
// error fails it.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	name := UniqueName(prefix)
	err := nsexec.Do("", func() error {
		h, err := netns.NewNamed(name) // switches only this throwaway thread
		if err != nil {
			return err
		}
		return h.Close()
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			SkipOrFail(t, fmt.Sprintf("create netns %s: %v", name, err))
		}
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	err = nsexec.Do(name, func() error {
		for _, p := range []string{"all", "default"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0)
			if err != nil && !errors.Is(err, os.ErrNotExist) { // no IPv6 in this kernel: nothing to turn off
				return err
			}
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("set up netns %s: %v", name, err)
	}
	return name
}

// Veth creates a veth pair with end a in namespace nsA and end b in nsB
// (both names as Netns returns them; they may be the same namespace) and
// sets both ends up. A nil MAC leaves the kernel's random one. The pair goes
// away with its namespaces. Any error fails the test.
func Veth(t testing.TB, nsA, a string, macA net.HardwareAddr, nsB, b string, macB net.HardwareAddr) {
	t.Helper()
	hA, err := netns.GetFromName(nsA)
	if err != nil {
		t.Fatalf("open netns %s: %v", nsA, err)
	}
	defer hA.Close()
	hB, err := netns.GetFromName(nsB)
	if err != nil {
		t.Fatalf("open netns %s: %v", nsB, err)
	}
	defer hB.Close()
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: a, HardwareAddr: macA, Namespace: netlink.NsFd(hA)},
		PeerName:  b, PeerHardwareAddr: macB, PeerNamespace: netlink.NsFd(hB),
	}
	// Both ends are created directly in their namespaces, so the calling
	// thread's namespace does not matter.
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s/%s - %s/%s: %v", nsA, a, nsB, b, err)
	}
	for _, end := range [][2]string{{nsA, a}, {nsB, b}} {
		err := nsexec.Do(end[0], func() error {
			l, err := netlink.LinkByName(end[1])
			if err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		})
		if err != nil {
			t.Fatalf("set %s/%s up: %v", end[0], end[1], err)
		}
	}
}
