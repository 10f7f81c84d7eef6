package measure

import (
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Range and precision of every Latency, so that any two can be merged.
const (
	LatencyMinNs  = 1
	LatencyMaxNs  = 10_000_000_000 // 10 s
	LatencySigFig = 3
)

// Latency is an HDR histogram of one-way or round-trip latencies in
// nanoseconds, from 1 ns to 10 s with 3 significant digits (values are kept to
// within 0.1%). It is safe for concurrent use; for a hot receive loop keep
// one per goroutine and Merge them at the end.
type Latency struct {
	mu      sync.Mutex
	h       *hdrhistogram.Histogram
	clamped uint64
}

// LatencySummary is what a result reports of a Latency. Percentiles are the
// highest value equivalent (within 0.1%) to the recorded one, as HDR
// histograms report them. Clamped counts samples outside 1 ns .. 10 s that
// were recorded at the nearest bound.
type LatencySummary struct {
	Count   uint64 `json:"count"`
	MinNs   int64  `json:"min_ns"`
	P50Ns   int64  `json:"p50_ns"`
	P99Ns   int64  `json:"p99_ns"`
	P999Ns  int64  `json:"p999_ns"`
	MaxNs   int64  `json:"max_ns"`
	Clamped uint64 `json:"clamped,omitempty"`
}

// NewLatency returns an empty histogram.
func NewLatency() *Latency {
	return &Latency{h: hdrhistogram.New(LatencyMinNs, LatencyMaxNs, LatencySigFig)}
}

// Record adds one sample. A sample below 1 ns (clock skew between probe
// stamps) or above 10 s is recorded at that bound and counted as clamped,
// so Count always equals the number of samples.
func (l *Latency) Record(ns int64) {
	clamped := false
	switch {
	case ns < LatencyMinNs:
		ns, clamped = LatencyMinNs, true
	case ns > LatencyMaxNs:
		ns, clamped = LatencyMaxNs, true
	}
	l.mu.Lock()
	// Cannot fail: ns is inside the histogram's range.
	_ = l.h.RecordValue(ns)
	if clamped {
		l.clamped++
	}
	l.mu.Unlock()
}

// Merge adds all of other's samples to l. other is unchanged.
func (l *Latency) Merge(other *Latency) {
	if other == nil || other == l {
		return
	}
	other.mu.Lock()
	h := other.h.Clone()
	clamped := other.clamped
	other.mu.Unlock()

	l.mu.Lock()
	// Both histograms share one geometry, so nothing is dropped.
	l.h.Merge(h)
	l.clamped += clamped
	l.mu.Unlock()
}

// Summary returns count, min, p50, p99, p99.9 and max. An empty histogram
// gives the zero summary.
func (l *Latency) Summary() LatencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.h.TotalCount()
	if n == 0 {
		return LatencySummary{}
	}
	return LatencySummary{
		Count:   uint64(n),
		MinNs:   l.h.Min(),
		P50Ns:   l.h.ValueAtQuantile(50),
		P99Ns:   l.h.ValueAtQuantile(99),
		P999Ns:  l.h.ValueAtQuantile(99.9),
		MaxNs:   l.h.Max(),
		Clamped: l.clamped,
	}
}
