package topologies

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"unicode"
)

// kindRoles lists the roles each kind needs, in the order implicit roles are
// handed out.
var kindRoles = map[string][]string{
	KindGenerator: {RoleTX, RoleRX},
	KindDUT:       {RoleIn, RoleOut},
}

var rolesNeeded = map[string]string{
	KindGenerator: "a tx and an rx",
	KindDUT:       "an in and an out",
}

var (
	supportedPurposes  = []string{PurposeBenchmark, PurposeSelfCheck}
	supportedLinkTypes = []string{LinkHost, LinkVeth}
)

func sortedKinds() []string {
	k := slices.Clone(SupportedKinds)
	slices.Sort(k)
	return k
}

// validName reports whether s can name a lab or a node: 1..12 characters
// from [a-z0-9-], not starting with '-'. Both end up in namespace names
// ("dl-<lab>-<node>") and on command lines.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 12 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ifnameProblem returns why s cannot be a Linux interface name, or "".
// It follows the kernel's dev_valid_name; ':' is refused there too, which
// keeps "node:interface" endpoints unambiguous.
func ifnameProblem(s string) string {
	switch {
	case s == "":
		return "it is empty"
	case len(s) > 15:
		return fmt.Sprintf("it has %d characters; Linux allows at most 15", len(s))
	case s == "." || s == "..":
		return "it is reserved"
	case strings.ContainsAny(s, "/:"):
		return "it contains '/' or ':'"
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return "it contains white space"
	}
	return ""
}

const nameRule = "use 1..12 characters from [a-z0-9-], not starting with '-'"

// wire is where an interface was wired: which link, and where it was written.
type wire struct {
	link  string
	line  int
	order int // position among all endpoints, for handing out roles
}

// nodeState is a node being resolved.
type nodeState struct {
	raw        *rawNode
	node       Node
	kindOK     bool
	coresFrom  string // field the cores came from, when not the node itself
	coresLine  int
	coresField string
	mtu        int
	listed     map[string]int // interface name -> index in node.Interfaces
	ifaceLine  map[string]int
	ifaceField map[string]string
	roleSet    map[string]bool // interface has an explicit role
	implicit   map[string]bool // interface was created by a link
	wired      map[string]wire
}

// resolve checks the raw form and builds the Spec; every problem is added to errs.
func (r *rawSpec) resolve(source string, errs *errorList) *Spec {
	s := &Spec{Source: source, Purpose: PurposeBenchmark}
	switch {
	case !r.Name.Seen:
		errs.add(r.Line, "name", "missing; every lab needs a name (%s)", nameRule)
	case r.Name.Set && !validName(r.Name.V):
		errs.add(r.Name.Line, r.Name.Field, "name %q is not valid: %s", r.Name.V, nameRule)
	}
	s.Name = r.Name.V
	if r.Purpose.Set {
		if !slices.Contains(supportedPurposes, r.Purpose.V) {
			errs.add(r.Purpose.Line, r.Purpose.Field, "purpose %q is not supported; supported purposes are %v", r.Purpose.V, supportedPurposes)
		} else {
			s.Purpose = r.Purpose.V
		}
	}
	s.AllowHostInterface = r.AllowHostInterface.V
	t := r.Topology
	if t == nil {
		errs.add(r.Line, "topology", "missing; a lab needs topology.nodes and topology.links")
		return s
	}
	if t.Bad {
		return s
	}

	checkSettings(t.Defaults, errs)
	kinds := map[string]*rawKind{}
	for i := range t.Kinds {
		k := &t.Kinds[i]
		if !slices.Contains(SupportedKinds, k.Name) {
			errs.add(k.Line, k.Field, "kind %q is not supported; supported kinds are %v", k.Name, sortedKinds())
			continue
		}
		kinds[k.Name] = k
		checkSettings(k.rawSettings, errs)
	}

	if len(t.Nodes) == 0 {
		errs.add(t.NodesLine, "topology.nodes", "no nodes; a lab needs a generator node and a dut node")
		return s
	}
	states := make([]*nodeState, 0, len(t.Nodes))
	byName := map[string]*nodeState{}
	for i := range t.Nodes {
		ns := resolveNode(s.Name, &t.Nodes[i], t.Defaults, kinds, errs)
		states = append(states, ns)
		byName[ns.node.Name] = ns
	}

	before := len(errs.errs)
	resolveLinks(s, t.Links, states, byName, errs)
	// With a link left out, "not in any link" and "has no rx" would only echo
	// the link's own problem.
	linksBroken := len(errs.errs) > before
	for _, rl := range t.Links {
		linksBroken = linksBroken || rl.Bad
	}

	for _, ns := range states {
		assignRoles(ns, linksBroken, errs)
	}
	checkLab(s, r, states, errs)
	for _, ns := range states {
		s.Nodes = append(s.Nodes, ns.node)
	}
	return s
}

