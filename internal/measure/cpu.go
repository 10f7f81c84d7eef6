package measure

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// CPUTimes is one core's line of /proc/stat, in USER_HZ ticks (jiffies as
// the kernel reports them, normally 1/100 s). Guest time is left out because
// the kernel already counts it in User and Nice.
type CPUTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Total is the sum of all fields: the ticks that passed on the core.
func (t CPUTimes) Total() uint64 {
	return t.User + t.Nice + t.System + t.Idle + t.IOWait + t.IRQ + t.SoftIRQ + t.Steal
}

// CoreUsage is how one core spent a window, in percent of the window.
// BusyPct is everything but idle and iowait (so it includes irq, softirq and
// steal); the tick counts let callers turn busy time into cycles per packet.
type CoreUsage struct {
	BusyPct    float64 `json:"busy_pct"`
	UserPct    float64 `json:"user_pct"` // user + nice
	SysPct     float64 `json:"sys_pct"`
	SoftirqPct float64 `json:"softirq_pct"`
	IrqPct     float64 `json:"irq_pct"`
	IdlePct    float64 `json:"idle_pct"` // idle + iowait
	BusyTicks  uint64  `json:"busy_ticks"`
	TotalTicks uint64  `json:"total_ticks"`
}

// statPath is the file ReadCPU parses.
const statPath = "/proc/stat"

// ReadCPU returns the per-core times from /proc/stat, keyed by core number.
// The aggregate "cpu" line is not included.
func ReadCPU() (map[int]CPUTimes, error) {
	f, err := os.Open(statPath)
	if err != nil {
		return nil, fmt.Errorf("read cpu times: %w", err)
	}
	defer f.Close()
	return ParseCPU(f)
}

// ParseCPU parses /proc/stat text. Lines other than "cpuN ..." are skipped;
// a cpuN line with fewer than the 8 fields this package uses is an error.
func ParseCPU(r io.Reader) (map[int]CPUTimes, error) {
	cores := make(map[int]CPUTimes)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024) // intr lines are long
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "cpu") || fields[0] == "cpu" {
			continue
		}
		core, err := strconv.Atoi(strings.TrimPrefix(fields[0], "cpu"))
		if err != nil || core < 0 {
			return nil, fmt.Errorf("parse /proc/stat: bad cpu label %q", fields[0])
		}
		if len(fields) < 9 {
			return nil, fmt.Errorf("parse /proc/stat: %s has %d fields, want at least 8", fields[0], len(fields)-1)
		}
		var v [8]uint64
		for i := range v {
			v[i], err = strconv.ParseUint(fields[i+1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("parse /proc/stat: %s field %d: %w", fields[0], i+1, err)
			}
		}
		cores[core] = CPUTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], IOWait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7]}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse /proc/stat: %w", err)
	}
	if len(cores) == 0 {
		return nil, fmt.Errorf("parse /proc/stat: no cpuN lines")
	}
	return cores, nil
}

// delta is after - before, or 0 when the counter went backwards (iowait may,
// on tickless kernels).
func delta(before, after uint64) uint64 {
	if after < before {
		return 0
	}
	return after - before
}

// Usage is how a core spent the time between two readings. A window with no
// ticks (readings closer than one tick apart) gives the zero CoreUsage.
func Usage(before, after CPUTimes) CoreUsage {
	d := CPUTimes{
		User:    delta(before.User, after.User),
		Nice:    delta(before.Nice, after.Nice),
		System:  delta(before.System, after.System),
		Idle:    delta(before.Idle, after.Idle),
		IOWait:  delta(before.IOWait, after.IOWait),
		IRQ:     delta(before.IRQ, after.IRQ),
		SoftIRQ: delta(before.SoftIRQ, after.SoftIRQ),
		Steal:   delta(before.Steal, after.Steal),
	}
	total := d.Total()
	if total == 0 {
		return CoreUsage{}
	}
	pct := func(n uint64) float64 { return 100 * float64(n) / float64(total) }
	idle := d.Idle + d.IOWait
	return CoreUsage{
		BusyPct:    pct(total - idle),
		UserPct:    pct(d.User + d.Nice),
		SysPct:     pct(d.System),
		SoftirqPct: pct(d.SoftIRQ),
		IrqPct:     pct(d.IRQ),
		IdlePct:    pct(idle),
		BusyTicks:  total - idle,
		TotalTicks: total,
	}
}

// Sampler measures per-core usage over one window: Start takes the first
// reading, Stop the second. With 100 ticks a second a window should last
// seconds, not milliseconds, for the percentages to mean much.
type Sampler struct {
	cores []int
	read  func() (map[int]CPUTimes, error)

	mu     sync.Mutex
	before map[int]CPUTimes
}

// NewSampler returns a sampler for the given cores; no cores means all cores
// /proc/stat lists.
func NewSampler(cores ...int) *Sampler {
	return &Sampler{cores: append([]int(nil), cores...), read: ReadCPU}
}

// Start begins the window. Calling it again restarts the window.
func (s *Sampler) Start() error {
	before, err := s.read()
	if err != nil {
		return fmt.Errorf("start cpu sampler: %w", err)
	}
	if err := s.check(before); err != nil {
		return fmt.Errorf("start cpu sampler: %w", err)
	}
	s.mu.Lock()
	s.before = before
	s.mu.Unlock()
	return nil
}

// Stop ends the window and returns each sampled core's usage over it.
func (s *Sampler) Stop() (map[int]CoreUsage, error) {
	s.mu.Lock()
	before := s.before
	s.before = nil
	s.mu.Unlock()
	if before == nil {
		return nil, fmt.Errorf("stop cpu sampler: not started")
	}
	after, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("stop cpu sampler: %w", err)
	}
	cores := s.cores
	if len(cores) == 0 {
		for c := range before {
			cores = append(cores, c)
		}
	}
	out := make(map[int]CoreUsage, len(cores))
	for _, c := range cores {
		b, okb := before[c]
		a, oka := after[c]
		if !okb || !oka {
			return nil, fmt.Errorf("stop cpu sampler: core %d went offline during the window", c)
		}
		out[c] = Usage(b, a)
	}
	return out, nil
}

func (s *Sampler) check(times map[int]CPUTimes) error {
	for _, c := range s.cores {
		if _, ok := times[c]; !ok {
			return fmt.Errorf("core %d is not in /proc/stat", c)
		}
	}
	return nil
}
