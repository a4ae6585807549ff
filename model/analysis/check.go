package analysis

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
)

// Miss says how an allow relates to a checked flow.
type Miss uint8

// How an allow relates to a checked flow: a match permits it; the others are near
// misses that explain a denial.
const (
	MissNone Miss = iota // the allow permits the flow
	MissPort             // same source and destination, other ports
	MissFrom             // this port to the same destination, but from other peers
	MissTo               // this port from the same source, but to other peers
)

// Match is one service port of one allow that permits a checked flow, or comes close.
type Match struct {
	Allow   string
	Service string
	Port    model.ServicePort
	// From and To are the allow's own peers, sorted, so that a near miss can say whom
	// the allow connects instead.
	From, To []model.PeerRef
	Miss     Miss
	Pos      model.Pos
}

// CheckResult is the verdict of the policy on one flow, with the reasons.
type CheckResult struct {
	From, To model.PeerRef
	Port     model.ServicePort
	// Allowed says whether the allows permit every flow of Port between From and To.
	Allowed bool
	// Matches lists every allow service port that permits part of the flow, when Allowed.
	Matches []Match
	// Near explains a denial: allows between the same peers on other ports, then
	// allows on this port from or to other peers. Empty when Allowed.
	Near []Match
	// Enforcing and Auditing split the segment ends of a denied flow by mode. The flow
	// is dropped when Enforcing is not empty; otherwise every end that would drop it
	// is in audit mode, so it passes and is logged as would-drop. Both are empty when
	// Allowed.
	Enforcing, Auditing []model.PeerRef
}

// Passes reports whether traffic of the flow gets through today: it is allowed, or
// only audit-mode segments would drop it.
func (r CheckResult) Passes() bool { return r.Allowed || len(r.Enforcing) == 0 }

// ErrUnknownPeer is matched by errors.Is for a reference to a segment or network the
// policy does not declare.
var ErrUnknownPeer = errors.New("unknown peer")

// UnknownPeerError is a reference to a segment or network the policy lacks, with the
// closest existing name when one is near enough to be a typo.
type UnknownPeerError struct {
	Ref        model.PeerRef
	Suggestion *model.PeerRef
}

func (e *UnknownPeerError) Error() string {
	kind := "segment"
	if e.Ref.Kind == model.PeerNetwork {
		kind = "network"
	}
	msg := fmt.Sprintf("unknown %s %q", kind, e.Ref.Name)
	if e.Suggestion != nil {
		msg += fmt.Sprintf("; did you mean %s?", e.Suggestion)
	}
	return msg
}

// Is makes errors.Is(err, ErrUnknownPeer) true.
func (e *UnknownPeerError) Is(target error) bool { return target == ErrUnknownPeer }

