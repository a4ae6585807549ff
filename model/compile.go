package model

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// Direction is the side of an enforcement point a rule applies to.
type Direction uint8

// Rule directions.
const (
	Ingress Direction = iota
	Egress
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// Peer is the other end of a rule: a segment of the same target, addressed by the
// provider's native identity (security group, ASG, network tag, nft set), or a prefix.
type Peer struct {
	Segment string       // set for a same-target segment peer
	Prefix  netip.Prefix // set otherwise
}

func (p Peer) String() string { return string(p.appendTo(nil)) }

func (p Peer) appendTo(b []byte) []byte {
	if p.Segment != "" {
		return append(append(b, "segment."...), p.Segment...)
	}
	return p.Prefix.AppendTo(b)
}

// Rule is one permission at one segment: the atomic unit every provider maps from.
// Providers may group rules (an NSG rule can hold many prefixes) but the canonical
// form stays one rule per segment, direction, peer and port, so that an API that
// merges or splits lists never shows as a change.
type Rule struct {
	Segment   string
	Direction Direction
	Peer      Peer
	Port      ServicePort
	Allows    []string // the allows that produce this rule, sorted
}

// Key is the rule's stable identity, readable in plans: "web ingress from segment.lb tcp/443".
func (r *Rule) Key() string { return string(r.appendKey(nil)) }

// appendKey appends the key to b: built by appending, not fmt, because plans of
// large policies build hundreds of thousands.
func (r *Rule) appendKey(b []byte) []byte {
	b = append(b, r.Segment...)
	if r.Direction == Egress {
		b = append(b, " egress to "...)
	} else {
		b = append(b, " ingress from "...)
	}
	b = r.Peer.appendTo(b)
	b = append(b, ' ')
	return r.Port.appendTo(b)
}

// SegmentState is a segment as its target enforces it.
type SegmentState struct {
	Name    string
	Mode    Mode
	Members Members
	// CIDRs is how the segment is addressed by prefix: by peers in other targets,
	// and in its own target by a provider that cannot name it otherwise (GCP's
	// egress rules name destination ranges only).
	CIDRs []netip.Prefix
}

// DesiredState is everything one target must enforce.
type DesiredState struct {
	Target   *Target
	Segments []SegmentState // sorted by name
	Rules    []*Rule        // sorted by key
	// Allows are the policy's allows by name (shared by every target's state, not
	// to be modified): what a provider shows next to a rule, its owner and ticket.
	Allows map[string]*Allow
}

// WithMode returns the state with every segment in mode m, sharing the rest: what a
// target enforces under break-glass (ModeAudit). d is not modified.
func (d *DesiredState) WithMode(m Mode) *DesiredState {
	c := *d
	c.Segments = slices.Clone(d.Segments)
	for i := range c.Segments {
		c.Segments[i].Mode = m
	}
	return &c
}

// CompileError lists every problem that kept a policy from compiling.
type CompileError struct {
	Problems []Problem
}

// Problem is one semantic error found while compiling, located when the policy came from files.
type Problem struct {
	Pos     Pos
	Message string
}

func (e *CompileError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Message
		if p.Pos.File != "" {
			msgs[i] = fmt.Sprintf("%s:%d:%d: %s", p.Pos.File, p.Pos.Line, p.Pos.Column, p.Message)
		}
	}
	return "compile policy: " + strings.Join(msgs, "; ")
}

// ErrCompile is matched by errors.Is for every compile failure.
var ErrCompile = errors.New("compile policy")

// Is makes errors.Is(err, ErrCompile) true.
func (e *CompileError) Is(target error) bool { return target == ErrCompile }

