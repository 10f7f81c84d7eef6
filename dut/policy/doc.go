// Package policy is dutlab's reference appliance: one policy (a stateless
// L4 firewall and an L4 load balancer) that every policy datapath runs, and
// the reference model in Go that they are held to, frame by frame and byte
// by byte.
//
// A frame goes through these steps, in this order (the model is the
// definition; the BPF program in dut/xdp/bpf/policy.c follows it):
//
//  1. Ethernet, with up to two 802.1Q/802.1ad tags. A frame shorter than
//     its Ethernet header and tags is dropped (malformed). A frame that is
//     neither IPv4 nor IPv6 is forwarded unchanged but for its MACs.
//  2. IPv4: the header (IHL*4 bytes, IHL >= 5) must fit, else the frame is
//     dropped (malformed). Neither the header checksum nor the total length
//     is checked (the kernel datapath does check them: the differential
//     tests name that difference). A fragment with a non-zero offset has no
//     L4 header. IPv6: the fixed 40-byte header must fit; the L4 header is
//     read only when the next header is TCP, UDP or ICMPv6 (extension
//     headers are not walked: such frames have no ports).
//  3. L4: a TCP header needs 20 bytes, UDP 8, ICMP 4; an L4 header cut short
//     drops the frame (malformed).
//  4. The source address in a blocklist (longest-prefix match): drop.
//  5. ICMP or ICMPv6 echo requests, when icmp-echo is drop: drop.
//  6. Rules, first match wins: a rule matches when every field it sets
//     matches (a rule with ports or TCP flags matches only frames that have
//     them). count counts and goes on to the next rule; allow ends the rules;
//     drop drops. No rule ended them: the default action.
//  7. TTL rewrite (ttl: N): IPv4 TTL or IPv6 hop limit set to N, the IPv4
//     header checksum updated incrementally.
//  8. Load balancer: a frame to a VIP (address, protocol, port) keeps the
//     backend its flow has in the connection table; a new flow gets the
//     backend of its Maglev slot (hash of the 5-tuple) and is remembered.
//     Mode rewrite sets the destination address to the backend's (IPv4
//     header and TCP/UDP checksums updated incrementally, RFC 1624; a zero
//     UDP checksum over IPv4 stays zero) and the destination MAC to the
//     backend's.
//  9. Forward: source MAC = the Out port's, destination MAC = the peer's
//     (or the backend's).
package policy