// Check says whether the policy lets from reach to on port, which allows permit it,
// and, when none does, which allows come closest, so that a denial explains itself.
// It fails when a peer is unknown (suggesting the nearest name) or when both peers are
// networks, which no allow can connect.
func Check(p *model.Policy, from, to model.PeerRef, port model.ServicePort) (CheckResult, error) {
	for _, ref := range []model.PeerRef{from, to} {
		if err := resolvePeer(p, ref); err != nil {
			return CheckResult{}, err
		}
	}
	if from.Kind == model.PeerNetwork && to.Kind == model.PeerNetwork {
		return CheckResult{}, fmt.Errorf("check %s -> %s: both ends are networks; networks are peers, never enforcement points, so no allow connects two of them", from, to)
	}
	r := CheckResult{From: from, To: to, Port: port}
	var same, other []Match
	for _, name := range model.SortedKeys(p.Allows) {
		a := p.Allows[name]
		fromIn := slices.Contains(a.From, from)
		toIn := slices.Contains(a.To, to)
		if !fromIn && !toIn {
			continue
		}
		froms := sortedPeers(a.From)
		tos := sortedPeers(a.To)
		for _, svcName := range a.Services {
			svc, ok := p.Services[svcName]
			if !ok {
				continue
			}
			for _, sp := range svc.Ports {
				m := Match{Allow: name, Service: svcName, Port: sp, From: froms, To: tos, Pos: a.Pos}
				switch {
				case fromIn && toIn:
					same = append(same, m)
				case !sp.Overlaps(port):
				case toIn:
					m.Miss = MissFrom
					other = append(other, m)
				default:
					m.Miss = MissTo
					other = append(other, m)
				}
			}
		}
	}

	// Several allows may cover parts of a port range between them, so the verdict
	// comes from their union rather than from any one of them.
	var covering []model.ServicePort
	for _, m := range same {
		if m.Port.Overlaps(port) {
			covering = append(covering, m.Port)
		}
	}
	r.Allowed = NewPortSet(covering...).Covers(port)
	if r.Allowed {
		for _, m := range same {
			if m.Port.Overlaps(port) {
				r.Matches = append(r.Matches, m)
			}
		}
		slices.SortFunc(r.Matches, compareMatch)
		r.Matches = slices.CompactFunc(r.Matches, sameMatch)
		return r, nil
	}
	for i := range same {
		same[i].Miss = MissPort
	}
	r.Near = append(same, other...)
	slices.SortFunc(r.Near, compareMatch)
	r.Near = slices.CompactFunc(r.Near, sameMatch)
	for _, ref := range []model.PeerRef{from, to} {
		if ref.Kind != model.PeerSegment || (ref == to && from == to) {
			continue
		}
		if p.Segments[ref.Name].Mode == model.ModeAudit {
			r.Auditing = append(r.Auditing, ref)
		} else {
			r.Enforcing = append(r.Enforcing, ref)
		}
	}
	return r, nil
}

// compareMatch orders matches by kind of miss (closest first), allow, port, service.
func compareMatch(a, b Match) int {
	if c := cmp.Compare(a.Miss, b.Miss); c != 0 {
		return c
	}
	if c := strings.Compare(a.Allow, b.Allow); c != 0 {
		return c
	}
	if c := a.Port.Compare(b.Port); c != 0 {
		return c
	}
	return strings.Compare(a.Service, b.Service)
}

// sameMatch drops repeats: an allow that names a service twice permits nothing more.
func sameMatch(a, b Match) bool { return compareMatch(a, b) == 0 }

func sortedPeers(refs []model.PeerRef) []model.PeerRef {
	out := slices.Clone(refs)
	slices.SortFunc(out, comparePeer)
	return slices.Compact(out)
}

// resolvePeer fails with an UnknownPeerError when the policy lacks ref.
func resolvePeer(p *model.Policy, ref model.PeerRef) error {
	var found bool
	var same, otherKind []string
	if ref.Kind == model.PeerNetwork {
		_, found = p.Networks[ref.Name]
		same, otherKind = model.SortedKeys(p.Networks), model.SortedKeys(p.Segments)
	} else {
		_, found = p.Segments[ref.Name]
		same, otherKind = model.SortedKeys(p.Segments), model.SortedKeys(p.Networks)
	}
	if found {
		return nil
	}
	err := &UnknownPeerError{Ref: ref}
	if name, ok := model.ClosestName(ref.Name, same); ok {
		err.Suggestion = &model.PeerRef{Kind: ref.Kind, Name: name}
	} else if _, ok := slices.BinarySearch(otherKind, ref.Name); ok {
		// "segment.internet" for "network.internet" is a common slip: point at the
		// other kind when the name exists there exactly.
		other := model.PeerNetwork
		if ref.Kind == model.PeerNetwork {
			other = model.PeerSegment
		}
		err.Suggestion = &model.PeerRef{Kind: other, Name: ref.Name}
	}
	return err
}

// maxNearShown caps the near misses WriteText prints: on a large policy, every allow
// into a popular segment on port 443 is "near", and a wall of them explains nothing.
const maxNearShown = 10

