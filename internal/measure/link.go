package measure

import (
	"fmt"

	"github.com/dutlab/dutlab/internal/nsexec"
	"github.com/vishvananda/netlink"
)

// Counters are an interface's packet counters as the kernel reports them
// (IFLA_STATS64). They count since the interface was created; subtract two
// readings (Sub) for a window.
type Counters struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

// Sub returns c - before field by field (0 where a counter went backwards,
// which only happens when the interface was recreated).
func (c Counters) Sub(before Counters) Counters {
	return Counters{
		RxPackets: delta(before.RxPackets, c.RxPackets),
		TxPackets: delta(before.TxPackets, c.TxPackets),
		RxBytes:   delta(before.RxBytes, c.RxBytes),
		TxBytes:   delta(before.TxBytes, c.TxBytes),
		RxDropped: delta(before.RxDropped, c.RxDropped),
		TxDropped: delta(before.TxDropped, c.TxDropped),
	}
}

// LinkCounters reads the counters of interface ifname inside the network
// namespace netns (a name under /run/netns or a path; "" is the process's
// own namespace).
func LinkCounters(netns, ifname string) (Counters, error) {
	var c Counters
	err := nsexec.Do(netns, func() error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		s := link.Attrs().Statistics
		if s == nil {
			return fmt.Errorf("no statistics in the link message")
		}
		c = Counters{
			RxPackets: s.RxPackets,
			TxPackets: s.TxPackets,
			RxBytes:   s.RxBytes,
			TxBytes:   s.TxBytes,
			RxDropped: s.RxDropped,
			TxDropped: s.TxDropped,
		}
		return nil
	})
	if err != nil {
		return Counters{}, fmt.Errorf("read counters of %s in netns %q: %w", ifname, netns, err)
	}
	return c, nil
}
