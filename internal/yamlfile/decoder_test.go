package yamlfile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/units"
	"gopkg.in/yaml.v3"
)

// sample is a file with one problem of each kind the decoder finds.
const sample = `name: lab
count: 3
port: 70000
on: yes
enabled: true
mode: fats
rate: 1.5mpps
bad-rate: nan
duration: 5
warmup: 0
tags: [a, b]
one-tag: solo
nmae: x
`

type sampleFile struct {
	name, mode     Value[string]
	count, port    Value[int]
	enabled        Value[bool]
	rate, badRate  Value[units.Rate]
	duration, warm Value[time.Duration]
	tags, oneTag   Value[[]string]
	onBool         Value[bool]
}

var sampleKeys = []string{"name", "count", "port", "on", "enabled", "mode", "rate", "bad-rate", "duration", "warmup", "tags", "one-tag"}

func decodeSample(t *testing.T) (*sampleFile, error) {
	t.Helper()
	d := NewDecoder("lab.yaml", []byte(sample))
	root := d.Document("a lab", "name")
	if root == nil {
		t.Fatalf("Document: %v", d.Err())
	}
	var s sampleFile
	d.Mapping(root, "", sampleKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "name":
			s.name = d.String(v, field)
		case "count":
			s.count = d.Int(v, field)
		case "port":
			s.port = d.InRange(v, field, 1, 65535)
		case "on":
			s.onBool = d.Bool(v, field)
		case "enabled":
			s.enabled = d.Bool(v, field)
		case "mode":
			s.mode = d.OneOf(v, field, []string{"fast", "slow"})
		case "rate":
			s.rate = d.Rate(v, field)
		case "bad-rate":
			s.badRate = d.Rate(v, field)
		case "duration":
			s.duration = d.Duration(v, field, false)
		case "warmup":
			s.warm = d.Duration(v, field, true)
		case "tags":
			s.tags = d.List(v, field)
		case "one-tag":
			s.oneTag = d.List(v, field)
		}
	})
	return &s, d.Err()
}

func TestDecoderValues(t *testing.T) {
	s, _ := decodeSample(t)
	if !s.name.Set || s.name.V != "lab" || s.name.Line != 1 || s.name.Col != 7 || s.name.Field != "name" {
		t.Errorf("name = %+v", s.name)
	}
	if !s.count.Set || s.count.V != 3 {
		t.Errorf("count = %+v", s.count)
	}
	if !s.enabled.Set || !s.enabled.V {
		t.Errorf("enabled = %+v", s.enabled)
	}
	if !s.rate.Set || s.rate.V != units.PacketRate(1.5e6) {
		t.Errorf("rate = %+v", s.rate)
	}
	if !s.duration.Set || s.duration.V != 5*time.Second || !s.warm.Set || s.warm.V != 0 {
		t.Errorf("duration = %+v, warmup = %+v", s.duration, s.warm)
	}
	if !s.tags.Set || strings.Join(s.tags.V, ",") != "a,b" || !s.oneTag.Set || strings.Join(s.oneTag.V, ",") != "solo" {
		t.Errorf("tags = %+v, one-tag = %+v", s.tags, s.oneTag)
	}
	for name, v := range map[string]bool{"port": s.port.Set, "on": s.onBool.Set, "mode": s.mode.Set, "bad-rate": s.badRate.Set} {
		if v {
			t.Errorf("%s is Set although it was refused", name)
		}
	}
}

func TestDecoderErrors(t *testing.T) {
	_, err := decodeSample(t)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %T %v; want Errors", err, err)
	}
	want := []string{
		`lab.yaml:3:7: port: 70000 is out of range; use 1 to 65535`,
		`lab.yaml:4:5: on: must be true or false, not "yes"`,
		`lab.yaml:6:7: mode: "fats" is not one of fast, slow; did you mean "fast"?`,
		`lab.yaml:8:11: bad-rate: rate "nan" is not a finite number; want ` + units.RateHelp,
		`lab.yaml:13:1: unknown field "nmae"; did you mean "name"?`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestDocument(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{name: "empty", data: "", want: "f.yaml:1: file is empty; a lab needs name"},
		{name: "null", data: "~\n", want: "f.yaml:1: file is empty; a lab needs name"},
		{name: "list", data: "- a\n", want: `f.yaml:1: a lab file is a mapping with name, not a list`},
		{name: "two documents", data: "name: a\n---\nname: b\n", want: "f.yaml:2: a lab file holds one YAML document; found another"},
		{name: "tab", data: "name: a\n\tx: 1\n", want: "(YAML indents with spaces; this line has a tab)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder("f.yaml", []byte(tt.data))
			if root := d.Document("a lab", "name"); root != nil {
				t.Fatalf("Document returned a root for %q", tt.data)
			}
			if err := d.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want %q", err, tt.want)
			}
		})
	}
}

func TestDuplicateAndAlias(t *testing.T) {
	d := NewDecoder("f.yaml", []byte("a: &x 1\nb: *x\na: 2\n"))
	d.AliasHint = "; repeat the value"
	root := d.Document("a file", "a")
	d.Mapping(root, "", nil, func(k, v *yaml.Node, field string) { d.Int(v, field) })
	want := "f.yaml:2:4: b: YAML aliases (*x) are not supported; repeat the value\n" +
		"f.yaml:3:1: duplicate key \"a\" (first at line 1)"
	if err := d.Err(); err == nil || err.Error() != want {
		t.Errorf("err = %v; want\n%s", err, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"rate", "duration", "streams"}
	tests := []struct{ key, want string }{
		{"rtae", `; did you mean "rate"?`},
		{"duraton", `; did you mean "duration"?`},
		{"stream", `; did you mean "streams"?`},
		{"xyz", ""},
		{"ab", ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.key, known); got != tt.want {
			t.Errorf("Suggest(%q) = %q; want %q", tt.key, got, tt.want)
		}
	}
}
