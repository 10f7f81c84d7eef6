package dpdk

import "testing"

func TestPoolSize(t *testing.T) {
	tests := []struct {
		name     string
		n, floor uint
		want     uint
	}{
		{name: "below the floor", n: 100, floor: PoolFloor, want: PoolFloor},
		{name: "at the floor", n: PoolFloor, floor: PoolFloor, want: PoolFloor},
		{name: "one above doubles", n: PoolFloor + 1, floor: PoolFloor, want: 2*PoolFloor + 1},
		{name: "several doublings", n: 40000, floor: SmallPoolFloor, want: 65535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PoolSize(tt.n, tt.floor)
			if got != tt.want || got < tt.n || (got+1)&got != 0 {
				t.Errorf("PoolSize(%d, %d) = %d, want %d (a 2^k-1 of at least n)", tt.n, tt.floor, got, tt.want)
			}
		})
	}
}

func TestRingSize(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{0, DefaultRing}, {-1, DefaultRing}, {512, 512}, {4096, 4096}} {
		if got := RingSize(tt.in); int(got) != tt.want {
			t.Errorf("RingSize(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
