package policy

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
)

// Maglev builds the lookup table of a VIP (Eisenbud et al., "Maglev: A Fast
// and Reliable Software Network Load Balancer", NSDI 2016) with weights:
// each backend has a permutation of the MaglevRing slots from its offset
// and skip, and in every round each backend claims as many free slots as its
// weight, in the order of its permutation, until the table is full. A slot
// holds the backend's index; backends of weight 0 get none. Removing one of
// N backends moves about 1/N of the slots.
func Maglev(backends []Backend) []uint32 {
	const m = MaglevRing
	table := make([]uint32, m)
	filled := make([]bool, m)
	type perm struct{ offset, skip, next uint64 }
	perms := make([]perm, len(backends))
	for i, b := range backends {
		h := fnv.New64a()
		h.Write(b.Addr.AsSlice())
		h1 := h.Sum64()
		h.Write([]byte{0x5a})
		h2 := h.Sum64()
		perms[i] = perm{offset: h1 % m, skip: h2%(m-1) + 1}
	}
	n := 0
	for n < m {
		progress := false
		for i, b := range backends {
			for w := 0; w < b.Weight && n < m; w++ {
				p := &perms[i]
				for {
					slot := (p.offset + p.next*p.skip) % m
					p.next++
					if !filled[slot] {
						filled[slot], table[slot] = true, uint32(i)
						n++
						progress = true
						break
					}
				}
			}
		}
		if !progress {
			break // every weight is 0: Validate refuses that
		}
	}
	return table
}

// Flow is the 5-tuple the load balancer hashes and tracks, with addresses in
// 16 bytes (IPv4 in the first 4, the rest zero) as the BPF program keeps it.
type Flow struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16 // network byte order as on the wire, read as big-endian
	Proto            uint8
	IPv6             bool
}

// Hash is the flow hash both the model and the BPF program compute
// (policy.c's flow_hash): murmur3's 32-bit mix over the address words (4 of
// each for IPv6, 1 for IPv4), the two ports as one word and the protocol,
// each word read little-endian from the frame's bytes.
func (f Flow) Hash() uint32 {
	words := 1
	if f.IPv6 {
		words = 4
	}
	var h uint32 = 0x9747b28c
	for i := 0; i < words; i++ {
		h = mix(h, binary.LittleEndian.Uint32(f.Src[4*i:]))
	}
	for i := 0; i < words; i++ {
		h = mix(h, binary.LittleEndian.Uint32(f.Dst[4*i:]))
	}
	var ports [4]byte
	binary.BigEndian.PutUint16(ports[0:], f.SrcPort)
	binary.BigEndian.PutUint16(ports[2:], f.DstPort)
	h = mix(h, binary.LittleEndian.Uint32(ports[:]))
	h = mix(h, uint32(f.Proto))
	return fmix(h)
}

func mix(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = bits.RotateLeft32(k, 15)
	k *= 0x1b873593
	h ^= k
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

func fmix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