// Compile turns a policy into the desired state of every target, keyed by target name.
//
// The semantics are the same on every target (docs/architecture.md §2-3): allow-only; an allow
// from A to B is enforced as egress at A and ingress at B; a same-target peer is
// referred to by identity and a peer in another target (or a network) by its CIDRs.
// Whether a segment denies by default follows from its Mode. The loader reports the
// problems Compile finds with source locations; Compile checks them again so that a
// policy built in code cannot produce a wrong state.
func Compile(p *Policy) (map[string]*DesiredState, error) {
	c := newCompiler(p)
	for _, a := range p.Allows {
		c.allow(a)
	}
	if len(c.problems) > 0 {
		slices.SortFunc(c.problems, func(a, b Problem) int {
			return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), a.Pos.Line-b.Pos.Line, strings.Compare(a.Message, b.Message))
		})
		return nil, &CompileError{Problems: slices.Compact(c.problems)}
	}
	c.collect()
	return c.states, nil
}

// The compiler works on small integer IDs rather than strings: policies reach 100,000
// allows and several hundred thousand rules, and on the path of every plan and
// reconcile loop a map keyed by names and prefixes costs more than everything else.
// Rules are produced as candidates, sorted by the rank of each part of their key and
// merged where equal, which both deduplicates them and puts them in key order.

// candidate is one rule as produced by one allow.
type candidate struct {
	segment int32 // index into compiler.segments (sorted by name: the rank)
	dir     Direction
	peer    int32 // index into compiler.peerTable
	port    int32 // index into compiler.portTable
	allow   *Allow
	order   uint64 // the packed sort key, set by collect
}

type compiler struct {
	p         *Policy
	segments  []*Segment // sorted by name: the index is the rank
	segIndex  map[string]int32
	segTarget []int32 // target index of each segment
	targets   []string
	targetIdx map[string]int32
	// segPeers caches how each target addresses each segment, at
	// segment*len(targets)+target; nil until first needed.
	segPeers  [][]int32
	netPeers  map[string][]int32
	svcPorts  map[string][]int32
	peerTable []Peer
	peerIndex map[Peer]int32
	portTable []ServicePort
	cands     []candidate
	from, to  []endpoint // reused by allow
	ports     []int32    // reused by allow
	states    map[string]*DesiredState
	problems  []Problem
}

func newCompiler(p *Policy) *compiler {
	c := &compiler{
		p:         p,
		segIndex:  make(map[string]int32, len(p.Segments)),
		targetIdx: make(map[string]int32, len(p.Targets)),
		netPeers:  make(map[string][]int32, len(p.Networks)),
		svcPorts:  make(map[string][]int32, len(p.Services)),
		peerIndex: make(map[Peer]int32),
		cands:     make([]candidate, 0, 3*len(p.Allows)),
		states:    make(map[string]*DesiredState, len(p.Targets)),
	}
	for _, name := range SortedKeys(p.Targets) {
		c.targetIdx[name] = int32(len(c.targets))
		c.targets = append(c.targets, name)
		c.states[name] = &DesiredState{Target: p.Targets[name], Allows: p.Allows}
	}
	for _, name := range SortedKeys(p.Segments) {
		seg := p.Segments[name]
		st, ok := c.states[seg.Target]
		if !ok {
			c.problem(seg.Pos, "segment %q refers to unknown target %q", name, seg.Target)
			continue
		}
		c.segIndex[name] = int32(len(c.segments))
		c.segments = append(c.segments, seg)
		c.segTarget = append(c.segTarget, c.targetIdx[seg.Target])
		st.Segments = append(st.Segments, SegmentState{Name: name, Mode: seg.Mode, Members: seg.Members, CIDRs: seg.CIDRs})
	}
	c.segPeers = make([][]int32, len(c.segments)*len(c.targets))
	portIndex := map[ServicePort]int32{}
	for _, name := range SortedKeys(p.Services) {
		var ids []int32
		for _, sp := range p.Services[name].Ports {
			id, ok := portIndex[sp]
			if !ok {
				id = int32(len(c.portTable))
				c.portTable = append(c.portTable, sp)
				portIndex[sp] = id
			}
			ids = append(ids, id)
		}
		c.svcPorts[name] = ids
	}
	for _, name := range SortedKeys(p.Networks) {
		c.netPeers[name] = c.prefixPeers(p.Networks[name].CIDRs)
	}
	return c
}

func (c *compiler) problem(pos Pos, format string, args ...any) {
	c.problems = append(c.problems, Problem{pos, fmt.Sprintf(format, args...)})
}

