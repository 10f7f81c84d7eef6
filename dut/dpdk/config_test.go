package dpdk

import (
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/dutlab/dutlab/dut"
)

func TestRegistered(t *testing.T) {
	if d, err := dut.Lookup("dpdk"); err != nil || d.Name() != "dpdk" {
		t.Fatalf("lookup dpdk: %v, %v", d, err)
	}
}

func TestConfig(t *testing.T) {
	peer := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	env := dut.Env{Netns: "n", In: dut.Port{Name: "d0"}, Out: dut.Port{Name: "d1", PeerMAC: peer}, Cores: []int{1}}
	cfg, err := New("").Config(env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.EAL.VDevs, []string{"net_af_xdp0,iface=d0", "net_af_xdp1,iface=d1"}) ||
		cfg.InPort != "net_af_xdp0" || cfg.OutPort != "net_af_xdp1" || cfg.DstMAC != peer.String() ||
		!slices.Equal(cfg.EAL.Lcores, []int{1}) || !strings.HasPrefix(cfg.EAL.FilePrefix, "dl-fwd-") {
		t.Fatalf("config %+v", cfg)
	}
	env.Out.PeerMAC = nil
	if _, err := New("").Config(env); err == nil {
		t.Fatal("no error without a peer MAC to rewrite to")
	}
	if _, err := (&Datapath{NoRewrite: true}).Config(env); err != nil {
		t.Fatalf("io mode needs no peer MAC: %v", err)
	}
}
