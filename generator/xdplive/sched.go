package xdplive

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Scheduler limits (see bpf/sched.c).
const (
	maxStreams = 16 // SCHED_MAX_STREAMS
	fpShift    = 8  // SCHED_FP_SHIFT: virtual times are in 1/256 ns
	// maxBacklog is how far a paced stream may fall behind (the core was
	// busy elsewhere) before its schedule restarts instead of sending the
	// backlog as a burst.
	maxBacklog = 50 * time.Millisecond
	noBudget   = math.MaxUint64
)

// scheduler is a run's xdp_sched with its streams' xdp_gen programs in its
// program array: the one program the engine runs (see bpf/sched.c).
type scheduler struct {
	objs schedObjects
	// frame is the run's buffer, zeros as long as the longest stream's
	// frame: every page starts as it, and each stream's program writes its
	// headers and cuts it to its own length.
	frame []byte
	// interrupted counts runs a signal cut short. Nothing is lost: the
	// streams' schedules are in the program, and the next run goes on.
	interrupted uint64
}

// schedStream is one stream's entry in the schedule: paced at rate frames a
// second, or, with rate 0, flat out with the given share weight among the
// flat-out streams (weights relative to maxWeight).
func schedStream(rate float64, weight, maxWeight int, startNs uint64) schedSchedStream {
	if rate > 0 {
		return schedSchedStream{
			Next:     startNs << fpShift,
			Interval: uint64(math.Round(1e9 * (1 << fpShift) / rate)),
			Backlog:  uint64(maxBacklog.Nanoseconds()) << fpShift,
			Paced:    1,
		}
	}
	weight = max(weight, 1)
	return schedSchedStream{Interval: uint64(max(maxWeight, weight)) << 16 / uint64(weight)}
}

// loadScheduler loads xdp_sched over progs (stream i at index i) with
// entries for their schedule, running frames of frameLen bytes.
func loadScheduler(progs []*ebpf.Program, entries []schedSchedStream, frameLen int) (*scheduler, error) {
	if len(progs) == 0 || len(progs) > maxStreams || len(entries) != len(progs) {
		return nil, fmt.Errorf("scheduler takes 1..%d streams, got %d programs and %d entries", maxStreams, len(progs), len(entries))
	}
	spec, err := loadSched()
	if err != nil {
		return nil, err
	}
	var table [maxStreams]schedSchedStream
	copy(table[:], entries)
	if err := spec.Variables[schedVarStreams].Set(table); err != nil {
		return nil, fmt.Errorf("set xdp_sched streams: %w", err)
	}
	var paced uint32
	for _, e := range entries {
		paced += e.Paced
	}
	if err := spec.Variables[schedVarNstreams].Set(uint32(len(entries))); err != nil {
		return nil, fmt.Errorf("set xdp_sched nstreams: %w", err)
	}
	if err := spec.Variables[schedVarNpaced].Set(paced); err != nil {
		return nil, fmt.Errorf("set xdp_sched npaced: %w", err)
	}
	sc := &scheduler{frame: make([]byte, frameLen)}
	if err := spec.LoadAndAssign(&sc.objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp_sched: %w", err)
	}
	for i, p := range progs {
		if err := sc.objs.SchedProgs.Put(uint32(i), p); err != nil {
			sc.Close()
			return nil, fmt.Errorf("xdp_sched: add stream %d: %w", i, err)
		}
	}
	return sc, nil
}

func (sc *scheduler) Close() error { return sc.objs.Close() }

// restart moves every paced stream's schedule to start at startNs
// (CLOCK_MONOTONIC), for the first run.
func (sc *scheduler) restart(startNs uint64) error {
	var table [maxStreams]schedSchedStream
	if err := sc.objs.Streams.Get(&table); err != nil {
		return fmt.Errorf("read xdp_sched streams: %w", err)
	}
	for i := range table {
		if table[i].Paced != 0 {
			table[i].Next = startNs << fpShift
		}
	}
	if err := sc.objs.Streams.Set(table); err != nil {
		return fmt.Errorf("set xdp_sched streams: %w", err)
	}
	return nil
}

// setBudget limits the frames sent from now on to n (noBudget: no limit).
func (sc *scheduler) setBudget(n uint64) error {
	if err := sc.objs.Budget.Set(n); err != nil {
		return fmt.Errorf("set xdp_sched budget: %w", err)
	}
	return nil
}

// budget returns the frames left to send (noBudget: no limit).
func (sc *scheduler) budget() (uint64, error) {
	var n uint64
	if err := sc.objs.Budget.Get(&n); err != nil {
		return 0, fmt.Errorf("read xdp_sched budget: %w", err)
	}
	return n, nil
}

// restarts returns how often a paced stream fell more than maxBacklog
// behind and restarted its schedule.
func (sc *scheduler) restarts() (uint64, error) {
	var n uint64
	if err := sc.objs.Restarts.Get(&n); err != nil {
		return 0, fmt.Errorf("read xdp_sched restarts: %w", err)
	}
	return n, nil
}

// run makes one live-frame test run of iters scheduler invocations (each
// sends one stream's frame or, with none due, drops the page) on ifindex
// in the calling thread's namespace, batch frames per page-pool batch. It
// returns the kernel's mean time per invocation, 0 when a signal cut the
// run short.
func (sc *scheduler) run(ifindex int, iters, batch uint32) (time.Duration, error) {
	perIter, errno := liveRun(sc.objs.XdpSched, sc.frame, ifindex, iters, batch)
	switch {
	case errno == 0:
		return perIter, nil
	case errors.Is(errno, unix.EINTR):
		sc.interrupted++
		return 0, nil
	default:
		return 0, fmt.Errorf("live-frame run of %d: %w", iters, errno)
	}
}
