package units

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{in: "1000", want: PacketRate(1000)},
		{in: "1000pps", want: PacketRate(1000)},
		{in: "100kpps", want: PacketRate(1e5)},
		{in: "1.5Mpps", want: PacketRate(1.5e6)},
		{in: "1.5mpps", want: PacketRate(1.5e6)},
		{in: "1.5M", want: PacketRate(1.5e6)},
		{in: "2G", want: PacketRate(2e9)},
		{in: "1Gbps", want: BitRate(1e9)},
		{in: "500Mbps", want: BitRate(5e8)},
		{in: "64kbps", want: BitRate(64e3)},
		{in: " 50% ", want: PercentRate(50)},
		{in: "100%", want: PercentRate(100)},
		{in: "max", want: Rate{}},
		{in: "100Kpps", want: PacketRate(1e5)},
		{in: "2Gpps", want: PacketRate(2e9)},
		{in: "9600bps", want: BitRate(9600)},
		{in: "1e3pps", want: PacketRate(1000)},
		{in: "12.5 %", want: PercentRate(12.5)},
		{in: "Infpps", wantErr: true},
		{in: "pps", wantErr: true},
		{in: "MAX", want: Rate{}},
		{in: "nan", wantErr: true},
		{in: "NaNpps", wantErr: true},
		{in: "inf", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "0", wantErr: true},
		{in: "0pps", wantErr: true},
		{in: "101%", wantErr: true},
		{in: "%", wantErr: true},
		{in: "", wantErr: true},
		{in: "1Tpps", wantErr: true},
		{in: "fast", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1e400", wantErr: true},
	} {
		got, err := ParseRate(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseRate(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if back, err := ParseRate(got.String()); err != nil || back != got {
			t.Errorf("ParseRate(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestRatePPS(t *testing.T) {
	for _, tt := range []struct {
		name  string
		r     Rate
		frame float64
		ref   Rate
		want  float64
		err   error
	}{
		{name: "pps", r: PacketRate(1e6), frame: 64, want: 1e6},
		{name: "max", r: Rate{}, frame: 64, want: 0},
		{name: "bits count preamble and gap", r: BitRate(10e9), frame: 64, want: 10e9 / (84 * 8)},
		{name: "percent of a line rate", r: PercentRate(50), frame: 64, ref: BitRate(10e9), want: 10e9 / (84 * 8) / 2},
		{name: "percent of a ceiling", r: PercentRate(10), frame: 64, ref: PacketRate(3e6), want: 3e5},
		{name: "percent without reference", r: PercentRate(10), frame: 64, err: ErrNoReference},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.PacketsPerSecond(tt.frame, tt.ref)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || math.Abs(got-tt.want) > 1e-6 {
				t.Fatalf("PPS = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := (Rate{PPS: 1, BPS: 1}).PacketsPerSecond(64, Rate{}); err == nil {
		t.Error("a rate with two kinds set resolved without an error")
	}
	if _, err := BitRate(1e9).PacketsPerSecond(0, Rate{}); err == nil {
		t.Error("a bit rate resolved for a zero frame size")
	}
}

func TestParseDuration(t *testing.T) {
	for _, tt := range []struct {
		in     string
		want   time.Duration
		zeroOK bool
		err    bool
	}{
		{in: "10", want: 10 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "10s", want: 10 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "0", err: true},
		{in: "0s", err: true},
		{in: "0", zeroOK: true, want: 0},
		{in: "-1", err: true},
		{in: "-1s", err: true},
		{in: "nan", err: true},
		{in: "inf", err: true},
		{in: "Inf", zeroOK: true, err: true},
		{in: "1e300", err: true},
		{in: "", err: true},
		{in: "soon", err: true},
	} {
		parse := ParseDuration
		if tt.zeroOK {
			parse = ParseDurationOrZero
		}
		got, err := parse(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parse(%q, zero ok %v) = %v, %v; want %v, error %v", tt.in, tt.zeroOK, got, err, tt.want, tt.err)
		}
	}
}

func TestFlagValues(t *testing.T) {
	var d time.Duration
	v := DurationVar(&d)
	if err := v.Set("0"); err == nil {
		t.Error("DurationVar accepted 0")
	}
	if err := v.Set("3s"); err != nil || d != 3*time.Second || v.String() != "3s" {
		t.Errorf("DurationVar.Set(3s): d = %v, %v", d, err)
	}
	if err := DurationOrZeroVar(&d).Set("0"); err != nil || d != 0 {
		t.Errorf("DurationOrZeroVar.Set(0): d = %v, %v", d, err)
	}
	var o OptionalRate
	if err := o.Set("10kpps"); err != nil || !o.On || o.PPS != 1e4 {
		t.Errorf("OptionalRate.Set(10kpps) = %+v, %v", o, err)
	}
	if err := o.Set("off"); err != nil || o.On || o.String() != "off" {
		t.Errorf("OptionalRate.Set(off) = %+v, %v", o, err)
	}
	var r Rate
	if err := r.Set("2Mpps"); err != nil || r.PPS != 2e6 || r.Type() != "rate" {
		t.Errorf("Rate.Set(2Mpps) = %+v, %v", r, err)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"1000", "1.5Mpps", "1Gbps", "50%", "max", "nan", "-1", "1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if err := r.check(); err != nil {
			t.Fatalf("ParseRate(%q) = %+v, which does not check: %v", s, r, err)
		}
		back, err := ParseRate(r.String())
		if err != nil {
			t.Fatalf("ParseRate(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if math.Abs(back.PPS-r.PPS) > 1e-9*r.PPS || math.Abs(back.BPS-r.BPS) > 1e-9*r.BPS || back.Percent != r.Percent {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v", s, r, r.String(), back)
		}
	})
}
