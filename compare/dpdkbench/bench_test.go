//go:build dpdk

package dpdkbench

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk/dpdktest"
	"github.com/dutlab/dutlab/internal/testenv"
)

// TestRun runs a short bench (DUTLAB_BENCH_SECONDS sets the window, default
// 1 s; DUTLAB_BENCH_ROUNDS the rounds, default 1) and checks that both sides
// moved packets in every case. No timing assertions: figures go to the log.
func TestRun(t *testing.T) {
	testenv.SerializeMeasurement(t) // busy-polls both cores
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("dpdk-testpmd"); err != nil {
		testenv.SkipOrFail(t, "dpdk-testpmd not installed (apt-get install dpdk-dev)")
	}
	d := time.Second
	if s, err := strconv.Atoi(os.Getenv("DUTLAB_BENCH_SECONDS")); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	}
	rounds, _ := strconv.Atoi(os.Getenv("DUTLAB_BENCH_ROUNDS"))
	rep, err := Run(context.Background(), Options{Bin: dpdktest.Worker(t), Warmup: time.Second, Duration: d, Rounds: rounds, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if r.OursMpps <= 0 || r.PeerMpps <= 0 {
			t.Errorf("%s: ours %.3f Mpps, %s %.3f Mpps: a side moved nothing", r.Name, r.OursMpps, r.Peer, r.PeerMpps)
		}
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%s", b)
}
