package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dutlab/dutlab/internal/units"
	"gopkg.in/yaml.v3"
)

// Value is one value as written. Seen says the key was there; Set says its
// value had the right shape and grammar (a problem was reported when
// Seen && !Set). Line, Col and Field say where it came from, for the
// resolve step's errors.
type Value[T any] struct {
	V     T
	Seen  bool
	Set   bool
	Line  int
	Col   int
	Field string
}

// Decoder walks the nodes of one file and collects every problem, so one
// run reports them all.
type Decoder struct {
	file string
	data []byte
	errs Errors
	// AliasHint is appended to the error for a YAML alias (aliases are
	// refused so the walk stays a tree walk).
	AliasHint string
}

// NewDecoder returns a decoder for data read from file.
func NewDecoder(file string, data []byte) *Decoder {
	return &Decoder{file: file, data: data}
}

// Err returns the problems found so far (see Errors.Err).
func (d *Decoder) Err() error { return d.errs.Err() }

// Problems counts the problems so far, to tell whether a part of the file had any.
func (d *Decoder) Problems() int { return len(d.errs) }

// Errorf records a problem at line and col (0 when unknown).
func (d *Decoder) Errorf(line, col int, field, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Fail records a problem at n.
func (d *Decoder) Fail(n *yaml.Node, field, format string, args ...any) {
	d.Errorf(n.Line, n.Column, field, format, args...)
}

// At records a problem at the place v was written.
func At[T any](d *Decoder, v Value[T], format string, args ...any) {
	d.Errorf(v.Line, v.Col, v.Field, format, args...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntax records a yaml.v3 syntax error with its line and a hint for tabs.
func (d *Decoder) syntax(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		hint := ""
		if lines := bytes.Split(d.data, []byte("\n")); line >= 1 && line <= len(lines) && bytes.Contains(lines[line-1], []byte("\t")) {
			hint = " (YAML indents with spaces; this line has a tab)"
		}
		d.Errorf(line, 0, "", "%s%s", m[2], hint)
		return
	}
	d.Errorf(0, 0, "", "%s", strings.TrimPrefix(msg, "yaml: "))
}

// Document parses the file's one document and returns its root mapping,
// or nil after recording why there is none. needs says what the file must
// hold, for the empty-file error ("name and topology").
func (d *Decoder) Document(what, needs string) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(d.data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.Errorf(1, 0, "", "file is empty; %s needs %s", what, needs)
		} else {
			d.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		d.Errorf(extra.Line, 0, "", "%s file holds one YAML document; found another", what)
		return nil
	} else if !errors.Is(err, io.EOF) {
		d.syntax(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || IsNull(doc.Content[0]) {
		d.Errorf(doc.Line, 0, "", "file is empty; %s needs %s", what, needs)
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		d.Errorf(root.Line, 0, "", "%s file is a mapping with %s, not %s", what, needs, Describe(root))
		return nil
	}
	return root
}

// Join appends key to a dotted field path.
func Join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// IsNull reports whether n is an empty value (`key:` or `~`).
func IsNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// Describe names what n is for an error: a mapping, a list, empty or the
// quoted scalar.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "empty"
		}
		if len(n.Value) > 40 {
			return strconv.Quote(n.Value[:40]) + "..."
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// alias records an alias and returns true if n is one.
func (d *Decoder) alias(n *yaml.Node, field string) bool {
	if n.Kind != yaml.AliasNode {
		return false
	}
	d.Fail(n, field, "YAML aliases (*%s) are not supported%s", n.Value, d.AliasHint)
	return true
}

// Is reports whether n has the wanted kind and records a problem if not.
func (d *Decoder) Is(n *yaml.Node, kind yaml.Kind, field, what string) bool {
	if d.alias(n, field) {
		return false
	}
	if n.Kind == kind {
		return true
	}
	d.Fail(n, field, "must be %s, not %s", what, Describe(n))
	return false
}

// Mapping walks the key/value pairs of a mapping. known lists the accepted
// keys (an unknown one is reported with a did-you-mean); nil accepts any
// key. Duplicate keys are reported. An empty value counts as an empty
// mapping. It returns false when n is not a mapping.
func (d *Decoder) Mapping(n *yaml.Node, field string, known []string, each func(k, v *yaml.Node, field string)) bool {
	if IsNull(n) {
		return true
	}
	if !d.Is(n, yaml.MappingNode, field, "a mapping") {
		return false
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			if !d.alias(k, field) {
				d.Fail(k, field, "keys must be plain names, not %s", Describe(k))
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.Fail(k, field, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			d.Fail(k, field, "unknown field %q%s", k.Value, Suggest(k.Value, known))
			continue
		}
		each(k, v, Join(field, k.Value))
	}
	return true
}

// Sequence walks the items of a list, naming each field[i]; an empty
// value counts as an empty list. what names the list for errors ("a list
// of links").
func (d *Decoder) Sequence(n *yaml.Node, field, what string, each func(i int, item *yaml.Node, field string)) bool {
	if IsNull(n) {
		return true
	}
	if !d.Is(n, yaml.SequenceNode, field, what) {
		return false
	}
	for i, item := range n.Content {
		each(i, item, fmt.Sprintf("%s[%d]", field, i))
	}
	return true
}

func seen[T any](n *yaml.Node, field string) Value[T] {
	return Value[T]{Seen: true, Line: n.Line, Col: n.Column, Field: field}
}

// Scalar returns the text of a scalar of any tag (a number or a string).
func (d *Decoder) Scalar(n *yaml.Node, field string) Value[string] {
	v := seen[string](n, field)
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		d.Fail(n, field, "must be a single value, not %s", Describe(n))
		return v
	}
	v.V, v.Set = n.Value, true
	return v
}

// String returns a string scalar.
func (d *Decoder) String(n *yaml.Node, field string) Value[string] {
	v := seen[string](n, field)
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || IsNull(n) {
		d.Fail(n, field, "must be a string, not %s", Describe(n))
		return v
	}
	v.V, v.Set = n.Value, true
	return v
}

// Int returns an integer scalar.
func (d *Decoder) Int(n *yaml.Node, field string) Value[int] {
	v := seen[int](n, field)
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v.V) != nil {
		d.Fail(n, field, "must be an integer, not %s", Describe(n))
		return v
	}
	v.Set = true
	return v
}

// InRange returns an integer scalar in [lo, hi].
func (d *Decoder) InRange(n *yaml.Node, field string, lo, hi int) Value[int] {
	v := d.Int(n, field)
	if v.Set && (v.V < lo || v.V > hi) {
		d.Fail(n, field, "%d is out of range; use %d to %d", v.V, lo, hi)
		v.Set = false
	}
	return v
}

// Bool returns a true/false scalar.
func (d *Decoder) Bool(n *yaml.Node, field string) Value[bool] {
	v := seen[bool](n, field)
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v.V) != nil {
		d.Fail(n, field, "must be true or false, not %s", Describe(n))
		return v
	}
	v.Set = true
	return v
}

// OneOf returns a string scalar that must be one of allowed.
func (d *Decoder) OneOf(n *yaml.Node, field string, allowed []string) Value[string] {
	v := d.String(n, field)
	if v.Set && !slices.Contains(allowed, v.V) {
		d.Fail(n, field, "%q is not one of %s%s", v.V, strings.Join(allowed, ", "), Suggest(v.V, allowed))
		v.Set = false
	}
	return v
}

// Rate returns a rate in units' grammar.
func (d *Decoder) Rate(n *yaml.Node, field string) Value[units.Rate] {
	v := seen[units.Rate](n, field)
	s := d.Scalar(n, field)
	if !s.Set {
		return v
	}
	r, err := units.ParseRate(s.V)
	if err != nil {
		d.Fail(n, field, "%v", err)
		return v
	}
	v.V, v.Set = r, true
	return v
}

// Duration returns a duration in units' grammar; zeroOK allows 0.
func (d *Decoder) Duration(n *yaml.Node, field string, zeroOK bool) Value[time.Duration] {
	v := seen[time.Duration](n, field)
	s := d.Scalar(n, field)
	if !s.Set {
		return v
	}
	parse := units.ParseDuration
	if zeroOK {
		parse = units.ParseDurationOrZero
	}
	dur, err := parse(s.V)
	if err != nil {
		d.Fail(n, field, "%v", err)
		return v
	}
	v.V, v.Set = dur, true
	return v
}

// List returns a list of strings; a single string counts as a list of one.
func (d *Decoder) List(n *yaml.Node, field string) Value[[]string] {
	v := seen[[]string](n, field)
	if n.Kind == yaml.ScalarNode && !IsNull(n) {
		v.V, v.Set = []string{n.Value}, true
		return v
	}
	before := d.Problems()
	ok := d.Sequence(n, field, "a list of strings", func(_ int, item *yaml.Node, field string) {
		if s := d.String(item, field); s.Set {
			v.V = append(v.V, s.V)
		}
	})
	v.Set = ok && d.Problems() == before
	return v
}
