package xdplive

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net"

	"github.com/cilium/ebpf/link"

	"github.com/dutlab/dutlab/internal/nsexec"
)

// latBuckets matches LAT_BUCKETS in bpf/sink.c.
const latBuckets = 256

// bucketOf is the Go twin of lat_bucket in bpf/sink.c: values 0..3 exactly,
// then 4 linear sub-buckets per power of two.
func bucketOf(v uint64) int {
	if v < 4 {
		return int(v)
	}
	msb := 63 - bits.LeadingZeros64(v)
	return 4*(msb-1) + int(v>>(msb-2)&3)
}

// bucketLow is the smallest value in bucket b.
func bucketLow(b int) uint64 {
	if b < 4 {
		return uint64(b)
	}
	msb := b/4 + 1
	return uint64(4+b%4) << (msb - 2)
}

// bucketHigh is the largest value in bucket b.
func bucketHigh(b int) uint64 {
	if b+1 >= 252 {
		return math.MaxUint64
	}
	return bucketLow(b+1) - 1
}

// sinkCounts is a sum over CPUs of the sink's counters and histogram.
type sinkCounts struct {
	sinkSinkCounters
	latency [latBuckets]uint64
}

func (a sinkCounts) sub(b sinkCounts) sinkCounts {
	d := a
	d.RxPackets -= b.RxPackets
	d.RxBytes -= b.RxBytes
	d.ProbePackets -= b.ProbePackets
	d.ProbeFuture -= b.ProbeFuture
	d.LatSumNs -= b.LatSumNs
	for i := range d.latency {
		d.latency[i] -= b.latency[i]
	}
	return d
}

// sink is xdp_sink loaded and attached to the RX port.
type sink struct {
	objs sinkObjects
	link link.Link
	mode string // "native" or "generic"
}

// newSink loads xdp_sink without attaching it.
func newSink() (*sink, error) {
	s := &sink{}
	if err := loadSinkObjects(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_sink: %w", err)
	}
	return s, nil
}

// attachSink loads xdp_sink and attaches it to the port in netns, in native
// mode if the driver takes it, else in generic mode.
func attachSink(netns, name string, ifindex int) (*sink, error) {
	s, err := newSink()
	if err != nil {
		return nil, err
	}
	err = nsexec.Do(netns, func() error {
		idx, err := resolveIfindex(name, ifindex)
		if err != nil {
			return err
		}
		l, nerr := link.AttachXDP(link.XDPOptions{Program: s.objs.XdpSink, Interface: idx, Flags: link.XDPDriverMode})
		if nerr == nil {
			s.link, s.mode = l, "native"
			return nil
		}
		l, gerr := link.AttachXDP(link.XDPOptions{Program: s.objs.XdpSink, Interface: idx, Flags: link.XDPGenericMode})
		if gerr != nil {
			return fmt.Errorf("attach xdp_sink to %s: native: %w; generic: %w", portName(name, idx), nerr, gerr)
		}
		s.link, s.mode = l, "generic"
		return nil
	})
	if err != nil {
		s.objs.Close()
		return nil, err
	}
	return s, nil
}

// Close detaches the sink (closing the link detaches it) and unloads it.
func (s *sink) Close() error {
	var errs []error
	if s.link != nil {
		errs = append(errs, s.link.Close())
	}
	errs = append(errs, s.objs.Close())
	return errors.Join(errs...)
}

// counters sums the sink's per-CPU counters; with hist it also reads the
// latency histogram (256 map lookups).
func (s *sink) counters(hist bool) (sinkCounts, error) {
	var out sinkCounts
	var per []sinkSinkCounters
	if err := s.objs.SinkStats.Lookup(uint32(0), &per); err != nil {
		return out, fmt.Errorf("read xdp_sink counters: %w", err)
	}
	for _, c := range per {
		out.RxPackets += c.RxPackets
		out.RxBytes += c.RxBytes
		out.ProbePackets += c.ProbePackets
		out.ProbeFuture += c.ProbeFuture
		out.LatSumNs += c.LatSumNs
	}
	if !hist {
		return out, nil
	}
	var vals []uint64
	for b := uint32(0); b < latBuckets; b++ {
		if err := s.objs.SinkLatency.Lookup(b, &vals); err != nil {
			return out, fmt.Errorf("read xdp_sink latency bucket %d: %w", b, err)
		}
		for _, v := range vals {
			out.latency[b] += v
		}
	}
	return out, nil
}

// percentile returns the upper bound of the bucket holding quantile q of
// hist, 0 for an empty histogram.
func percentile(hist *[latBuckets]uint64, q float64) uint64 {
	var total uint64
	for _, v := range hist {
		total += v
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for b, v := range hist {
		seen += v
		if seen >= rank {
			return bucketHigh(b)
		}
	}
	return bucketHigh(latBuckets - 1)
}

// resolveIfindex returns ifindex, or looks name up in the calling thread's
// namespace. A name wins over an ifindex: the index may belong to another
// namespace.
func resolveIfindex(name string, ifindex int) (int, error) {
	if name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return 0, fmt.Errorf("look up port %s: %w", name, err)
		}
		return ifi.Index, nil
	}
	if ifindex > 0 {
		return ifindex, nil
	}
	return 0, errNoPort
}

func portName(name string, idx int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("ifindex %d", idx)
}
