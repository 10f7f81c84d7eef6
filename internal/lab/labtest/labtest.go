// Package labtest wraps internal/lab's throwaway namespaces and veths for
// tests: each helper skips the test without root (fails it in CI) and
// removes what it made when the test ends.
package labtest

import (
	"errors"
	"net"
	"os"
	"testing"

	"github.com/dutlab/dutlab/internal/lab"
	"github.com/dutlab/dutlab/internal/testenv"
)

// Netns creates a throwaway namespace (prefix plus 6 random hex characters,
// IPv6 off, lo up) and returns its name.
func Netns(t testing.TB, prefix string) string {
	t.Helper()
	testenv.RequireRoot(t)
	var tw lab.Throwaway
	name, err := tw.Netns(prefix)
	cleanup(t, &tw)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			testenv.SkipOrFail(t, err.Error())
		}
		t.Fatal(err)
	}
	return name
}

// Veth creates a veth pair a (in nsA) <-> b (in nsB), both up; a nil MAC
// leaves the kernel's. The pair goes away with its namespaces.
func Veth(t testing.TB, nsA, a string, macA net.HardwareAddr, nsB, b string, macB net.HardwareAddr) (lab.VethEnd, lab.VethEnd) {
	t.Helper()
	ea, eb, err := lab.AddVeth(lab.VethEnd{Netns: nsA, Name: a, MAC: macA}, lab.VethEnd{Netns: nsB, Name: b, MAC: macB})
	if err != nil {
		t.Fatal(err)
	}
	return ea, eb
}

// Loop creates a lab.Loop removed when the test ends.
func Loop(t testing.TB, prefix string) *lab.Loop {
	t.Helper()
	testenv.RequireRoot(t)
	l, err := lab.NewLoop(prefix)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, &l.Throwaway)
	return l
}

// Through creates a lab.Through removed when the test ends.
func Through(t testing.TB, prefix string) *lab.Through {
	t.Helper()
	testenv.RequireRoot(t)
	l, err := lab.NewThrough(prefix)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, &l.Throwaway)
	return l
}

func cleanup(t testing.TB, tw *lab.Throwaway) {
	t.Cleanup(func() {
		if err := tw.Close(); err != nil {
			t.Error(err)
		}
	})
}
