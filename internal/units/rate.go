// Package units holds dutlab's one grammar for rates and durations, shared by
// command-line flags, profiles and suites.
//
// Rates:
//
//	1000, 1000pps, 100kpps, 1.5Mpps, 2M      packets per second (prefix k, M, G; case of the unit free)
//	1Gbps, 500Mbps, 64kbps                    bits per second on the wire (frame + 20 B preamble and gap)
//	50%                                       percent of the line rate or measured ceiling, where one is known
//	max                                       as fast as the engine can (also the zero Rate)
//
// Durations: a Go duration (10s, 500ms, 1m30s) or plain seconds (10, 0.5).
// NaN, infinities, negative values and (for rates and durations) zero are
// refused with an error that names the value and the grammar.
package units

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// WireOverhead is the per-frame overhead on an Ethernet wire that a bit rate
// counts besides the frame itself: 8 bytes of preamble and 12 of gap.
const WireOverhead = 20

// Rate is a rate as written: packets per second, wire bits per second, or
// percent of a reference. At most one field is non-zero; the zero Rate means
// as fast as possible ("max").
type Rate struct {
	PPS     float64
	BPS     float64
	Percent float64
}

// PacketRate, BitRate and PercentRate build a Rate of one kind.
func PacketRate(pps float64) Rate           { return Rate{PPS: pps} }
func BitRate(bps float64) Rate              { return Rate{BPS: bps} }
func PercentRate(pct float64) Rate          { return Rate{Percent: pct} }
func (r Rate) IsMax() bool                  { return r == Rate{} }
func (r Rate) IsPercent() bool              { return r.Percent != 0 }
func (r *Rate) Type() string                { return "rate" }
func (r *Rate) Set(s string) error          { v, err := ParseRate(s); *r = v; return err }
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses the rate grammar.
func (r *Rate) UnmarshalText(b []byte) error { return r.Set(string(b)) }

// ErrNoReference is returned when a percent rate is resolved without a line
// rate or ceiling to take the percentage of.
var ErrNoReference = errors.New("a percent rate needs a line rate or measured ceiling")

// PacketsPerSecond resolves r to packets per second for frames of meanFrameBytes (FCS
// included). ref is what a percent rate is a percentage of (any kind of
// Rate except a percent; the zero Rate when none is known). It returns 0 for
// max.
func (r Rate) PacketsPerSecond(meanFrameBytes float64, ref Rate) (float64, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	switch {
	case r.PPS > 0:
		return r.PPS, nil
	case r.BPS > 0:
		if !(meanFrameBytes > 0) || math.IsInf(meanFrameBytes, 0) {
			return 0, fmt.Errorf("resolve rate %s: frame size %g is not positive", r, meanFrameBytes)
		}
		return r.BPS / ((meanFrameBytes + WireOverhead) * 8), nil
	case r.Percent > 0:
		if ref.IsMax() || ref.Percent != 0 {
			return 0, fmt.Errorf("resolve rate %s: %w", r, ErrNoReference)
		}
		refPPS, err := ref.PacketsPerSecond(meanFrameBytes, Rate{})
		if err != nil {
			return 0, fmt.Errorf("resolve rate %s: reference: %w", r, err)
		}
		return refPPS * r.Percent / 100, nil
	}
	return 0, nil
}

func (r Rate) check() error {
	set := 0
	for _, v := range []float64{r.PPS, r.BPS, r.Percent} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("rate %s: values must be finite and not negative", r)
		}
		if v != 0 {
			set++
		}
	}
	if set > 1 {
		return fmt.Errorf("rate %s: set only one of pps, bps and percent", r)
	}
	if r.Percent > 100 {
		return fmt.Errorf("rate %s: percent above 100", r)
	}
	return nil
}

// String formats r so that ParseRate reads it back.
func (r Rate) String() string {
	switch {
	case r.PPS != 0:
		return siString(r.PPS) + "pps"
	case r.BPS != 0:
		return siString(r.BPS) + "bps"
	case r.Percent != 0:
		return strconv.FormatFloat(r.Percent, 'g', -1, 64) + "%"
	}
	return "max"
}

func siString(v float64) string {
	for _, u := range []struct {
		prefix string
		scale  float64
	}{{"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if math.Abs(v) >= u.scale {
			return strconv.FormatFloat(v/u.scale, 'g', -1, 64) + u.prefix
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// RateHelp describes the grammar in one line, for --help texts.
const RateHelp = "packets/s (1000, 100kpps, 1.5Mpps), wire bits/s (1Gbps, 500Mbps), N% of the line rate, or max"

var prefixes = map[string]float64{"k": 1e3, "m": 1e6, "g": 1e9}

// ParseRate parses the rate grammar (see the package comment). Unit and
// prefix are case-insensitive ("1.5mpps" is 1.5 Mpps: there are no
// milli-packets).
func ParseRate(s string) (Rate, error) {
	in := strings.TrimSpace(s)
	bad := func(why string) (Rate, error) {
		return Rate{}, fmt.Errorf("rate %q %s; want %s", s, why, RateHelp)
	}
	l := strings.ToLower(in)
	if l == "max" {
		return Rate{}, nil
	}
	if strings.Contains(l, "nan") || strings.Contains(l, "inf") {
		return bad("is not a finite number")
	}
	if num, ok := strings.CutSuffix(l, "%"); ok {
		v, ok := parsePositive(strings.TrimSpace(num))
		switch {
		case !ok:
			return bad("has no positive number before %")
		case v > 100:
			return bad("is above 100%")
		}
		return Rate{Percent: v}, nil
	}
	unit, num := "pps", l
	for _, u := range []string{"pps", "bps"} {
		if n, ok := strings.CutSuffix(l, u); ok {
			unit, num = u, strings.TrimSpace(n)
			break
		}
	}
	scale := 1.0
	if num != "" {
		last := num[len(num)-1:]
		if f, ok := prefixes[last]; ok {
			scale, num = f, num[:len(num)-1]
		} else if c := last[0]; c >= 'a' && c <= 'z' {
			return bad(fmt.Sprintf("has an unknown unit %q", trailingLetters(in)))
		}
	}
	v, ok := parsePositive(num)
	if !ok {
		return bad("is not a positive finite number")
	}
	v *= scale
	if math.IsInf(v, 0) {
		return bad("is too large")
	}
	if unit == "bps" {
		return Rate{BPS: v}, nil
	}
	return Rate{PPS: v}, nil
}

// parsePositive parses a plain decimal number (no hex, infinities or NaN)
// greater than zero.
func parsePositive(s string) (float64, bool) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.eE+-", r) }) >= 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// trailingLetters returns the unit part of s: its trailing run of letters.
func trailingLetters(s string) string {
	i := len(s)
	for i > 0 && (s[i-1] >= 'a' && s[i-1] <= 'z' || s[i-1] >= 'A' && s[i-1] <= 'Z') {
		i--
	}
	return s[i:]
}
