package topologies

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// The raw form is the file as written: every value keeps the line and field
// path it came from, so resolve can point at the exact place of a problem.
// decodeRaw checks only shape (known keys, mappings vs lists vs scalars);
// meaning (kinds, roles, addresses, cores) is resolve's job.

// value is one value as written. Seen says the key was there; Set says its
// value had the right shape (a problem was reported when Seen && !Set).
type value[T any] struct {
	V     T
	Seen  bool
	Set   bool
	Line  int
	Field string
}

type rawSpec struct {
	Line               int
	Name               value[string]
	Purpose            value[string]
	AllowHostInterface value[bool]
	Topology           *rawTopology
}

type rawTopology struct {
	Line      int
	Bad       bool // topology or its nodes were not mappings; nothing more to check
	Defaults  rawSettings
	Kinds     []rawKind
	Nodes     []rawNode
	NodesLine int
	Links     []rawLink
}

// rawSettings are the settings that inherit defaults -> kinds -> nodes.
type rawSettings struct {
	Cores value[[]value[int]]
	MTU   value[int]
}

type rawKind struct {
	Name  string
	Line  int
	Field string
	rawSettings
}

type rawNode struct {
	Name  string
	Line  int
	Field string
	Bad   bool // the node had shape problems; checks that would only echo them are skipped
	Kind  value[string]
	rawSettings
	Interfaces []rawInterface
}

type rawInterface struct {
	Name    string
	Line    int
	Field   string
	Role    value[string]
	Address value[string]
	MAC     value[string]
	MTU     value[int]
}

type rawLink struct {
	Line          int
	Field         string
	Bad           bool // the link had shape problems and is left out
	Type          value[string]
	Endpoints     value[[]value[string]]
	Endpoint      value[string]
	HostInterface value[string]
}

// Keys each mapping accepts; schema_test.go keeps schema.json in step with them.
var (
	specKeys      = []string{"name", "purpose", "allow-host-interface", "topology"}
	topologyKeys  = []string{"defaults", "kinds", "nodes", "links"}
	settingsKeys  = []string{"cores", "mtu"}
	nodeKeys      = []string{"kind", "cores", "mtu", "interfaces"}
	interfaceKeys = []string{"role", "address", "mac", "mtu"}
	linkKeys      = []string{"type", "endpoints", "endpoint", "host-interface"}
)

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into an *Error with its line.
func (l *errorList) yamlError(err error, data []byte) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		hint := ""
		if lines := bytes.Split(data, []byte("\n")); line >= 1 && line <= len(lines) && bytes.Contains(lines[line-1], []byte("\t")) {
			hint = " (YAML indents with spaces; this line has a tab)"
		}
		l.add(line, "", "%s%s", m[2], hint)
		return
	}
	l.add(0, "", "%s", bytes.TrimPrefix([]byte(msg), []byte("yaml: ")))
}

// decodeRaw parses data into the raw form. It returns nil when the file is
// not usable YAML at all; shape problems are added to errs.
func decodeRaw(data []byte, errs *errorList) *rawSpec {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			errs.add(1, "", "file is empty; a topology needs name and topology")
		} else {
			errs.yamlError(err, data)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs.add(extra.Line, "", "a topology file holds one YAML document; found another")
		return nil
	} else if !errors.Is(err, io.EOF) {
		errs.yamlError(err, data)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		errs.add(doc.Line, "", "file is empty; a topology needs name and topology")
		return nil
	}
	root := doc.Content[0]
	d := decoder{errs}
	r := &rawSpec{Line: root.Line}
	if isNull(root) {
		errs.add(root.Line, "", "file is empty; a topology needs name and topology")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		errs.add(root.Line, "", "a topology file is a mapping with name and topology, not %s", describe(root))
		return nil
	}
	d.mapping(root, "", specKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "name":
			r.Name = d.str(v, field)
		case "purpose":
			r.Purpose = d.str(v, field)
		case "allow-host-interface":
			r.AllowHostInterface = d.boolean(v, field)
		case "topology":
			r.Topology = d.topology(v, field)
		}
	})
	return r
}

type decoder struct{ *errorList }

// alias reports an alias and returns true if n is one. The format has
// defaults and kinds for sharing settings, and refusing aliases keeps the
// walk a plain tree walk (an alias can point at its own ancestor).
func (d decoder) alias(n *yaml.Node, field string) bool {
	if n.Kind != yaml.AliasNode {
		return false
	}
	d.add(n.Line, field, "YAML aliases (*%s) are not supported; share settings with topology.defaults or topology.kinds", n.Value)
	return true
}

// problems counts the problems so far, to tell whether a part of the file had any.
func (d decoder) problems() int { return len(d.errs) }

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		if len(n.Value) > 40 {
			return strconv.Quote(n.Value[:40]) + "..."
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// is reports whether n has the wanted kind and adds an error if not.
func (d decoder) is(n *yaml.Node, kind yaml.Kind, field, what string) bool {
	if d.alias(n, field) {
		return false
	}
	if n.Kind == kind {
		return true
	}
	d.add(n.Line, field, "must be %s, not %s", what, describe(n))
	return false
}

// mapping walks the key/value pairs of a mapping. known lists the accepted
// keys; nil accepts any key (names of nodes, kinds, interfaces). An empty
// value (`interfaces:`) counts as an empty mapping.
func (d decoder) mapping(n *yaml.Node, field string, known []string, each func(k, v *yaml.Node, field string)) {
	if isNull(n) || !d.is(n, yaml.MappingNode, field, "a mapping") {
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			if !d.alias(k, field) {
				d.add(k.Line, field, "keys must be plain names, not %s", describe(k))
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.add(k.Line, field, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			d.add(k.Line, field, "unknown field %q%s", k.Value, suggest(k.Value, known))
			continue
		}
		each(k, v, join(field, k.Value))
	}
}

// sequence walks the items of a list; an empty value counts as an empty list.
func (d decoder) sequence(n *yaml.Node, field, what string, each func(i int, item *yaml.Node, field string)) bool {
	if isNull(n) {
		return true
	}
	if !d.is(n, yaml.SequenceNode, field, what) {
		return false
	}
	for i, item := range n.Content {
		each(i, item, fmt.Sprintf("%s[%d]", field, i))
	}
	return true
}

func (d decoder) str(n *yaml.Node, field string) value[string] {
	v := value[string]{Seen: true, Line: n.Line, Field: field}
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.add(n.Line, field, "must be a string, not %s", describe(n))
		return v
	}
	v.V, v.Set = n.Value, true
	return v
}

func (d decoder) integer(n *yaml.Node, field string) value[int] {
	v := value[int]{Seen: true, Line: n.Line, Field: field}
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v.V) != nil {
		d.add(n.Line, field, "must be an integer, not %s", describe(n))
		return v
	}
	v.Set = true
	return v
}

