package model

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	goldenfile "github.com/microseg/microseg/internal/golden"
)

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, name, []byte(got))
}

func port(t testing.TB, spec string) ServicePort {
	t.Helper()
	p, err := ParsePort(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func prefixes(specs ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(specs))
	for i, s := range specs {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func seg(name string) PeerRef  { return PeerRef{PeerSegment, name} }
func net_(name string) PeerRef { return PeerRef{PeerNetwork, name} }

// threeTier is the examples/ policy in miniature: aws holds lb and web, hosts holds db.
func threeTier(t testing.TB) *Policy {
	p := NewPolicy()
	p.Targets["aws"] = &Target{Kind: KindAWS, Name: "aws", AWS: &AWSTarget{Region: "us-east-1", VPCID: "vpc-1"}}
	p.Targets["dc1"] = &Target{Kind: KindHosts, Name: "dc1", Hosts: &HostsTarget{
		Hosts: map[string]*Host{"db-01": {Name: "db-01", Addresses: []netip.Addr{netip.MustParseAddr("10.20.0.11")}}},
	}}
	p.Networks["internet"] = &Network{Name: "internet", CIDRs: prefixes("0.0.0.0/0", "::/0")}
	p.Services["https"] = &Service{Name: "https", Ports: []ServicePort{port(t, "tcp/443")}}
	p.Services["postgres"] = &Service{Name: "postgres", Ports: []ServicePort{port(t, "tcp/5432")}}
	p.Services["ping"] = &Service{Name: "ping", Ports: []ServicePort{port(t, "icmp")}}
	p.Segments["lb"] = &Segment{Name: "lb", Target: "aws", Members: Members{Tags: map[string]string{"role": "lb"}}}
	p.Segments["web"] = &Segment{Name: "web", Target: "aws", Members: Members{Tags: map[string]string{"tier": "web"}}, CIDRs: prefixes("10.10.0.0/24")}
	p.Segments["db"] = &Segment{Name: "db", Target: "dc1", Members: Members{Hosts: []string{"db-01"}}, CIDRs: prefixes("10.20.0.0/24"), Mode: ModeAudit}
	p.Allows["internet-to-lb"] = &Allow{Name: "internet-to-lb", From: []PeerRef{net_("internet")}, To: []PeerRef{seg("lb")}, Services: []string{"https", "ping"}}
	p.Allows["lb-to-web"] = &Allow{Name: "lb-to-web", From: []PeerRef{seg("lb")}, To: []PeerRef{seg("web")}, Services: []string{"https"}}
	p.Allows["web-to-db"] = &Allow{Name: "web-to-db", From: []PeerRef{seg("web")}, To: []PeerRef{seg("db")}, Services: []string{"postgres"}}
	p.Allows["web-to-db-again"] = &Allow{Name: "web-to-db-again", From: []PeerRef{seg("web")}, To: []PeerRef{seg("db")}, Services: []string{"postgres"}}
	return p
}

func ruleKeys(rules []*Rule) []string {
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key() + " [" + strings.Join(r.Allows, ",") + "]"
	}
	return keys
}

func TestCompile(t *testing.T) {
	states, err := Compile(threeTier(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"aws": {
			// internet: ingress by CIDR, ICMPv4 only towards the IPv4 prefix.
			"lb ingress from 0.0.0.0/0 icmp [internet-to-lb]",
			"lb ingress from 0.0.0.0/0 tcp/443 [internet-to-lb]",
			"lb ingress from ::/0 tcp/443 [internet-to-lb]",
			// same target: by identity, egress at the source and ingress at the destination.
			"lb egress to segment.web tcp/443 [lb-to-web]",
			"web ingress from segment.lb tcp/443 [lb-to-web]",
			// other target: by the peer's CIDRs; two allows, one rule.
			"web egress to 10.20.0.0/24 tcp/5432 [web-to-db,web-to-db-again]",
		},
		"dc1": {
			"db ingress from 10.10.0.0/24 tcp/5432 [web-to-db,web-to-db-again]",
		},
	}
	for target, wantKeys := range want {
		got := ruleKeys(states[target].Rules)
		if diff := cmp.Diff(slices.Sorted(slices.Values(wantKeys)), got); diff != "" {
			t.Errorf("target %s rules (-want +got):\n%s", target, diff)
		}
	}
	if got := states["dc1"].Segments; len(got) != 1 || got[0].Mode != ModeAudit {
		t.Errorf("dc1 segments = %+v, want db in audit mode", got)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *Policy)
		want   string
	}{
		{"cross-target segment without cidrs", func(p *Policy) {
			p.Allows["lb-to-db"] = &Allow{Name: "lb-to-db", From: []PeerRef{seg("lb")}, To: []PeerRef{seg("db")}, Services: []string{"postgres"}}
		}, `target "dc1" can only address segment "lb" (target "aws") by its cidrs, and it has none`},
		{"allow between networks", func(p *Policy) {
			p.Allows["x"] = &Allow{Name: "x", From: []PeerRef{net_("internet")}, To: []PeerRef{net_("internet")}, Services: []string{"https"}}
		}, "between two networks"},
		{"unknown service", func(p *Policy) {
			p.Allows["lb-to-web"].Services = []string{"htps"}
		}, `unknown service "htps"`},
		{"no service", func(p *Policy) {
			p.Allows["lb-to-web"].Services = nil
		}, "names no service"},
		{"unknown target", func(p *Policy) {
			p.Segments["web"].Target = "gone"
		}, `unknown target "gone"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := threeTier(t)
			tt.mutate(p)
			_, err := Compile(p)
			if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileIsDeterministic(t *testing.T) {
	first, err := Compile(threeTier(t))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := Compile(threeTier(t))
		for name, st := range first {
			if diff := cmp.Diff(ruleKeys(st.Rules), ruleKeys(again[name].Rules)); diff != "" {
				t.Fatalf("target %s compiled differently:\n%s", name, diff)
			}
		}
	}
}

func TestWithModeCopies(t *testing.T) {
	st := &DesiredState{Segments: []SegmentState{{Name: "a", Mode: ModeEnforce}, {Name: "b", Mode: ModeAudit}}}
	got := st.WithMode(ModeAudit)
	for _, s := range got.Segments {
		if s.Mode != ModeAudit {
			t.Errorf("segment %s in mode %v under break-glass", s.Name, s.Mode)
		}
	}
	if st.Segments[0].Mode != ModeEnforce {
		t.Error("WithMode changed the state it was given")
	}
}
