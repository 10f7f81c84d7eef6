// Package yamlfile is dutlab's one line-tracking layer over gopkg.in/yaml.v3
// nodes, shared by topology files and traffic profiles. It checks shape
// (known keys, mappings vs lists vs scalars, scalar grammars) and reports
// every problem as file:line:col: field: msg; what values mean is the
// caller's resolve step.
package yamlfile

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a YAML file, located by line, column and dotted
// field path (for example "topology.nodes.dut.cores").
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the problem has no line (an unreadable file)
	Col   int    // 1-based; 0 when unknown
	Field string // dotted path of the field; empty for file-level problems
	Msg   string
}

// Error formats e as "file:line:col: field: msg", leaving out the parts
// that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem of one file, in line order.
type Errors []*Error

// Error writes one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Err returns nil for no problems, the *Error for one, else the Errors
// sorted by line (stable, so problems on one line keep their order).
func (es Errors) Err() error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	sorted := append(Errors(nil), es...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Line < sorted[j].Line })
	return sorted
}

// Suggest returns `; did you mean "x"?` for the closest of known to key,
// or "" when none is close.
func Suggest(key string, known []string) string {
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
