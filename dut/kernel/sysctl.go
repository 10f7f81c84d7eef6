package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/dutlab/dutlab/internal/nsexec"
)

const (
	ipv4Forward = "/proc/sys/net/ipv4/ip_forward"
	ipv6Forward = "/proc/sys/net/ipv6/conf/all/forwarding"
)

var errNoSysctl = errors.New("no such sysctl")

// setSysctl writes value to the sysctl file path from a thread inside netns,
// reads it back, and returns the value it had before.
func setSysctl(netns, path, value string) (old string, err error) {
	err = nsexec.Do(netns, func() error {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return errNoSysctl
		}
		if err != nil {
			return err
		}
		old = string(bytes.TrimSpace(b))
		if old == value {
			return nil
		}
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return err
		}
		b, err = os.ReadFile(path)
		if err != nil {
			return err
		}
		if got := string(bytes.TrimSpace(b)); got != value {
			return fmt.Errorf("wrote %q, read back %q", value, got)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("set %s=%s: %w", path, value, err)
	}
	return old, nil
}
