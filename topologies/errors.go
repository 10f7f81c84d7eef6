package topologies

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a topology file, located by line and field path
// (for example "topology.nodes.dut.cores").
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the problem has no line (an unreadable file)
	Field string // dotted path of the field; empty for file-level problems
	Msg   string
}

// Error formats e as "file:line: field: msg", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrUnknownBuiltin is returned (wrapped) by Builtin for a name that is not embedded.
var ErrUnknownBuiltin = errors.New("builtin topology does not exist")

// errorList collects every problem of a file so one run reports them all.
type errorList struct {
	file string
	errs []*Error
}

func (l *errorList) add(line int, field, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil, the single *Error, or an errors.Join of all of them ordered by line.
func (l *errorList) err() error {
	switch len(l.errs) {
	case 0:
		return nil
	case 1:
		return l.errs[0]
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
	errs := make([]error, len(l.errs))
	for i, e := range l.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
