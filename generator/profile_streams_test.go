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
				{Name: "bulk", SrcPort: 2000, DstPort: 9, Flows: 100, FrameSize: 128, RatePPS: 1e6},
				{Name: "probes", SrcPort: 1024, DstPort: 9, Flows: 1, FrameSize: 64, RatePPS: 1000, Latency: true},
			},
		},
		{
			name:    "percent without a ceiling",
			profile: "duration: 1s\nstreams:\n  - name: a\n    rate: 10%\n",
			err:     "p.yaml: streams[0] (a): rate: resolve rate 10%: a percent rate needs the measured ceiling",
		},
		{
			name:    "tcp not sent yet",
			profile: "duration: 1s\nstreams:\n  - name: syn\n    proto: tcp-syn\n",
			err:     "p.yaml: streams[0] (syn): proto: tcp-syn templates (udp only): not supported by the engines yet",
		},
		{
			name:    "ipv6 on a v4 lab needs addresses",
			profile: "duration: 1s\nstreams:\n  - name: v6\n    ip: 6\n    frame-size: 84\n",
			err:     "streams[0] (v6): ip: IPv6 stream but the lab's addresses are 198.18.0.1 -> 198.19.0.1; give src.ip and dst.ip",
		},
		{
			name:    "packet count",
			profile: "packets: 1000\nstreams:\n  - name: a\n",
			err:     "p.yaml: packets: not supported by the engines yet",
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
				w.SrcMAC, w.DstMAC, w.Src, w.Dst = base.SrcMAC, base.DstMAC, base.Src, base.Dst
				require.Equal(t, w, got[i])
			}
		})
	}
}
