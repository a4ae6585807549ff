package gcp

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// maxChunks bounds how many rules one group of an allow is split into.
const maxChunks = 64

// splitGroup turns a group into firewall rules in want: one per kind of peer
// (source tags, IPv4 ranges, IPv6 ranges: GCP takes no mix of families, and
// microseg keeps tags apart too), each split into chunks of at most the per-rule
// limit. A peer stays in the chunk the target's rules hold it in while that chunk
// has room; new peers fill the lowest chunk with room, so that adding one CIDR
// never reshuffles the split.
func (p *Provider) splitGroup(g *group, st *model.DesiredState, o *observed, want map[string]*fwSpec) error {
	protocols := make([]protoPorts, 0, len(g.protocols))
	entries := 0
	for proto, ports := range g.protocols {
		protocols = append(protocols, protoPorts{protocol: proto, ports: normalizePorts(ports)})
		entries += max(len(ports), 1)
	}
	sortProtocols(protocols)
	if entries > p.limits.PortsPerRule {
		return fmt.Errorf("allow %q: segment %q needs %d protocol and port entries in one firewall rule, over the limit of %d", g.allow, g.segment, entries, p.limits.PortsPerRule)
	}
	dir := "e"
	if g.ingress {
		dir = "i"
	}
	var v4, v6 []string
	for _, r := range g.ranges {
		if pfx, err := netip.ParsePrefix(r); err == nil && pfx.Addr().Is6() {
			v6 = append(v6, r)
		} else {
			v4 = append(v4, r)
		}
	}
	desc := p.description(g, st)
	for _, part := range []struct {
		kind  string
		items []string
		limit int
	}{{"t", g.tags, p.limits.TagsPerRule}, {"4", v4, p.limits.RangesPerRule}, {"6", v6, p.limits.RangesPerRule}} {
		if len(part.items) == 0 {
			continue // never a rule without peers: GCP would fill in 0.0.0.0/0
		}
		base := g.segment + "-" + g.allow + "-" + dir + part.kind
		if g.suffix != "" {
			base += "-" + g.suffix
		}
		held := map[int][]string{}
		for k := range maxChunks {
			if f := o.rules[chunkName(p.target.Name, base, k)]; f != nil {
				held[k] = f.ranges
				if part.kind == "t" {
					held[k] = f.sourceTags
				}
			}
		}
		chunks, err := stableChunks(part.items, held, part.limit)
		if err != nil {
			return fmt.Errorf("allow %q at segment %q: %w", g.allow, g.segment, err)
		}
		for k, items := range chunks {
			if len(items) == 0 {
				continue
			}
			f := &fwSpec{name: chunkName(p.target.Name, base, k), segment: g.segment, ingress: g.ingress, priority: allowPriority,
				targetTags: []string{tagPrefix + g.segment}, protocols: protocols, description: desc}
			if part.kind == "t" {
				f.sourceTags = items
			} else {
				f.ranges = items
			}
			if _, dup := want[f.name]; dup {
				return fmt.Errorf("allow %q at segment %q: its firewall rule name %s is another rule's: rename the allow or the segment (names are shortened to GCP's characters)", g.allow, g.segment, f.name)
			}
			want[f.name] = f
		}
	}
	return nil
}

// chunkName names chunk k of a rule: the base name, then base-2, base-3...
func chunkName(target, base string, k int) string {
	if k == 0 {
		return ruleName(target, base)
	}
	return ruleName(target, base+"-"+strconv.Itoa(k+1))
}

// stableChunks splits items into chunks of at most limit, keeping each item in the
// chunk held says it is in while that chunk has room, and putting the others, in
// order, in the lowest chunk with room. Chunks are sorted within.
func stableChunks(items []string, held map[int][]string, limit int) ([][]string, error) {
	wanted := map[string]bool{}
	for _, it := range items {
		wanted[it] = true
	}
	chunks := make([][]string, maxChunks)
	placed := map[string]bool{}
	for k := range maxChunks {
		for _, it := range held[k] {
			if wanted[it] && !placed[it] && len(chunks[k]) < limit {
				chunks[k] = append(chunks[k], it)
				placed[it] = true
			}
		}
	}
	rest := slices.Clone(items)
	slices.Sort(rest)
	k := 0
	for _, it := range rest {
		if placed[it] {
			continue
		}
		for k < maxChunks && len(chunks[k]) >= limit {
			k++
		}
		if k == maxChunks {
			return nil, fmt.Errorf("%d peers do not fit %d rules of %d", len(items), maxChunks, limit)
		}
		chunks[k] = append(chunks[k], it)
		placed[it] = true
	}
	for _, c := range chunks {
		slices.Sort(c)
	}
	return chunks, nil
}

// maxDescription is GCP's limit on a firewall rule's description.
const maxDescription = 2048

// description names the allow, its owner and ticket, how egress peers of the
// network were addressed, and ends with the ownership mark.
func (p *Provider) description(g *group, st *model.DesiredState) string {
	m := " " + markOf(p.target.Name)
	d := providers.DescribeAllows([]string{g.allow}, st.Allows, maxDescription-len(m), nil)
	if len(g.how) > 0 {
		how := slices.Clone(g.how)
		slices.Sort(how)
		d += "; " + strings.Join(how, "; ")
	}
	if len(d)+len(m) > maxDescription {
		d = d[:maxDescription-len(m)]
	}
	return d + m
}

// desiredMembers is the segment tag on every instance of the network its members
// select, checked against the tags an instance may carry.
func (p *Provider) desiredMembers(st *model.DesiredState, o *observed) ([]model.Object, error) {
	var objs []model.Object
	for _, in := range o.instances {
		n := 0
		for _, t := range in.tags {
			if !strings.HasPrefix(t, tagPrefix) {
				n++ // kept as it is
			}
		}
		for _, seg := range st.Segments {
			if !selects(seg.Members, in) {
				continue
			}
			n++
			objs = append(objs, model.Object{Kind: model.ObjectMembership, Key: seg.Name + " " + in.where(),
				Content: &memberSpec{zone: in.zone, instance: in.name, segment: seg.Name}})
		}
		if n > p.limits.TagsPerVM {
			return nil, fmt.Errorf("instance %s would carry %d network tags, over the limit of %d", in.where(), n, p.limits.TagsPerVM)
		}
	}
	return objs, nil
}
