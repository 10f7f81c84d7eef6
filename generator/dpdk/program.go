package dpdk

import (
	"github.com/dutlab/dutlab/generator"
	"github.com/dutlab/dutlab/internal/dpdk"
)

// ProgramStream is the fast path's stream for field program p: its
// template, probe and fields (rate and weight are the caller's).
func ProgramStream(p generator.Program) dpdk.GenStream {
	g := &dpdk.GenProgram{L3ChecksumOffset: max(p.L3Checksum, 0), L4ChecksumOffset: max(p.L4Checksum, 0),
		L3Sum: p.L3Sum, L4Sum: p.L4Sum, UDPChecksum: p.UDPChecksum}
	for _, f := range p.Fields {
		g.Fields = append(g.Fields, dpdk.GenField{Offset: f.Off, Width: f.Width, Base: f.Base, Count: f.Count,
			Random: f.Random, InL3: f.InL3, InL4: f.InL4})
	}
	return dpdk.GenStream{Template: p.Frame, ProbeOffset: max(p.Probe, 0), Flows: 1, Generic: g}
}
