// Package rcu switches the kernel's RCU grace periods to expedited mode
// (/sys/kernel/rcu_expedited) while a live-frame generator runs, and back.
//
// Why: every BPF_PROG_TEST_RUN in live-frame mode with more than one frame
// sets up and tears down a page pool, and the teardown waits for RCU grace
// periods. Measured on a 2-core Firecracker VM (kernel 6.18): a run of 5
// frames took 24.4 ms with normal grace periods and 0.21 ms expedited; a
// run of 65536 took 42 ms and 17.6 ms. With 24 ms per run a paced stream
// cannot send less than 40 bursts a second, and a probe stream beside a
// bulk stream falls behind.
//
// Several dutlab processes may run at once (tests run packages in
// parallel), so holders share a flock on a file under /run/dutlab and the
// value found before the first holder is kept beside it; the holder that
// leaves last puts it back. A holder killed with SIGKILL leaves the saved
// value behind: Restore (called by `dutlab down --all`) puts it back when
// nobody holds the lock.
package rcu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Paths, variables so tests can point them elsewhere.
var (
	Knob     = "/sys/kernel/rcu_expedited"
	StateDir = "/run/dutlab"
)

func lockPath() string  { return filepath.Join(StateDir, "rcu_expedited.lock") }
func holdPath() string  { return filepath.Join(StateDir, "rcu_expedited.hold") }
func savedPath() string { return filepath.Join(StateDir, "rcu_expedited.saved") }

// Inside one process holders share one flock on the hold file (flocks of
// two descriptors of one process conflict like those of two processes).
var (
	mu      sync.Mutex
	holders int
	held    *os.File
	before  string
)

// Hold is one holder of expedited mode.
type Hold struct {
	released bool
	// Before is the knob's value before dutlab first set it ("0" or "1").
	Before string
}

// locked runs fn under the short-lived exclusive lock that orders the
// holders' changes of the knob across processes.
func locked(fn func() error) error {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(lockPath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	return fn()
}

// Expedite turns expedited grace periods on until Release. A kernel
// without the knob is an error the caller may ignore (it only costs speed).
func Expedite() (*Hold, error) {
	mu.Lock()
	defer mu.Unlock()
	if holders > 0 {
		holders++
		return &Hold{Before: before}, nil
	}
	cur, err := os.ReadFile(Knob)
	if err != nil {
		return nil, fmt.Errorf("rcu: %w", err)
	}
	err = locked(func() error {
		b := strings.TrimSpace(string(cur))
		if saved, err := os.ReadFile(savedPath()); err == nil {
			b = strings.TrimSpace(string(saved)) // another holder (or a killed one) set it
		} else if err := os.WriteFile(savedPath(), []byte(b+"\n"), 0o644); err != nil {
			return err
		}
		f, err := os.OpenFile(holdPath(), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
			_ = f.Close()
			return err
		}
		if err := os.WriteFile(Knob, []byte("1\n"), 0o644); err != nil {
			_ = f.Close()
			return err
		}
		held, before = f, b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rcu: %w", err)
	}
	holders = 1
	return &Hold{Before: before}, nil
}

// Release gives up the hold; the last holder puts the saved value back.
func (h *Hold) Release() error {
	mu.Lock()
	defer mu.Unlock()
	if h == nil || h.released {
		return nil
	}
	h.released = true
	if holders--; holders > 0 {
		return nil
	}
	f := held
	held = nil
	err := locked(func() error {
		_ = f.Close() // drops this process's shared lock
		return restoreIfFree()
	})
	if err != nil {
		return fmt.Errorf("rcu: %w", err)
	}
	return nil
}

// Restore puts back the value saved by a holder that did not release
// (killed), unless a holder is running. It does nothing when none is saved.
func Restore() error {
	mu.Lock()
	defer mu.Unlock()
	if holders > 0 {
		return nil
	}
	if _, err := os.Stat(savedPath()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := locked(restoreIfFree); err != nil {
		return fmt.Errorf("rcu: %w", err)
	}
	return nil
}

// restoreIfFree, under the exclusive lock, restores the saved value when no
// process holds the hold file.
func restoreIfFree() error {
	f, err := os.OpenFile(holdPath(), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // others still hold it; the last one restores
		}
		return err
	}
	saved, err := os.ReadFile(savedPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(Knob, saved, 0o644); err != nil {
		return fmt.Errorf("restore %s: %w", Knob, err)
	}
	return os.Remove(savedPath())
}
