package dpdk

import (
	"encoding/json"
	"io"
	"sync"
)

// LineWriter writes one StatsLine JSON object per line, the worker's side of
// the protocol with the engines; safe for concurrent use.
type LineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLineWriter writes lines to w.
func NewLineWriter(w io.Writer) *LineWriter { return &LineWriter{w: w} }

// Write writes v as one JSON line; write errors are dropped (the reader is
// gone, and the worker stops on its signal).
func (l *LineWriter) Write(v StatsLine) {
	b, _ := json.Marshal(v)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(append(b, '\n'))
}
