package topologies

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the current output")

// golden compares got with path, or writes it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./topologies -update to create it")
	require.Equal(t, string(want), got)
}

func TestBadFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 14)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			spec, err := Parse(filepath.Base(file), data)
			require.Error(t, err)
			require.Nil(t, spec)
			var e *Error
			require.ErrorAs(t, err, &e, "every problem is an *Error")
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", err.Error()+"\n")
		})
	}
}

func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			spec, err := Load(file)
			require.NoError(t, err)
			require.Equal(t, file, spec.Source)
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", dump(spec))
		})
	}
}

// dump prints a Spec one fact per line, for golden files a reader can check.
func dump(s *Spec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lab %s purpose=%s allow-host-interface=%t\n", s.Name, s.Purpose, s.AllowHostInterface)
	orNone := func(s string) string {
		if s == "" || s == "invalid Prefix" {
			return "-"
		}
		return s
	}
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, "node %s kind=%s netns=%s cores=%v\n", n.Name, n.Kind, n.Netns, n.Cores)
		for _, i := range n.Interfaces {
			fmt.Fprintf(&b, "  interface %s role=%s address=%s mac=%s mtu=%d\n", i.Name, i.Role, orNone(i.Address.String()), orNone(i.MAC.String()), i.MTU)
		}
	}
	for _, l := range s.Links {
		if l.Type == LinkHost {
			fmt.Fprintf(&b, "link host %s <- host %s\n", l.A, l.HostInterface)
			continue
		}
		fmt.Fprintf(&b, "link %s %s -- %s\n", l.Type, l.A, l.B)
	}
	return b.String()
}

func TestBuiltinVethBasic(t *testing.T) {
	s, err := Builtin("veth-basic")
	require.NoError(t, err)
	require.Equal(t, "veth-basic", s.Name)
	require.Equal(t, "builtin:veth-basic", s.Source)
	require.Equal(t, PurposeBenchmark, s.Purpose)
	require.False(t, s.AllowHostInterface)
	require.Len(t, s.Nodes, 2)

	gen, dut := s.Node("gen"), s.Node("dut")
	require.NotNil(t, gen)
	require.NotNil(t, dut)
	require.Equal(t, KindGenerator, gen.Kind)
	require.Equal(t, KindDUT, dut.Kind)
	require.Equal(t, "dl-veth-basic-gen", gen.Netns)
	require.Equal(t, "dl-veth-basic-dut", dut.Netns)
	require.Equal(t, []int{0}, gen.Cores)
	require.Equal(t, []int{1}, dut.Cores)

	tests := []struct {
		node, iface, role, addr string
	}{
		{"gen", "g0", RoleTX, "198.18.0.1/24"},
		{"gen", "g1", RoleRX, "198.19.0.1/24"},
		{"dut", "d0", RoleIn, "198.18.0.2/24"},
		{"dut", "d1", RoleOut, "198.19.0.2/24"},
	}
	for _, tt := range tests {
		i := s.Node(tt.node).Interface(tt.iface)
		require.NotNil(t, i, tt.iface)
		require.Equal(t, tt.role, i.Role, tt.iface)
		require.Equal(t, netip.MustParsePrefix(tt.addr), i.Address, tt.iface)
		require.Nil(t, i.MAC, tt.iface)
		require.Zero(t, i.MTU, tt.iface)
		require.Same(t, i, s.Node(tt.node).ByRole(tt.role))
	}

	require.Equal(t, []Link{
		{Type: LinkVeth, A: Endpoint{"gen", "g0"}, B: Endpoint{"dut", "d0"}},
		{Type: LinkVeth, A: Endpoint{"dut", "d1"}, B: Endpoint{"gen", "g1"}},
	}, s.Links)
	peer, ok := s.Peer(Endpoint{"gen", "g1"})
	require.True(t, ok)
	require.Equal(t, Endpoint{"dut", "d1"}, peer)
}

func TestBuiltinVethLoop(t *testing.T) {
	s, err := Builtin("veth-loop")
	require.NoError(t, err)
	require.Equal(t, PurposeSelfCheck, s.Purpose)
	require.Len(t, s.Nodes, 1)
	gen := s.Node("gen")
	require.Equal(t, KindGenerator, gen.Kind)
	require.Equal(t, []int{0}, gen.Cores)
	require.Equal(t, "g0", gen.ByRole(RoleTX).Name)
	require.Equal(t, "g1", gen.ByRole(RoleRX).Name)
	peer, ok := s.Peer(Endpoint{"gen", "g0"})
	require.True(t, ok)
	require.Equal(t, Endpoint{"gen", "g1"}, peer)

	basic, err := Builtin("veth-basic")
	require.NoError(t, err)
	require.Equal(t, basic.Node("gen").Interfaces, gen.Interfaces, "a profile runs unchanged on both labs")
}

