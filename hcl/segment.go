package hclload

import (
	"slices"

	"github.com/hashicorp/hcl/v2"

	"github.com/microseg/microseg/model"
)

var segmentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "target", Required: true},
		{Name: "cidrs"},
		{Name: "labels"},
		{Name: "mode"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "members"}},
}

var membersSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "tags"}, {Name: "labels"}, {Name: "hosts"}}}

func (l *loader) decodeSegment(block *hcl.Block) {
	seg := &model.Segment{Name: block.Labels[0], Pos: posOf(block.DefRange)}
	content := l.content(block.Body, segmentSchema)
	var target *model.Target
	if attr, ok := content.Attributes["target"]; ok {
		if t, ok := l.targetRef(attr.Expr); ok {
			target = t
			seg.Target = t.Name
		}
	}
	if attr, ok := content.Attributes["cidrs"]; ok {
		seg.CIDRs, _ = l.prefixList(attr)
	}
	if attr, ok := content.Attributes["labels"]; ok {
		seg.Labels, _ = l.stringMap(attr)
	}
	if attr, ok := content.Attributes["mode"]; ok {
		if mode, ok := l.stringValue(attr); ok {
			switch mode {
			case "enforce":
				seg.Mode = model.ModeEnforce
			case "audit":
				seg.Mode = model.ModeAudit
			default:
				l.errorf(attr.Expr.Range().Ptr(), "Invalid mode", "mode %q is not a segment mode: use \"enforce\" (deny what no allow names) or \"audit\" (change no traffic, report what would be denied).%s", mode, suggest(mode, []string{"enforce", "audit"}))
			}
		}
	}
	members := content.Blocks.OfType("members")
	switch {
	case len(members) == 0:
		l.errorf(block.DefRange.Ptr(), "Missing members block", "Segment %q must say which workloads belong to it: members { tags = {...} } for clouds, members { hosts = [...] } for hosts.", seg.Name)
	case len(members) > 1:
		l.errorf(members[1].DefRange.Ptr(), "Duplicate members block", "A segment has one members block; the first is at %s.", members[0].DefRange)
	}
	if len(members) > 0 {
		seg.Members = l.decodeMembers(seg.Name, members[0], target)
	}
	l.loaded.Policy.Segments[seg.Name] = seg
}

func (l *loader) decodeMembers(segment string, block *hcl.Block, target *model.Target) model.Members {
	var m model.Members
	content := l.content(block.Body, membersSchema)
	readable := true
	if attr, ok := content.Attributes["tags"]; ok {
		m.Tags, ok = l.stringMap(attr)
		readable = readable && ok
		if target != nil && target.Kind == model.KindHosts {
			l.errorf(attr.NameRange.Ptr(), "Tags on hosts", "Members of a hosts target are named with hosts = [...]; tags select cloud workloads.")
		}
	}
	if attr, ok := content.Attributes["labels"]; ok {
		m.Labels, ok = l.stringMap(attr)
		readable = readable && ok
		if target != nil && target.Kind == model.KindHosts {
			l.errorf(attr.NameRange.Ptr(), "Labels on hosts", "Members of a hosts target are named with hosts = [...]; labels select cloud workloads.")
		}
	}
	if attr, ok := content.Attributes["hosts"]; ok {
		items, good := l.stringList(attr)
		readable = readable && good
		if target != nil && target.Kind != model.KindHosts {
			l.errorf(attr.NameRange.Ptr(), "Hosts in a cloud target", "Segment %q is in %s target %q, whose members are selected by tags or labels; hosts = [...] is for hosts targets.", segment, target.Kind, target.Name)
		}
		for _, item := range items {
			if target != nil && target.Kind == model.KindHosts {
				if _, ok := target.Hosts.Hosts[item.value]; !ok {
					l.errorf(item.rng.Ptr(), "Unknown host", "Target %q declares no host %q.%s", target.Name, item.value, suggest(item.value, model.SortedKeys(target.Hosts.Hosts)))
					readable = false
					continue
				}
			}
			m.Hosts = append(m.Hosts, item.value)
		}
		slices.Sort(m.Hosts)
		m.Hosts = slices.Compact(m.Hosts)
	}
	if readable && m.Empty() {
		l.errorf(block.DefRange.Ptr(), "Empty members", "The members block of segment %q selects no workload: give tags, labels or hosts, none of them empty.", segment)
	}
	return m
}