// checkSettings checks cores and mtu where they are written.
func checkSettings(st rawSettings, errs *errorList) {
	if st.Cores.Set && len(st.Cores.V) == 0 {
		errs.add(st.Cores.Line, st.Cores.Field, "lists no cores; give at least one, like [0]")
	}
	seen := map[int]bool{}
	for _, c := range st.Cores.V {
		switch {
		case c.V < 0 || c.V >= MaxCores:
			errs.add(c.Line, c.Field, "core %d is out of range 0..%d", c.V, MaxCores-1)
		case seen[c.V]:
			errs.add(c.Line, c.Field, "core %d is listed twice", c.V)
		}
		seen[c.V] = true
	}
	if st.MTU.Set && (st.MTU.V < MinMTU || st.MTU.V > MaxMTU) {
		errs.add(st.MTU.Line, st.MTU.Field, "mtu %d is out of range %d..%d", st.MTU.V, MinMTU, MaxMTU)
	}
}

func coreList(st rawSettings) []int {
	var cores []int
	for _, c := range st.Cores.V {
		if !slices.Contains(cores, c.V) {
			cores = append(cores, c.V)
		}
	}
	return cores
}

func resolveNode(lab string, rn *rawNode, defaults rawSettings, kinds map[string]*rawKind, errs *errorList) *nodeState {
	ns := &nodeState{
		raw:        rn,
		node:       Node{Name: rn.Name, Kind: rn.Kind.V, Netns: NetnsName(lab, rn.Name)},
		listed:     map[string]int{},
		ifaceLine:  map[string]int{},
		ifaceField: map[string]string{},
		roleSet:    map[string]bool{},
		implicit:   map[string]bool{},
		wired:      map[string]wire{},
	}
	if !validName(rn.Name) {
		errs.add(rn.Line, rn.Field, "node name %q is not valid: %s", rn.Name, nameRule)
	}
	switch {
	case !rn.Kind.Seen:
		errs.add(rn.Line, rn.Field+".kind", "missing; supported kinds are %v", sortedKinds())
	case !rn.Kind.Set:
	case !slices.Contains(SupportedKinds, rn.Kind.V):
		errs.add(rn.Kind.Line, rn.Kind.Field, "kind %q is not supported; supported kinds are %v", rn.Kind.V, sortedKinds())
	default:
		ns.kindOK = true
	}
	checkSettings(rn.rawSettings, errs)

	// Settings inherit defaults -> kinds -> nodes; the most specific one that is set wins.
	levels := []rawSettings{rn.rawSettings}
	if k := kinds[rn.Kind.V]; k != nil {
		levels = append(levels, k.rawSettings)
	}
	levels = append(levels, defaults)
	for i, st := range levels {
		if st.Cores.Seen {
			ns.node.Cores = coreList(st)
			ns.coresLine, ns.coresField = st.Cores.Line, st.Cores.Field
			if i > 0 {
				ns.coresFrom = st.Cores.Field
				ns.coresLine, ns.coresField = rn.Line, rn.Field
			}
			break
		}
	}
	for _, st := range levels {
		if st.MTU.Set {
			ns.mtu = st.MTU.V
			break
		}
	}
	coresSeen := slices.ContainsFunc(levels, func(st rawSettings) bool { return st.Cores.Seen })
	if !coresSeen && !rn.Bad {
		errs.add(rn.Line, rn.Field, "no cores; set cores on the node, its kind or topology.defaults")
	}

	for i := range rn.Interfaces {
		ri := &rn.Interfaces[i]
		iface := Interface{Name: ri.Name, MTU: ns.mtu}
		if p := ifnameProblem(ri.Name); p != "" {
			errs.add(ri.Line, ri.Field, "interface name %q is not valid: %s", ri.Name, p)
		} else if ri.Name == "lo" {
			errs.add(ri.Line, ri.Field, `interface name "lo" is taken by the namespace's loopback`)
		}
		if ri.Role.Set {
			if roles := kindRoles[rn.Kind.V]; ns.kindOK && !slices.Contains(roles, ri.Role.V) {
				errs.add(ri.Role.Line, ri.Role.Field, "role %q does not fit a %s node; use %s", ri.Role.V, rn.Kind.V, strings.Join(roles, " or "))
			} else if !ns.kindOK && !slices.Contains([]string{RoleTX, RoleRX, RoleIn, RoleOut}, ri.Role.V) {
				errs.add(ri.Role.Line, ri.Role.Field, "role %q is not supported; supported roles are [in out rx tx]", ri.Role.V)
			}
			iface.Role = ri.Role.V
			ns.roleSet[ri.Name] = true
		}
		if ri.Address.Set {
			p, err := netip.ParsePrefix(ri.Address.V)
			if err != nil {
				errs.add(ri.Address.Line, ri.Address.Field, "address %q is not valid: want an address with a prefix length, like 198.18.0.1/24", ri.Address.V)
			} else {
				iface.Address = p
			}
		}
		if ri.MAC.Set {
			mac, err := net.ParseMAC(ri.MAC.V)
			switch {
			case err != nil || len(mac) != 6:
				errs.add(ri.MAC.Line, ri.MAC.Field, "mac %q is not valid: want 6 bytes like 02:00:00:00:00:01", ri.MAC.V)
			case mac[0]&1 != 0:
				errs.add(ri.MAC.Line, ri.MAC.Field, "mac %q is a multicast address; an interface needs a unicast one", ri.MAC.V)
			default:
				iface.MAC = mac
			}
		}
		if ri.MTU.Set {
			checkSettings(rawSettings{MTU: ri.MTU}, errs)
			iface.MTU = ri.MTU.V
		}
		ns.listed[ri.Name] = len(ns.node.Interfaces)
		ns.ifaceLine[ri.Name] = ri.Line
		ns.ifaceField[ri.Name] = ri.Field
		ns.node.Interfaces = append(ns.node.Interfaces, iface)
	}
	return ns
}

