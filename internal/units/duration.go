package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DurationHelp describes the duration grammar for --help texts.
const DurationHelp = "a Go duration (10s, 500ms, 1m30s) or plain seconds (10, 0.5)"

// ParseDuration parses a duration that must be positive: a Go duration or
// plain seconds. NaN, infinities, negative values and zero are refused.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err == nil && d == 0 {
		err = fmt.Errorf("duration %q is zero; want %s, above zero", s, DurationHelp)
	}
	return d, err
}

// ParseDurationOrZero is ParseDuration that also accepts zero ("0", "0s"),
// for settings such as a warm-up that may be left out.
func ParseDurationOrZero(s string) (time.Duration, error) { return parseDuration(s) }

func parseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("duration %q %s; want %s", s, why, DurationHelp)
	}
	if in == "" {
		return bad("is empty")
	}
	if v, err := strconv.ParseFloat(in, 64); err == nil || strings.ContainsAny(strings.ToLower(in), "ni") && !strings.ContainsAny(in, "mshuµ") {
		switch {
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			return bad("is not a finite number")
		case v < 0:
			return bad("is negative")
		case v*float64(time.Second) > math.MaxInt64:
			return bad("is too long")
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(in)
	switch {
	case err != nil:
		return bad("is not a duration")
	case d < 0:
		return bad("is negative")
	}
	return d, nil
}

// durationValue is a flag value (flag.Value and pflag.Value) for a duration.
type durationValue struct {
	d         *time.Duration
	allowZero bool
}

// DurationVar returns a flag value that parses into d with ParseDuration.
func DurationVar(d *time.Duration) *durationValue { return &durationValue{d: d} }

// DurationOrZeroVar returns a flag value that parses into d with
// ParseDurationOrZero.
func DurationOrZeroVar(d *time.Duration) *durationValue {
	return &durationValue{d: d, allowZero: true}
}

func (v *durationValue) Type() string { return "duration" }

func (v *durationValue) String() string {
	if v == nil || v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v *durationValue) Set(s string) error {
	parse := ParseDuration
	if v.allowZero {
		parse = ParseDurationOrZero
	}
	d, err := parse(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// OptionalRate is a rate that can be switched off ("off" or "0"), such as
// the latency probes' rate.
type OptionalRate struct {
	Rate
	On bool
}

// ParseOptionalRate parses "off", "0" or the rate grammar.
func ParseOptionalRate(s string) (OptionalRate, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "0", "none":
		return OptionalRate{}, nil
	}
	r, err := ParseRate(s)
	if err != nil {
		return OptionalRate{}, fmt.Errorf("%w (or off)", err)
	}
	return OptionalRate{Rate: r, On: true}, nil
}

func (o *OptionalRate) Type() string { return "rate" }

func (o *OptionalRate) Set(s string) error {
	v, err := ParseOptionalRate(s)
	if err != nil {
		return err
	}
	*o = v
	return nil
}

func (o OptionalRate) String() string {
	if !o.On {
		return "off"
	}
	return o.Rate.String()
}