func TestBuiltinNames(t *testing.T) {
	require.Equal(t, []string{"veth-basic", "veth-loop"}, BuiltinNames())
	for _, name := range BuiltinNames() {
		_, err := Builtin(name)
		require.NoError(t, err, name)
	}
}

func TestBuiltinReturnsFreshSpec(t *testing.T) {
	a, err := Builtin("veth-basic")
	require.NoError(t, err)
	a.Nodes[0].Cores[0] = 7
	b, err := Builtin("veth-basic")
	require.NoError(t, err)
	require.Equal(t, []int{0}, b.Nodes[0].Cores)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "veth-basic.yaml")
	data, err := os.ReadFile("testdata/good/brief.yaml")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(local, data, 0o644))

	tests := []struct {
		name       string
		path       string
		wantSource string
		wantErr    string
	}{
		{name: "builtin by name", path: "veth-basic", wantSource: "builtin:veth-basic"},
		{name: "builtin loop", path: "veth-loop", wantSource: "builtin:veth-loop"},
		{name: "file path wins over builtin name", path: local, wantSource: local},
		{name: "relative file", path: "testdata/good/brief.yaml", wantSource: "testdata/good/brief.yaml"},
		{name: "bare unknown name lists builtins", path: "veth-nope", wantErr: "read topology: open veth-nope: no such file or directory (builtin topologies are [veth-basic veth-loop])"},
		{name: "missing yaml file", path: "veth-basic.yaml", wantErr: "read topology: open veth-basic.yaml: no such file or directory"},
		{name: "bad file", path: "testdata/bad/no-dut.yaml", wantErr: "testdata/bad/no-dut.yaml:4: topology.nodes: no dut node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Load(tt.path)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantSource, s.Source)
		})
	}
}

func TestBuiltinUnknown(t *testing.T) {
	for _, name := range []string{"nope", "../parse", "builtin/veth-basic", ""} {
		_, err := Builtin(name)
		require.ErrorIs(t, err, ErrUnknownBuiltin, name)
		require.ErrorContains(t, err, "builtin topologies are [veth-basic veth-loop]")
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  Error
		want string
	}{
		{"full", Error{"bad.yaml", 12, "topology.nodes.dut.cores", `core 1 is also used by node "gen"`}, `bad.yaml:12: topology.nodes.dut.cores: core 1 is also used by node "gen"`},
		{"no field", Error{"bad.yaml", 3, "", "did not find expected key"}, "bad.yaml:3: did not find expected key"},
		{"no line", Error{"bad.yaml", 0, "", "invalid leading UTF-8 octet"}, "bad.yaml: invalid leading UTF-8 octet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}

// allErrors unpacks the *Error values of a Parse error.
func allErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var e *Error
	if errors.As(err, &e) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			var out []*Error
			for _, err := range j.Unwrap() {
				require.ErrorAs(t, err, &e)
				out = append(out, e)
			}
			return out
		}
		return []*Error{e}
	}
	t.Fatalf("not an *Error: %v", err)
	return nil
}