// endpoint is one resolved peer of an allow: a segment index, or a network's peers.
type endpoint struct {
	ref      PeerRef
	segment  int32 // -1 for a network
	netPeers []int32
}

// resolve appends the endpoints of refs to out[:0]; the compiler reuses two buffers
// rather than allocate two slices per allow.
func (c *compiler) resolve(a *Allow, refs []PeerRef, out []endpoint) []endpoint {
	out = out[:0]
	for _, ref := range refs {
		e := endpoint{ref: ref, segment: -1}
		if ref.Kind == PeerNetwork {
			peers, ok := c.netPeers[ref.Name]
			if !ok {
				c.problem(a.Pos, "allow %q names unknown network %q", a.Name, ref.Name)
				continue
			}
			e.netPeers = peers
		} else {
			id, ok := c.segIndex[ref.Name]
			if !ok {
				c.problem(a.Pos, "allow %q names unknown segment %q", a.Name, ref.Name)
				continue
			}
			e.segment = id
		}
		out = append(out, e)
	}
	return out
}

func (c *compiler) allow(a *Allow) {
	c.ports = c.ports[:0]
	for _, svcName := range a.Services {
		ids, ok := c.svcPorts[svcName]
		if !ok {
			c.problem(a.Pos, "allow %q names unknown service %q", a.Name, svcName)
			continue
		}
		c.ports = append(c.ports, ids...)
	}
	ports := c.ports
	if len(a.Services) == 0 {
		c.problem(a.Pos, "allow %q names no service", a.Name)
	}
	c.from = c.resolve(a, a.From, c.from)
	c.to = c.resolve(a, a.To, c.to)
	for _, f := range c.from {
		for _, t := range c.to {
			if f.segment < 0 && t.segment < 0 {
				c.problem(a.Pos, "allow %q is between two networks (%s and %s); networks are peers, never enforcement points", a.Name, f.ref, t.ref)
				continue
			}
			c.end(a, f, t, Egress, ports)
			c.end(a, t, f, Ingress, ports)
		}
	}
}

// end adds the rules of one allow at one of its ends, if that end is a segment.
func (c *compiler) end(a *Allow, local, remote endpoint, dir Direction, ports []int32) {
	if local.segment < 0 {
		return
	}
	peers := remote.netPeers
	if remote.segment >= 0 {
		var problem string
		if peers, problem = c.segmentPeers(remote.segment, c.segTarget[local.segment]); problem != "" {
			c.problem(a.Pos, "allow %q: %s", a.Name, problem)
			return
		}
	}
	for _, peerID := range peers {
		peer := &c.peerTable[peerID]
		for _, portID := range ports {
			proto := c.portTable[portID].Protocol
			// An ICMP message type of one family means nothing to a peer of the other.
			if peer.Segment == "" && ((proto == ProtocolICMP && !peer.Prefix.Addr().Is4()) ||
				(proto == ProtocolICMPv6 && peer.Prefix.Addr().Is4())) {
				continue
			}
			c.cands = append(c.cands, candidate{segment: local.segment, dir: dir, peer: peerID, port: portID, allow: a})
		}
	}
}

// CrossTargetProblem is the rule for addressing a segment from another target, in
// one place for the loader's diagnostics and the compiler: a target other than its
// own can address seg only by its cidrs. It says why target from cannot, or "".
func CrossTargetProblem(seg *Segment, from string) string {
	if seg.Target == from || len(seg.CIDRs) > 0 {
		return ""
	}
	return fmt.Sprintf("target %q can only address segment %q (target %q) by its cidrs, and it has none: add cidrs = [...] to it", from, seg.Name, seg.Target)
}

// segmentPeers says how target `local` addresses segment seg: by identity in its own
// target, by its CIDRs elsewhere. Computed once per pair.
func (c *compiler) segmentPeers(seg, local int32) ([]int32, string) {
	slot := int(seg)*len(c.targets) + int(local)
	if ids := c.segPeers[slot]; ids != nil {
		return ids, ""
	}
	s := c.segments[seg]
	var ids []int32
	switch {
	case c.segTarget[seg] == local:
		ids = []int32{c.peerID(Peer{Segment: s.Name})}
	default:
		if problem := CrossTargetProblem(s, c.targets[local]); problem != "" {
			return nil, problem
		}
		ids = c.prefixPeers(s.CIDRs)
	}
	c.segPeers[slot] = ids
	return ids, ""
}

