package measure

import (
	"math"
	"strings"
	"testing"
)

const statBefore = `cpu  1000 10 500 8000 100 5 50 0 0 0
cpu0 600 10 300 3000 50 5 30 0 0 0
cpu1 400 0 200 5000 50 0 20 0 0 0
intr 123456 0 9 0 0 0 0 0 0 0 0 0 0
ctxt 987654
btime 1700000000
processes 4242
procs_running 2
procs_blocked 0
softirq 5555 0 1 2 3 4 5 6 7 8 9
`

const statAfter = `cpu  1100 10 600 8100 100 5 150 0 0 0
cpu0 660 10 320 3000 50 5 55 0 0 0
cpu1 440 0 280 5100 50 0 95 0 0 0
intr 123999 0 9 0 0 0 0 0 0 0 0 0 0
`

func TestParseCPU(t *testing.T) {
	got, err := ParseCPU(strings.NewReader(statBefore))
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]CPUTimes{
		0: {User: 600, Nice: 10, System: 300, Idle: 3000, IOWait: 50, IRQ: 5, SoftIRQ: 30},
		1: {User: 400, System: 200, Idle: 5000, IOWait: 50, SoftIRQ: 20},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d cores, want %d: %+v", len(got), len(want), got)
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("core %d: got %+v, want %+v", c, got[c], w)
		}
	}
}

func TestParseCPUErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"only aggregate", "cpu  1 2 3 4 5 6 7 8 9 10\n"},
		{"short line", "cpu0 1 2 3 4\n"},
		{"bad number", "cpu0 1 2 x 4 5 6 7 8\n"},
		{"bad label", "cpuX 1 2 3 4 5 6 7 8\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseCPU(strings.NewReader(tt.text)); err == nil {
				t.Fatalf("no error, got %+v", got)
			}
		})
	}
}

func TestParseCPUOldKernel(t *testing.T) {
	// Kernels before 2.6.33 have no guest_nice (and older ones no guest):
	// the eight fields this package uses are enough.
	got, err := ParseCPU(strings.NewReader("cpu3 1 2 3 4 5 6 7 8\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (CPUTimes{1, 2, 3, 4, 5, 6, 7, 8}); got[3] != want {
		t.Fatalf("got %+v, want %+v", got[3], want)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestUsage(t *testing.T) {
	tests := []struct {
		name          string
		before, after CPUTimes
		want          CoreUsage
	}{
		{
			name:   "mixed",
			before: CPUTimes{User: 600, Nice: 10, System: 300, Idle: 3000, IOWait: 50, IRQ: 5, SoftIRQ: 30},
			// +60 user, +20 system, +25 softirq over 105 ticks, nothing idle.
			after: CPUTimes{User: 660, Nice: 10, System: 320, Idle: 3000, IOWait: 50, IRQ: 5, SoftIRQ: 55},
			want: CoreUsage{
				BusyPct: 100, UserPct: 100 * 60.0 / 105, SysPct: 100 * 20.0 / 105, SoftirqPct: 100 * 25.0 / 105,
				BusyTicks: 105, TotalTicks: 105,
			},
		},
		{
			name:   "half idle with iowait, irq and steal",
			before: CPUTimes{},
			after:  CPUTimes{User: 10, Nice: 10, System: 10, Idle: 40, IOWait: 10, IRQ: 5, SoftIRQ: 10, Steal: 5},
			want: CoreUsage{
				BusyPct: 50, UserPct: 20, SysPct: 10, SoftirqPct: 10, IrqPct: 5, IdlePct: 50,
				BusyTicks: 50, TotalTicks: 100,
			},
		},
		{
			name:   "no ticks",
			before: CPUTimes{User: 5, Idle: 5},
			after:  CPUTimes{User: 5, Idle: 5},
			want:   CoreUsage{},
		},
		{
			name: "iowait going backwards counts as zero",
			// Tickless kernels may lower iowait between two reads.
			before: CPUTimes{Idle: 100, IOWait: 50},
			after:  CPUTimes{Idle: 200, IOWait: 40, User: 100},
			want:   CoreUsage{BusyPct: 50, UserPct: 50, IdlePct: 50, BusyTicks: 100, TotalTicks: 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Usage(tt.before, tt.after)
			w := tt.want
			if !near(got.BusyPct, w.BusyPct) || !near(got.UserPct, w.UserPct) || !near(got.SysPct, w.SysPct) ||
				!near(got.SoftirqPct, w.SoftirqPct) || !near(got.IrqPct, w.IrqPct) || !near(got.IdlePct, w.IdlePct) ||
				got.BusyTicks != w.BusyTicks || got.TotalTicks != w.TotalTicks {
				t.Fatalf("got %+v\nwant %+v", got, w)
			}
		})
	}
}

func fixtureReader(t *testing.T, texts ...string) func() (map[int]CPUTimes, error) {
	i := 0
	return func() (map[int]CPUTimes, error) {
		if i >= len(texts) {
			t.Fatal("read more than the fixtures")
		}
		m, err := ParseCPU(strings.NewReader(texts[i]))
		i++
		return m, err
	}
}

func TestSamplerFixtures(t *testing.T) {
	s := NewSampler(1)
	s.read = fixtureReader(t, statBefore, statAfter)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got cores %v, want only core 1", got)
	}
	// cpu1: +40 user, +80 system, +100 idle, +75 softirq = 295 ticks.
	u := got[1]
	if u.TotalTicks != 295 || u.BusyTicks != 195 || !near(u.SoftirqPct, 100*75.0/295) || !near(u.IdlePct, 100*100.0/295) {
		t.Fatalf("core 1: %+v", u)
	}
}

func TestSamplerAllCores(t *testing.T) {
	s := NewSampler()
	s.read = fixtureReader(t, statBefore, statAfter)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %v, want cores 0 and 1", got)
	}
}

func TestSamplerErrors(t *testing.T) {
	s := NewSampler(7)
	s.read = fixtureReader(t, statBefore)
	if err := s.Start(); err == nil {
		t.Fatal("Start accepted a core that /proc/stat does not list")
	}
	if _, err := NewSampler().Stop(); err == nil {
		t.Fatal("Stop without Start did not fail")
	}

	s = NewSampler(1)
	s.read = fixtureReader(t, statBefore, "cpu0 1 2 3 4 5 6 7 8\n")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stop(); err == nil {
		t.Fatal("Stop did not notice core 1 going offline")
	}
}

func TestReadCPUReal(t *testing.T) {
	times, err := ReadCPU()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := times[0]; !ok {
		t.Fatalf("core 0 missing from %v", times)
	}
	s := NewSampler(0)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Burn a few ticks so the window is not empty on an idle machine.
	for after, _ := ReadCPU(); after[0].Total() < times[0].Total()+5; after, _ = ReadCPU() {
	}
	got, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	u := got[0]
	if u.TotalTicks == 0 || u.BusyPct < 0 || u.BusyPct > 100 || !near(u.BusyPct+u.IdlePct, 100) {
		t.Fatalf("core 0: %+v", u)
	}
}
