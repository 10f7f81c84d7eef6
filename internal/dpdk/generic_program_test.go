//go:build dpdk && cgo

package dpdk_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/dutlab/dutlab/generator"
	gendpdk "github.com/dutlab/dutlab/generator/dpdk"
	"github.com/dutlab/dutlab/internal/dpdk"
)

// The C fast path runs field programs too: every frame that comes out of
// the ring equals what generator.Program.Apply makes of the same frame
// number, in both template modes, with every checksum right.
func TestRingGenericStream(t *testing.T) {
	dpdk.RequireEAL(t)
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	syn := generator.Stream{Name: "syn", Proto: generator.ProtoTCPSYN, VLAN: 7, SrcMAC: mac1, DstMAC: mac2,
		Src: netip.MustParseAddr("198.18.0.10"), Dst: netip.MustParseAddr("198.19.0.1"), SrcPort: 1024, DstPort: 80,
		Flows: 5, SrcIPs: 3, DstPorts: 4, FrameSize: 64}
	probe := generator.Stream{Name: "v6", SrcMAC: mac1, DstMAC: mac2, VLAN: 100, Latency: true,
		Src: netip.MustParseAddr("2001:2::10"), Dst: netip.MustParseAddr("2001:2:0:1::1"), SrcPort: 2000, DstPort: 9,
		Flows: 300, DstIPs: 50, SrcRandom: true, DstRandom: true, FrameSize: 128}
	// One ring pair and pool for every case: the EAL has room for few.
	a, b, pool := dpdk.RingLab(t, "gs")
	for _, mode := range []dpdk.TemplateMode{dpdk.Copy, dpdk.Prefilled} {
		for _, st := range []generator.Stream{syn, probe} {
			t.Run(fmt.Sprintf("%s/%s", mode, st.Name), func(t *testing.T) {
				p, err := generator.Compile(st)
				if err != nil {
					t.Fatal(err)
				}
				w := dpdk.GenWorker{TxPort: a, RxPort: b, TX: true, Pool: pool, MaxPackets: 200, Mode: mode}
				if err := dpdk.SetupGen([]dpdk.GenStream{gendpdk.ProgramStream(p)}, []dpdk.GenWorker{w}); err != nil {
					t.Fatal(err)
				}
				if mode == dpdk.Prefilled {
					dpdk.FillPool(pool, 0)
				}
				c := dpdk.RunGenFrames(t, 200, nil)
				if c.TxPackets != 200 {
					t.Fatalf("sent %d frames, want 200", c.TxPackets)
				}
				rx := make([]*dpdk.Mbuf, 32)
				var seq uint64
				flows := map[string]bool{}
				for seq < 200 {
					k := b.RxBurst(0, rx)
					if k == 0 {
						break
					}
					for _, m := range rx[:k] {
						f := m.Data()
						if err := generator.VerifyFrame(f); err != nil {
							t.Fatalf("frame %d: %v\n% x", seq, err, f)
						}
						rnd, err := p.Draws(f)
						if err != nil {
							t.Fatalf("frame %d: %v", seq, err)
						}
						var ts uint64
						var sid uint16
						if p.Probe > 0 {
							ts = binary.BigEndian.Uint64(f[p.Probe+generator.ProbeTimestampOff:])
							sid = binary.BigEndian.Uint16(f[p.Probe+generator.ProbeStreamOff:])
						}
						want := bytes.Clone(p.Frame)
						p.Apply(want, seq, sid, ts, rnd)
						if !bytes.Equal(f, want) {
							t.Fatalf("frame %d: fast path and Program.Apply differ:\n got % x\nwant % x", seq, f, want)
						}
						flows[string(f[14:p.CopyLen])] = true
						seq++
					}
					dpdk.FreeBulk(rx[:k])
				}
				if seq != 200 {
					t.Fatalf("received %d frames, want 200", seq)
				}
				if len(flows) < 50 {
					t.Errorf("%d distinct header sets in 200 frames", len(flows))
				}
			})
		}
	}
}
