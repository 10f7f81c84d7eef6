package dpdk

import (
	"slices"
	"testing"

	"github.com/dutlab/dutlab/internal/measure"
)

// TestSummarize checks the fast path's summary is measure's, in the
// fields the worker's JSON carries.
func TestSummarize(t *testing.T) {
	h := make([]uint64, HistBuckets)
	for v := uint64(1); v <= 1000; v++ {
		h[measure.BucketOf(v*1000)]++
	}
	l, m := Summarize(h), measure.Summarize(h)
	if l.Count != m.Count || l.Min != m.MinNs || l.P50 != m.P50Ns || l.P99 != m.P99Ns || l.P999 != m.P999Ns || l.Max != m.MaxNs || l.Mean != m.MeanNs {
		t.Fatalf("summary %+v, measure says %+v", l, m)
	}
	if Summarize(make([]uint64, HistBuckets)) != nil {
		t.Fatal("empty histogram has a summary")
	}
}

func TestEALArgs(t *testing.T) {
	tests := []struct {
		name string
		opts EALOptions
		want []string
	}{
		{"no hugepages", EALOptions{Lcores: []int{0, 1}, FilePrefix: "dl-x", VDevs: []string{"net_null0"}},
			[]string{"p", "-l", "0,1", "--main-lcore", "0", "--no-telemetry", "--file-prefix=dl-x", "--no-pci",
				"--no-huge", "--no-shconf", "-m", "512", "--vdev=net_null0", "--log-level=notice"}},
		{"hugepages and a PCI port", EALOptions{Lcores: []int{1}, FilePrefix: "dl-y", Hugepages: true, PCI: []string{"0000:03:00.0"}},
			[]string{"p", "-l", "1", "--main-lcore", "1", "--no-telemetry", "--file-prefix=dl-y", "-a", "0000:03:00.0",
				"--in-memory", "--log-level=notice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.Args("p"); !slices.Equal(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPidAlive(t *testing.T) {
	if pidAlive("dl-notapid") || pidAlive("dl-tp-999999999") {
		t.Fatal("dead prefix reported alive")
	}
	if !pidAlive(FilePrefix("x")) || !pidAlive(FilePrefix("")+"map_3") {
		t.Fatal("own prefix reported dead")
	}
}
