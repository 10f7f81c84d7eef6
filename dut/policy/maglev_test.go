package policy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

func backends(n int) []Backend {
	out := make([]Backend, n)
	for i := range out {
		out[i] = Backend{Addr: netip.AddrFrom4([4]byte{198, 19, 1, byte(10 + i)}), MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}, Weight: 1}
	}
	return out
}

// TestMaglevBalance checks that every backend gets its weight's share of
// the ring, within 2%.
func TestMaglevBalance(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 2, 3}, {5, 1}} {
		b := backends(len(weights))
		total := 0
		for i, w := range weights {
			b[i].Weight = w
			total += w
		}
		count := make([]int, len(b))
		for _, s := range Maglev(b) {
			count[s]++
		}
		for i, c := range count {
			want := float64(MaglevRing) * float64(weights[i]) / float64(total)
			if d := (float64(c) - want) / float64(MaglevRing); d > 0.02 || d < -0.02 {
				t.Errorf("weights %v: backend %d holds %d slots, want %.0f (+-2%% of the ring)", weights, i, c, want)
			}
		}
	}
}

// TestMaglevDisruption removes one of N backends: at most 1/N + 2% of flows
// move (the connection table keeps the established ones; see the model's
// test).
func TestMaglevDisruption(t *testing.T) {
	for _, n := range []int{2, 3, 5, 10, 32} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := backends(n)
			before := Maglev(b)
			removed := rand.IntN(n)
			after := Maglev(append(append([]Backend(nil), b[:removed]...), b[removed+1:]...))
			moved := 0
			for slot := range before {
				was := before[slot]
				now := after[slot]
				if int(now) >= removed {
					now++ // indices after the removed backend shift down
				}
				if was != now {
					moved++
				}
			}
			frac := float64(moved) / MaglevRing
			if limit := 1/float64(n) + 0.02; frac > limit {
				t.Errorf("removing backend %d of %d moved %.2f%% of the slots, want at most %.2f%%", removed, n, 100*frac, 100*limit)
			}
			t.Logf("removing 1 of %d backends moved %.2f%% of the slots (ideal %.2f%%)", n, 100*frac, 100/float64(n))
		})
	}
}

func TestFlowHashSpread(t *testing.T) {
	seen := map[uint32]bool{}
	f := Flow{Proto: ProtoTCP, DstPort: 80}
	copy(f.Dst[:], []byte{198, 19, 0, 100})
	for i := 0; i < 10000; i++ {
		copy(f.Src[:], []byte{10, 0, byte(i >> 8), byte(i)})
		f.SrcPort = uint16(1024 + i)
		seen[f.Hash()] = true
	}
	if len(seen) < 9990 {
		t.Errorf("10000 flows hash to %d values", len(seen))
	}
}
