package model

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// ObjectKind orders objects for make-before-break: containers exist before the rules
// in them, rules before the members that depend on them.
type ObjectKind uint8

// Object kinds, in the order they are created.
const (
	ObjectSegment    ObjectKind = iota // the segment's identity: security group, ASG, tag, nft set
	ObjectRule                         // one permission
	ObjectMembership                   // a workload belongs to a segment
)

func (k ObjectKind) String() string {
	switch k {
	case ObjectSegment:
		return "segment"
	case ObjectRule:
		return "rule"
	default:
		return "member"
	}
}

// Field is one compared attribute of an object.
type Field struct {
	Name, Value string
}

// Object is the canonical, provider-neutral form of one enforced thing. Providers
// normalize both what they observe and what the model wants into Objects, so that
// one diff serves every enforcement point. Two objects with the same Kind and Key
// are the same thing; they differ ("change") when their Fields differ.
type Object struct {
	Kind   ObjectKind
	Key    string
	Fields []Field // sorted by Name
	// Content is the provider's typed form of the object (a rule with its
	// peer, ports and description; an observed rule with its cloud ID), carried
	// into the plan's changes so that Apply never parses a key back. Diff does not
	// compare it; it is a pointer, so that comparing objects cannot panic.
	Content any
}

// Objects returns the desired state in canonical form, sorted by kind and key: one
// object per segment and per rule, and for a hosts target one membership per host and
// segment. Membership in cloud targets depends on the inventory and is added by
// providers.
func (d *DesiredState) Objects() []Object {
	objs := make([]Object, 0, len(d.Segments)+len(d.Rules))
	for _, s := range d.Segments {
		objs = append(objs, Object{Kind: ObjectSegment, Key: s.Name, Fields: []Field{{"mode", s.Mode.String()}}})
	}
	// A large policy has hundreds of thousands of rules: their fields share one slab
	// and their keys are substrings of one string, instead of one allocation each.
	fields := make([]Field, len(d.Rules))
	var keys []byte
	ends := make([]int, len(d.Rules))
	for i, r := range d.Rules {
		keys = r.appendKey(keys)
		ends[i] = len(keys)
	}
	allKeys := string(keys)
	start := 0
	for i, r := range d.Rules {
		allows := r.Allows[0]
		if len(r.Allows) > 1 {
			allows = strings.Join(r.Allows, ",")
		}
		fields[i] = Field{"allows", allows}
		objs = append(objs, Object{Kind: ObjectRule, Key: allKeys[start:ends[i]], Fields: fields[i : i+1 : i+1]})
		start = ends[i]
	}
	if d.Target != nil && d.Target.Kind == KindHosts {
		for _, s := range d.Segments {
			for _, h := range s.Members.Hosts {
				objs = append(objs, Object{Kind: ObjectMembership, Key: s.Name + " " + h})
			}
		}
	}
	return objs
}

// Finding is something a provider saw on its target that the policy keeps by
// design, so that it is no change to make, but that an operator should know of:
// a security group microseg does not manage on a member's interface, say.
type Finding struct {
	Subject string // what it is about: "interface eni-0abc"
	Message string // what was seen and why it matters, one sentence
}

func (f Finding) String() string { return f.Subject + ": " + f.Message }

// Action is what a plan does to one object.
type Action uint8

// Plan actions.
const (
	ActionAdd Action = iota
	ActionChange
	ActionRemove
)

// Symbol is the one-character sign of an action in a rendered plan.
func (a Action) Symbol() string { return [...]string{"+", "~", "-"}[a] }

// Change is one step of a plan.
type Change struct {
	Action Action
	Kind   ObjectKind
	Key    string
	Before []Field // nil for an add
	After  []Field // nil for a remove
	// BeforeContent and AfterContent are the observed and the desired object's
	// Content: nil for an add and for a remove respectively.
	BeforeContent, AfterContent any
}

// Plan is the ordered list of changes that takes one target from observed to desired.
type Plan struct {
	Target  string
	Changes []Change // in apply order: make before break
}

