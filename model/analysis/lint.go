package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
)

// Severity is how much a finding matters; the order is meaningful, so that a caller
// can fail on "warning or worse".
type Severity int

// Severities, least to most severe.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityError
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "info"
	}
}

// ParseSeverity reads "info", "warning" or "error" (any case; "note" and "warn" too,
// the spellings of SARIF and of many linters).
func ParseSeverity(text string) (Severity, error) {
	switch strings.ToLower(text) {
	case "info", "note":
		return SeverityInfo, nil
	case "warning", "warn":
		return SeverityWarning, nil
	case "error":
		return SeverityError, nil
	}
	return 0, fmt.Errorf("unknown severity %q: use info, warning or error", text)
}

// Finding is one problem Lint found, located at the object it is about.
type Finding struct {
	Rule     string
	Severity Severity
	Message  string
	Pos      model.Pos
}

// RuleInfo describes a lint rule, for documentation and SARIF.
type RuleInfo struct {
	ID          string
	Severity    Severity
	Description string
}

// Lint rule ids.
const (
	ruleDuplicateAllow      = "duplicate-allow"
	ruleShadowedAllow       = "shadowed-allow"
	ruleOverlappingServices = "overlapping-services"
	ruleBroadSourcePCI      = "broad-source-pci"
	ruleBroadSource         = "broad-source"
	ruleExpiredAllow        = "expired-allow"
	ruleExpiringAllow       = "expiring-allow"
	ruleUnusedSegment       = "unused-segment"
	ruleUnusedService       = "unused-service"
	ruleUnusedNetwork       = "unused-network"
)

// Rules lists every lint rule, in a fixed order that SARIF output indexes into.
var Rules = []RuleInfo{
	{ruleDuplicateAllow, SeverityWarning, "Two allows permit exactly the same flows."},
	{ruleShadowedAllow, SeverityWarning, "Every flow an allow permits is already permitted by other allows."},
	{ruleOverlappingServices, SeverityInfo, "Two services share ports, or one service lists overlapping ports."},
	{ruleBroadSourcePCI, SeverityError, "An internet-wide source reaches a segment labelled scope = \"pci\" on a port that is not public."},
	{ruleBroadSource, SeverityWarning, "An internet-wide source reaches a segment on every protocol or on a range of more than 16 ports."},
	{ruleExpiredAllow, SeverityError, "An allow is past its expiry date."},
	{ruleExpiringAllow, SeverityWarning, "An allow expires within the expiry window."},
	{ruleUnusedSegment, SeverityWarning, "No allow names the segment, so its members can send and receive nothing once enforced."},
	{ruleUnusedService, SeverityWarning, "No allow names the service."},
	{ruleUnusedNetwork, SeverityWarning, "No allow names the network."},
}

func ruleSeverity(id string) Severity {
	for _, r := range Rules {
		if r.ID == id {
			return r.Severity
		}
	}
	panic("analysis: no lint rule " + id)
}

// LintOptions tunes Lint. The zero value is usable.
type LintOptions struct {
	// Now is the date expiry is judged against; zero means time.Now().
	Now time.Time
	// ExpiryWindow is how soon an expiry earns a warning; zero means 30 days.
	ExpiryWindow time.Duration
	// PCIPublicPorts are the ports a PCI segment may expose to the internet; nil means
	// tcp/443. An empty, non-nil slice means none.
	PCIPublicPorts []model.ServicePort
}

// Lint checks a policy against every rule and returns the findings sorted by file,
// line, column, rule and message. It scales with the number of allows: comparisons
// between allows go through an index by (from, to) pair, never all pairs of allows.
func Lint(p *model.Policy, opts LintOptions) []Finding {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.ExpiryWindow == 0 {
		opts.ExpiryWindow = 30 * 24 * time.Hour
	}
	if opts.PCIPublicPorts == nil {
		opts.PCIPublicPorts = []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}
	}
	l := &linter{p: p, opts: opts, ix: indexPolicy(p)}
	l.redundantAllows()
	l.overlappingServices()
	l.broadSources()
	l.expiry()
	l.unused()
	slices.SortFunc(l.findings, compareFinding)
	return l.findings
}

