// Package ethtool reads and switches a device's generic receive offload (GRO)
// through the SIOCETHTOOL ioctl, inside a network namespace. On veth GRO
// decides whether the device has a NAPI, and so whether frames that XDP
// redirects into it are delivered or silently dropped.
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

func getGRO(fd int, ifname string) (bool, error) {
	v := value{cmd: unix.ETHTOOL_GGRO}
	if err := ioctl(fd, ifname, &v); err != nil {
		return false, fmt.Errorf("ETHTOOL_GGRO: %w", err)
	}
	return v.data != 0, nil
}

// GRO reports whether GRO is on for ifname in netns.
func GRO(netns, ifname string) (on bool, err error) {
	err = withSocket(netns, func(fd int) error {
		on, err = getGRO(fd, ifname)
		return err
	})
	return on, err
}

// SetGRO switches GRO on ifname in netns, checks that it took, and returns
// whether it was on before.
func SetGRO(netns, ifname string, on bool) (was bool, err error) {
	err = withSocket(netns, func(fd int) error {
		if was, err = getGRO(fd, ifname); err != nil || was == on {
			return err
		}
		v := value{cmd: unix.ETHTOOL_SGRO}
		if on {
			v.data = 1
		}
		if err := ioctl(fd, ifname, &v); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", ErrNotSupported, err)
			}
			return fmt.Errorf("ETHTOOL_SGRO: %w", err)
		}
		now, err := getGRO(fd, ifname)
		if err != nil {
			return err
		}
		if now != on {
			return fmt.Errorf("%w: GRO stays %s", ErrNotSupported, onOff(now))
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("turn GRO %s on %s: %w", onOff(on), ifname, err)
	}
	return was, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
