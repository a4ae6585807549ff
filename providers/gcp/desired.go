package gcp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// desiredRules is Desired.State: every firewall rule the target must hold, by name.
type desiredRules struct {
	rules map[string]*fwSpec
}

// Desired is the target's firewall rules and instance tags for the compiled state:
// per enforce-mode segment a deny-all in and out (IPv4 and IPv6 apart, priority
// 65000), and per allow and segment one rule per direction and kind of peer (tags,
// IPv4, IPv6; priority 1000), split where it is larger than one rule may be. It
// fails, before any call, on a rule name another rule holds, and on a plan over the
// project's firewall quota or an instance's tag limit.
func (p *Provider) Desired(ctx context.Context, st *model.DesiredState, obs providers.Observation) (providers.Desired, error) {
	o, err := observedState(obs)
	if err != nil {
		return providers.Desired{}, err
	}
	want := map[string]*fwSpec{}
	for _, seg := range st.Segments {
		if seg.Mode == model.ModeEnforce {
			for _, d := range p.denies(seg.Name) {
				want[d.name] = d
			}
		}
	}
	groups, err := p.groups(st, o)
	if err != nil {
		return providers.Desired{}, err
	}
	for _, g := range groups {
		if err := p.splitGroup(g, st, o, want); err != nil {
			return providers.Desired{}, err
		}
	}
	for _, name := range model.SortedKeys(want) {
		if o.foreign[name] {
			return providers.Desired{}, fmt.Errorf("target %s: firewall rule %s exists in project %s without microseg's mark %s (or on another network): microseg never changes a rule it does not manage",
				p.target.Name, name, p.cfg.Project, markOf(p.target.Name))
		}
	}
	if q := o.quota; q.known && len(want) > q.limit-q.usage+len(o.rules) {
		return providers.Desired{}, fmt.Errorf("target %s needs %d firewall rules, but project %s has room for %d (quota %d, %d in use, %d of them this target's): raise the FIREWALLS quota or split the policy",
			p.target.Name, len(want), p.cfg.Project, q.limit-q.usage+len(o.rules), q.limit, q.usage, len(o.rules))
	}
	objs := ruleObjects(want)
	members, err := p.desiredMembers(st, o)
	if err != nil {
		return providers.Desired{}, err
	}
	return providers.Desired{Objects: append(objs, members...), State: &desiredRules{rules: want}}, nil
}

// denies are a segment's deny-all rules: in and out, IPv4 and IPv6 apart (one
// rule may not hold both).
func (p *Provider) denies(seg string) []*fwSpec {
	var out []*fwSpec
	for _, in := range []bool{true, false} {
		for _, any := range []string{"0.0.0.0/0", "::/0"} {
			dir, fam := "in", "4"
			if !in {
				dir = "out"
			}
			if any == "::/0" {
				fam = "6"
			}
			out = append(out, &fwSpec{name: ruleName(p.target.Name, seg+"-deny-"+dir+fam), segment: seg, ingress: in, deny: true,
				priority: denyPriority, ranges: []string{any}, targetTags: []string{tagPrefix + seg},
				protocols: []protoPorts{{protocol: "all"}}, description: "microseg: deny the rest of segment " + seg + " " + markOf(p.target.Name)})
		}
	}
	return out
}

// group is what one allow grants at one segment in one direction: peers (each a
// segment's tag or some ranges) times protocols and ports, a cross product, as an
// allow is.
type group struct {
	segment, allow, suffix string
	ingress                bool
	tags, ranges           []string
	protocols              map[string][]string // protocol -> ports (nil: every port)
	how                    []string            // how egress peers of the network were addressed
}