func compareFinding(a, b Finding) int {
	return cmp.Or(
		strings.Compare(a.Pos.File, b.Pos.File),
		cmp.Compare(a.Pos.Line, b.Pos.Line),
		cmp.Compare(a.Pos.Column, b.Pos.Column),
		strings.Compare(a.Rule, b.Rule),
		strings.Compare(a.Message, b.Message),
	)
}

type linter struct {
	p        *model.Policy
	opts     LintOptions
	ix       *reachIndex
	findings []Finding
}

func (l *linter) report(rule string, pos model.Pos, format string, args ...any) {
	l.findings = append(l.findings, Finding{Rule: rule, Severity: ruleSeverity(rule), Message: fmt.Sprintf(format, args...), Pos: pos})
}

// redundantAllows reports duplicate and shadowed allows.
//
// Allows with exactly the same flow set are grouped first; the first by name stands
// for its group and the others are reported as duplicates. Shadowing is then judged
// among group representatives only, so that two identical allows are one finding of
// duplicate-allow rather than also two findings of shadowed-allow, each hiding the
// other. Each shadowed finding is true on its own; removing one shadowed allow can
// make another necessary.
func (l *linter) redundantAllows() {
	reps := make(map[string]bool)
	firstWithFlows := make(map[string]string) // canonical flow set -> first allow
	for _, name := range l.ix.names {
		ports := l.ix.ports[name]
		pairs := l.ix.allowPairs[name]
		if ports.Empty() || len(pairs) == 0 {
			continue
		}
		// NUL cannot occur in a name or a port, so the key is unambiguous.
		var key strings.Builder
		key.WriteString(ports.String())
		for _, pr := range pairs {
			key.WriteString("\x00" + pr.from.String() + "\x00" + pr.to.String())
		}
		if first, ok := firstWithFlows[key.String()]; ok {
			l.report(ruleDuplicateAllow, l.p.Allows[name].Pos, "allow %q permits exactly the same flows as allow %q", name, first)
			continue
		}
		firstWithFlows[key.String()] = name
		reps[name] = true
	}

	covers := make(map[pair]*coverIndex)
	for _, name := range l.ix.names {
		if !reps[name] {
			continue
		}
		ports := l.ix.ports[name]
		by := make(map[string]bool)
		shadowed := true
		for _, pr := range l.ix.allowPairs[name] {
			ci, ok := covers[pr]
			if !ok {
				ci = newCoverIndex(l.ix.pairs[pr], reps)
				covers[pr] = ci
			}
			if !ci.cover(name, ports, by) {
				shadowed = false
				break
			}
		}
		if !shadowed {
			continue
		}
		l.report(ruleShadowedAllow, l.p.Allows[name].Pos, "allow %q is shadowed: every flow it permits is also permitted by %s", name, quoteAllows(model.SortedKeys(by)))
	}
}

// quoteAllows names allows for a message, at most five of them.
func quoteAllows(names []string) string {
	const shown = 5
	word := "allow"
	if len(names) > 1 {
		word = "allows"
	}
	quoted := make([]string, 0, shown)
	for i, n := range names {
		if i == shown {
			break
		}
		quoted = append(quoted, fmt.Sprintf("%q", n))
	}
	text := word + " " + strings.Join(quoted, ", ")
	if len(names) > shown {
		text += fmt.Sprintf(" and %d more", len(names)-shown)
	}
	return text
}

// coverIndex answers, for one pair, whether the other allows on it cover an allow's
// ports, in O(log n) per range of the answer. For each protocol it keeps the ranges
// sorted by first port and, for every prefix of that order, the two allows whose
// ranges reach furthest (from distinct allows). A greedy walk then covers a range
// from left to right with the furthest-reaching range that is not the allow's own,
// which is the standard interval-cover argument: if that one cannot extend the
// cover, none can.
type coverIndex struct {
	everything []string // allows that permit "all", in name order
	byProtocol map[model.Protocol]*protocolCover
}

type protocolCover struct {
	firsts []int           // first port of each range, ascending
	reach  [][2]reachRange // furthest two ranges of distinct allows among firsts[:i+1]
}