const okLab = `name: lab
topology:
  nodes:
    gen: {kind: generator, cores: [0]%s}
    dut: {kind: dut, cores: [1]%s}
  links:
    - endpoints: ["gen:g0", "dut:d0"]
    - endpoints: ["dut:d1", "gen:g1"]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name               string
		genExtra, dutExtra string
		wantErr            []string // each "line field: msg" fragment, in order
		check              func(t *testing.T, s *Spec)
	}{
		{
			name: "roles from link order",
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, RoleTX, s.Node("gen").Interface("g0").Role)
				require.Equal(t, RoleRX, s.Node("gen").Interface("g1").Role)
				require.Equal(t, RoleIn, s.Node("dut").Interface("d0").Role)
				require.Equal(t, RoleOut, s.Node("dut").Interface("d1").Role)
			},
		},
		{
			name:     "explicit role takes its slot first",
			genExtra: ", interfaces: {g1: {role: tx}}",
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, RoleRX, s.Node("gen").Interface("g0").Role)
				require.Equal(t, RoleTX, s.Node("gen").Interface("g1").Role)
				require.Equal(t, "g1", s.Node("gen").Interfaces[0].Name, "listed interfaces come first")
			},
		},
		{
			name:     "node mtu reaches implicit interfaces",
			dutExtra: ", mtu: 9000, interfaces: {d1: {mtu: 1500}}",
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, 9000, s.Node("dut").Interface("d0").MTU)
				require.Equal(t, 1500, s.Node("dut").Interface("d1").MTU)
				require.Zero(t, s.Node("gen").Interface("g0").MTU)
			},
		},
		{
			name:     "mac forms",
			genExtra: `, interfaces: {g0: {mac: "02-00-00-00-00-0A"}}`,
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}, s.Node("gen").Interface("g0").MAC)
			},
		},
		{
			name:     "ipv6 address",
			dutExtra: `, interfaces: {d0: {address: "2001:db8::2/64"}}`,
			check: func(t *testing.T, s *Spec) {
				require.Equal(t, netip.MustParsePrefix("2001:db8::2/64"), s.Node("dut").Interface("d0").Address)
			},
		},
		{
			name:     "duplicate key in a node",
			dutExtra: ", kind: dut",
			wantErr:  []string{`5 topology.nodes.dut: duplicate key "kind" (first at line 5)`},
		},
		{
			name:     "unknown kind field suggests",
			genExtra: ", corse: [3]",
			wantErr:  []string{`4 topology.nodes.gen: unknown field "corse"; did you mean "cores"?`},
		},
		{
			name:     "no suggestion for far keys",
			genExtra: ", colour: red",
			wantErr:  []string{`4 topology.nodes.gen: unknown field "colour"`},
		},
		{
			name:     "role of the wrong kind",
			dutExtra: ", interfaces: {d0: {role: tx}}",
			wantErr: []string{
				`5 topology.nodes.dut.interfaces.d0.role: role "tx" does not fit a dut node; use in or out`,
				`5 topology.nodes.dut: a dut node needs an in and an out interface; it has no out`,
			},
		},
		{
			name:     "interface mtu out of range",
			dutExtra: ", mtu: 1500, interfaces: {d0: {mtu: 70000}}",
			wantErr:  []string{`5 topology.nodes.dut.interfaces.d0.mtu: mtu 70000 is out of range 68..65535`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := fmt.Sprintf(okLab, tt.genExtra, tt.dutExtra)
			s, err := Parse("t.yaml", []byte(data))
			if tt.wantErr == nil {
				require.NoError(t, err)
				tt.check(t, s)
				return
			}
			var got []string
			for _, e := range allErrors(t, err) {
				require.Equal(t, "t.yaml", e.File)
				got = append(got, fmt.Sprintf("%d %s: %s", e.Line, e.Field, e.Msg))
			}
			require.Equal(t, tt.wantErr, got)
		})
	}
}

func TestCoresOverlapMessage(t *testing.T) {
	data := strings.Replace(fmt.Sprintf(okLab, "", ""), "cores: [1]", "cores: [2, 0]", 1)
	_, err := Parse("bad.yaml", []byte(data))
	require.EqualError(t, err, `bad.yaml:5: topology.nodes.dut.cores: core 0 is also used by node "gen"; every node needs cores of its own`)
}

func TestErrorsSortedByLine(t *testing.T) {
	data := "topology:\n  nodes:\n    x: {kind: dut, cores: [1]}\n  links: []\nname: Bad\n"
	_, err := Parse("f.yaml", []byte(data))
	errs := allErrors(t, err)
	require.Greater(t, len(errs), 2)
	for i := 1; i < len(errs); i++ {
		require.LessOrEqual(t, errs[i-1].Line, errs[i].Line)
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.yaml", "builtin/*.yaml"} {
		files, err := filepath.Glob(pattern)
		require.NoError(f, err)
		for _, file := range files {
			data, err := os.ReadFile(file)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			require.Nil(t, s)
			var e *Error
			require.ErrorAs(t, err, &e)
			return
		}
		// A spec that parses is complete enough for internal/lab to walk.
		for _, l := range s.Links {
			require.NotNil(t, s.Node(l.A.Node))
			require.NotNil(t, s.Node(l.A.Node).Interface(l.A.Interface))
			if l.Type == LinkVeth {
				require.NotNil(t, s.Node(l.B.Node).Interface(l.B.Interface))
			}
		}
		for _, n := range s.Nodes {
			require.NotEmpty(t, n.Cores)
			for _, i := range n.Interfaces {
				require.NotEmpty(t, i.Role)
			}
		}
	})
}
