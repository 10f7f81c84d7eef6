package kernel

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/dutlab/dutlab/dut"
	"github.com/dutlab/dutlab/internal/nsexec"
	"golang.org/x/sys/unix"
)

// ethtool commands from linux/ethtool.h that x/sys/unix does not name.
const (
	ethtoolGGRO = 0x2b
	ethtoolSGRO = 0x2c
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
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

func ethtool(fd int, ifname string, v *ethtoolValue) error {
	var ifr ifreqData
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	if errno != 0 {
		return errno
	}
	return nil
}

// setGRO switches generic receive offload on ifname (inside netns) on or off
// through the SIOCETHTOOL ioctl, checks the result, and returns whether GRO
// was on before. The socket is opened inside the namespace because the ioctl
// looks the interface up in the socket's namespace.
func setGRO(netns, ifname string, on bool) (was bool, err error) {
	err = nsexec.Do(netns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open socket: %w", err)
		}
		defer unix.Close(fd)
		get := func() (bool, error) {
			v := ethtoolValue{cmd: ethtoolGGRO}
			if err := ethtool(fd, ifname, &v); err != nil {
				return false, fmt.Errorf("ETHTOOL_GGRO: %w", err)
			}
			return v.data != 0, nil
		}
		if was, err = get(); err != nil {
			return err
		}
		if was == on {
			return nil
		}
		v := ethtoolValue{cmd: ethtoolSGRO}
		if on {
			v.data = 1
		}
		if err := ethtool(fd, ifname, &v); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				err = fmt.Errorf("%w: %w", dut.ErrNotSupported, err)
			}
			return fmt.Errorf("ETHTOOL_SGRO: %w", err)
		}
		now, err := get()
		if err != nil {
			return err
		}
		if now != on {
			return fmt.Errorf("%w: GRO stays %s", dut.ErrNotSupported, onOff(now))
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
