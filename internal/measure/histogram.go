package measure

import (
	"math"
	"math/bits"
)

// The latency histogram layout, the Go twin of histogram.h (read its
// comment): values in ns, exact below HistExact, then HistSub linear
// sub-buckets per power of two up to 2^HistMaxMSB; larger values land in
// the last bucket. Both engines record into it and reports read it.
const (
	HistSubBits = 6
	HistSub     = 1 << HistSubBits // 64
	HistExact   = 2 * HistSub      // 128
	HistMaxMSB  = 33
	HistBuckets = HistExact + (HistMaxMSB-HistSubBits)*HistSub // 1856
)

// HistErrorPct bounds the relative error of a value reported as its bucket's
// midpoint: half a bucket width over the bucket's lower bound, 1/(2*64). It
// holds up to 2^34 ns (17 s).
const HistErrorPct = 100.0 / (2 * HistSub)

// BucketOf returns the bucket of v (ns); dl_hist_bucket in histogram.h.
func BucketOf(v uint64) int {
	if v < HistExact {
		return int(v)
	}
	msb := 63 - bits.LeadingZeros64(v)
	if msb > HistMaxMSB {
		return HistBuckets - 1
	}
	return HistExact + (msb-HistSubBits-1)*HistSub + int(v>>(msb-HistSubBits)&(HistSub-1))
}

// BucketLow is the smallest value in bucket b.
func BucketLow(b int) uint64 {
	if b < HistExact {
		return uint64(b)
	}
	e := (b-HistExact)/HistSub + HistSubBits + 1
	return uint64(HistSub+(b-HistExact)%HistSub) << (e - HistSubBits)
}

// BucketHigh is the largest value in bucket b.
func BucketHigh(b int) uint64 {
	if b >= HistBuckets-1 {
		return math.MaxUint64
	}
	return BucketLow(b+1) - 1
}

// BucketMid is the value reported for bucket b: its midpoint (exact below
// HistExact, where a bucket holds one value; the lower bound of the last,
// open-ended bucket).
func BucketMid(b int) uint64 {
	if b >= HistBuckets-1 {
		return BucketLow(b)
	}
	lo := BucketLow(b)
	return lo + (BucketLow(b+1)-lo)/2
}

// Percentile returns the midpoint of the bucket holding quantile q of hist
// (the sample of rank ceil(q*total), at least 1), 0 for an empty histogram.
func Percentile(hist []uint64, q float64) uint64 {
	var total uint64
	for _, v := range hist {
		total += v
	}
	if total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	var seen uint64
	for b, v := range hist {
		if seen += v; seen >= rank {
			return BucketMid(b)
		}
	}
	return BucketMid(len(hist) - 1)
}

// Merge adds src's counts into dst (both in this layout).
func Merge(dst, src []uint64) {
	for b := range min(len(dst), len(src)) {
		dst[b] += src[b]
	}
}

// LatencySummary is what a result reports of a latency histogram: counts
// and bucket midpoints (within HistErrorPct of the true values). Min and Max
// are midpoints too unless an engine knows them exactly.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MinNs  int64   `json:"min_ns"`
	P50Ns  int64   `json:"p50_ns"`
	P99Ns  int64   `json:"p99_ns"`
	P999Ns int64   `json:"p999_ns"`
	MaxNs  int64   `json:"max_ns"`
	MeanNs float64 `json:"mean_ns"`
}

// Summarize reads a histogram; nil when it is empty.
func Summarize(hist []uint64) *LatencySummary {
	var n uint64
	var sum float64
	lo, hi := -1, -1
	for b, c := range hist {
		if c == 0 {
			continue
		}
		if lo < 0 {
			lo = b
		}
		hi, n = b, n+c
		sum += float64(c) * float64(BucketMid(b))
	}
	if n == 0 {
		return nil
	}
	return &LatencySummary{
		Count: n, MinNs: int64(BucketMid(lo)), MaxNs: int64(BucketMid(hi)), MeanNs: sum / float64(n),
		P50Ns: int64(Percentile(hist, 0.50)), P99Ns: int64(Percentile(hist, 0.99)), P999Ns: int64(Percentile(hist, 0.999)),
	}
}
