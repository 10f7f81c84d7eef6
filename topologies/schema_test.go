package topologies

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

type jsonSchema struct {
	root map[string]any
	defs map[string]any
}

func loadSchema(t *testing.T) jsonSchema {
	t.Helper()
	var root map[string]any
	require.NoError(t, json.Unmarshal(Schema(), &root))
	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", root["$schema"])
	defs, _ := root["$defs"].(map[string]any)
	return jsonSchema{root: root, defs: defs}
}

// deref follows a "#/$defs/x" reference.
func (s jsonSchema) deref(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	for {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		def, ok := s.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		require.True(t, ok, "dangling $ref %s", ref)
		m = def
	}
}

// keysOf returns the sorted property names of a (dereferenced) object schema.
func (s jsonSchema) keysOf(t *testing.T, m map[string]any) []string {
	t.Helper()
	props, _ := s.deref(t, m)["properties"].(map[string]any)
	var keys []string
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// covered checks that every mapping key in n is described by the schema:
// listed in properties, or a name under additionalProperties.
func (s jsonSchema) covered(t *testing.T, n *yaml.Node, m map[string]any, path string) {
	t.Helper()
	m = s.deref(t, m)
	switch n.Kind {
	case yaml.DocumentNode:
		s.covered(t, n.Content[0], m, path)
	case yaml.MappingNode:
		props, _ := m["properties"].(map[string]any)
		extra, _ := m["additionalProperties"].(map[string]any)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			switch sub, ok := props[key].(map[string]any); {
			case ok:
				s.covered(t, val, sub, join(path, key))
			case extra != nil:
				s.covered(t, val, extra, join(path, key))
			default:
				t.Errorf("%s: key %q is not in the schema", path, key)
			}
		}
	case yaml.SequenceNode:
		if items, ok := m["items"].(map[string]any); ok {
			for _, item := range n.Content {
				s.covered(t, item, items, path+"[]")
			}
		}
	}
}

func TestSchemaCoversFiles(t *testing.T) {
	s := loadSchema(t)
	var files []string
	for _, name := range BuiltinNames() {
		files = append(files, "builtin/"+name+".yaml")
	}
	good, err := filepath.Glob("testdata/good/*.yaml")
	require.NoError(t, err)
	files = append(files, good...)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var doc yaml.Node
			require.NoError(t, yaml.Unmarshal(data, &doc))
			var top map[string]any
			require.NoError(t, yaml.Unmarshal(data, &top))
			for key := range top {
				require.Contains(t, s.keysOf(t, s.root), key, "top-level key")
			}
			s.covered(t, &doc, s.root, "")
		})
	}
}

// The schema and the parser list the same keys and values, so editors
// accept what the parser accepts.
func TestSchemaMatchesParser(t *testing.T) {
	s := loadSchema(t)
	prop := func(m map[string]any, key string) map[string]any {
		t.Helper()
		p, ok := s.deref(t, m)["properties"].(map[string]any)[key].(map[string]any)
		require.True(t, ok, key)
		return s.deref(t, p)
	}
	def := func(name string) map[string]any {
		t.Helper()
		d, ok := s.defs[name].(map[string]any)
		require.True(t, ok, name)
		return d
	}
	sorted := func(in []string) []string {
		out := slices.Clone(in)
		slices.Sort(out)
		return out
	}
	enum := func(m map[string]any) []string {
		t.Helper()
		var out []string
		for _, v := range m["enum"].([]any) {
			out = append(out, v.(string))
		}
		slices.Sort(out)
		return out
	}
	topology := prop(s.root, "topology")

	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"top-level keys", s.keysOf(t, s.root), sorted(specKeys)},
		{"topology keys", s.keysOf(t, topology), sorted(topologyKeys)},
		{"settings keys", s.keysOf(t, def("settings")), sorted(settingsKeys)},
		{"node keys", s.keysOf(t, def("node")), sorted(nodeKeys)},
		{"interface keys", s.keysOf(t, def("interface")), sorted(interfaceKeys)},
		{"link keys", s.keysOf(t, def("link")), sorted(linkKeys)},
		{"kinds", enum(prop(def("node"), "kind")), sortedKinds()},
		{"roles", enum(prop(def("interface"), "role")), sorted([]string{RoleTX, RoleRX, RoleIn, RoleOut})},
		{"purposes", enum(prop(s.root, "purpose")), sorted(supportedPurposes)},
		{"link types", enum(prop(def("link"), "type")), sorted(supportedLinkTypes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got)
		})
	}

	core := def("cores")["items"].(map[string]any)
	require.EqualValues(t, MaxCores-1, core["maximum"])
	require.EqualValues(t, MinMTU, def("mtu")["minimum"])
	require.EqualValues(t, MaxMTU, def("mtu")["maximum"])
}
