// Package testenv decides whether a privileged test may run. Outside CI a
// missing privilege or kernel feature skips the test with a one-line reason;
// in CI (CI=true) the same condition fails it, because there the privileged
// tests must run.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips t with reason outside CI and fails it in CI.
func SkipOrFail(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but the test cannot run: %s", reason)
	}
	t.Skip(reason)
}

// RequireRoot skips (or, in CI, fails) a test that needs root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (CAP_NET_ADMIN, CAP_BPF)")
	}
}

// SkipIfNotSupported skips (or, in CI, fails) when err says a kernel feature is
// missing; any other non-nil error fails the test.
func SkipIfNotSupported(t testing.TB, err error, notSupported error) {
	t.Helper()
	if err == nil {
		return
	}
	if notSupported != nil && errors.Is(err, notSupported) {
		SkipOrFail(t, err.Error())
	}
	t.Fatal(err)
}

// SerializeMeasurement holds a machine-wide lock until the test ends. Tests
// that pin cores and assert on rates, or busy-poll a core, take it, so that
// `go test ./...`, which runs packages in parallel, never runs two of them at
// once. Other tests run in parallel freely.
func SerializeMeasurement(t testing.TB) {
	t.Helper()
	unlock, err := LockMeasurement()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
}

// LockMeasurement takes the lock SerializeMeasurement holds, for a TestMain
// whose whole binary busy-polls; the returned func drops it.
func LockMeasurement() (unlock func(), err error) {
	f, err := os.OpenFile(os.TempDir()+"/dutlab-measure.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open measurement lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("take measurement lock: %w", err)
	}
	return func() { f.Close() }, nil // closing drops the lock
}
