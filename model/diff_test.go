package model

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffMakeBeforeBreak(t *testing.T) {
	observed := []Object{
		{Kind: ObjectSegment, Key: "old", Fields: []Field{{"mode", "enforce"}}},
		{Kind: ObjectSegment, Key: "web", Fields: []Field{{"mode", "audit"}}},
		{Kind: ObjectRule, Key: "old ingress from 10.0.0.0/8 tcp/22", Fields: []Field{{"allows", "ssh"}}},
		{Kind: ObjectRule, Key: "web ingress from 0.0.0.0/0 tcp/443", Fields: []Field{{"allows", "old-name"}}},
		{Kind: ObjectRule, Key: "web ingress from 0.0.0.0/0 tcp/80", Fields: []Field{{"allows", "http"}}},
		{Kind: ObjectMembership, Key: "old host-1"},
		{Kind: ObjectMembership, Key: "web host-2"},
	}
	desired := []Object{
		{Kind: ObjectSegment, Key: "web", Fields: []Field{{"mode", "enforce"}}},
		{Kind: ObjectSegment, Key: "api", Fields: []Field{{"mode", "enforce"}}},
		{Kind: ObjectRule, Key: "web ingress from 0.0.0.0/0 tcp/443", Fields: []Field{{"allows", "https"}}},
		{Kind: ObjectRule, Key: "web ingress from 0.0.0.0/0 tcp/80", Fields: []Field{{"allows", "http"}}},
		{Kind: ObjectRule, Key: "api ingress from segment.web tcp/8080", Fields: []Field{{"allows", "web-to-api"}}},
		{Kind: ObjectMembership, Key: "api host-1"},
		{Kind: ObjectMembership, Key: "web host-2"},
	}
	plan := Diff("aws.prod", desired, observed)
	var got []string
	for _, c := range plan.Changes {
		got = append(got, c.Action.Symbol()+" "+c.Kind.String()+" "+c.Key)
	}
	want := []string{
		"+ segment api",
		"~ segment web",
		"+ rule api ingress from segment.web tcp/8080",
		"~ rule web ingress from 0.0.0.0/0 tcp/443",
		"+ member api host-1",
		"- member old host-1",
		"- rule old ingress from 10.0.0.0/8 tcp/22",
		"- segment old",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan order (-want +got):\n%s", diff)
	}
	if add, change, remove := plan.Counts(); add != 3 || change != 2 || remove != 3 {
		t.Errorf("counts = %d/%d/%d, want 3/2/3", add, change, remove)
	}
	var b strings.Builder
	if err := plan.Render(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.golden", b.String())

	// The same inputs in any order give the same plan.
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		d, o := slices.Clone(desired), slices.Clone(observed)
		r.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		r.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
		if diff := cmp.Diff(plan, Diff("aws.prod", d, o)); diff != "" {
			t.Fatalf("shuffled input changed the plan:\n%s", diff)
		}
	}
}

func TestDiffOfEqualStatesIsEmpty(t *testing.T) {
	states, err := Compile(threeTier(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range states {
		objs := st.Objects()
		if plan := Diff(name, objs, objs); !plan.Empty() {
			t.Errorf("target %s: diff with itself = %+v", name, plan.Changes)
		}
		if plan := Diff(name, objs, nil); len(plan.Changes) != len(objs) {
			t.Errorf("target %s: diff from nothing has %d changes, want %d", name, len(plan.Changes), len(objs))
		}
	}
}

func TestDesiredStateObjectsGolden(t *testing.T) {
	states, err := Compile(threeTier(t))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, name := range SortedKeys(states) {
		if err := Diff(name, states[name].Objects(), nil).Render(&b); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "three-tier-from-empty.golden", b.String())
}
