package measure

import (
	"math"
	"testing"
)

func TestBuckets(t *testing.T) {
	for b := 0; b < HistBuckets; b++ {
		lo, hi := BucketLow(b), BucketHigh(b)
		if BucketOf(lo) != b || BucketOf(hi) != b {
			t.Fatalf("bucket %d: [%d, %d] maps to %d..%d", b, lo, hi, BucketOf(lo), BucketOf(hi))
		}
		if b > 0 && BucketHigh(b-1)+1 != lo {
			t.Fatalf("bucket %d does not start after bucket %d", b, b-1)
		}
		// The midpoint is within HistErrorPct of every value in the bucket.
		if b < HistBuckets-1 {
			mid := float64(BucketMid(b))
			for _, v := range []uint64{lo, hi} {
				if e := math.Abs(mid-float64(v)) / float64(v) * 100; v > 0 && e > HistErrorPct {
					t.Fatalf("bucket %d [%d, %d]: midpoint %v is %.3f%% off %d, bound %.3f%%", b, lo, hi, mid, e, v, HistErrorPct)
				}
			}
		}
	}
	if BucketOf(math.MaxUint64) != HistBuckets-1 {
		t.Errorf("MaxUint64 in bucket %d", BucketOf(math.MaxUint64))
	}
	if lo := BucketLow(HistBuckets - 1); lo > 17_200_000_000 || BucketHigh(HistBuckets-2) < 10_000_000_000 {
		t.Errorf("histogram ends at %d ns, want past 10 s", lo)
	}
	h := make([]uint64, HistBuckets)
	h[BucketOf(1000)] = 99
	h[BucketOf(50000)] = 1
	if p := Percentile(h, 0.5); math.Abs(float64(p)-1000)/1000*100 > HistErrorPct {
		t.Errorf("p50 = %d, want 1000 within %.2f%%", p, HistErrorPct)
	}
	if p := Percentile(h, 1); math.Abs(float64(p)-50000)/50000*100 > HistErrorPct {
		t.Errorf("max = %d, want 50000 within %.2f%%", p, HistErrorPct)
	}
}

func TestSummarize(t *testing.T) {
	if Summarize(make([]uint64, HistBuckets)) != nil {
		t.Error("an empty histogram has a summary")
	}
	h := make([]uint64, HistBuckets)
	for v := uint64(1); v <= 1000; v++ {
		h[BucketOf(v*1000)]++ // 1 us .. 1 ms
	}
	other := make([]uint64, HistBuckets)
	other[BucketOf(5)] = 1
	Merge(h, other)
	s := Summarize(h)
	within := func(name string, got int64, want float64) {
		t.Helper()
		if math.Abs(float64(got)-want)/want*100 > HistErrorPct {
			t.Errorf("%s = %d, want %v within %.2f%%", name, got, want, HistErrorPct)
		}
	}
	if s.Count != 1001 || s.MinNs != 5 {
		t.Errorf("count %d, min %d; want 1001 and 5 (exact below 128 ns)", s.Count, s.MinNs)
	}
	within("p50", s.P50Ns, 500e3) // rank 501 of 1001: the 500th value above 5 ns
	within("p99", s.P99Ns, 990e3)
	within("p99.9", s.P999Ns, 999e3)
	within("max", s.MaxNs, 1000e3)
	if math.Abs(s.MeanNs-500.5e3*1000/1001)/(500e3) > 0.01 {
		t.Errorf("mean %v, want about %v", s.MeanNs, 500.5e3*1000/1001)
	}
}
