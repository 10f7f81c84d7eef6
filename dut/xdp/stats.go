package xdp

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// statKey mirrors enum stat_key in bpf/structs.h (the enum is not in BTF, so
// bpf2go cannot generate it). The first five keys equal the XDP verdicts.
type statKey uint32

const (
	statAborted  statKey = iota // XDP_ABORTED
	statDrop                    // XDP_DROP
	statPass                    // XDP_PASS
	statTX                      // XDP_TX
	statRedirect                // XDP_REDIRECT
	statRX                      // every frame seen
	statMax
)

// Count is a number of frames and their bytes.
type Count struct {
	Packets uint64
	Bytes   uint64
}

// Stats are xdp_fwd's own counters, summed over CPUs. They say what the
// program decided, not what was delivered: count deliveries on the receiver.
type Stats struct {
	RX       Count // every frame the program saw
	Redirect Count // frames handed to the devmap toward Out
	Drop     Count // runts, expired TTLs, an empty devmap slot
	Pass     Count
	TX       Count
	Aborted  Count
}

func readStats(m *ebpf.Map) (Stats, error) {
	var s Stats
	slots := map[statKey]*Count{
		statAborted:  &s.Aborted,
		statDrop:     &s.Drop,
		statPass:     &s.Pass,
		statTX:       &s.TX,
		statRedirect: &s.Redirect,
		statRX:       &s.RX,
	}
	var perCPU []fwdDatarec
	for key, c := range slots {
		if err := m.Lookup(uint32(key), &perCPU); err != nil {
			return Stats{}, fmt.Errorf("read stats slot %d: %w", key, err)
		}
		for _, r := range perCPU {
			c.Packets += r.Packets
			c.Bytes += r.Bytes
		}
	}
	return s, nil
}
