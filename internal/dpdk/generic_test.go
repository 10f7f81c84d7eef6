//go:build dpdk && cgo

package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/dutlab/dutlab/generator"
)

// The C fast path runs field programs too: every frame that comes out of
// the ring equals what generator.Program.Apply makes of the same frame
// number, in both template modes, with every checksum right.
func TestRingGenericStream(t *testing.T) {
	requireEAL(t)
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	syn := generator.Stream{Name: "syn", Proto: generator.ProtoTCPSYN, VLAN: 7, SrcMAC: mac1, DstMAC: mac2,
		Src: netip.MustParseAddr("198.18.0.10"), Dst: netip.MustParseAddr("198.19.0.1"), SrcPort: 1024, DstPort: 80,
		Flows: 5, SrcIPs: 3, DstPorts: 4, FrameSize: 64}
	probe := generator.Stream{Name: "v6", SrcMAC: mac1, DstMAC: mac2, VLAN: 100, Latency: true,
		Src: netip.MustParseAddr("2001:2::10"), Dst: netip.MustParseAddr("2001:2:0:1::1"), SrcPort: 2000, DstPort: 9,
		Flows: 300, DstIPs: 50, SrcRandom: true, DstRandom: true, FrameSize: 128}
	// One ring pair and pool for every case: the EAL has room for few.
	a, b, pool := ringLab(t, "gs")
	for _, mode := range []TemplateMode{Copy, Prefilled} {
		for _, st := range []generator.Stream{syn, probe} {
			t.Run(fmt.Sprintf("%s/%s", mode, st.Name), func(t *testing.T) {
				p, err := generator.Compile(st)
				if err != nil {
					t.Fatal(err)
				}
				w := GenWorker{TxPort: a, RxPort: b, TX: true, Pool: pool, MaxPackets: 200, Mode: mode}
				if err := SetupGen([]GenStream{ProgramStream(p)}, []GenWorker{w}); err != nil {
					t.Fatal(err)
				}
				if mode == Prefilled {
					FillPool(pool, 0)
				}
				c := runGen(t, 200, nil)
				if c.TxPackets != 200 {
					t.Fatalf("sent %d frames, want 200", c.TxPackets)
				}
				rx := make([]*Mbuf, 32)
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
					FreeBulk(rx[:k])
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

// A replay stream sends its frames as they are, in order and round again,
// whatever their sizes, beside a template stream.
func TestRingReplay(t *testing.T) {
	requireEAL(t)
	a, b, pool := ringLab(t, "rp")
	var frames [][]byte
	for k, n := range []int{60, 1000, 77} {
		f := bytes.Repeat([]byte{byte(0x10 + k)}, n)
		copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5}) // local experimental ethertype
		frames = append(frames, f)
	}
	replay := GenStream{Template: frames[0], Frames: frames, Flows: 1}
	w := GenWorker{TxPort: a, RxPort: b, TX: true, Pool: pool, MaxPackets: 10, Mode: Copy}
	if err := SetupGen([]GenStream{replay}, []GenWorker{w}); err != nil {
		t.Fatal(err)
	}
	c := runGen(t, 10, nil)
	if want := uint64(3*(60+1000+77) + 60); c.TxPackets != 10 || c.TxBytes != want {
		t.Fatalf("counters %+v, want 10 frames, %d bytes", c, want)
	}
	rx := make([]*Mbuf, 32)
	k := b.RxBurst(0, rx)
	if k != 10 {
		t.Fatalf("received %d frames, want 10", k)
	}
	for i, m := range rx[:k] {
		if !bytes.Equal(m.Data(), frames[i%3]) {
			t.Errorf("frame %d: %d bytes % x..., want replay frame %d", i, len(m.Data()), m.Data()[:16], i%3)
		}
	}
	FreeBulk(rx[:k])
}

// The receive side counts a probe seen again as a duplicate (RFC 8219), and
// only once per repeat: replayed probes with sequence numbers 0 1 1 2 0.
func TestRingDuplicates(t *testing.T) {
	requireEAL(t)
	a, b, pool := ringLab(t, "dup")
	st := generator.Stream{Name: "p", Latency: true, SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"), SrcPort: 1024, DstPort: 9, FrameSize: 64}
	p, err := generator.Compile(st)
	if err != nil {
		t.Fatal(err)
	}
	StartWindow()
	var frames [][]byte
	for _, seq := range []uint64{0, 1, 1, 2, 0} {
		f := bytes.Clone(p.Frame)
		p.Apply(f, seq, 0, NowNS(), nil)
		frames = append(frames, f)
	}
	replay := GenStream{Template: frames[0], Frames: frames, Flows: 1}
	w := GenWorker{TxPort: a, RxPort: b, TX: true, RX: true, Pool: pool, MaxPackets: 5, Mode: Copy}
	if err := SetupGen([]GenStream{replay}, []GenWorker{w}); err != nil {
		t.Fatal(err)
	}
	c := runGen(t, 5, nil)
	if c.TxPackets != 5 || c.RxProbes != 5 || c.RxWindow != 5 || c.Duplicates != 2 {
		t.Fatalf("counters %+v, want 5 sent, 5 probes in the window, 2 duplicates", c)
	}
}
