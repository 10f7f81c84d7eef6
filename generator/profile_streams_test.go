package generator

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEngineStreams(t *testing.T) {
	base := Stream{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.19.0.1"),
	}
	tests := []struct {
		name    string
		profile string
		ceiling float64
		want    []Stream
		err     string
	}{
		{
			name: "bulk and probes",
			profile: `duration: 5s
streams:
  - name: bulk
    frame-size: 128
    rate: 50%
    src: {port: 2000, port-count: 100}
  - name: probes
    kind: latency
    rate: 1kpps
`,
			ceiling: 2e6,
			want: []Stream{
				{Name: "bulk", Proto: ProtoUDP, SrcPort: 2000, DstPort: 9, Flows: 100, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 128, RatePPS: 1e6},
				{Name: "probes", Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 64, RatePPS: 1000, Latency: true},
			},
		},
		{
			name: "every variation",
			profile: `duration: 1s
streams:
  - name: syn
    proto: tcp-syn
    vlan: 12
    src: {ip-count: 10, port: 4000, port-count: 50, mode: random}
    dst: {ip-count: 3, port: 80, port-count: 2}
`,
			want: []Stream{{Name: "syn", Proto: ProtoTCPSYN, VLAN: 12, SrcPort: 4000, DstPort: 80, Flows: 50, SrcIPs: 10, DstIPs: 3, DstPorts: 2,
				SrcRandom: true, FrameSize: 64}},
		},
		{
			name: "imix with a rate",
			profile: `duration: 1s
streams:
  - name: mix
    frame-size: imix
    rate: 12kpps
`,
			want: []Stream{
				{Name: "mix/64", Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 64, Weight: 7, RatePPS: 7000},
				{Name: "mix/594", Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 594, Weight: 4, RatePPS: 4000},
				{Name: "mix/1518", Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 1518, Weight: 1, RatePPS: 1000},
			},
		},
		{
			name: "imix flat out, smallest frame raised",
			profile: `duration: 1s
streams:
  - name: mix
    ip: 6
    frame-size: imix
    src: {ip: "2001:2::10"}
    dst: {ip: "2001:2:0:1::10"}
`,
			want: []Stream{
				{Name: "mix/66", Src: netip.MustParseAddr("2001:2::10"), Dst: netip.MustParseAddr("2001:2:0:1::10"), Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 66, Weight: 7},
				{Name: "mix/594", Src: netip.MustParseAddr("2001:2::10"), Dst: netip.MustParseAddr("2001:2:0:1::10"), Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 594, Weight: 4},
				{Name: "mix/1518", Src: netip.MustParseAddr("2001:2::10"), Dst: netip.MustParseAddr("2001:2:0:1::10"), Proto: ProtoUDP, SrcPort: 1024, DstPort: 9, Flows: 1, SrcIPs: 1, DstIPs: 1, DstPorts: 1, FrameSize: 1518, Weight: 1},
			},
		},
		{
			name:    "percent without a ceiling",
			profile: "duration: 1s\nstreams:\n  - name: a\n    rate: 10%\n",
			err:     "p.yaml: streams[0] (a): rate: resolve rate 10%: a percent rate needs a line rate or measured ceiling",
		},
		{
			name:    "ipv6 on a v4 lab needs addresses",
			profile: "duration: 1s\nstreams:\n  - name: v6\n    ip: 6\n    frame-size: 84\n",
			err:     "streams[0] (v6): ip: IPv6 stream but the lab's addresses are 198.18.0.1 -> 198.19.0.1; give src.ip and dst.ip",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProfile("p.yaml", []byte(tt.profile))
			require.NoError(t, err)
			got, err := p.EngineStreams("p.yaml", base, tt.ceiling)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				w.SrcMAC, w.DstMAC = base.SrcMAC, base.DstMAC
				if !w.Src.IsValid() {
					w.Src, w.Dst = base.Src, base.Dst
				}
				require.Equal(t, w, got[i])
			}
		})
	}
}
