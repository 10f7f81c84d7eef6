package lab

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/dutlab/dutlab/internal/testenv"
	"github.com/dutlab/dutlab/topologies"
)

// basicSpec is veth-basic written out by hand, so this package's tests do not
// depend on the parser.
func basicSpec(name string) *topologies.Spec {
	pfx := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	return &topologies.Spec{
		Name: name, Source: "test",
		Nodes: []topologies.Node{
			{Name: "gen", Kind: topologies.KindGenerator, Cores: []int{0}, Netns: "dl-" + name + "-gen",
				Interfaces: []topologies.Interface{
					{Name: "g0", Role: topologies.RoleTX, Address: pfx("198.18.0.1/24")},
					{Name: "g1", Role: topologies.RoleRX, Address: pfx("198.19.0.1/24")},
				}},
			{Name: "dut", Kind: topologies.KindDUT, Cores: []int{1 % nproc()}, Netns: "dl-" + name + "-dut",
				Interfaces: []topologies.Interface{
					{Name: "d0", Role: topologies.RoleIn, Address: pfx("198.18.0.2/24")},
					{Name: "d1", Role: topologies.RoleOut, Address: pfx("198.19.0.2/24")},
				}},
		},
		Links: []topologies.Link{
			{Type: topologies.LinkVeth, A: topologies.Endpoint{Node: "gen", Interface: "g0"}, B: topologies.Endpoint{Node: "dut", Interface: "d0"}},
			{Type: topologies.LinkVeth, A: topologies.Endpoint{Node: "dut", Interface: "d1"}, B: topologies.Endpoint{Node: "gen", Interface: "g1"}},
		},
	}
}

func nproc() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return 1
	}
	return set.Count()
}

func useTempStateDir(t *testing.T) {
	old := StateDir
	StateDir = t.TempDir()
	t.Cleanup(func() { StateDir = old })
}

func requireGone(t *testing.T, spec *topologies.Spec) {
	t.Helper()
	for _, n := range spec.Nodes {
		_, err := os.Stat("/run/netns/" + n.Netns)
		require.ErrorIs(t, err, os.ErrNotExist, "namespace %s left behind", n.Netns)
	}
	_, err := ReadState(spec.Name)
	require.ErrorIs(t, err, os.ErrNotExist, "state file left behind")
}

func TestUpDown(t *testing.T) {
	testenv.RequireRoot(t)
	useTempStateDir(t)
	spec := basicSpec(UniqueName("t"))
	env, err := Up(context.Background(), spec)
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Down() })

	dut := env.FirstOfKind(topologies.KindDUT)
	gen := env.FirstOfKind(topologies.KindGenerator)
	require.NotNil(t, dut)
	require.NotNil(t, gen)
	d0, g0 := dut.ByRole(topologies.RoleIn), gen.ByRole(topologies.RoleTX)
	require.Equal(t, "d0", d0.Name)
	require.Same(t, g0, d0.Peer)

	fd, err := netns.GetFromName(dut.Netns)
	require.NoError(t, err)
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	require.NoError(t, err)
	defer h.Close()
	link, err := h.LinkByName("d0")
	require.NoError(t, err)
	require.Equal(t, d0.MAC.String(), link.Attrs().HardwareAddr.String())
	require.Equal(t, d0.Ifindex, link.Attrs().Index)
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	require.Equal(t, "198.18.0.2/24", addrs[0].IPNet.String())
	neighs, err := h.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
	require.NoError(t, err)
	var found bool
	for _, n := range neighs {
		if n.IP.String() == "198.18.0.1" {
			found = true
			require.Equal(t, g0.MAC.String(), n.HardwareAddr.String())
			require.Equal(t, netlink.NUD_PERMANENT, n.State)
		}
	}
	require.True(t, found, "static neighbour for g0 missing on d0")

	// Each DUT veth got a threaded NAPI kthread pinned to the DUT's cores.
	st := env.State()
	require.Len(t, st.NAPI, 2)
	for _, ent := range st.NAPI {
		var set unix.CPUSet
		require.NoError(t, unix.SchedGetaffinity(ent.PID, &set))
		require.Equal(t, len(ent.Cores), set.Count(), ent.Comm)
		for _, c := range ent.Cores {
			require.True(t, set.IsSet(c), "%s not on core %d", ent.Comm, c)
		}
		require.True(t, strings.HasPrefix(ent.Comm, "napi/"+ent.Interface+"-"), ent.Comm)
	}
	pinned, err := env.RepinNAPI()
	require.NoError(t, err)
	require.Len(t, pinned, 2)
	for _, ent := range pinned {
		require.Equal(t, dut.Netns, ent.Netns)
		require.Equal(t, dut.Cores, ent.Cores)
	}

	_, err = Up(context.Background(), spec)
	require.ErrorIs(t, err, ErrExists)

	require.NoError(t, env.Down())
	requireGone(t, spec)
}

func TestUpFailureLeavesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	useTempStateDir(t)
	spec := basicSpec(UniqueName("t"))
	// A second link on d0 makes the kernel refuse the second veth.
	spec.Links = append(spec.Links, topologies.Link{Type: topologies.LinkVeth,
		A: topologies.Endpoint{Node: "gen", Interface: "g0"}, B: topologies.Endpoint{Node: "dut", Interface: "d0"}})
	_, err := Up(context.Background(), spec)
	require.Error(t, err)
	requireGone(t, spec)
}

func TestRefusesDefaultRouteInterface(t *testing.T) {
	testenv.RequireRoot(t)
	useTempStateDir(t)
	var dflt string
	for name := range defaultRouteInterfaces() {
		dflt = name
	}
	if dflt == "" {
		t.Skip("this host has no default route")
	}
	spec := basicSpec(UniqueName("t"))
	spec.Nodes[1].Interfaces = append(spec.Nodes[1].Interfaces, topologies.Interface{Name: "p0"})
	spec.Links = append(spec.Links, topologies.Link{Type: topologies.LinkHost, A: topologies.Endpoint{Node: "dut", Interface: "p0"}, HostInterface: dflt})
	_, err := Up(context.Background(), spec)
	require.ErrorContains(t, err, "default route")
	require.ErrorContains(t, err, "allow-host-interface")
	requireGone(t, spec)
}

// TestDownAfterKill brings a lab up in a child process, SIGKILLs it, and checks
// that Down (as `dutlab down` runs it) removes everything from the state file.
func TestDownAfterKill(t *testing.T) {
	if name := os.Getenv("DUTLAB_TEST_CHILD_LAB"); name != "" {
		StateDir = os.Getenv("DUTLAB_TEST_STATE_DIR")
		_, err := Up(context.Background(), basicSpec(name))
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("up\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	testenv.RequireRoot(t)
	useTempStateDir(t)
	name := UniqueName("t")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDownAfterKill$")
	cmd.Env = append(os.Environ(), "DUTLAB_TEST_CHILD_LAB="+name, "DUTLAB_TEST_STATE_DIR="+StateDir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 3)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "up\n", string(buf))
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	spec := basicSpec(name)
	_, err = os.Stat("/run/netns/" + spec.Nodes[0].Netns)
	require.NoError(t, err, "the killed run's namespace should still be there")
	require.NoError(t, Down(name))
	requireGone(t, spec)
}
