package dpdk

import (
	"bytes"
	"testing"
)

func TestFwdPoolMbufs(t *testing.T) {
	tests := []struct {
		name    string
		ring    uint16
		workers int
		want    uint
	}{
		{name: "one worker", ring: 1024, workers: 1, want: 6 * 1024},
		{name: "two workers, small rings", ring: 256, workers: 2, want: 6 * 256 * 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fwdPoolMbufs(tt.ring, tt.workers); got != tt.want {
				t.Errorf("fwdPoolMbufs(%d, %d) = %d, want %d", tt.ring, tt.workers, got, tt.want)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		in   string
		want []byte // nil: refused
	}{
		{in: "02:00:00:00:00:01", want: []byte{2, 0, 0, 0, 0, 1}},
		{in: "02-00-00-00-00-0a", want: []byte{2, 0, 0, 0, 0, 10}},
		{in: "02:00:00:00:00:00:00:01"}, // EUI-64
		{in: ""},
		{in: "zz:00:00:00:00:01"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseMAC(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("parseMAC(%q) = %x, want an error", tt.in, got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("parseMAC(%q) = %x, %v; want %x", tt.in, got, err, tt.want)
			}
		})
	}
}
