package xdp

import (
	"net/netip"
	"sort"

	"github.com/dutlab/dutlab/dut/policy"
)

// The rule classifier of xdp_policy: instead of trying the rules one by one,
// the program looks up each field of a frame once (the source and
// destination address in LPM tries, the protocol, the two ports and the TCP
// flags in arrays) and gets, per field, a bitmap of the rules that field
// lets match. The AND of the six bitmaps is the set of matching rules; its
// lowest bit is the first match (count rules before it are counted, as the
// model does). A frame costs six lookups and one AND per 64 rules, where a
// linear scan cost about 12 ns per rule.

// classWords is the bitmap size in 64-bit words: bpf/policy.c's
// CLASS_WORDS, MAX_RULES/64.
const classWords = policy.MaxRules / 64

// sumWords is bpf/policy.c's SUM_WORDS: one bit per bitmap word.
const sumWords = (classWords + 63) / 64

// bitmap is one set of rules.
type bitmap [classWords]uint64

// mapBitmap is a bitmap as pol_bitmaps holds it: with a summary of which
// words are not zero, so a frame looks only at words where all six fields'
// bitmaps have a rule.
type mapBitmap struct {
	W   [classWords]uint64
	Sum [sumWords]uint64
}

func (b *bitmap) forMap() mapBitmap {
	m := mapBitmap{W: *b}
	for i, w := range b {
		if w != 0 {
			m.Sum[i/64] |= 1 << (i % 64)
		}
	}
	return m
}

func (b *bitmap) set(i int) { b[i/64] |= 1 << (i % 64) }

// classifier is what the loader puts in the classifier's maps.
type classifier struct {
	bitmaps []bitmap // pol_bitmaps
	index   map[bitmap]uint32
	src4    []lpmEntry    // pol_src4 (LPM) -> bitmap
	src6    []lpmEntry    // pol_src6
	dst4    []lpmEntry    // pol_dst4
	dst6    []lpmEntry    // pol_dst6
	none    [4]uint32     // src4, src6, dst4, dst6 when no prefix matches
	proto   [256]uint32   // pol_proto
	sport   [65537]uint32 // pol_sport; [65536]: a frame without ports
	dport   [65537]uint32 // pol_dport
	flags   [257]uint32   // pol_flags; [256]: a frame without TCP flags
}

type lpmEntry struct {
	prefix netip.Prefix
	bitmap uint32
}

// intern returns the index of b in c.bitmaps, adding it when new.
func (c *classifier) intern(b bitmap) uint32 {
	if i, ok := c.index[b]; ok {
		return i
	}
	i := uint32(len(c.bitmaps))
	c.bitmaps = append(c.bitmaps, b)
	c.index[b] = i
	return i
}

// buildClassifier computes the bitmaps of rules.
func buildClassifier(rules []policy.Rule) *classifier {
	c := &classifier{index: map[bitmap]uint32{}}
	fam := func(r policy.Rule) int {
		for _, pf := range []netip.Prefix{r.Src, r.Dst} {
			if pf.IsValid() {
				if pf.Addr().Is4() {
					return 4
				}
				return 6
			}
		}
		return 0
	}
	// Addresses: per family and side, one bitmap per distinct prefix.
	addrDim := func(side func(policy.Rule) netip.Prefix, family int) ([]lpmEntry, uint32) {
		var none bitmap
		prefixes := map[netip.Prefix]bool{}
		for i, r := range rules {
			f := fam(r)
			if f != 0 && f != family {
				continue
			}
			if pf := side(r); pf.IsValid() {
				prefixes[pf] = true
			} else {
				none.set(i)
			}
		}
		var out []lpmEntry
		for pf := range prefixes {
			b := none
			for i, r := range rules {
				if rp := side(r); rp.IsValid() && (fam(r) == family) && rp.Bits() <= pf.Bits() && rp.Contains(pf.Addr()) {
					b.set(i)
				}
			}
			out = append(out, lpmEntry{pf, c.intern(b)})
		}
		sort.Slice(out, func(a, b int) bool { return out[a].prefix.String() < out[b].prefix.String() })
		return out, c.intern(none)
	}
	src := func(r policy.Rule) netip.Prefix { return r.Src }
	dst := func(r policy.Rule) netip.Prefix { return r.Dst }
	c.src4, c.none[0] = addrDim(src, 4)
	c.src6, c.none[1] = addrDim(src, 6)
	c.dst4, c.none[2] = addrDim(dst, 4)
	c.dst6, c.none[3] = addrDim(dst, 6)
	for p := range 256 {
		var b bitmap
		for i, r := range rules {
			if r.Proto == 0 || int(r.Proto) == p {
				b.set(i)
			}
		}
		c.proto[p] = c.intern(b)
	}
	portDim := func(dim *[65537]uint32, rng func(policy.Rule) policy.PortRange) {
		// The bitmap changes only where a range starts or ends.
		cuts := map[int]bool{0: true}
		for _, r := range rules {
			if pr := rng(r); !pr.Any() {
				cuts[int(pr.Lo)] = true
				cuts[int(pr.Hi)+1] = true
			}
		}
		var starts []int
		for s := range cuts {
			if s <= 65535 {
				starts = append(starts, s)
			}
		}
		sort.Ints(starts)
		for k, s := range starts {
			end := 65536
			if k+1 < len(starts) {
				end = starts[k+1]
			}
			var b bitmap
			for i, r := range rules {
				if !hasPorts(r) {
					b.set(i)
				} else if pr := rng(r); pr.Any() || s >= int(pr.Lo) && s <= int(pr.Hi) {
					b.set(i)
				}
			}
			idx := c.intern(b)
			for p := s; p < end; p++ {
				dim[p] = idx
			}
		}
		var none bitmap
		for i, r := range rules {
			if !hasPorts(r) {
				none.set(i)
			}
		}
		dim[65536] = c.intern(none)
	}
	portDim(&c.sport, func(r policy.Rule) policy.PortRange { return r.SrcPorts })
	portDim(&c.dport, func(r policy.Rule) policy.PortRange { return r.DstPorts })
	for f := range 257 {
		var b bitmap
		for i, r := range rules {
			if r.FlagsMask == 0 || f < 256 && uint8(f)&r.FlagsMask == r.FlagsSet {
				b.set(i)
			}
		}
		c.flags[f] = c.intern(b)
	}
	return c
}

func hasPorts(r policy.Rule) bool { return !r.SrcPorts.Any() || !r.DstPorts.Any() }

// lpmKey4 and lpmKey6 are the tries' keys for prefix pf.
func lpmKey4(pf netip.Prefix) policyLpmKey4 {
	k := policyLpmKey4{Prefixlen: uint32(pf.Bits())}
	copy(k.Addr[:], pf.Addr().AsSlice())
	return k
}

func lpmKey6(pf netip.Prefix) policyLpmKey6 {
	k := policyLpmKey6{Prefixlen: uint32(pf.Bits())}
	copy(k.Addr[:], pf.Addr().AsSlice())
	return k
}