// Counts returns how many objects the plan adds, changes and removes.
func (p *Plan) Counts() (add, change, remove int) {
	for _, c := range p.Changes {
		switch c.Action {
		case ActionAdd:
			add++
		case ActionChange:
			change++
		default:
			remove++
		}
	}
	return
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// phase places a change in make-before-break order: create segments and rules first,
// attach members, and only then detach members, remove rules and delete segments.
func (c Change) phase() int {
	if c.Action != ActionRemove {
		return int(c.Kind) // 0 segments, 1 rules, 2 members
	}
	return 5 - int(c.Kind) // 3 members, 4 rules, 5 segments
}

func compareObjects(a, b Object) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	return strings.Compare(a.Key, b.Key)
}

// Diff compares desired with observed objects and returns the plan between them.
// Neither input needs to be sorted; neither is modified. The order of changes is
// deterministic: by phase, then by key.
func Diff(target string, desired, observed []Object) *Plan {
	want := sortedObjects(desired)
	have := sortedObjects(observed)
	plan := &Plan{Target: target}
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		var c int
		switch {
		case i == len(want):
			c = 1
		case j == len(have):
			c = -1
		default:
			c = compareObjects(want[i], have[j])
		}
		switch {
		case c < 0:
			plan.Changes = append(plan.Changes, Change{Action: ActionAdd, Kind: want[i].Kind, Key: want[i].Key, After: want[i].Fields, AfterContent: want[i].Content})
			i++
		case c > 0:
			plan.Changes = append(plan.Changes, Change{Action: ActionRemove, Kind: have[j].Kind, Key: have[j].Key, Before: have[j].Fields, BeforeContent: have[j].Content})
			j++
		default:
			if !slices.Equal(want[i].Fields, have[j].Fields) {
				plan.Changes = append(plan.Changes, Change{Action: ActionChange, Kind: want[i].Kind, Key: want[i].Key,
					Before: have[j].Fields, After: want[i].Fields, BeforeContent: have[j].Content, AfterContent: want[i].Content})
			}
			i++
			j++
		}
	}
	// Changes are already in key order within a kind; a stable sort by phase keeps it.
	slices.SortStableFunc(plan.Changes, func(a, b Change) int { return a.phase() - b.phase() })
	return plan
}

// sortedObjects returns objs in (kind, key) order, copying only when they are not
// already (Objects returns them sorted, and so should providers).
func sortedObjects(objs []Object) []Object {
	if slices.IsSortedFunc(objs, compareObjects) {
		return objs
	}
	sorted := slices.Clone(objs)
	slices.SortFunc(sorted, compareObjects)
	return sorted
}

// Render writes the plan as a readable diff: one line per change with +, ~ or -,
// and for a change the fields that differ.
func (p *Plan) Render(w io.Writer) error {
	add, change, remove := p.Counts()
	var b strings.Builder
	fmt.Fprintf(&b, "target %s: %d to add, %d to change, %d to remove\n", p.Target, add, change, remove)
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "  %s %s %s", c.Action.Symbol(), c.Kind, c.Key)
		switch c.Action {
		case ActionAdd:
			writeFields(&b, c.After)
		case ActionRemove:
			writeFields(&b, c.Before)
		default:
			before := fieldMap(c.Before)
			after := fieldMap(c.After)
			for _, name := range SortedKeys(unionKeys(before, after)) {
				if before[name] != after[name] {
					fmt.Fprintf(&b, "  %s: %q -> %q", name, before[name], after[name])
				}
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFields(b *strings.Builder, fields []Field) {
	for _, f := range fields {
		if f.Value == "" {
			fmt.Fprintf(b, "  %s=\"\"", f.Name) // an empty description, say
		} else {
			fmt.Fprintf(b, "  %s=%s", f.Name, f.Value)
		}
	}
}

func fieldMap(fields []Field) map[string]string {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		m[f.Name] = f.Value
	}
	return m
}

func unionKeys(a, b map[string]string) map[string]bool {
	u := make(map[string]bool, len(a)+len(b))
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
