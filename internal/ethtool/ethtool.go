// Package ethtool reads and switches a device's generic receive offload (GRO)
// and TCP segmentation offload (TSO) through the SIOCETHTOOL ioctl, inside a
// network namespace. On veth GRO decides whether the device has a NAPI, and
// so whether frames that XDP redirects into it are delivered or silently
// dropped; TSO on the sending end decides whether an skb that is not a
// socket's (af_xdp's, af_packet's) goes through the peer's NAPI or is
// received on the sender's own CPU.
package ethtool

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/nsexec"
)

// ErrNotSupported is returned when the device refuses to change GRO.
var ErrNotSupported = errors.New("not supported")

// value is struct ethtool_value.
type value struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data set. The pointer is typed
// unsafe.Pointer so the garbage collector keeps the target alive.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [unsafe.Sizeof(unix.Ifreq{}) - unix.IFNAMSIZ - unsafe.Sizeof(unsafe.Pointer(nil))]byte
}

func ioctl(fd int, ifname string, v *value) error {
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return errno
	}
	return nil
}

// withSocket runs fn with a socket opened inside netns: the ioctl looks the
// interface up in the socket's namespace.
func withSocket(netns string, fn func(fd int) error) error {
	return nsexec.Do(netns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open socket: %w", err)
		}
		defer unix.Close(fd)
		return fn(fd)
	})
}

// feature is one legacy ethtool on/off feature.
type feature struct {
	name     string
	get, set uint32
}

var (
	gro = feature{"GRO", unix.ETHTOOL_GGRO, unix.ETHTOOL_SGRO}
	tso = feature{"TSO", unix.ETHTOOL_GTSO, unix.ETHTOOL_STSO}
)

func (f feature) read(fd int, ifname string) (bool, error) {
	v := value{cmd: f.get}
	if err := ioctl(fd, ifname, &v); err != nil {
		return false, fmt.Errorf("read %s: %w", f.name, err)
	}
	return v.data != 0, nil
}

// query reports whether f is on for ifname in netns.
func (f feature) query(netns, ifname string) (on bool, err error) {
	err = withSocket(netns, func(fd int) error {
		on, err = f.read(fd, ifname)
		return err
	})
	return on, err
}

// switchTo switches f on ifname in netns, checks that it took, and returns
// whether it was on before.
func (f feature) switchTo(netns, ifname string, on bool) (was bool, err error) {
	err = withSocket(netns, func(fd int) error {
		if was, err = f.read(fd, ifname); err != nil || was == on {
			return err
		}
		v := value{cmd: f.set}
		if on {
			v.data = 1
		}
		if err := ioctl(fd, ifname, &v); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			return err
		}
		now, err := f.read(fd, ifname)
		if err != nil {
			return err
		}
		if now != on {
			return fmt.Errorf("%w: stays %s", ErrNotSupported, onOff(now))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("turn %s %s on %s: %w", f.name, onOff(on), ifname, err)
	}
	return was, nil
}

// GRO reports whether GRO is on for ifname in netns.
func GRO(netns, ifname string) (bool, error) { return gro.query(netns, ifname) }

// SetGRO switches GRO on ifname in netns, checks that it took, and returns
// whether it was on before.
func SetGRO(netns, ifname string, on bool) (was bool, err error) {
	return gro.switchTo(netns, ifname, on)
}

// TSO reports whether TSO (all its kinds) is on for ifname in netns.
func TSO(netns, ifname string) (bool, error) { return tso.query(netns, ifname) }

// SetTSO switches TSO (all its kinds) on ifname in netns, checks that it
// took, and returns whether it was on before.
func SetTSO(netns, ifname string, on bool) (was bool, err error) {
	return tso.switchTo(netns, ifname, on)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
