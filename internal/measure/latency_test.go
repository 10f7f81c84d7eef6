package measure

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
)

// within reports whether got is the HDR equivalent of want: at most 0.1% above
// it (3 significant digits) and never below.
func within(got, want int64) bool {
	return got >= want && float64(got-want) <= math.Max(1, 0.001*float64(want))
}

func TestLatencyUniform(t *testing.T) {
	l := NewLatency()
	for v := int64(1); v <= 1000; v++ {
		l.Record(v)
	}
	// Values below 2048 are stored exactly with 3 significant digits.
	want := LatencySummary{Count: 1000, MinNs: 1, P50Ns: 500, P99Ns: 990, P999Ns: 999, MaxNs: 1000}
	if got := l.Summary(); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestLatencyLargeValues(t *testing.T) {
	l := NewLatency()
	// 990 samples at 10 us, 9 at 1 ms, one at 2 s.
	for i := 0; i < 990; i++ {
		l.Record(10_000)
	}
	for i := 0; i < 9; i++ {
		l.Record(1_000_000)
	}
	l.Record(2_000_000_000)
	got := l.Summary()
	if got.Count != 1000 || !within(got.MinNs, 10_000) || !within(got.P50Ns, 10_000) || !within(got.P99Ns, 10_000) ||
		!within(got.P999Ns, 1_000_000) || !within(got.MaxNs, 2_000_000_000) {
		t.Fatalf("got %+v", got)
	}
	// Min is the lowest equivalent value, so it may sit just below 10 us.
	if got.MinNs > 10_000 || float64(10_000-got.MinNs) > 10 {
		t.Fatalf("min %d is not 10 us within 0.1%%", got.MinNs)
	}
}

func TestLatencyClamp(t *testing.T) {
	l := NewLatency()
	l.Record(-5)
	l.Record(0)
	l.Record(20_000_000_000)
	got := l.Summary()
	if got.Count != 3 || got.Clamped != 3 || got.MinNs != 1 || !within(got.MaxNs, LatencyMaxNs) {
		t.Fatalf("got %+v", got)
	}
}

func TestLatencyEmpty(t *testing.T) {
	if got := NewLatency().Summary(); got != (LatencySummary{}) {
		t.Fatalf("got %+v, want zero", got)
	}
}

func TestLatencyMerge(t *testing.T) {
	a, b := NewLatency(), NewLatency()
	for v := int64(1); v <= 500; v++ {
		a.Record(v)
	}
	for v := int64(501); v <= 1000; v++ {
		b.Record(v)
	}
	b.Record(-1)
	a.Merge(b)
	a.Merge(nil)
	a.Merge(a)
	want := LatencySummary{Count: 1001, MinNs: 1, P50Ns: 500, P99Ns: 990, P999Ns: 999, MaxNs: 1000, Clamped: 1}
	if got := a.Summary(); got != want {
		t.Fatalf("merged: got %+v, want %+v", got, want)
	}
	if got := b.Summary(); got.Count != 501 {
		t.Fatalf("Merge changed its argument: %+v", got)
	}
}

func TestLatencyConcurrent(t *testing.T) {
	l := NewLatency()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				l.Record(int64(i + 1))
			}
		}()
	}
	wg.Wait()
	if got := l.Summary(); got.Count != 4000 || got.MaxNs != 1000 {
		t.Fatalf("got %+v", got)
	}
}

func TestLatencySummaryJSON(t *testing.T) {
	b, err := json.Marshal(LatencySummary{Count: 2, MinNs: 1, P50Ns: 2, P99Ns: 3, P999Ns: 4, MaxNs: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":2,"min_ns":1,"p50_ns":2,"p99_ns":3,"p999_ns":4,"max_ns":5}`
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}