func resolveLinks(s *Spec, links []rawLink, states []*nodeState, byName map[string]*nodeState, errs *errorList) {
	var nodeNames []string
	for _, ns := range states {
		nodeNames = append(nodeNames, ns.node.Name)
	}
	slices.Sort(nodeNames)
	order := 0
	hostIfaces := map[string]value[string]{}

	// endpoint checks one "node:interface" and wires it; ok is false on any problem.
	endpoint := func(e value[string], link string) (Endpoint, bool) {
		node, iface, found := strings.Cut(e.V, ":")
		if !found || node == "" || iface == "" || strings.Contains(iface, ":") {
			errs.add(e.Line, e.Field, `endpoint %q is not valid: want "node:interface"`, e.V)
			return Endpoint{}, false
		}
		ep := Endpoint{Node: node, Interface: iface}
		ns := byName[node]
		if ns == nil {
			errs.add(e.Line, e.Field, "endpoint %q: node %q does not exist; nodes are %v", e.V, node, nodeNames)
			return ep, false
		}
		if p := ifnameProblem(iface); p != "" {
			errs.add(e.Line, e.Field, "endpoint %q: interface name %q is not valid: %s", e.V, iface, p)
			return ep, false
		}
		if iface == "lo" {
			errs.add(e.Line, e.Field, `endpoint %q: interface name "lo" is taken by the namespace's loopback`, e.V)
			return ep, false
		}
		if w, dup := ns.wired[iface]; dup {
			errs.add(e.Line, e.Field, "interface %q is already wired by %s (line %d)", e.V, w.link, w.line)
			return ep, false
		}
		ns.wired[iface] = wire{link: link, line: e.Line, order: order}
		order++
		if _, ok := ns.listed[iface]; !ok {
			// Not listed under interfaces: created here, with the node's MTU and a derived role.
			ns.listed[iface] = len(ns.node.Interfaces)
			ns.ifaceLine[iface] = e.Line
			ns.ifaceField[iface] = e.Field
			ns.node.Interfaces = append(ns.node.Interfaces, Interface{Name: iface, MTU: ns.mtu})
			ns.implicit[iface] = true
		}
		return ep, true
	}

	for _, rl := range links {
		if rl.Bad {
			continue
		}
		typ := LinkVeth
		if rl.Type.Set {
			typ = rl.Type.V
			if !slices.Contains(supportedLinkTypes, typ) {
				errs.add(rl.Type.Line, rl.Type.Field, "link type %q is not supported; supported types are %v", typ, supportedLinkTypes)
				continue
			}
		}
		l := Link{Type: typ}
		ok := true
		switch typ {
		case LinkVeth:
			for _, v := range []value[string]{rl.Endpoint, rl.HostInterface} {
				if v.Set {
					errs.add(v.Line, v.Field, "only host links take this field; a veth link has endpoints: [a, b]")
					ok = false
				}
			}
			if !rl.Endpoints.Seen {
				errs.add(rl.Line, rl.Field, `endpoints: missing; a veth link needs 2 endpoints like ["gen:g0", "dut:d0"]`)
				continue
			}
			if n := len(rl.Endpoints.V); n != 2 {
				errs.add(rl.Endpoints.Line, rl.Endpoints.Field, "a veth link needs exactly 2 endpoints, got %d", n)
				continue
			}
			a, okA := endpoint(rl.Endpoints.V[0], rl.Field)
			b, okB := endpoint(rl.Endpoints.V[1], rl.Field)
			l.A, l.B = a, b
			ok = ok && okA && okB
		case LinkHost:
			if rl.Endpoints.Seen {
				errs.add(rl.Endpoints.Line, rl.Endpoints.Field, `a host link has one endpoint: write endpoint: "node:interface"`)
				ok = false
			}
			switch {
			case !rl.HostInterface.Seen:
				errs.add(rl.Line, rl.Field, "host-interface: missing; a host link names the host interface to move into the node")
				ok = false
			case ifnameProblem(rl.HostInterface.V) != "":
				errs.add(rl.HostInterface.Line, rl.HostInterface.Field, "host interface name %q is not valid: %s", rl.HostInterface.V, ifnameProblem(rl.HostInterface.V))
				ok = false
			default:
				if first, dup := hostIfaces[rl.HostInterface.V]; dup {
					errs.add(rl.HostInterface.Line, rl.HostInterface.Field, "host interface %q is already moved by %s (line %d)", rl.HostInterface.V, strings.TrimSuffix(first.Field, ".host-interface"), first.Line)
					ok = false
				}
				hostIfaces[rl.HostInterface.V] = rl.HostInterface
			}
			if !rl.Endpoint.Seen {
				errs.add(rl.Line, rl.Field, `endpoint: missing; a host link needs endpoint: "node:interface"`)
				continue
			}
			a, okA := endpoint(rl.Endpoint, rl.Field)
			l.A, l.HostInterface = a, rl.HostInterface.V
			ok = ok && okA
		}
		if ok {
			s.Links = append(s.Links, l)
		}
	}
}