type reachRange struct {
	last  int
	allow string // "" for none
}

func newCoverIndex(grants []grant, reps map[string]bool) *coverIndex {
	ci := &coverIndex{byProtocol: make(map[model.Protocol]*protocolCover)}
	type entry struct {
		first, last int
		allow       string
	}
	byProto := make(map[model.Protocol][]entry)
	for _, g := range grants {
		if !reps[g.allow] {
			continue
		}
		if g.ports.all {
			// An allow's own ports are a union of service ports: "all" without holes.
			ci.everything = append(ci.everything, g.allow)
			continue
		}
		for _, sp := range g.ports.ports {
			byProto[sp.Protocol] = append(byProto[sp.Protocol], entry{int(sp.Ports.First), int(sp.Ports.Last), g.allow})
		}
	}
	for proto, entries := range byProto {
		slices.SortFunc(entries, func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(b.last, a.last), strings.Compare(a.allow, b.allow))
		})
		pc := &protocolCover{firsts: make([]int, len(entries)), reach: make([][2]reachRange, len(entries))}
		var best [2]reachRange
		for i, e := range entries {
			best = pushReach(best, reachRange{e.last, e.allow})
			pc.firsts[i] = e.first
			pc.reach[i] = best
		}
		ci.byProtocol[proto] = pc
	}
	return ci
}

// pushReach adds r to the furthest two ranges of distinct allows, keeping best[0]
// the furthest overall and best[1] the furthest of any other allow.
func pushReach(best [2]reachRange, r reachRange) [2]reachRange {
	switch r.allow {
	case best[0].allow:
		best[0].last = max(best[0].last, r.last)
	case best[1].allow:
		best[1].last = max(best[1].last, r.last)
		if best[1].last > best[0].last {
			best[0], best[1] = best[1], best[0]
		}
	default:
		if best[0].allow == "" || r.last > best[0].last {
			best[0], best[1] = r, best[0]
		} else if best[1].allow == "" || r.last > best[1].last {
			best[1] = r
		}
	}
	return best
}

// cover reports whether allows other than self cover ports on this pair, adding the
// allows it used to by.
func (ci *coverIndex) cover(self string, ports PortSet, by map[string]bool) bool {
	for _, name := range ci.everything {
		if name != self {
			by[name] = true
			return true
		}
	}
	if ports.all {
		return false
	}
	for _, sp := range ports.ports {
		pc := ci.byProtocol[sp.Protocol]
		if pc == nil {
			return false
		}
		for x := int(sp.Ports.First); x <= int(sp.Ports.Last); {
			// The ranges starting at or before x are firsts[:i].
			i := sort.SearchInts(pc.firsts, x+1)
			if i == 0 {
				return false
			}
			r := pc.reach[i-1][0]
			if r.allow == self {
				r = pc.reach[i-1][1]
			}
			if r.allow == "" || r.last < x {
				return false
			}
			by[r.allow] = true
			x = r.last + 1
		}
	}
	return true
}

