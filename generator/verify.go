package generator

import (
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// VerifyFrame decodes an Ethernet frame with gopacket and checks every
// checksum it carries (IPv4 header, UDP, TCP, ICMPv4, ICMPv6). It is how
// tests and `validate` check what an engine actually put on the wire.
func VerifyFrame(frame []byte) error {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	// An application payload that merely looks like some protocol (a UDP
	// port gopacket knows) does not make the frame bad.
	if el := pkt.ErrorLayer(); el != nil && pkt.TransportLayer() == nil &&
		pkt.Layer(layers.LayerTypeICMPv4) == nil && pkt.Layer(layers.LayerTypeICMPv6) == nil {
		return fmt.Errorf("decode: %w", el.Error())
	}
	nl := pkt.NetworkLayer()
	if nl == nil {
		return errors.New("no network layer")
	}
	for _, l := range pkt.Layers() {
		if c, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			if err := c.SetNetworkLayerForChecksum(nl); err != nil {
				return err
			}
		}
	}
	err, bad := pkt.VerifyChecksums()
	if err != nil {
		return fmt.Errorf("verify checksums: %w", err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("checksum mismatches: %+v", bad)
	}
	return nil
}
