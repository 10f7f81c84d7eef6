//go:build dpdk && cgo

package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/measure"
	"github.com/dutlab/dutlab/internal/testenv"
)

// The EAL is initialised once per test binary, on the main thread.
func init() { runtime.LockOSThread() }

var ealErr error

func TestMain(m *testing.M) {
	// The tests busy-poll core 1: none of them may share it with a measurement.
	unlock, err := testenv.LockMeasurement()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	opts := EALOptions{
		Lcores:     []int{0, 1},
		FilePrefix: FilePrefix("test"),
		MemoryMB:   768, // every test keeps its pools: the ports it set up hold them
		VDevs:      []string{"net_null0", "net_ring0"},
		LogLevel:   "error",
	}
	ealErr = Init(opts.Args("dpdk.test"))
	code := m.Run()
	if ealErr == nil {
		if err := EALCleanup(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if err := RemoveRuntime(opts.FilePrefix); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	unlock()
	os.Exit(code)
}

func requireEAL(t *testing.T) {
	t.Helper()
	if ealErr != nil {
		t.Fatalf("EAL did not start: %v", ealErr)
	}
}

// setupPort configures a port with one RX and one TX queue and starts it.
func setupPort(t *testing.T, p Port, pool *Mempool) {
	t.Helper()
	if err := p.Configure(1, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.RxQueueSetup(0, 512, pool); err != nil {
		t.Fatal(err)
	}
	if err := p.TxQueueSetup(0, 512); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
}

func newPool(t *testing.T, name string) *Mempool {
	t.Helper()
	p, err := NewPktmbufPool(name, 4095, 64, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ringLab is a started net_ring pair named name, both ports on one new pool
// (name_pool): what a ring test sends on a arrives on b.
func ringLab(t *testing.T, name string) (a, b Port, pool *Mempool) {
	t.Helper()
	a, b, err := RingPair(name)
	if err != nil {
		t.Fatal(err)
	}
	pool = newPool(t, name+"_pool")
	setupPort(t, a, pool)
	setupPort(t, b, pool)
	return a, b, pool
}

func TestBindingCalls(t *testing.T) {
	requireEAL(t)
	if Lcores()[0] != 0 || LcoreCount() != 2 || MainLcore() != 0 {
		t.Fatalf("lcores %v count %d main %d, want [0 1] 2 0", Lcores(), LcoreCount(), MainLcore())
	}
	if TSCHz() == 0 {
		t.Fatal("TSC frequency is 0")
	}
	if PortCount() < 2 {
		t.Fatalf("%d ports, want at least net_null0 and net_ring0", PortCount())
	}
	if _, err := PortByName("net_nope9"); err == nil {
		t.Fatal("PortByName found a port that does not exist")
	}
	p, err := PortByName("net_null0")
	if err != nil {
		t.Fatal(err)
	}
	if name, err := p.Name(); err != nil || name != "net_null0" {
		t.Fatalf("port name %q, %v", name, err)
	}
	pool := newPool(t, "bind_pool")
	setupPort(t, p, pool)
	if mac, err := p.MAC(); err != nil || len(mac) != 6 {
		t.Fatalf("mac %v, %v", mac, err)
	}
	if l, err := p.Link(); err != nil || !l.Up {
		t.Fatalf("link %+v, %v", l, err)
	}
	if err := p.ResetStats(); err != nil {
		t.Fatal(err)
	}
	ms, err := pool.AllocBulk(8)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := m.SetData(bytes.Repeat([]byte{0xab}, 60)); err != nil {
			t.Fatal(err)
		}
		if d := m.Data(); len(d) != 60 || d[59] != 0xab {
			t.Fatalf("mbuf data %x", d)
		}
	}
	sent := p.TxBurst(0, ms)
	FreeBulk(ms[sent:])
	rx := make([]*Mbuf, 32)
	got := p.RxBurst(0, rx)
	FreeBulk(rx[:got])
	st, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OPackets != uint64(sent) || sent != 8 || got == 0 {
		t.Fatalf("sent %d (stats %+v), received %d from net_null", sent, st, got)
	}
	xs, err := p.Xstats()
	if err != nil || len(xs) == 0 {
		t.Fatalf("xstats %v, %v", xs, err)
	}
	if xs["tx_good_packets"] != 8 {
		t.Fatalf("xstats tx_good_packets = %d, want 8", xs["tx_good_packets"])
	}
	if pool.Avail() != 4095 {
		t.Fatalf("pool has %d mbufs, want all 4095 back", pool.Avail())
	}
}

// testStream is a 60-byte IPv4/UDP frame with the UDP checksum 0.
func testStream(flows int) GenStream {
	f := make([]byte, 60)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 46)
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 19, 0, 1})
	binary.BigEndian.PutUint16(f[34:], 1000)
	binary.BigEndian.PutUint16(f[36:], 9)
	binary.BigEndian.PutUint16(f[38:], 26)
	binary.BigEndian.PutUint32(f[42:], ProbeSignature)
	binary.BigEndian.PutUint16(f[40:], ^udpSum(f))
	return GenStream{Template: f, SrcPortOffset: 34, ProbeOffset: 42, SrcPortBase: 1000, Flows: flows, ChecksumOffset: 40}
}

// udpSum is the one's complement sum of an IPv4/UDP frame's pseudo-header and
// UDP datagram; 0xffff means the checksum in it is right.
func udpSum(f []byte) uint16 {
	udp := f[34:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(f[26:34])
	sum += 17 + uint32(len(udp))
	add(udp)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// runGen runs worker 0 on lcore 1 until it sent want packets (or a timeout).
func runGen(t *testing.T, want uint64, extra func()) Counters {
	t.Helper()
	if err := LaunchGen(0, 1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for GenCounters(0).TxPackets < want && time.Now().Before(deadline) {
		if extra != nil {
			extra()
		}
		time.Sleep(time.Millisecond)
	}
	Stop(true, false)
	time.Sleep(20 * time.Millisecond)
	Stop(true, true)
	if ret := WaitLcore(1); ret != 0 {
		t.Fatalf("worker returned %d", ret)
	}
	return GenCounters(0)
}

func TestRingPairTemplate(t *testing.T) {
	requireEAL(t)
	a, b, pool := ringLab(t, "tmpl")
	st := testStream(4)
	const n = 100
	if err := SetupGen([]GenStream{st}, []GenWorker{{TxPort: a, RxPort: b, TX: true, Pool: pool, MaxPackets: n}}); err != nil {
		t.Fatal(err)
	}
	c := runGen(t, n, nil)
	if c.TxPackets != n || c.TxBytes != n*60 {
		t.Fatalf("counters %+v, want %d packets sent", c, n)
	}
	rx := make([]*Mbuf, 32)
	var got int
	for got < n {
		k := b.RxBurst(0, rx)
		if k == 0 {
			break
		}
		for _, m := range rx[:k] {
			d := m.Data()
			if len(d) != 60 {
				t.Fatalf("frame %d: %d bytes, want 60", got, len(d))
			}
			want := append([]byte(nil), st.Template...)
			binary.BigEndian.PutUint16(want[34:], uint16(1000+got%4))
			copy(want[40:], d[40:60]) // checksum and probe are checked below
			if udpSum(d) != 0xffff {
				t.Fatalf("frame %d: bad UDP checksum %x", got, d[40:42])
			}
			if !bytes.Equal(d, want) {
				t.Fatalf("frame %d:\n got %x\nwant %x", got, d, want)
			}
			if m, s := binary.BigEndian.Uint32(d[42:]), binary.BigEndian.Uint32(d[48:]); m != ProbeSignature || s != uint32(got) {
				t.Fatalf("frame %d: probe magic %#x seq %d", got, m, s)
			}
			got++
		}
		FreeBulk(rx[:k])
	}
	if got != n {
		t.Fatalf("received %d frames, want %d", got, n)
	}
}

func TestRingLatencyAndRate(t *testing.T) {
	requireEAL(t)
	a, b, pool := ringLab(t, "lat")
	StartWindow()
	const n = 20000
	// 1 Mpps paced: about 20 ms.
	if err := SetupGen([]GenStream{testStream(16)}, []GenWorker{{TxPort: a, RxPort: b, TX: true, RX: true, Pool: pool, MaxPackets: n, RatePPS: 1e6}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := runGen(t, n, nil)
	if el := time.Since(start); el < 10*time.Millisecond {
		t.Errorf("%d packets at 1 Mpps took %v: pacing did not hold back", n, el)
	}
	if c.TxPackets != n || c.RxPackets != n || c.RxProbes != n || c.RxWindow != n || c.Reorder != 0 {
		t.Fatalf("counters %+v, want %d through", c, n)
	}
	h := make([]uint64, HistBuckets)
	GenHistogram(0, h)
	var sum uint64
	for _, v := range h {
		sum += v
	}
	if sum != n {
		t.Fatalf("histogram holds %d samples, want %d", sum, n)
	}
}

// Streams of different rates are paced each on its own, and flat-out
// streams share the bursts by weight, in both template modes.
func TestRingPerStreamPacing(t *testing.T) {
	requireEAL(t)
	for mi, mode := range []TemplateMode{Copy, Prefilled} {
		t.Run(string(mode), func(t *testing.T) {
			a, b, pool := ringLab(t, fmt.Sprintf("ps%d", mi))
			var spools []*Mempool // Prefilled's, one per stream, shared by the cases
			if mode == Prefilled {
				spools = []*Mempool{newPool(t, fmt.Sprintf("ps%d_0", mi)), newPool(t, fmt.Sprintf("ps%d_1", mi))}
			}
			for _, tc := range []struct {
				name    string
				rates   []float64
				weights []int
				n       uint64
				ratio   float64 // frames of stream 0 per frame of stream 1
			}{
				{"paced 200k:20k", []float64{200e3, 20e3}, nil, 22000, 10},
				{"flat 7:1", []float64{0, 0}, []int{7, 1}, 80000, 7},
				{"flat beside paced", []float64{0, 5e3}, nil, 0, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					streams := []GenStream{testStream(1), testStream(1)}
					w := GenWorker{TxPort: a, RxPort: b, TX: true, RX: true, Pool: pool, MaxPackets: tc.n, Mode: mode,
						StreamRates: tc.rates, StreamWeights: tc.weights}
					w.Pools = spools
					if err := SetupGen(streams, []GenWorker{w}); err != nil {
						t.Fatal(err)
					}
					for k, p := range w.Pools {
						FillPool(p, k)
					}
					if tc.n == 0 {
						// Flat out for 100 ms: the paced stream still gets
						// its 5 kpps, the flat one the rest.
						if err := LaunchGen(0, 1); err != nil {
							t.Fatal(err)
						}
						time.Sleep(100 * time.Millisecond)
						Stop(true, true)
						if ret := WaitLcore(1); ret != 0 {
							t.Fatalf("worker returned %d", ret)
						}
						f0, f1 := GenStreamFrames(0, 0), GenStreamFrames(0, 1)
						t.Logf("flat %d, paced %d frames in ~100 ms", f0, f1)
						if f1 < 250 || f1 > 1000 || f0 < 10*f1 {
							t.Errorf("flat stream %d frames, 5 kpps stream %d frames in ~100 ms", f0, f1)
						}
						return
					}
					c := runGen(t, tc.n, nil)
					f0, f1 := GenStreamFrames(0, 0), GenStreamFrames(0, 1)
					if uint64(f0)+uint64(f1) != c.TxPackets+c.TxDropped || c.TxPackets != tc.n {
						t.Fatalf("streams made %d + %d frames, counters %+v, want %d sent", f0, f1, c, tc.n)
					}
					if got := float64(f0) / float64(f1); got < tc.ratio*0.98 || got > tc.ratio*1.02 {
						t.Errorf("stream frames %d:%d = %.3f, want %.1f +-2%%", f0, f1, got, tc.ratio)
					}
				})
			}
		})
	}
}

func TestNullTxAndForward(t *testing.T) {
	requireEAL(t)
	null, err := PortByName("net_null0")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := PortByName("net_ring0") // a loopback: what it sends it receives
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, "fwd_pool")
	setupPort(t, null, pool)
	setupPort(t, ring, pool)
	// Forward what net_null "receives" into the ring, with a MAC rewrite.
	dst, src := []byte{2, 1, 1, 1, 1, 1}, []byte{2, 2, 2, 2, 2, 2}
	if err := SetupFwd([]FwdWorker{{In: null, Out: ring, Rewrite: true, Src: src, Dst: dst}}); err != nil {
		t.Fatal(err)
	}
	if err := LaunchFwd(0, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	Stop(true, true)
	if ret := WaitLcore(1); ret != 0 {
		t.Fatalf("forwarder returned %d", ret)
	}
	c := FwdCounters(0)
	if c.RxPackets == 0 || c.TxPackets == 0 {
		t.Fatalf("forwarder counters %+v", c)
	}
	rx := make([]*Mbuf, 1)
	if ring.RxBurst(0, rx) != 1 {
		t.Fatal("nothing came back through net_ring0")
	}
	d := rx[0].Data()
	if !bytes.Equal(d[:6], dst) || !bytes.Equal(d[6:12], src) {
		t.Fatalf("forwarded frame starts %x, want dst %x src %x", d[:12], dst, src)
	}
	FreeBulk(rx)
	for ring.RxBurst(0, rx) == 1 {
		FreeBulk(rx)
	}
	t.Logf("forwarded %d frames from net_null0 to net_ring0 in 50 ms", c.TxPackets)
}

// streamTo is testStream(flows) with UDP destination port dport.
func streamTo(flows int, dport uint16) GenStream {
	st := testStream(flows)
	f := st.Template
	binary.BigEndian.PutUint16(f[40:], 0)
	binary.BigEndian.PutUint16(f[36:], dport)
	binary.BigEndian.PutUint16(f[40:], ^udpSum(f))
	return st
}

// TestTemplateModes sends three rounds of frames through a net_ring pair in
// each template mode, with one and with three streams, from small pools, so
// later rounds reuse mbufs that carry earlier frames (Prefilled: the template
// plus stale varying fields), and checks every received frame's bytes, source
// port, probe and checksum. The rounds vary the flow count, so a field left
// stale would show.
func TestTemplateModes(t *testing.T) {
	requireEAL(t)
	for _, mode := range TemplateModes {
		for _, nst := range []int{1, 3} {
			name := fmt.Sprintf("%s_%d", mode, nst)
			t.Run(name, func(t *testing.T) {
				a, b, err := RingPair("m_" + name)
				if err != nil {
					t.Fatal(err)
				}
				// 100 frames a round (Prefilled: 34 per stream), sized so that
				// rounds 2 and 3 recycle.
				size := uint(127)
				if mode == Prefilled && nst == 3 {
					size = 47
				}
				var pools []*Mempool
				for k := 0; k < nst; k++ {
					p, err := NewPktmbufPool(fmt.Sprintf("m_%s_%d", name, k), size, 0, 0)
					if err != nil {
						t.Fatal(err)
					}
					pools = append(pools, p)
				}
				rxPool := newPool(t, "m_rx_"+name)
				setupPort(t, a, rxPool)
				setupPort(t, b, rxPool)
				const n = 100
				for round, flows := range []int{4, 7, 3} {
					var streams []GenStream
					for k := 0; k < nst; k++ {
						streams = append(streams, streamTo(flows, uint16(9+k)))
					}
					w := GenWorker{TxPort: a, RxPort: b, TX: true, Pool: pools[0], MaxPackets: n, Mode: mode, Burst: 16}
					if mode == Prefilled {
						w.Pool, w.Pools = nil, pools
					}
					if err := SetupGen(streams, []GenWorker{w}); err != nil {
						t.Fatal(err)
					}
					if mode == Prefilled && round == 0 {
						for k, p := range pools {
							FillPool(p, k)
						}
					}
					if c := runGen(t, n, nil); c.TxPackets != n || c.TxBytes != n*60 || c.AllocFailed != 0 {
						t.Fatalf("round %d: counters %+v, want %d packets sent", round, c, n)
					}
					rx := make([]*Mbuf, 32)
					var got int
					for got < n {
						k := b.RxBurst(0, rx)
						if k == 0 {
							break
						}
						for _, m := range rx[:k] {
							d := m.Data()
							if len(d) != 60 {
								t.Fatalf("round %d frame %d: %d bytes, want 60", round, got, len(d))
							}
							s, j := got%nst, got/nst // stream, its frame
							want := append([]byte(nil), streams[s].Template...)
							binary.BigEndian.PutUint16(want[34:], uint16(1000+j%flows))
							binary.BigEndian.PutUint16(want[46:], uint16(s)) // worker 0
							binary.BigEndian.PutUint32(want[48:], uint32(j))
							copy(want[40:42], d[40:42]) // checked by udpSum
							copy(want[52:60], d[52:60]) // send time
							if udpSum(d) != 0xffff {
								t.Fatalf("round %d frame %d: bad UDP checksum %x", round, got, d[40:42])
							}
							if !bytes.Equal(d, want) {
								t.Fatalf("round %d frame %d:\n got %x\nwant %x", round, got, d, want)
							}
							if ts := binary.BigEndian.Uint64(d[52:]); ts == 0 {
								t.Fatalf("round %d frame %d: no send time", round, got)
							}
							got++
						}
						FreeBulk(rx[:k])
					}
					if got != n {
						t.Fatalf("round %d: received %d frames, want %d", round, got, n)
					}
				}
				used := pools
				if mode == Copy {
					used = pools[:1]
				}
				for k, p := range used {
					if avail := p.Avail(); avail != size {
						t.Errorf("pool %d holds %d mbufs after the rounds, want %d", k, avail, size)
					}
				}
				for _, p := range pools {
					p.Free()
				}
			})
		}
	}
	pool := newPool(t, "modes_err")
	two := []GenStream{testStream(1), testStream(2)}
	if err := SetupGen(two, []GenWorker{{TX: true, Pool: pool, Mode: Prefilled}}); err == nil {
		t.Error("Prefilled with two streams and one pool: no error")
	}
	if err := SetupGen(two[:1], []GenWorker{{TX: true, Pool: pool, Mode: "bogus"}}); err == nil {
		t.Error("unknown template mode: no error")
	}
	if err := SetupGen(two[:1], []GenWorker{{TX: true, Pool: pool, Burst: MaxTxBurst + 1}}); err == nil {
		t.Error("TX burst above the maximum: no error")
	}
}

// TestHistogramLayout holds the C fast path's bucketing (histogram.h, shared
// with the xdp-live sink) to the Go twin in internal/measure.
func TestHistogramLayout(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 1000, 65535, 1 << 20, 123456789, 1 << 33, 1<<34 - 1, 1 << 34, 1 << 63} {
		if c, g := histBucket(v), measure.BucketOf(v); c != g {
			t.Errorf("value %d: C bucket %d, Go bucket %d", v, c, g)
		}
	}
	for b := 0; b < measure.HistBuckets; b++ {
		for _, v := range []uint64{measure.BucketLow(b), measure.BucketHigh(b)} {
			if c := histBucket(v); c != b {
				t.Fatalf("value %d: C bucket %d, want %d", v, c, b)
			}
		}
	}
}
