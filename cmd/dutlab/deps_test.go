package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestCodeLinked keeps test helpers out of the dutlab binary: the
// throwaway labs that benchmarks need come from internal/lab, and nothing
// the binary imports may pull in package testing.
func TestNoTestCodeLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "dpdk", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch {
		case dep == "testing", strings.HasPrefix(dep, "testing/"),
			strings.HasSuffix(dep, "/internal/testenv"), strings.HasSuffix(dep, "/dpdktest"), strings.HasSuffix(dep, "/labtest"):
			t.Errorf("bin/dutlab links %s", dep)
		}
	}
}
