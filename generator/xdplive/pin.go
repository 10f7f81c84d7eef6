package xdplive

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/nsexec"
)

// PinPrefix starts the name of the namespace a run's dispatcher pin lives
// in; `dutlab down --all` removes any lab.NetnsPrefix (dl-*) namespace a
// crashed run left.
const PinPrefix = lab.NetnsPrefix + "pin-"

// dispatcherPin keeps a run's xdp_gen programs in the kernel's XDP
// dispatcher for the run.
//
// Why: a live-frame test run with more than one frame swaps its program
// into the XDP dispatcher as it starts and out as it ends
// (bpf_prog_change_xdp), and each swap patches kernel text and waits for an
// RCU grace period: 24 ms per run measured on this VM (0.35 ms with
// rcu_expedited), whatever the frame count. A program the dispatcher already
// holds is only counted again, so a run of 64 frames then costs 14 us. The
// dispatcher holds every program attached in driver mode, so the pin
// attaches each program to one end of a veth pair that is never brought up,
// in a namespace of its own: no frame ever reaches them, and nothing the
// topology declares is touched. Deleting the namespace detaches them all.
type dispatcherPin struct {
	lab.Throwaway
	netns string
}

// pinPrograms attaches progs as described on dispatcherPin.
func pinPrograms(progs []*ebpf.Program) (*dispatcherPin, error) {
	p := &dispatcherPin{}
	var err error
	if p.netns, err = p.Throwaway.Netns(PinPrefix); err != nil {
		return nil, fmt.Errorf("dispatcher pin: %w", err)
	}
	for i := 0; i < len(progs) && err == nil; i += 2 {
		// Never brought up: no frame ever reaches the programs.
		a, b := lab.VethEnd{Netns: p.netns, Name: fmt.Sprintf("pin%da", i/2)}, lab.VethEnd{Netns: p.netns, Name: fmt.Sprintf("pin%db", i/2)}
		if _, _, err = lab.AddVeth(a, b, true); err != nil {
			break
		}
		err = nsexec.Do(p.netns, func() error {
			for k, name := range []string{a.Name, b.Name} {
				if i+k >= len(progs) {
					break
				}
				l, err := netlink.LinkByName(name)
				if err != nil {
					return err
				}
				if err := netlink.LinkSetXdpFdWithFlags(l, progs[i+k].FD(), nl.XDP_FLAGS_DRV_MODE); err != nil {
					return fmt.Errorf("attach xdp_gen to %s: %w", name, err)
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("dispatcher pin: %w", err), p.Close())
	}
	return p, nil
}

// Close deletes the pin's veths, which detaches the programs at once, and
// its namespace.
func (p *dispatcherPin) Close() error {
	err := nsexec.Do(p.netns, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		var errs []error
		for _, l := range links {
			// Deleting one end of a pair deletes both.
			if _, ok := l.(*netlink.Veth); ok && strings.HasSuffix(l.Attrs().Name, "a") {
				errs = append(errs, netlink.LinkDel(l))
			}
		}
		return errors.Join(errs...)
	})
	if err != nil {
		err = fmt.Errorf("dispatcher pin: delete veths in %s: %w", p.netns, err)
	}
	if derr := p.Throwaway.Close(); derr != nil {
		return errors.Join(err, fmt.Errorf("dispatcher pin: %w", derr))
	}
	return err
}

// String says where the programs are pinned, for the engine info.
func (p *dispatcherPin) String() string {
	return "pinned in netns " + p.netns
}
