package generator

// The simple IMIX: of every 12 frames, 7 are 64 bytes, 4 are 594 and 1 is
// 1518 (FCS included); the mean is about 361.8 bytes.
var simpleIMIX = [...]struct{ size, weight int }{{64, 7}, {594, 4}, {1518, 1}}

// IMIXSizes returns one cycle of the simple IMIX, 12 frame sizes that mix
// the three sizes evenly (smooth weighted round robin) so that any burst an
// engine sends has about the right mean. Sizes below minSize are raised to
// it: a stream whose headers do not fit in 64 bytes (IPv6 TCP, a VLAN tag)
// sends its smallest frame instead.
func IMIXSizes(minSize int) []int {
	total := 0
	for _, e := range simpleIMIX {
		total += e.weight
	}
	var current [len(simpleIMIX)]int
	sizes := make([]int, 0, total)
	for range total {
		best := 0
		for i, e := range simpleIMIX {
			current[i] += e.weight
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		sizes = append(sizes, max(simpleIMIX[best].size, minSize))
	}
	return sizes
}
