package xdplive

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"

	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/nsexec"
)

// The dispatcher pin attaches every program to a veth end in a namespace of
// its own, and Close takes it all away again.
func TestDispatcherPin(t *testing.T) {
	requireBPF(t)
	p, err := generator.Compile(testStream(64, 1))
	if err != nil {
		t.Fatal(err)
	}
	var senders []*sender
	for i := range 3 {
		s, err := loadSender(p, i, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		senders = append(senders, s)
	}
	pin, err := pinPrograms([]*ebpf.Program{senders[0].objs.XdpGen, senders[1].objs.XdpGen, senders[2].objs.XdpGen})
	if err != nil {
		t.Fatal(err)
	}
	attached := map[string]bool{}
	err = nsexec.Do(pin.netns, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if x := l.Attrs().Xdp; x != nil && x.Attached {
				attached[l.Attrs().Name] = true
			}
			if l.Attrs().Flags&1 != 0 && l.Attrs().Name != "lo" { // IFF_UP
				t.Errorf("%s is up", l.Attrs().Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(attached) != 3 || !attached["pin0a"] || !attached["pin0b"] || !attached["pin1a"] {
		t.Errorf("programs attached to %v, want pin0a, pin0b, pin1a", attached)
	}
	if err := pin.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + pin.netns); !os.IsNotExist(err) {
		t.Errorf("netns %s still there after Close (%v)", pin.netns, err)
	}
}

// BenchmarkLiveRun is the cost of one live-frame test run by frame count,
// with the program pinned in the XDP dispatcher and without (the kernel then
// swaps it in and out and waits for RCU around every run of two or more
// frames; set rcu_expedited to see the difference shrink).
func BenchmarkLiveRun(b *testing.B) {
	lp := newLoop(b)
	snk, err := attachSink(lp.ns, lp.g1, 0, sinkConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer snk.Close()
	p, err := generator.Compile(testStream(64, 1))
	if err != nil {
		b.Fatal(err)
	}
	s, err := loadSender(p, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, pinned := range []bool{true, false} {
		var pin *dispatcherPin
		if pinned {
			if pin, err = pinPrograms([]*ebpf.Program{s.objs.XdpGen}); err != nil {
				b.Fatal(err)
			}
		}
		for _, n := range []uint32{1, 2, 64, 1024, 65536} {
			b.Run(fmt.Sprintf("pinned=%v/frames=%d", pinned, n), func(b *testing.B) {
				err := nsexec.Do(lp.ns, func() error {
					idx, err := resolveIfindex(lp.g0, 0)
					if err != nil {
						return err
					}
					for b.Loop() {
						if err := s.send(idx, n, DefaultBatchSize); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/frame")
			})
		}
		if pin != nil {
			if err := pin.Close(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
