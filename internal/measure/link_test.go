package measure

import (
	"encoding/binary"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/lab/labtest"
	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/dutlab/dutlab/internal/testenv"
)

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func TestLinkCounters(t *testing.T) {
	testenv.RequireRoot(t)
	ns := labtest.Netns(t, "dlm-")
	labtest.Veth(t, ns, "x0", nil, ns, "x1", nil)

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
