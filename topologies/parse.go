package topologies

import (
	"embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON schema (draft 2020-12) of the topology file format,
// for editors and for `dutlab` to print.
func Schema() []byte { return slices.Clone(schemaJSON) }

// Parse reads a topology file and returns it resolved and checked. filename
// is used in error messages and as Spec.Source. On failure the error is an
// *Error, or an errors.Join of *Error ordered by line, one per problem.
func Parse(filename string, data []byte) (*Spec, error) {
	return parse(filename, filename, data)
}

func parse(filename, source string, data []byte) (*Spec, error) {
	errs := &errorList{file: filename}
	raw := decodeRaw(data, errs)
	if raw == nil {
		return nil, errs.err()
	}
	spec := raw.resolve(source, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

// Load reads the topology file at path. A path without a slash and without a
// .yaml/.yml suffix that names a builtin ("veth-basic") loads the builtin.
func Load(p string) (*Spec, error) {
	bare := !strings.Contains(p, "/") && !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")
	if bare && slices.Contains(BuiltinNames(), p) {
		return Builtin(p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		if bare {
			return nil, fmt.Errorf("read topology: %w (builtin topologies are %v)", err, BuiltinNames())
		}
		return nil, fmt.Errorf("read topology: %w", err)
	}
	return Parse(p, data)
}

// Builtin returns the embedded topology with the given name, parsed afresh:
// callers may change the returned Spec.
func Builtin(name string) (*Spec, error) {
	file := "builtin/" + name + ".yaml"
	data, err := builtinFS.ReadFile(file)
	if err != nil || strings.Contains(name, "/") {
		return nil, fmt.Errorf("%w: %q; builtin topologies are %v", ErrUnknownBuiltin, name, BuiltinNames())
	}
	return parse(file, "builtin:"+name, data)
}

// BuiltinNames returns the names of the embedded topologies, sorted.
func BuiltinNames() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	slices.Sort(names)
	return names
}
