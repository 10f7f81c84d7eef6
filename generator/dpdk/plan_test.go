package dpdk

import (
	"slices"
	"testing"
	"time"

	"github.com/dutlab/dutlab/internal/dpdk"
)

// streams is n template streams at the given rates (0 = unpaced), weight 0.
func streams(rates ...float64) []dpdk.GenStream {
	var s []dpdk.GenStream
	for _, r := range rates {
		s = append(s, dpdk.GenStream{Template: make([]byte, 60), Flows: 1, RatePPS: r})
	}
	return s
}

func TestPlanGenRates(t *testing.T) {
	tests := []struct {
		name          string
		cfg           dpdk.GenConfig
		workers       int
		perWorker     float64
		streamRates   []float64
		streamWeights []int
	}{
		{name: "config rate split over workers", cfg: dpdk.GenConfig{RatePPS: 1e6, Streams: streams(5e3, 7e3)},
			workers: 2, perWorker: 5e5},
		{name: "no rate anywhere is flat out", cfg: dpdk.GenConfig{Streams: streams(0)}, workers: 1},
		{name: "one unpaced stream makes the sum flat out", cfg: dpdk.GenConfig{Streams: streams(1e3, 0)},
			workers: 1, streamRates: []float64{1e3, 0}, streamWeights: []int{0, 0}},
		{name: "equal streams go round robin at their sum", cfg: dpdk.GenConfig{Streams: streams(1e3, 1e3, 1e3)},
			workers: 3, perWorker: 1e3},
		{name: "different rates are paced each on its own", cfg: dpdk.GenConfig{Streams: streams(2e5, 2e4)},
			workers: 2, perWorker: 1.1e5, streamRates: []float64{1e5, 1e4}, streamWeights: []int{0, 0}},
		{name: "weight 0 and 1 are equal", cfg: dpdk.GenConfig{Streams: []dpdk.GenStream{{Weight: 0}, {Weight: 1}}},
			workers: 1},
		{name: "different weights are paced each on its own", cfg: dpdk.GenConfig{Streams: []dpdk.GenStream{{Weight: 1}, {Weight: 3}}},
			workers: 2, streamRates: []float64{0, 0}, streamWeights: []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planGen(tt.cfg, tt.workers)
			if p.RatePerWorker != tt.perWorker {
				t.Errorf("rate per worker %v, want %v", p.RatePerWorker, tt.perWorker)
			}
			if !slices.Equal(p.StreamRates, tt.streamRates) || !slices.Equal(p.StreamWeights, tt.streamWeights) {
				t.Errorf("stream rates %v weights %v, want %v %v", p.StreamRates, p.StreamWeights, tt.streamRates, tt.streamWeights)
			}
		})
	}
}