// WriteText writes the verdict for a person:
//
//	ALLOWED segment.web -> segment.db tcp/5432
//	  by allow.web-to-db (service postgres tcp/5432) at main.hcl:40
//
// or DENIED with the closest allows and what enforcement does with the flow.
func (r CheckResult) WriteText(w io.Writer) error {
	var b strings.Builder
	flow := fmt.Sprintf("%s -> %s %s", r.From, r.To, r.Port)
	if r.Allowed {
		fmt.Fprintf(&b, "ALLOWED %s\n", flow)
		for _, m := range r.Matches {
			fmt.Fprintf(&b, "  by allow.%s (service %s %s)%s\n", m.Allow, m.Service, m.Port, at(m.Pos))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "DENIED %s: no allow permits it\n", flow)
	groups := groupNear(r.Near)
	for i, g := range groups {
		if i == maxNearShown {
			fmt.Fprintf(&b, "  ... and %d more near misses\n", len(groups)-maxNearShown)
			break
		}
		fmt.Fprintf(&b, "  closest: %s\n", g)
	}
	if len(groups) == 0 {
		fmt.Fprintf(&b, "  closest: nothing; no allow connects %s to %s, and none permits %s from %s or to %s\n", r.From, r.To, r.Port, r.From, r.To)
	}
	switch {
	case len(r.Enforcing) > 0:
		fmt.Fprintf(&b, "  enforced: dropped by %s", joinRefs(r.Enforcing))
		if len(r.Auditing) > 0 {
			fmt.Fprintf(&b, "; %s in audit mode would log it as would-drop", joinRefs(r.Auditing))
		}
		b.WriteString("\n")
	default:
		fmt.Fprintf(&b, "  audit: %s in audit mode, so the flow still passes and is logged as would-drop\n", isAre(r.Auditing))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// groupNear renders near misses one line per allow and kind of miss, in order.
func groupNear(near []Match) []string {
	var lines []string
	for i := 0; i < len(near); {
		j := i
		var ports, services []string
		for ; j < len(near) && near[j].Allow == near[i].Allow && near[j].Miss == near[i].Miss; j++ {
			ports = appendNew(ports, near[j].Port.String())
			services = appendNew(services, near[j].Service)
		}
		m := near[i]
		svcWord := "service"
		if len(services) > 1 {
			svcWord = "services"
		}
		var what string
		switch m.Miss {
		case MissPort:
			what = fmt.Sprintf("permits %s only", strings.Join(ports, ", "))
		case MissFrom:
			what = fmt.Sprintf("permits %s, but from %s only", strings.Join(ports, ", "), joinRefsShort(m.From))
		default:
			what = fmt.Sprintf("permits %s, but to %s only", strings.Join(ports, ", "), joinRefsShort(m.To))
		}
		lines = append(lines, fmt.Sprintf("allow.%s %s (%s %s)%s", m.Allow, what, svcWord, strings.Join(services, ", "), at(m.Pos)))
		i = j
	}
	return lines
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// at locates an object for a reader: " at main.hcl:40", or nothing for a policy built in code.
func at(pos model.Pos) string {
	if pos.File == "" {
		return ""
	}
	return fmt.Sprintf(" at %s:%d", pos.File, pos.Line)
}

func joinRefs(refs []model.PeerRef) string {
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// joinRefsShort lists at most a few peers: an allow from forty segments is still
// explained by its first three.
func joinRefsShort(refs []model.PeerRef) string {
	const shown = 3
	if len(refs) <= shown {
		return joinRefs(refs)
	}
	return fmt.Sprintf("%s and %d more", joinRefs(refs[:shown]), len(refs)-shown)
}

func isAre(refs []model.PeerRef) string {
	if len(refs) == 1 {
		return refs[0].String() + " is"
	}
	return joinRefs(refs) + " are"
}
