package xdplive

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/nsexec"
)

const maxProbeIDs = 64 // MAX_PROBE_STREAMS

// LatencyErrorPct bounds the relative error of a latency percentile: the
// sink records into internal/measure's histogram layout.
const LatencyErrorPct = measure.HistErrorPct

// sinkConfig is what xdp_sink is loaded with.
type sinkConfig struct {
	latencyStreams uint64 // bit i: stream i is a latency stream
	captureFrames  uint32 // frames to capture into sink_capture
}

// sinkCounts is a sum over CPUs of the sink's counters and histogram.
type sinkCounts struct {
	sinkSinkCounters
	latency [measure.HistBuckets]uint64
}

func (a sinkCounts) sub(b sinkCounts) sinkCounts {
	d := a
	d.RxPackets -= b.RxPackets
	d.RxBytes -= b.RxBytes
	d.ProbePackets -= b.ProbePackets
	d.ProbeFuture -= b.ProbeFuture
	d.LatPackets -= b.LatPackets
	d.LatSumNs -= b.LatSumNs
	d.CaptureLost -= b.CaptureLost
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

// newSink loads xdp_sink configured with cfg without attaching it.
func newSink(cfg sinkConfig) (*sink, error) {
	spec, err := loadSink()
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{sinkVarLatencyStreams: cfg.latencyStreams, sinkVarCaptureFrames: cfg.captureFrames} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("set xdp_sink %s: %w", name, err)
		}
	}
	s := &sink{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_sink: %w", err)
	}
	return s, nil
}

// attachSink loads xdp_sink and attaches it to the port in netns, in native
// mode if the driver takes it, else in generic mode.
func attachSink(netns, name string, ifindex int, cfg sinkConfig) (*sink, error) {
	s, err := newSink(cfg)
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
// latency histogram.
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
		out.LatPackets += c.LatPackets
		out.LatSumNs += c.LatSumNs
		out.LatMaxNs = max(out.LatMaxNs, c.LatMaxNs)
		out.LatMinInv = max(out.LatMinInv, c.LatMinInv)
		out.CaptureLost += c.CaptureLost
	}
	if !hist {
		return out, nil
	}
	var hs []sinkLatHist
	if err := s.objs.SinkLatency.Lookup(uint32(0), &hs); err != nil {
		return out, fmt.Errorf("read xdp_sink latency histogram: %w", err)
	}
	for _, h := range hs {
		for b, v := range h.N {
			out.latency[b] += v
		}
	}
	return out, nil
}

// probeCounts is what the sink counted for the probes of the latency
// streams, summed over streams, for the window it was given.
type probeCounts struct {
	Received, Reordered, Duplicates, TooOld uint64
}

// probes sums the sequence tracking of streams (indices of latency streams).
func (s *sink) probes(streams []int) (probeCounts, error) {
	var out probeCounts
	for _, id := range streams {
		var st sinkProbeState
		if err := s.objs.SinkProbes.LookupWithFlags(uint32(id), &st, ebpf.LookupLock); err != nil {
			return out, fmt.Errorf("read xdp_sink probe state of stream %d: %w", id, err)
		}
		out.Received += st.Received
		out.Reordered += st.Reordered
		out.Duplicates += st.Duplicates
		out.TooOld += st.TooOld
	}
	return out, nil
}

// setWindow makes the sink count probes stamped in [start, end), in
// bpf_ktime_get_ns (CLOCK_MONOTONIC) ns.
func (s *sink) setWindow(start, end uint64) error {
	w := sinkProbeWindow{StartNs: start, EndNs: end}
	if err := s.objs.SinkWindow.Update(uint32(0), &w, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set xdp_sink window: %w", err)
	}
	return nil
}

// percentile returns the midpoint of the bucket holding quantile q of hist.
func percentile(hist *[measure.HistBuckets]uint64, q float64) uint64 {
	return measure.Percentile(hist[:], q)
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