func TestPlanGenTemplateMode(t *testing.T) {
	replay := dpdk.GenStream{Template: make([]byte, 60), Frames: [][]byte{make([]byte, 60)}}
	tests := []struct {
		name string
		cfg  dpdk.GenConfig
		want dpdk.TemplateMode
	}{
		{name: "unset is prefilled", cfg: dpdk.GenConfig{Streams: streams(0)}, want: dpdk.Prefilled},
		{name: "copy stays copy", cfg: dpdk.GenConfig{Streams: streams(0), TemplateMode: dpdk.Copy}, want: dpdk.Copy},
		{name: "replay forces copy", cfg: dpdk.GenConfig{Streams: []dpdk.GenStream{streams(0)[0], replay}, TemplateMode: dpdk.Prefilled},
			want: dpdk.Copy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planGen(tt.cfg, 1).Mode; got != tt.want {
				t.Errorf("mode %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlanGenPools(t *testing.T) {
	tests := []struct {
		name       string
		cfg        dpdk.GenConfig
		workers    int
		rx         uint
		txPools    int
		txMbufs    uint
		txFloor    uint
		poolSizeTX uint // what PoolSize makes of txMbufs, txFloor
	}{
		{name: "prefilled, one stream, default ring", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0)}, workers: 1,
			rx: 4 * dpdk.DefaultRing, txPools: 1, txMbufs: 2*dpdk.DefaultRing + 4096, txFloor: dpdk.SmallPoolFloor, poolSizeTX: 8191},
		{name: "prefilled, two streams keep full pools", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0, 0), RingSize: 512}, workers: 2,
			rx: 4 * 512 * 2, txPools: 2, txMbufs: 2*512 + 4096, txFloor: dpdk.SmallPoolFloor, poolSizeTX: 8191},
		{name: "prefilled, four streams share", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0, 0, 0, 0)}, workers: 1,
			rx: 4 * dpdk.DefaultRing, txPools: 4, txMbufs: dpdk.SmallPoolFloor, txFloor: dpdk.SmallPoolFloor, poolSizeTX: 2047},
		{name: "prefilled, many streams stop at the floor", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(make([]float64, 16)...)}, workers: 1,
			rx: 4 * dpdk.DefaultRing, txPools: 16, txMbufs: dpdk.SmallPoolFloor, txFloor: dpdk.SmallPoolFloor, poolSizeTX: 2047},
		{name: "prefilled, three streams on big rings", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0, 0, 0), RingSize: 4096}, workers: 1,
			rx: 4 * 4096, txPools: 3, txMbufs: (2*4096 + 4096) / 3, txFloor: dpdk.SmallPoolFloor, poolSizeTX: 8191},
		{name: "copy, one pool", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0, 0, 0), TemplateMode: dpdk.Copy}, workers: 1,
			rx: 4 * dpdk.DefaultRing, txPools: 1, txMbufs: 2*dpdk.DefaultRing + 4096, txFloor: dpdk.PoolFloor, poolSizeTX: 8191},
		{name: "copy on big rings grows", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0), TemplateMode: dpdk.Copy, RingSize: 4096}, workers: 1,
			rx: 4 * 4096, txPools: 1, txMbufs: 2*4096 + 4096, txFloor: dpdk.PoolFloor, poolSizeTX: 16383},
		{name: "rx only has no tx pools", cfg: dpdk.GenConfig{RXPort: "p", Streams: streams(0)}, workers: 2,
			rx: 4 * dpdk.DefaultRing * 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planGen(tt.cfg, tt.workers)
			if p.RxPoolMbufs != tt.rx {
				t.Errorf("rx pool %d mbufs, want %d", p.RxPoolMbufs, tt.rx)
			}
			if p.TxPools != tt.txPools || p.TxPoolMbufs != tt.txMbufs || p.TxPoolFloor != tt.txFloor {
				t.Errorf("tx pools %d x %d (floor %d), want %d x %d (floor %d)",
					p.TxPools, p.TxPoolMbufs, p.TxPoolFloor, tt.txPools, tt.txMbufs, tt.txFloor)
			}
			if tt.txPools > 0 {
				if got := dpdk.PoolSize(p.TxPoolMbufs, p.TxPoolFloor); got != tt.poolSizeTX {
					t.Errorf("tx pool made with %d mbufs, want %d", got, tt.poolSizeTX)
				}
			}
		})
	}
}

func TestPlanGenDrainAndProbes(t *testing.T) {
	probe := dpdk.GenStream{Template: make([]byte, 60), ProbeOffset: 42}
	tests := []struct {
		name      string
		cfg       dpdk.GenConfig
		drain     time.Duration
		allProbes bool
	}{
		{name: "defaults", cfg: dpdk.GenConfig{Streams: streams(0)}, drain: defaultDrain},
		{name: "drain set", cfg: dpdk.GenConfig{Streams: streams(0), DrainMS: 50}, drain: 50 * time.Millisecond},
		{name: "every stream probes", cfg: dpdk.GenConfig{Streams: []dpdk.GenStream{probe, probe}}, drain: defaultDrain, allProbes: true},
		{name: "one stream without probe", cfg: dpdk.GenConfig{Streams: []dpdk.GenStream{probe, streams(0)[0]}}, drain: defaultDrain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planGen(tt.cfg, 1)
			if p.Drain != tt.drain || p.AllProbes != tt.allProbes {
				t.Errorf("drain %v all probes %v, want %v %v", p.Drain, p.AllProbes, tt.drain, tt.allProbes)
			}
		})
	}
}

func TestPacketShare(t *testing.T) {
	tests := []struct {
		name  string
		total uint64
		n     int
		want  []uint64
	}{
		{name: "even", total: 10, n: 2, want: []uint64{5, 5}},
		{name: "remainder to the first", total: 11, n: 3, want: []uint64{4, 4, 3}},
		{name: "fewer frames than workers", total: 1, n: 2, want: []uint64{1, 0}},
		{name: "one worker", total: 7, n: 1, want: []uint64{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			var sum uint64
			for i := 0; i < tt.n; i++ {
				got = append(got, packetShare(tt.total, tt.n, i))
				sum += got[i]
			}
			if !slices.Equal(got, tt.want) || sum != tt.total {
				t.Errorf("shares %v (sum %d), want %v", got, sum, tt.want)
			}
		})
	}
}

func TestCheckGenConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  dpdk.GenConfig
		ok   bool
	}{
		{name: "no streams", cfg: dpdk.GenConfig{TXPort: "p"}},
		{name: "no ports", cfg: dpdk.GenConfig{Streams: streams(0)}},
		{name: "tx only", cfg: dpdk.GenConfig{TXPort: "p", Streams: streams(0)}, ok: true},
		{name: "rx only", cfg: dpdk.GenConfig{RXPort: "p", Streams: streams(0)}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkGenConfig(tt.cfg); (err == nil) != tt.ok {
				t.Errorf("checkGenConfig: %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