// overlappingServices reports services that share ports with each other, and
// services whose own list overlaps. Ranges of each protocol are swept in order of
// first port, so the cost follows the number of overlaps, not of service pairs.
//
// A service of "all" is left out of the comparison between services: it is a
// deliberate catch-all that shares ports with every service by definition, and
// naming each of them would bury the overlaps that are mistakes (two names for
// tcp/443). It is still reported when its own list adds ports "all" already has.
func (l *linter) overlappingServices() {
	type svcRange struct {
		svc  string
		port model.ServicePort
	}
	byProto := make(map[model.Protocol][]svcRange)
	for _, name := range model.SortedKeys(l.p.Services) {
		svc := l.p.Services[name]
		if self := selfOverlaps(svc.Ports); len(self) > 0 {
			l.report(ruleOverlappingServices, svc.Pos, "service %q lists overlapping ports: %s", name, strings.Join(self, "; "))
		}
		set := NewPortSet(svc.Ports...)
		if set.all {
			continue
		}
		for _, sp := range set.ports {
			byProto[sp.Protocol] = append(byProto[sp.Protocol], svcRange{name, sp})
		}
	}

	shared := make(map[[2]string][]model.ServicePort)
	for _, ranges := range byProto {
		slices.SortFunc(ranges, func(a, b svcRange) int {
			return cmp.Or(a.port.Compare(b.port), strings.Compare(a.svc, b.svc))
		})
		var active []svcRange
		for _, r := range ranges {
			active = slices.DeleteFunc(active, func(o svcRange) bool { return o.port.Ports.Last < r.port.Ports.First })
			for _, o := range active {
				// A service's own ranges are normalized and never overlap one another,
				// so o is another service; it started no later than r.
				k := [2]string{min(o.svc, r.svc), max(o.svc, r.svc)}
				shared[k] = append(shared[k], model.ServicePort{Protocol: r.port.Protocol, Ports: model.PortRange{
					First: r.port.Ports.First, Last: min(o.port.Ports.Last, r.port.Ports.Last)}})
			}
			active = append(active, r)
		}
	}
	for k, overlap := range shared {
		// Reported once, at the second service by name; Lint sorts the findings.
		l.report(ruleOverlappingServices, l.p.Services[k[1]].Pos, "services %q and %q share %s", k[0], k[1], NewPortSet(overlap...))
	}
}

// selfOverlaps describes the overlapping entries of one service's port list.
func selfOverlaps(ports []model.ServicePort) []string {
	sorted := slices.Clone(ports)
	slices.SortStableFunc(sorted, model.ServicePort.Compare)
	var out []string
	for i := 1; i < len(sorted); i++ {
		// Lists are a few entries long: comparing each with those before it is cheap
		// and names the first one it collides with.
		for j := range i {
			if sorted[j].Overlaps(sorted[i]) {
				out = append(out, fmt.Sprintf("%s and %s", sorted[j], sorted[i]))
				break
			}
		}
	}
	return out
}

// broadPrefixes returns the prefixes of a network that are internet-wide: a default
// route or anything wider than an IPv4 /8 or an IPv6 /16, which no one segment of a
// private network needs as a source.
func broadPrefixes(n *model.Network) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range n.CIDRs {
		if (c.Addr().Is4() && c.Bits() < 8) || (c.Addr().Is6() && c.Bits() < 16) {
			out = append(out, c)
		}
	}
	return out
}

// broadSources reports allows that open segments to internet-wide sources: on a
// non-public port of a PCI segment (an error: PCI DSS requires inbound traffic to the
// cardholder data environment to be limited to what is necessary), or on every
// protocol or a wide port range of any segment.
func (l *linter) broadSources() {
	public := NewPortSet(l.opts.PCIPublicPorts...)
	for _, name := range l.ix.names {
		a := l.p.Allows[name]
		var sources []string
		for _, from := range sortedPeers(a.From) {
			if from.Kind != model.PeerNetwork {
				continue
			}
			n, ok := l.p.Networks[from.Name]
			if !ok {
				continue
			}
			if broad := broadPrefixes(n); len(broad) > 0 {
				sources = append(sources, fmt.Sprintf("%s (%s)", from, joinPrefixes(broad)))
			}
		}
		if len(sources) == 0 {
			continue
		}
		ports := l.ix.ports[name]
		nonPublic := ports.Subtract(public)
		var pci, other []model.PeerRef
		for _, to := range sortedPeers(a.To) {
			seg, ok := l.p.Segments[to.Name]
			if to.Kind != model.PeerSegment || !ok {
				continue
			}
			if strings.EqualFold(seg.Labels["scope"], "pci") && !nonPublic.Empty() {
				pci = append(pci, to)
			} else {
				other = append(other, to)
			}
		}
		from := strings.Join(sources, ", ")
		if len(pci) > 0 {
			allowed := "no port may face the internet"
			if !public.Empty() {
				allowed = "only " + public.String() + " may face the internet"
			}
			l.report(ruleBroadSourcePCI, a.Pos, "allow %q opens PCI %s to %s on %s; %s", name, joinRefs(pci), from, nonPublic, allowed)
		}
		wide := widePorts(ports)
		if len(other) > 0 && len(wide) > 0 {
			l.report(ruleBroadSource, a.Pos, "allow %q opens %s to %s on %s", name, joinRefs(other), from, strings.Join(wide, ", "))
		}
	}
}

