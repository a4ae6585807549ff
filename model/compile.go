package model

import (
	"errors"
	"fmt"
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

func (p Peer) String() string {
	if p.Segment != "" {
		return "segment." + p.Segment
	}
	return p.Prefix.String()
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
func (r *Rule) Key() string {
	word := " from "
	if r.Direction == Egress {
		word = " to "
	}
	return r.Segment + " " + r.Direction.String() + word + r.Peer.String() + " " + r.Port.String()
}

// SegmentState is a segment as its target enforces it.
type SegmentState struct {
	Name    string
	Mode    Mode
	Members Members
}

// DesiredState is everything one target must enforce.
type DesiredState struct {
	Target   *Target
	Segments []SegmentState // sorted by name
	Rules    []*Rule        // sorted by key
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

// ruleID is the comparable identity of a rule while compiling; keys as strings are
// built once, at the end.
type ruleID struct {
	segment   string
	direction Direction
	peer      Peer
	port      ServicePort
}

// Compile turns a policy into the desired state of every target, keyed by target name.
//
// The semantics are the same on every target (DESIGN.md §2-3): allow-only; an allow
// from A to B is enforced as egress at A and ingress at B; a same-target peer is
// referred to by identity and a peer in another target (or a network) by its CIDRs.
// Whether a segment denies by default follows from its Mode. The loader reports the
// problems Compile finds with source locations; Compile checks them again so that a
// policy built in code cannot produce a wrong state.
func Compile(p *Policy) (map[string]*DesiredState, error) {
	var problems []Problem
	states := make(map[string]*DesiredState, len(p.Targets))
	for name, t := range p.Targets {
		states[name] = &DesiredState{Target: t}
	}
	for _, name := range SortedKeys(p.Segments) {
		seg := p.Segments[name]
		st, ok := states[seg.Target]
		if !ok {
			problems = append(problems, Problem{seg.Pos, fmt.Sprintf("segment %q refers to unknown target %q", name, seg.Target)})
			continue
		}
		st.Segments = append(st.Segments, SegmentState{Name: name, Mode: seg.Mode, Members: seg.Members})
	}

	rules := make(map[ruleID]*Rule)
	add := func(segment string, dir Direction, peer Peer, port ServicePort, allow string) {
		// An ICMP message type of one family means nothing to a peer of the other.
		if peer.Segment == "" && ((port.Protocol == ProtocolICMP && !peer.Prefix.Addr().Is4()) ||
			(port.Protocol == ProtocolICMPv6 && peer.Prefix.Addr().Is4())) {
			return
		}
		id := ruleID{segment, dir, peer, port}
		if r, ok := rules[id]; ok {
			if r.Allows[len(r.Allows)-1] != allow {
				r.Allows = append(r.Allows, allow)
			}
			return
		}
		rules[id] = &Rule{Segment: segment, Direction: dir, Peer: peer, Port: port, Allows: []string{allow}}
	}

	// peersOf says how a segment in target `local` addresses ref.
	peersOf := func(ref PeerRef, local string) ([]Peer, string) {
		var cidrs []netip.Prefix
		switch ref.Kind {
		case PeerNetwork:
			n, ok := p.Networks[ref.Name]
			if !ok {
				return nil, fmt.Sprintf("unknown network %q", ref.Name)
			}
			cidrs = n.CIDRs
		default:
			s, ok := p.Segments[ref.Name]
			if !ok {
				return nil, fmt.Sprintf("unknown segment %q", ref.Name)
			}
			if s.Target == local {
				return []Peer{{Segment: s.Name}}, ""
			}
			if len(s.CIDRs) == 0 {
				return nil, fmt.Sprintf("segment %q is in target %q and is referred to from target %q, but has no cidrs to address it by", s.Name, s.Target, local)
			}
			cidrs = s.CIDRs
		}
		peers := make([]Peer, len(cidrs))
		for i, c := range cidrs {
			peers[i] = Peer{Prefix: c}
		}
		return peers, ""
	}

	for _, name := range SortedKeys(p.Allows) {
		a := p.Allows[name]
		var ports []ServicePort
		for _, svcName := range a.Services {
			svc, ok := p.Services[svcName]
			if !ok {
				problems = append(problems, Problem{a.Pos, fmt.Sprintf("allow %q names unknown service %q", name, svcName)})
				continue
			}
			ports = append(ports, svc.Ports...)
		}
		if len(a.Services) == 0 {
			problems = append(problems, Problem{a.Pos, fmt.Sprintf("allow %q names no service", name)})
		}
		slices.SortFunc(ports, ServicePort.Compare)
		ports = slices.Compact(ports)
		for _, from := range a.From {
			for _, to := range a.To {
				if from.Kind == PeerNetwork && to.Kind == PeerNetwork {
					problems = append(problems, Problem{a.Pos, fmt.Sprintf("allow %q is between two networks (%s and %s); networks are peers, never enforcement points", name, from, to)})
					continue
				}
				for _, end := range []struct {
					local, remote PeerRef
					dir           Direction
				}{{from, to, Egress}, {to, from, Ingress}} {
					if end.local.Kind != PeerSegment {
						continue
					}
					seg, ok := p.Segments[end.local.Name]
					if !ok {
						problems = append(problems, Problem{a.Pos, fmt.Sprintf("allow %q names unknown segment %q", name, end.local.Name)})
						continue
					}
					peers, problem := peersOf(end.remote, seg.Target)
					if problem != "" {
						problems = append(problems, Problem{a.Pos, fmt.Sprintf("allow %q: %s", name, problem)})
						continue
					}
					for _, peer := range peers {
						for _, port := range ports {
							add(seg.Name, end.dir, peer, port, name)
						}
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		problems = slices.CompactFunc(problems, func(a, b Problem) bool { return a == b })
		return nil, &CompileError{Problems: problems}
	}

	type keyed struct {
		key  string
		rule *Rule
	}
	perTarget := make(map[string][]keyed)
	for _, r := range rules {
		t := p.Segments[r.Segment].Target
		perTarget[t] = append(perTarget[t], keyed{r.Key(), r})
	}
	for t, list := range perTarget {
		slices.SortFunc(list, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
		out := make([]*Rule, len(list))
		for i, k := range list {
			out[i] = k.rule
		}
		states[t].Rules = out
	}
	return states, nil
}
