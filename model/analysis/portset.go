package analysis

import (
	"cmp"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// PortSet is an immutable set of flows by protocol and port, the algebra every
// analysis compares permissions with.
//
// A policy can say "all" (model.ProtocolAll), which covers every protocol, including
// ones no service names. A set of concrete protocols cannot express "all except
// tcp/443", which is what "all" minus tcp/443 is, so the set has two forms:
//
//   - all unset: ports lists what is in the set;
//   - all set:   every protocol and port is in the set except ports (the holes).
//
// In both forms ports is normalized: sorted by model.ServicePort.Compare, one
// protocol's ranges disjoint and not adjacent, never ProtocolAll. Equal sets
// therefore have equal fields, and String is a canonical key. The zero PortSet is
// empty.
type PortSet struct {
	all   bool
	ports []model.ServicePort
}

// NewPortSet returns the set of flows the given ports permit.
func NewPortSet(ports ...model.ServicePort) PortSet {
	var s PortSet
	var concrete []model.ServicePort
	for _, p := range ports {
		if p.Protocol == model.ProtocolAll {
			s.all = true
			continue
		}
		concrete = append(concrete, p)
	}
	if s.all {
		// "all" absorbs everything else and has no holes.
		return s
	}
	s.ports = normalize(concrete)
	return s
}

// AllPorts is the set of every protocol and port.
func AllPorts() PortSet { return PortSet{all: true} }

// Empty reports whether the set permits nothing.
func (s PortSet) Empty() bool { return !s.all && len(s.ports) == 0 }

// IsAll reports whether the set holds every protocol and port, with no holes.
func (s PortSet) IsAll() bool { return s.all && len(s.ports) == 0 }

// Ports lists the set as service ports: its ranges, or a single "all" when the set
// is everything (then Except lists what it leaves out).
func (s PortSet) Ports() []model.ServicePort {
	if s.all {
		return []model.ServicePort{{Protocol: model.ProtocolAll}}
	}
	return display(s.ports)
}

// Except lists the holes of an "all except ..." set; nil for any other set.
func (s PortSet) Except() []model.ServicePort {
	if !s.all {
		return nil
	}
	return display(s.ports)
}

// String gives the set readably and canonically: "tcp/443, tcp/8080", "all",
// "all except tcp/443", or "none".
func (s PortSet) String() string {
	switch {
	case s.Empty():
		return "none"
	case s.all && len(s.ports) == 0:
		return "all"
	case s.all:
		return "all except " + joinPorts(s.Except())
	default:
		return joinPorts(s.Ports())
	}
}

// Equal reports whether s and t hold the same flows.
func (s PortSet) Equal(t PortSet) bool { return s.all == t.all && slices.Equal(s.ports, t.ports) }

// Union returns the flows in s or t.
func (s PortSet) Union(t PortSet) PortSet {
	switch {
	case !s.all && !t.all:
		return PortSet{ports: unionRanges(s.ports, t.ports)}
	case s.all && t.all:
		// A flow is missing from the union only when both leave it out.
		return PortSet{all: true, ports: intersectRanges(s.ports, t.ports)}
	case s.all:
		return PortSet{all: true, ports: subtractRanges(s.ports, t.ports)}
	default:
		return PortSet{all: true, ports: subtractRanges(t.ports, s.ports)}
	}
}

// unionAll is the union of many sets. Folding Union pairwise re-sorts the growing
// result each time; a hot pair with thousands of allows needs one sort instead.
func unionAll(sets []PortSet) PortSet {
	var concrete []model.ServicePort
	var holey []PortSet
	for _, s := range sets {
		if s.all {
			holey = append(holey, s)
			continue
		}
		concrete = append(concrete, s.ports...)
	}
	u := PortSet{ports: normalize(concrete)}
	for _, s := range holey {
		u = u.Union(s)
	}
	return u
}

// Subtract returns the flows in s that are not in t.
func (s PortSet) Subtract(t PortSet) PortSet {
	switch {
	case !s.all && !t.all:
		return PortSet{ports: subtractRanges(s.ports, t.ports)}
	case s.all && !t.all:
		return PortSet{all: true, ports: unionRanges(s.ports, t.ports)}
	case !s.all && t.all:
		// What t leaves out is all of s that survives.
		return PortSet{ports: intersectRanges(s.ports, t.ports)}
	default:
		// Both are "all except": what remains is what t leaves out and s does not.
		return PortSet{ports: subtractRanges(t.ports, s.ports)}
	}
}

// Intersect returns the flows in both s and t.
func (s PortSet) Intersect(t PortSet) PortSet {
	switch {
	case !s.all && !t.all:
		return PortSet{ports: intersectRanges(s.ports, t.ports)}
	case s.all && t.all:
		return PortSet{all: true, ports: unionRanges(s.ports, t.ports)}
	case s.all:
		return PortSet{ports: subtractRanges(t.ports, s.ports)}
	default:
		return PortSet{ports: subtractRanges(s.ports, t.ports)}
	}
}

// Covers reports whether every flow of p is in the set. Asking about tcp/443 looks
// at the tcp ranges and at "all"; asking about "all" needs a set that is all.
func (s PortSet) Covers(p model.ServicePort) bool { return s.Contains(NewPortSet(p)) }

// Contains reports whether every flow of t is in s.
func (s PortSet) Contains(t PortSet) bool { return t.Subtract(s).Empty() }

// Overlaps reports whether s and t share a flow.
func (s PortSet) Overlaps(t PortSet) bool { return !s.Intersect(t).Empty() }

// normalize sorts and merges ports into the canonical form of PortSet.ports.
func normalize(ports []model.ServicePort) []model.ServicePort {
	out := make([]model.ServicePort, 0, len(ports))
	for _, p := range ports {
		if p.Protocol.HasPorts() && p.Ports.First == 0 {
			// Port 0 is reserved and never carried, so "tcp" (0-65535) and
			// "tcp/1-65535" are the same flows; without this a change from one spelling
			// to the other would show as tcp/0 appearing or going.
			if p.Ports.Last == 0 {
				continue
			}
			p.Ports.First = 1
		}
		out = append(out, p)
	}
	slices.SortFunc(out, model.ServicePort.Compare)
	merged := out[:0]
	for _, p := range out {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if last.Protocol == p.Protocol && int(p.Ports.First) <= int(last.Ports.Last)+1 {
				last.Ports.Last = max(last.Ports.Last, p.Ports.Last)
				continue
			}
		}
		merged = append(merged, p)
	}
	if len(merged) == 0 {
		return nil
	}
	return slices.Clip(merged)
}

