// Package measure reads what a run costs and delivers: per-core CPU time from
// /proc/stat (ReadCPU, Usage, Sampler), interface packet counters inside a
// namespace (LinkCounters) and the one latency histogram layout of both
// engines (histogram.h for C and BPF, histogram.go: BucketOf, Percentile,
// Summarize).
//
// It only reads: it never changes the host, a namespace or an interface, and
// it imports nothing of dutlab's but nsexec, so DUTs, generators and the
// compare runner can all use it.
package measure
