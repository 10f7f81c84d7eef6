package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/dutlab/dutlab/internal/nsexec"
)

// This file is the throwaway side of the package: namespaces and veth pairs
// that tests, benchmarks and engine internals (the xdp-live dispatcher pin)
// create for a while and remove with Close. Labs from topologies use Up and
// Down; nothing outside this package creates a namespace or a veth.

// UniqueName returns prefix followed by 6 random hex characters.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// VethEnd is one end of a veth pair: its namespace (a name under
// /run/netns), its name and its MAC (nil: the kernel picks one; AddVeth
// fills in the MAC the end got).
type VethEnd struct {
	Netns string
	Name  string
	MAC   net.HardwareAddr
}

// AddVeth creates a veth pair with its ends directly in their namespaces
// (they may be the same one), sets both up unless down is set, and returns
// the ends with their MACs.
func AddVeth(a, b VethEnd, down ...bool) (VethEnd, VethEnd, error) {
	hA, err := netns.GetFromName(a.Netns)
	if err != nil {
		return a, b, fmt.Errorf("add veth %s: open netns %s: %w", a.Name, a.Netns, err)
	}
	defer hA.Close()
	hB, err := netns.GetFromName(b.Netns)
	if err != nil {
		return a, b, fmt.Errorf("add veth %s: open netns %s: %w", b.Name, b.Netns, err)
	}
	defer hB.Close()
	v := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: a.Name, HardwareAddr: a.MAC, Namespace: netlink.NsFd(hA)},
		PeerName:  b.Name, PeerHardwareAddr: b.MAC, PeerNamespace: netlink.NsFd(hB),
	}
	if err := netlink.LinkAdd(v); err != nil {
		return a, b, fmt.Errorf("add veth %s/%s - %s/%s: %w", a.Netns, a.Name, b.Netns, b.Name, err)
	}
	up := len(down) == 0 || !down[0]
	for _, end := range []*VethEnd{&a, &b} {
		err := nsexec.Do(end.Netns, func() error {
			l, err := netlink.LinkByName(end.Name)
			if err != nil {
				return err
			}
			end.MAC = l.Attrs().HardwareAddr
			if !up {
				return nil
			}
			return netlink.LinkSetUp(l)
		})
		if err != nil {
			return a, b, fmt.Errorf("set %s/%s up: %w", end.Netns, end.Name, err)
		}
	}
	return a, b, nil
}

// Throwaway is a set of namespaces (and the veths inside them) that Close
// removes; it is what tests and benchmarks build their labs from.
type Throwaway struct{ netns []string }

// Netns creates a namespace named prefix plus 6 random hex characters, with
// IPv6 off (no router solicitation, DAD or MLD frame disturbs a counter) and
// lo up, and returns its name.
func (t *Throwaway) Netns(prefix string) (string, error) {
	name := UniqueName(prefix)
	if err := CreateNetns(name, true); err != nil {
		return "", err
	}
	t.netns = append(t.netns, name)
	err := nsexec.Do(name, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		return "", fmt.Errorf("set lo up in %s: %w", name, err)
	}
	return name, nil
}

// Close deletes the namespaces, and with them their veths, XDP programs and
// nftables tables.
func (t *Throwaway) Close() error {
	var errs []error
	for _, name := range t.netns {
		errs = append(errs, DeleteNetns(name))
	}
	t.netns = nil
	return errors.Join(errs...)
}

// Loop is a generator's port looped onto itself: one namespace, one veth
// pair A <-> B.
type Loop struct {
	Throwaway
	Netns string
	A, B  VethEnd
}

// NewLoop creates a Loop in a namespace named prefix+random.
func NewLoop(prefix string) (*Loop, error) {
	l := &Loop{}
	var err error
	if l.Netns, err = l.Throwaway.Netns(prefix); err == nil {
		l.A, l.B, err = AddVeth(VethEnd{Netns: l.Netns, Name: "la"}, VethEnd{Netns: l.Netns, Name: "lb"})
	}
	if err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

// Through is the veth lab of the design on throwaway namespaces: the
// generator's G0 sends to the DUT's D0, the DUT forwards out of D1 to the
// generator's G1.
//
//	Gen: G0 ──veth── D0 :DUT: D1 ──veth── G1 :Gen
type Through struct {
	Throwaway
	Gen, DUT       string // namespaces
	G0, D0, D1, G1 VethEnd
}

// NewThrough creates a Through in two namespaces named prefix+random.
func NewThrough(prefix string) (*Through, error) {
	l := &Through{}
	err := l.build(prefix)
	if err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

func (l *Through) build(prefix string) error {
	var err error
	if l.Gen, err = l.Throwaway.Netns(prefix); err != nil {
		return err
	}
	if l.DUT, err = l.Throwaway.Netns(prefix); err != nil {
		return err
	}
	if l.G0, l.D0, err = AddVeth(VethEnd{Netns: l.Gen, Name: "g0"}, VethEnd{Netns: l.DUT, Name: "d0"}); err != nil {
		return err
	}
	l.D1, l.G1, err = AddVeth(VethEnd{Netns: l.DUT, Name: "d1"}, VethEnd{Netns: l.Gen, Name: "g1"})
	return err
}