// display undoes the port-0 folding of normalize so that a whole protocol prints as
// "tcp" rather than "tcp/1-65535".
func display(ports []model.ServicePort) []model.ServicePort {
	out := slices.Clone(ports)
	for i, p := range out {
		if p.Protocol.HasPorts() && p.Ports == (model.PortRange{First: 1, Last: 65535}) {
			out[i].Ports.First = 0
		}
	}
	return out
}

func unionRanges(a, b []model.ServicePort) []model.ServicePort {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	return normalize(append(slices.Clone(a), b...))
}

// subtractRanges returns a minus b; both normalized, so one merge-like pass suffices.
func subtractRanges(a, b []model.ServicePort) []model.ServicePort {
	if len(a) == 0 || len(b) == 0 {
		return a
	}
	var out []model.ServicePort
	j := 0
	for _, p := range a {
		first := int(p.Ports.First)
		last := int(p.Ports.Last)
		// Skip the ranges of b that end before p starts; they cannot cut later ranges of a either.
		for j < len(b) && beforePort(b[j], p.Protocol, first) {
			j++
		}
		for k := j; k < len(b) && b[k].Protocol == p.Protocol && int(b[k].Ports.First) <= last; k++ {
			cut := b[k]
			if int(cut.Ports.First) > first {
				out = append(out, model.ServicePort{Protocol: p.Protocol, Ports: model.PortRange{First: uint16(first), Last: cut.Ports.First - 1}})
			}
			first = max(first, int(cut.Ports.Last)+1)
		}
		if first <= last {
			out = append(out, model.ServicePort{Protocol: p.Protocol, Ports: model.PortRange{First: uint16(first), Last: uint16(last)}})
		}
	}
	return out
}

func intersectRanges(a, b []model.ServicePort) []model.ServicePort {
	var out []model.ServicePort
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		p, q := a[i], b[j]
		if p.Protocol != q.Protocol {
			if p.Protocol < q.Protocol {
				i++
			} else {
				j++
			}
			continue
		}
		first := max(p.Ports.First, q.Ports.First)
		last := min(p.Ports.Last, q.Ports.Last)
		if first <= last {
			out = append(out, model.ServicePort{Protocol: p.Protocol, Ports: model.PortRange{First: first, Last: last}})
		}
		// Advance whichever ends first; the other may still meet the next range.
		if p.Ports.Last < q.Ports.Last {
			i++
		} else {
			j++
		}
	}
	return out
}

// beforePort reports whether q lies wholly before port `first` of protocol proto.
func beforePort(q model.ServicePort, proto model.Protocol, first int) bool {
	if q.Protocol != proto {
		return q.Protocol < proto
	}
	return int(q.Ports.Last) < first
}

func joinPorts(ports []model.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// comparePeer orders peer references: segments before networks, then by name.
func comparePeer(a, b model.PeerRef) int {
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
