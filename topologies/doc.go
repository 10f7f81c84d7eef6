// Package topologies owns dutlab's lab descriptions: the topology file
// format, its JSON schema (schema.json), the built-in labs (builtin/*.yaml,
// embedded) and the parser that turns a file into a checked Spec.
//
// Parsing has two steps. The file is decoded with yaml.v3 into a raw form
// that keeps, for every value, the line and field path it was written at;
// resolving the raw form applies inheritance and derived roles and checks
// everything that can be checked from the file alone. Every problem becomes
// an *Error ("file:line: field: msg"), and all problems of a file are
// reported together.
//
// # File format
//
//	name: veth-basic            # [a-z0-9-], 1..12 characters
//	purpose: benchmark          # optional: benchmark (default) or self-check
//	allow-host-interface: false # optional: host links may use the default-route interface
//	topology:
//	  defaults: {cores: [0], mtu: 1500}  # cores and mtu inherit defaults -> kinds -> nodes
//	  kinds:
//	    dut: {cores: [1]}
//	  nodes:
//	    gen:                             # namespace dl-<name>-gen
//	      kind: generator                # generator or dut
//	      cores: [0]
//	      interfaces:
//	        g0: {role: tx, address: 198.18.0.1/24}  # role, address, mac, mtu all optional
//	  links:
//	    - endpoints: ["gen:g0", "dut:d0"]           # brief form: a veth pair
//	    - {type: veth, endpoints: ["dut:d1", "gen:g1"]}
//	    - {type: host, endpoint: "dut:d2", host-interface: enp3s0}
//
// Rules:
//   - A generator needs one tx and one rx interface, a DUT one in and one
//     out interface; each role is used once per node. A lab needs a
//     generator and a DUT, except with purpose: self-check, where the
//     generator measures itself over a direct link (builtin veth-loop).
//   - An interface named in a link but not under the node's interfaces is
//     created by the link. An interface without a role gets one from the
//     order in which the node's interfaces first appear in links: the first
//     role of its kind (generator: tx, rx; dut: in, out) that no other
//     interface of the node has. So `endpoints: [gen:g0, dut:d0]` then
//     `[dut:d1, gen:g1]` makes g0 tx, g1 rx, d0 in, d1 out.
//   - Every listed interface must be in exactly one link.
//   - Nodes may not share cores: a generator and a DUT on one core steal
//     each other's cycles and the measurement means nothing.
//   - Unknown fields, YAML aliases and duplicate keys are errors.
//
// This package does no syscalls and reads no host state: it never touches
// namespaces, links or sysctls, and it does not check whether a host
// interface exists or carries the default route. internal/lab brings a Spec
// up and does those checks.
package topologies