func (c *compiler) prefixPeers(cidrs []netip.Prefix) []int32 {
	ids := make([]int32, len(cidrs))
	for i, pfx := range cidrs {
		ids[i] = c.peerID(Peer{Prefix: pfx})
	}
	return ids
}

func (c *compiler) peerID(peer Peer) int32 {
	id, ok := c.peerIndex[peer]
	if !ok {
		id = int32(len(c.peerTable))
		c.peerTable = append(c.peerTable, peer)
		c.peerIndex[peer] = id
	}
	return id
}

// ranks returns, for each string, its position in sorted order.
func ranks(strs []string) []int32 {
	order := make([]int32, len(strs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(strs[a], strs[b]) })
	rank := make([]int32, len(strs))
	for r, i := range order {
		rank[i] = int32(r)
	}
	return rank
}

// collect sorts the candidates into key order, merges equal ones and hands each
// rule to its target's state.
//
// Rule.Key is "SEGMENT DIRECTION PEER PORT" joined by spaces, and no part holds a
// character that sorts below a space, so sorting by the rank of each part in turn
// gives exactly the order of the keys, without building them. The ranks are packed
// into one integer per candidate, so that the sort compares integers only.
func (c *compiler) collect() {
	peerNames := make([]string, len(c.peerTable))
	for i, p := range c.peerTable {
		peerNames[i] = p.String()
	}
	portNames := make([]string, len(c.portTable))
	for i, p := range c.portTable {
		portNames[i] = p.String()
	}
	peerRank, portRank := ranks(peerNames), ranks(portNames)
	segBits, peerBits, portBits := bitsFor(len(c.segments)), bitsFor(len(c.peerTable)), bitsFor(len(c.portTable))
	if segBits+1+peerBits+portBits > 64 {
		panic(fmt.Sprintf("compile: %d segments, %d peers and %d ports do not fit a sort key", len(c.segments), len(c.peerTable), len(c.portTable)))
	}
	for i := range c.cands {
		cand := &c.cands[i]
		// "egress to" sorts before "ingress from".
		dirRank := uint64(0)
		if cand.dir == Ingress {
			dirRank = 1
		}
		cand.order = uint64(cand.segment)<<(1+peerBits+portBits) | dirRank<<(peerBits+portBits) |
			uint64(peerRank[cand.peer])<<portBits | uint64(portRank[cand.port])
	}
	slices.SortFunc(c.cands, func(a, b candidate) int { return cmp.Compare(a.order, b.order) })
	slab := make([]Rule, 0, len(c.cands))
	names := make([]string, len(c.cands)) // backing for single-allow rules
	for i, cand := range c.cands {
		if n := len(slab); n > 0 && c.cands[i-1].order == cand.order {
			r := &slab[n-1]
			if !slices.Contains(r.Allows, cand.allow.Name) {
				r.Allows = append(slices.Clip(r.Allows), cand.allow.Name)
			}
			continue
		}
		names[i] = cand.allow.Name
		slab = append(slab, Rule{
			Segment:   c.segments[cand.segment].Name,
			Direction: cand.dir,
			Peer:      c.peerTable[cand.peer],
			Port:      c.portTable[cand.port],
			Allows:    names[i : i+1 : i+1],
		})
	}
	targets := make([]*DesiredState, len(c.segments))
	for i, seg := range c.segments {
		targets[i] = c.states[seg.Target]
	}
	for i := range slab {
		r := &slab[i]
		if len(r.Allows) > 1 {
			slices.Sort(r.Allows)
		}
		st := targets[c.segIndex[r.Segment]]
		st.Rules = append(st.Rules, r)
	}
}

// bitsFor is the number of bits that hold every index below n.
func bitsFor(n int) int { return bits.Len(uint(max(n-1, 0))) }
