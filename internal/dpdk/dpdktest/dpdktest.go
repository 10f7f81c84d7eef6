// Package dpdktest holds test helpers for dutlab's DPDK parts: building the
// dutlab-dpdk worker, and throwaway namespaces with veth pairs for tests and
// for the dpdk bench. It changes the host's network only inside namespaces it
// creates (unique names, removed by their Close); a lab from internal/lab is
// the way for anything that is not a throwaway.
package dpdktest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Worker builds cmd/dutlab-dpdk with -tags dpdk once per test binary and
// returns its path ($DUTLAB_DPDK, when set, is used instead).
func Worker(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DUTLAB_DPDK"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dutlab-dpdk-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "dutlab-dpdk")
		out, err := exec.Command("go", "build", "-tags", "dpdk", "-o", buildBin, "github.com/dutlab/dutlab/cmd/dutlab-dpdk").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build dutlab-dpdk: %w: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Iface is one end of a veth pair.
type Iface struct {
	Netns string // name under /run/netns
	Name  string
	MAC   net.HardwareAddr
}

// Namespaces are throwaway network namespaces; Close deletes them and with
// them every veth inside.
type Namespaces struct{ names []string }

// NewNamespaces creates n namespaces named prefix+random, with IPv6 off (no
// neighbour discovery noise on the wires).
func NewNamespaces(prefix string, n int) (*Namespaces, []string, error) {
	ns := &Namespaces{}
	for range n {
		name := testenv.UniqueName(prefix)
		err := nsexec.Do("", func() error {
			h, err := netns.NewNamed(name) // switches this throwaway thread
			if err != nil {
				return err
			}
			h.Close()
			_ = os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0)
			_ = os.WriteFile("/proc/sys/net/ipv6/conf/default/disable_ipv6", []byte("1"), 0)
			lo, err := netlink.LinkByName("lo")
			if err == nil {
				err = netlink.LinkSetUp(lo)
			}
			return err
		})
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("create netns %s: %w", name, err), ns.Close())
		}
		ns.names = append(ns.names, name)
	}
	return ns, append([]string(nil), ns.names...), nil
}

// Close deletes the namespaces.
func (n *Namespaces) Close() error {
	var errs []error
	for _, name := range n.names {
		if err := netns.DeleteNamed(name); err != nil {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", name, err))
		}
	}
	n.names = nil
	return errors.Join(errs...)
}

// Veth creates a veth pair a (in nsA) <-> b (in nsB), both up.
func Veth(nsA, a, nsB, b string) (Iface, Iface, error) {
	ia, ib := Iface{Netns: nsA, Name: a}, Iface{Netns: nsB, Name: b}
	hb, err := netns.GetFromName(nsB)
	if err != nil {
		return ia, ib, fmt.Errorf("open netns %s: %w", nsB, err)
	}
	defer hb.Close()
	err = nsexec.Do(nsA, func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b, PeerNamespace: netlink.NsFd(hb)}
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("add veth %s-%s: %w", a, b, err)
		}
		l, err := netlink.LinkByName(a)
		if err != nil {
			return err
		}
		ia.MAC = l.Attrs().HardwareAddr
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		return ia, ib, err
	}
	err = nsexec.Do(nsB, func() error {
		l, err := netlink.LinkByName(b)
		if err != nil {
			return err
		}
		ib.MAC = l.Attrs().HardwareAddr
		return netlink.LinkSetUp(l)
	})
	return ia, ib, err
}

// Lab is the veth lab of the design on throwaway namespaces:
//
//	Gen: G0 ──veth── D0 :Dut: D1 ──veth── G1 :Gen
type Lab struct {
	Gen, Dut       string
	G0, D0, D1, G1 Iface
	ns             *Namespaces
}

// NewLab creates the lab; Close removes it.
func NewLab() (*Lab, error) {
	ns, names, err := NewNamespaces("dlt-", 2)
	if err != nil {
		return nil, err
	}
	l := &Lab{Gen: names[0], Dut: names[1], ns: ns}
	if l.G0, l.D0, err = Veth(l.Gen, "g0", l.Dut, "d0"); err == nil {
		l.D1, l.G1, err = Veth(l.Dut, "d1", l.Gen, "g1")
	}
	if err != nil {
		return nil, errors.Join(err, ns.Close())
	}
	return l, nil
}

// Close deletes the lab's namespaces.
func (l *Lab) Close() error { return l.ns.Close() }

// RequireLab skips (fails in CI) without root, else builds a lab removed at
// the end of the test.
func RequireLab(t testing.TB) *Lab {
	t.Helper()
	testenv.RequireRoot(t)
	l, err := NewLab()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// Cores returns the CPUs tests pin to: the generator on the first and the
// DUT (or the measured lcore) on the second, when there are two.
func Cores() (gen, dut int) {
	if runtime.NumCPU() > 1 {
		return 0, 1
	}
	return 0, 0
}