// assignRoles checks that every interface is wired and hands out roles to
// interfaces without one: in the order they first appear in links, each gets
// the first role of its kind that no other interface of the node has
// (generator: tx, rx; dut: in, out).
func assignRoles(ns *nodeState, linksBroken bool, errs *errorList) {
	n := &ns.node
	var unset []string
	for _, iface := range n.Interfaces {
		if _, ok := ns.wired[iface.Name]; !ok {
			if linksBroken {
				continue
			}
			errs.add(ns.ifaceLine[iface.Name], ns.ifaceField[iface.Name], "interface %q is not in any link%s", n.Name+":"+iface.Name, typoHint(ns, iface.Name))
			continue
		}
		if !ns.roleSet[iface.Name] {
			unset = append(unset, iface.Name)
		}
	}
	if !ns.kindOK {
		return
	}
	roles := kindRoles[n.Kind]
	taken := map[string]string{}
	for _, iface := range n.Interfaces {
		if !ns.roleSet[iface.Name] || !slices.Contains(roles, iface.Role) {
			continue
		}
		if other, dup := taken[iface.Role]; dup {
			errs.add(ns.ifaceLine[iface.Name], ns.ifaceField[iface.Name]+".role", "role %s is also used by interface %q; a %s node has one interface per role", iface.Role, other, n.Kind)
			continue
		}
		taken[iface.Role] = iface.Name
	}
	slices.SortFunc(unset, func(a, b string) int { return ns.wired[a].order - ns.wired[b].order })
	for _, name := range unset {
		free := ""
		for _, r := range roles {
			if _, ok := taken[r]; !ok {
				free = r
				break
			}
		}
		if free == "" {
			errs.add(ns.ifaceLine[name], ns.ifaceField[name], "interface %q gets no role: a %s node has one interface per role (%s) and all are taken", n.Name+":"+name, n.Kind, strings.Join(roles, ", "))
			continue
		}
		taken[free] = name
		n.Interfaces[ns.listed[name]].Role = free
	}
	var missing []string
	for _, r := range roles {
		if _, ok := taken[r]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 && !linksBroken && !ns.raw.Bad {
		errs.add(ns.raw.Line, ns.raw.Field, "a %s node needs %s interface; it has no %s", n.Kind, rolesNeeded[n.Kind], strings.Join(missing, " and no "))
	}
}

// typoHint points at a link-created interface whose name is close to the
// unwired listed interface name: most likely a typo in the link.
func typoHint(ns *nodeState, name string) string {
	for _, iface := range ns.node.Interfaces {
		if ns.implicit[iface.Name] && editDistance(name, iface.Name) <= 2 {
			return fmt.Sprintf("; %s names %q: a typo?", ns.wired[iface.Name].link, ns.node.Name+":"+iface.Name)
		}
	}
	return ""
}

// checkLab checks what involves several nodes: kinds present, cores apart,
// addresses unique.
func checkLab(s *Spec, r *rawSpec, states []*nodeState, errs *errorList) {
	t := r.Topology
	purposeOK := s.Purpose == r.Purpose.V
	count := map[string]int{}
	kindsOK := true
	for _, ns := range states {
		count[ns.node.Kind]++
		kindsOK = kindsOK && ns.kindOK
	}
	if count[KindGenerator] == 0 && kindsOK {
		errs.add(t.NodesLine, "topology.nodes", "no generator node; a lab needs a node of kind generator")
	}
	if count[KindDUT] == 0 && s.Purpose != PurposeSelfCheck && kindsOK && !(r.Purpose.Seen && !purposeOK) {
		errs.add(t.NodesLine, "topology.nodes", "no dut node; a lab needs a node of kind dut (only a lab with purpose: self-check may do without)")
	}

	// The measurement needs every node's work on its own cores: a shared core
	// makes the generator and the DUT steal each other's cycles.
	for i, ns := range states {
		for _, other := range states[:i] {
			var shared []string
			for _, c := range ns.node.Cores {
				if slices.Contains(other.node.Cores, c) {
					shared = append(shared, fmt.Sprint(c))
				}
			}
			if len(shared) == 0 {
				continue
			}
			what, verb := "core "+shared[0], "is"
			if len(shared) > 1 {
				what, verb = "cores "+strings.Join(shared, ", "), "are"
			}
			if ns.coresFrom != "" {
				what += " (from " + ns.coresFrom + ")"
			}
			errs.add(ns.coresLine, ns.coresField, "%s %s also used by node %q; every node needs cores of its own", what, verb, other.node.Name)
		}
	}

	addrs := map[netip.Addr]string{}
	for _, ns := range states {
		for _, iface := range ns.node.Interfaces {
			if !iface.Address.IsValid() {
				continue
			}
			a := iface.Address.Addr()
			here := ns.node.Name + ":" + iface.Name
			if first, dup := addrs[a]; dup {
				errs.add(ns.ifaceLine[iface.Name], ns.ifaceField[iface.Name]+".address", "address %s is also used by %s", a, first)
				continue
			}
			addrs[a] = here
		}
	}
}