func (d decoder) boolean(n *yaml.Node, field string) value[bool] {
	v := value[bool]{Seen: true, Line: n.Line, Field: field}
	if d.alias(n, field) {
		return v
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v.V) != nil {
		d.add(n.Line, field, "must be true or false, not %s", describe(n))
		return v
	}
	v.Set = true
	return v
}

func (d decoder) settings(k, v *yaml.Node, field string, s *rawSettings) {
	switch k.Value {
	case "cores":
		s.Cores = value[[]value[int]]{Seen: true, Line: v.Line, Field: field}
		before := d.problems()
		d.sequence(v, field, "a list of core numbers like [0]", func(_ int, item *yaml.Node, field string) {
			if c := d.integer(item, field); c.Set {
				s.Cores.V = append(s.Cores.V, c)
			}
		})
		s.Cores.Set = d.problems() == before
	case "mtu":
		s.MTU = d.integer(v, field)
	}
}

func (d decoder) topology(n *yaml.Node, field string) *rawTopology {
	t := &rawTopology{Line: n.Line, NodesLine: n.Line}
	t.Bad = !isNull(n) && n.Kind != yaml.MappingNode
	d.mapping(n, field, topologyKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "defaults":
			d.mapping(v, field, settingsKeys, func(k, v *yaml.Node, field string) {
				d.settings(k, v, field, &t.Defaults)
			})
		case "kinds":
			d.mapping(v, field, nil, func(k, v *yaml.Node, field string) {
				kind := rawKind{Name: k.Value, Line: k.Line, Field: field}
				d.mapping(v, field, settingsKeys, func(k, v *yaml.Node, field string) {
					d.settings(k, v, field, &kind.rawSettings)
				})
				t.Kinds = append(t.Kinds, kind)
			})
		case "nodes":
			t.NodesLine = k.Line
			t.Bad = t.Bad || !isNull(v) && v.Kind != yaml.MappingNode
			d.mapping(v, field, nil, func(k, v *yaml.Node, field string) {
				before := d.problems()
				n := d.node(k, v, field)
				n.Bad = d.problems() > before
				t.Nodes = append(t.Nodes, n)
			})
		case "links":
			d.sequence(v, field, "a list of links", func(_ int, item *yaml.Node, field string) {
				before := d.problems()
				l := d.link(item, field)
				l.Bad = d.problems() > before
				t.Links = append(t.Links, l)
			})
		}
	})
	return t
}

func (d decoder) node(k, v *yaml.Node, field string) rawNode {
	n := rawNode{Name: k.Value, Line: k.Line, Field: field}
	d.mapping(v, field, nodeKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "kind":
			n.Kind = d.str(v, field)
		case "cores", "mtu":
			d.settings(k, v, field, &n.rawSettings)
		case "interfaces":
			d.mapping(v, field, nil, func(k, v *yaml.Node, field string) {
				n.Interfaces = append(n.Interfaces, d.iface(k, v, field))
			})
		}
	})
	return n
}

func (d decoder) iface(k, v *yaml.Node, field string) rawInterface {
	i := rawInterface{Name: k.Value, Line: k.Line, Field: field}
	d.mapping(v, field, interfaceKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "role":
			i.Role = d.str(v, field)
		case "address":
			i.Address = d.str(v, field)
		case "mac":
			i.MAC = d.str(v, field)
		case "mtu":
			i.MTU = d.integer(v, field)
		}
	})
	return i
}

func (d decoder) link(n *yaml.Node, field string) rawLink {
	l := rawLink{Line: n.Line, Field: field}
	if d.alias(n, field) {
		return l
	}
	if !isNull(n) && n.Kind != yaml.MappingNode {
		d.add(n.Line, field, `must be a mapping like {endpoints: ["gen:g0", "dut:d0"]}, not %s`, describe(n))
		return l
	}
	d.mapping(n, field, linkKeys, func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "type":
			l.Type = d.str(v, field)
		case "endpoints":
			l.Endpoints = value[[]value[string]]{Seen: true, Line: v.Line, Field: field}
			l.Endpoints.Set = d.sequence(v, field, `a list like ["gen:g0", "dut:d0"]`, func(_ int, item *yaml.Node, field string) {
				if e := d.str(item, field); e.Set {
					l.Endpoints.V = append(l.Endpoints.V, e)
				}
			})
		case "endpoint":
			l.Endpoint = d.str(v, field)
		case "host-interface":
			l.HostInterface = d.str(v, field)
		}
	})
	return l
}

// suggest returns `; did you mean "x"?` for the closest known key, or "".
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" || (bestDist == 2 && len(key) <= 4) {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