// widePortsLimit is the widest tcp, udp or sctp range an internet-wide source may
// reach without a warning: a handful of ports is a service, more is a guess.
const widePortsLimit = 16

// widePorts describes the ports of a set that are too wide to face the internet.
func widePorts(ports PortSet) []string {
	if ports.all {
		return []string{"every protocol and port"}
	}
	var out []string
	for _, sp := range ports.Ports() {
		switch {
		case !sp.Protocol.HasPorts() || sp.Ports.Size() <= widePortsLimit:
		case sp.AllPorts():
			out = append(out, "every "+sp.Protocol.String()+" port")
		default:
			out = append(out, fmt.Sprintf("%s (%d ports)", sp, sp.Ports.Size()))
		}
	}
	return out
}

func joinPrefixes(prefixes []netip.Prefix) string {
	parts := make([]string, len(prefixes))
	for i, p := range prefixes {
		parts[i] = p.String()
	}
	return strings.Join(parts, ", ")
}

// expiry reports allows past their expiry date, and those expiring within the window.
// Dates are compared as calendar dates in UTC: an allow that expires on 2026-01-31
// still holds on that day, as a reader of "expires = 2026-01-31" expects.
func (l *linter) expiry() {
	today := civilDate(l.opts.Now)
	horizon := today.Add(l.opts.ExpiryWindow)
	for _, name := range l.ix.names {
		a := l.p.Allows[name]
		if a.Expires.IsZero() {
			continue
		}
		day := civilDate(a.Expires)
		date := day.Format(time.DateOnly)
		switch {
		case day.Before(today):
			l.report(ruleExpiredAllow, a.Pos, "allow %q expired on %s%s", name, date, ownership(a))
		case !day.After(horizon):
			days := int(day.Sub(today).Hours() / 24)
			when := "today"
			if days > 0 {
				when = "in " + plural(days, "day", "days")
			}
			l.report(ruleExpiringAllow, a.Pos, "allow %q expires on %s, %s%s", name, date, when, ownership(a))
		}
	}
}

func civilDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ownership says whom to ask about an allow: " (owner team-payments, ticket SEC-142)".
func ownership(a *model.Allow) string {
	var parts []string
	if a.Owner != "" {
		parts = append(parts, "owner "+a.Owner)
	}
	if a.Ticket != "" {
		parts = append(parts, "ticket "+a.Ticket)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// unused reports segments, services and networks no allow names.
func (l *linter) unused() {
	peers := make(map[model.PeerRef]bool)
	services := make(map[string]bool)
	for _, a := range l.p.Allows {
		for _, ref := range a.From {
			peers[ref] = true
		}
		for _, ref := range a.To {
			peers[ref] = true
		}
		for _, s := range a.Services {
			services[s] = true
		}
	}
	for _, name := range model.SortedKeys(l.p.Segments) {
		seg := l.p.Segments[name]
		if peers[model.PeerRef{Kind: model.PeerSegment, Name: name}] {
			continue
		}
		if seg.Mode == model.ModeAudit {
			l.report(ruleUnusedSegment, seg.Pos, "segment %q is named by no allow: in audit mode every flow of its members is logged as would-drop, and once enforced they will send and receive nothing", name)
		} else {
			l.report(ruleUnusedSegment, seg.Pos, "segment %q is named by no allow: its members, enforced, will send and receive nothing", name)
		}
	}
	for _, name := range model.SortedKeys(l.p.Services) {
		if !services[name] {
			l.report(ruleUnusedService, l.p.Services[name].Pos, "service %q is named by no allow", name)
		}
	}
	for _, name := range model.SortedKeys(l.p.Networks) {
		if !peers[model.PeerRef{Kind: model.PeerNetwork, Name: name}] {
			l.report(ruleUnusedNetwork, l.p.Networks[name].Pos, "network %q is named by no allow", name)
		}
	}
}