// groups collects the compiled rules by segment, direction and allow.
func (p *Provider) groups(st *model.DesiredState, o *observed) ([]*group, error) {
	type gkey struct {
		seg, allow string
		in         bool
	}
	type unit struct{ peer, port string }
	byKey := map[gkey]*group{}
	peersOf := map[gkey]map[string]bool{}
	portsOf := map[gkey]map[string]bool{}
	pairs := map[gkey]map[unit]bool{}
	for _, r := range st.Rules {
		proto, port := protocolOf(r.Port)
		for _, allow := range r.Allows {
			k := gkey{r.Segment, allow, r.Direction == model.Ingress}
			g := byKey[k]
			if g == nil {
				g = &group{segment: r.Segment, allow: allow, ingress: k.in, protocols: map[string][]string{}}
				byKey[k], peersOf[k], portsOf[k], pairs[k] = g, map[string]bool{}, map[string]bool{}, map[unit]bool{}
			}
			if err := p.addPeer(g, r.Peer, st, o); err != nil {
				return nil, err
			}
			addPort(g, proto, port)
			peersOf[k][r.Peer.String()] = true
			portsOf[k][proto+"/"+port] = true
			pairs[k][unit{r.Peer.String(), proto + "/" + port}] = true
		}
	}
	var out []*group
	for _, k := range sortedGroupKeys(byKey, func(k gkey) string { return fmt.Sprint(k.seg, " ", k.allow, " ", k.in) }) {
		g := byKey[k]
		if len(pairs[k]) == len(peersOf[k])*len(portsOf[k]) {
			out = append(out, g)
			continue
		}
		// Not a cross product (an allow whose peers are granted different ports
		// by the compiler): one group per peer keeps it exact.
		split, err := p.perPeer(st, o, k.seg, k.allow, k.in)
		if err != nil {
			return nil, err
		}
		out = append(out, split...)
	}
	return out, nil
}

// perPeer regroups the rules of one allow at one segment peer by peer.
func (p *Provider) perPeer(st *model.DesiredState, o *observed, seg, allow string, in bool) ([]*group, error) {
	byPeer := map[string]*group{}
	for _, r := range st.Rules {
		if r.Segment != seg || (r.Direction == model.Ingress) != in || !slices.Contains(r.Allows, allow) {
			continue
		}
		peer := r.Peer.String()
		g := byPeer[peer]
		if g == nil {
			sum := sha256.Sum256([]byte(peer))
			g = &group{segment: seg, allow: allow, ingress: in, suffix: hex.EncodeToString(sum[:3]), protocols: map[string][]string{}}
			byPeer[peer] = g
		}
		if err := p.addPeer(g, r.Peer, st, o); err != nil {
			return nil, err
		}
		proto, port := protocolOf(r.Port)
		addPort(g, proto, port)
	}
	var out []*group
	for _, peer := range model.SortedKeys(byPeer) {
		out = append(out, byPeer[peer])
	}
	return out, nil
}

func sortedGroupKeys[K comparable, V any](m map[K]V, text func(K) string) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(text(a), text(b)) })
	return keys
}

func addPort(g *group, proto, port string) {
	ports, seen := g.protocols[proto]
	switch {
	case seen && ports == nil: // every port already
	case port == "":
		g.protocols[proto] = nil
	default:
		if !slices.Contains(ports, port) {
			g.protocols[proto] = append(ports, port)
		}
	}
}

// addPeer adds one peer to a group: a segment of the network by its tag (ingress),
// or, since egress rules cannot name tags, by its cidrs or else by its members'
// observed addresses; any other peer by its prefix.
func (p *Provider) addPeer(g *group, peer model.Peer, st *model.DesiredState, o *observed) error {
	if peer.Segment == "" {
		g.ranges = appendNew(g.ranges, peer.Prefix.Masked().String())
		return nil
	}
	if g.ingress {
		g.tags = appendNew(g.tags, tagPrefix+peer.Segment)
		return nil
	}
	i := slices.IndexFunc(st.Segments, func(s model.SegmentState) bool { return s.Name == peer.Segment })
	if i < 0 {
		return fmt.Errorf("segment %q: peer segment %q is not in target %s", g.segment, peer.Segment, p.target.Name)
	}
	seg := st.Segments[i]
	if len(seg.CIDRs) > 0 {
		for _, c := range seg.CIDRs {
			g.ranges = appendNew(g.ranges, c.Masked().String())
		}
		g.how = appendNew(g.how, peer.Segment+" by its cidrs")
		return nil
	}
	for _, in := range o.instances {
		if selects(seg.Members, in) {
			for _, a := range in.addresses {
				g.ranges = appendNew(g.ranges, netip.PrefixFrom(a, a.BitLen()).String())
			}
		}
	}
	g.how = appendNew(g.how, peer.Segment+" by its members' addresses")
	return nil
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// selects reports whether a segment's members select an instance: its labels
// (members { labels = ... }, or tags, which GCP calls labels).
func selects(m model.Members, in instance) bool {
	want := m.Labels
	if len(want) == 0 {
		want = m.Tags
	}
	if len(want) == 0 {
		return false
	}
	return providers.TagsSelect(want, in.labels)
}
