package dpdk

import (
	"fmt"
	"net"
)

// fwdPoolMbufs is the forwarder's one pool, shared by every queue of both
// ports: six rings' worth per worker (RX rings of both ports filled, TX
// rings of both in flight, and the burst being forwarded).
func fwdPoolMbufs(ring uint16, workers int) uint {
	return uint(6 * int(ring) * workers)
}

// parseMAC parses an Ethernet (48-bit) MAC; other lengths are refused.
func parseMAC(s string) ([]byte, error) {
	mac, err := net.ParseMAC(s)
	if err == nil && len(mac) != 6 {
		err = fmt.Errorf("%q is not an Ethernet MAC", s)
	}
	return mac, err
}
