package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// durationFlag accepts plain seconds ("10", "0.5") or Go durations ("10s", "500ms").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		if v < 0 {
			return 0, fmt.Errorf("duration %q is negative", s)
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want seconds (10) or a Go duration (10s, 500ms)", s)
	}
	return d, nil
}

// rateFlag accepts packets per second with an optional unit: 1000, 100kpps, 1.5Mpps.
type rateFlag struct{ pps *float64 }

func (f rateFlag) String() string {
	if f.pps == nil || *f.pps == 0 {
		return "max"
	}
	return strconv.FormatFloat(*f.pps, 'f', -1, 64) + "pps"
}

func (f rateFlag) Set(s string) error {
	v, err := parseRate(s)
	if err != nil {
		return err
	}
	*f.pps = v
	return nil
}

func parseRate(s string) (float64, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if l == "max" || l == "0" {
		return 0, nil
	}
	mult := 1.0
	num := strings.TrimSuffix(l, "pps")
	switch {
	case strings.HasSuffix(num, "k"):
		mult, num = 1e3, strings.TrimSuffix(num, "k")
	case strings.HasSuffix(num, "m"):
		mult, num = 1e6, strings.TrimSuffix(num, "m")
	case strings.HasSuffix(num, "g"):
		mult, num = 1e9, strings.TrimSuffix(num, "g")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: want packets per second such as 1000, 100kpps, 1.5Mpps or max", s)
	}
	return v * mult, nil
}
