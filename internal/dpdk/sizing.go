package dpdk

// DefaultRing is the descriptors per queue when the config sets none.
const DefaultRing = 1024

// Pool floors: the smallest pool Session.Pool makes, and the floor of the
// generator's per-stream template pools.
const (
	PoolFloor      = 8191
	SmallPoolFloor = 2047
)

// RingSize is the configured descriptor ring size, or DefaultRing.
func RingSize(configured int) uint16 {
	if configured > 0 {
		return uint16(configured)
	}
	return DefaultRing
}

// PoolSize is the mbuf count of a pool that must hold at least n: floor,
// or the first 2^k-1 above it that does (mempools are most compact at
// 2^k-1 elements).
func PoolSize(n, floor uint) uint {
	size := floor
	for size < n {
		size = size*2 + 1
	}
	return size
}
