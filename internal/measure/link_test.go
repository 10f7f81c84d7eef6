package measure

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNetns creates a throwaway named namespace with IPv6 off (so no router
// solicitations or DAD frames disturb the counters) and removes it on cleanup.
func newNetns(t *testing.T) string {
	t.Helper()
	name := testenv.UniqueName("dlm-")
	err := nsexec.Do("", func() error {
		h, err := netns.NewNamed(name) // switches this throwaway thread only
		if err != nil {
			return err
		}
		return h.Close()
	})
	if err != nil {
		testenv.SkipOrFail(t, "create netns: "+err.Error())
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	err = nsexec.Do(name, func() error {
		for _, p := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
			if err := os.WriteFile(p, []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func TestLinkCounters(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNetns(t)

	err := nsexec.Do(ns, func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "x0"}, PeerName: "x1"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		for _, n := range []string{"x0", "x1"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create veth: %v", err)
	}

	before0, err := LinkCounters(ns, "x0")
	if err != nil {
		t.Fatal(err)
	}
	before1, err := LinkCounters(ns, "x1")
	if err != nil {
		t.Fatal(err)
	}

	const frames, size = 10, 60
	err = nsexec.Do(ns, func() error {
		l, err := netlink.LinkByName("x0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: l.Attrs().Index, Protocol: htons(unix.ETH_P_ALL)}); err != nil {
			return err
		}
		frame := make([]byte, size)
		copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5}) // local experimental ethertype
		for i := 0; i < frames; i++ {
			if _, err := unix.Write(fd, frame); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send frames: %v", err)
	}

	after0, err := LinkCounters(ns, "x0")
	if err != nil {
		t.Fatal(err)
	}
	after1, err := LinkCounters(ns, "x1")
	if err != nil {
		t.Fatal(err)
	}
	tx, rx := after0.Sub(before0), after1.Sub(before1)
	if tx.TxPackets != frames || tx.TxBytes != frames*size {
		t.Errorf("x0 sent %+v, want %d packets, %d bytes", tx, frames, frames*size)
	}
	if rx.RxPackets != frames || rx.RxBytes != frames*size {
		t.Errorf("x1 received %+v, want %d packets, %d bytes", rx, frames, frames*size)
	}

	if _, err := LinkCounters(ns, "nosuch0"); err == nil {
		t.Error("no error for a missing interface")
	}
}
