package gceemu

import "testing"

func TestFilter(t *testing.T) {
	prio, off := int64(900), false
	fw := &firewallJSON{Name: "ms-web-1", Network: apiBase + "projects/p/global/networks/default", Direction: "INGRESS",
		Priority: &prio, Disabled: &off, TargetTags: []string{"web", "ms-app"}, SourceRanges: []string{"10.0.0.0/8"}}
	get := func(f string) ([]string, bool) { return firewallField(fw, f) }
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"name eq 'ms-.*'", true},
		{"name eq ms-.*", true},
		{"name eq (ms|xx)-web-[0-9]+", true},
		{"(name eq (ms|xx)-web-[0-9]+)", true},
		{"name ne ms-.*", false},
		{"name eq ms", false},
		{`name = "ms-*"`, true},
		{`name = ms-web`, false},
		{`name != ms-web-1`, false},
		{"network eq .*/networks/default", true},
		{`network eq ".*/projects/p/global/networks/default"`, true},
		{`network eq ".*/projects/p/global/networks/other"`, false},
		{"(direction = INGRESS) (priority < 1000)", true},
		{"(direction = INGRESS) AND (priority >= 1000)", false},
		{"direction = INGRESS AND disabled = false", true},
		{"targetTags = ms-app", true},
		{"targetTags != ms-app", false},
		{"sourceTags:*", false},
		{"targetTags:*", true},
		{`description = ""`, true},
	} {
		f, aerr := parseFilter(c.filter)
		if aerr != nil {
			t.Fatalf("%q: %v", c.filter, aerr)
		}
		got, aerr := f.match(get)
		if aerr != nil || got != c.want {
			t.Errorf("%q: got %v (%v), want %v", c.filter, got, aerr, c.want)
		}
	}
	for _, bad := range []string{"name = a OR name = b", "NOT name = a", "name", "(name = a", "name = 'a", "name eq ("} {
		if _, aerr := parseFilter(bad); aerr == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	f, _ := parseFilter("nosuchfield = 1")
	if _, aerr := f.match(get); aerr == nil || aerr.reason != ReasonInvalid {
		t.Errorf("unknown field: %v", aerr)
	}
}
