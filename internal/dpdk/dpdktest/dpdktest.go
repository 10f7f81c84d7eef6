// Package dpdktest holds test helpers for dutlab's DPDK parts: building the
// dutlab-dpdk worker once per test binary, and the cores tests pin to.
// Throwaway namespaces and veths come from internal/lab (labtest in tests).
package dpdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Worker builds cmd/dutlab-dpdk with -tags dpdk once per test binary and
// returns its path ($DUTLAB_DPDK, when set, is used instead).
func Worker(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("DUTLAB_DPDK"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dutlab-dpdk-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "dutlab-dpdk")
		out, err := exec.Command("go", "build", "-tags", "dpdk", "-o", buildBin, "github.com/dutlab/dutlab/cmd/dutlab-dpdk").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build dutlab-dpdk: %w: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Cores returns the CPUs tests pin to: the generator on the first and the
// DUT (or the measured lcore) on the second, when there are two.
func Cores() (gen, dut int) {
	if runtime.NumCPU() > 1 {
		return 0, 1
	}
	return 0, 0
}
