//go:build dpdk && cgo

package dpdk

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/dutlab/dutlab/generator"
)

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
