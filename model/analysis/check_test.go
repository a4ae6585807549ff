package analysis_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func TestCheck(t *testing.T) {
	peers := func(refs ...model.PeerRef) []model.PeerRef { return refs }
	tests := []struct {
		name     string
		edit     func(p *model.Policy)
		from, to model.PeerRef
		port     string
		want     analysis.CheckResult
	}{
		{
			name: "allowed",
			from: segment("web"), to: segment("app"), port: "tcp/8080",
			want: analysis.CheckResult{Allowed: true, Matches: []analysis.Match{
				{Allow: "web-to-app", Service: "app", Port: port(t, "tcp/8080"), From: peers(segment("web")), To: peers(segment("app")), Pos: at(50)},
			}},
		},
		{
			name: "allowed by two allows between them",
			edit: func(p *model.Policy) {
				addService(t, p, "app-admin", 16, "tcp/8081")
				addAllow(p, "web-to-app-admin", 60, peers(segment("web")), peers(segment("app")), "app-admin")
			},
			from: segment("web"), to: segment("app"), port: "tcp/8080-8081",
			want: analysis.CheckResult{Allowed: true, Matches: []analysis.Match{
				{Allow: "web-to-app", Service: "app", Port: port(t, "tcp/8080"), From: peers(segment("web")), To: peers(segment("app")), Pos: at(50)},
				{Allow: "web-to-app-admin", Service: "app-admin", Port: port(t, "tcp/8081"), From: peers(segment("web")), To: peers(segment("app")), Pos: at(60)},
			}},
		},
		{
			name: "denied: same peers, other port",
			from: segment("web"), to: segment("app"), port: "tcp/443",
			want: analysis.CheckResult{
				Near: []analysis.Match{
					{Allow: "web-to-app", Service: "app", Port: port(t, "tcp/8080"), From: peers(segment("web")), To: peers(segment("app")), Miss: analysis.MissPort, Pos: at(50)},
				},
				Enforcing: peers(segment("web"), segment("app")),
			},
		},
		{
			name: "denied: only part of the range",
			from: segment("web"), to: segment("app"), port: "tcp/8080-8081",
			want: analysis.CheckResult{
				Near: []analysis.Match{
					{Allow: "web-to-app", Service: "app", Port: port(t, "tcp/8080"), From: peers(segment("web")), To: peers(segment("app")), Miss: analysis.MissPort, Pos: at(50)},
				},
				Enforcing: peers(segment("web"), segment("app")),
			},
		},
		{
			name: "denied: this port, other source",
			from: segment("web"), to: segment("db"), port: "tcp/5432",
			want: analysis.CheckResult{
				Near: []analysis.Match{
					{Allow: "app-to-db", Service: "postgres", Port: port(t, "tcp/5432"), From: peers(segment("app")), To: peers(segment("db")), Miss: analysis.MissFrom, Pos: at(56)},
				},
				Enforcing: peers(segment("web"), segment("db")),
			},
		},
		{
			name: "denied into audit: passes, logged as would-drop",
			edit: func(p *model.Policy) { p.Segments["web"].Mode = model.ModeAudit },
			from: network("internet"), to: segment("web"), port: "tcp/443",
			want: analysis.CheckResult{
				Near: []analysis.Match{
					{Allow: "lb-to-web", Service: "https", Port: port(t, "tcp/443"), From: peers(segment("lb")), To: peers(segment("web")), Miss: analysis.MissFrom, Pos: at(44)},
					{Allow: "internet-to-lb", Service: "https", Port: port(t, "tcp/443"), From: peers(network("internet")), To: peers(segment("lb")), Miss: analysis.MissTo, Pos: at(38)},
				},
				Auditing: peers(segment("web")),
			},
		},
		{
			name: "denied from enforce into audit: dropped at the source",
			edit: func(p *model.Policy) { p.Segments["db"].Mode = model.ModeAudit },
			from: segment("web"), to: segment("db"), port: "tcp/22",
			want: analysis.CheckResult{
				Enforcing: peers(segment("web")),
				Auditing:  peers(segment("db")),
			},
		},
		{
			name: "all is a port like any other",
			edit: func(p *model.Policy) {
				addService(t, p, "any", 16, "all")
				addAllow(p, "ops", 60, peers(segment("app")), peers(segment("web")), "any")
			},
			from: segment("app"), to: segment("web"), port: "udp/53",
			want: analysis.CheckResult{Allowed: true, Matches: []analysis.Match{
				{Allow: "ops", Service: "any", Port: port(t, "all"), From: peers(segment("app")), To: peers(segment("web")), Pos: at(60)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := threeTier(t)
			if tt.edit != nil {
				tt.edit(p)
			}
			got, err := analysis.Check(p, tt.from, tt.to, port(t, tt.port))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.From, tt.want.To, tt.want.Port = tt.from, tt.to, port(t, tt.port)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
			if wantPasses := tt.want.Allowed || len(tt.want.Enforcing) == 0; got.Passes() != wantPasses {
				t.Errorf("Passes() = %v, want %v", got.Passes(), wantPasses)
			}
		})
	}
}

func TestCheckErrors(t *testing.T) {
	tests := []struct {
		name     string
		from, to model.PeerRef
		want     string
		unknown  bool
	}{
		{"typo in a segment", segment("wbe"), segment("db"), `unknown segment "wbe"; did you mean segment.web?`, true},
		{"typo in the destination", segment("web"), segment("dbb"), `unknown segment "dbb"; did you mean segment.db?`, true},
		{"network named as a segment", segment("internet"), segment("web"), `unknown segment "internet"; did you mean network.internet?`, true},
		{"nothing close", network("partners-of-partners"), segment("web"), `unknown network "partners-of-partners"`, true},
		{"two networks", network("internet"), network("internet"), "check network.internet -> network.internet: both ends are networks; networks are peers, never enforcement points, so no allow connects two of them", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := analysis.Check(threeTier(t), tt.from, tt.to, port(t, "tcp/443"))
			if err == nil {
				t.Fatal("Check succeeded, want an error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if got := errors.Is(err, analysis.ErrUnknownPeer); got != tt.unknown {
				t.Errorf("errors.Is(err, ErrUnknownPeer) = %v, want %v", got, tt.unknown)
			}
		})
	}
}

func TestCheckWriteText(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(p *model.Policy)
		from, to model.PeerRef
		port     string
	}{
		{name: "check_allowed", from: segment("lb"), to: segment("web"), port: "tcp/443"},
		{name: "check_denied", from: segment("web"), to: segment("db"), port: "tcp/5432"},
		{name: "check_denied_other_port", from: segment("app"), to: segment("db"), port: "tcp/5433"},
		{name: "check_denied_nothing_close", from: segment("db"), to: segment("lb"), port: "udp/53"},
		{
			name: "check_audit",
			edit: func(p *model.Policy) { p.Segments["web"].Mode = model.ModeAudit },
			from: network("internet"), to: segment("web"), port: "tcp/443",
		},
		{
			name: "check_mixed_modes",
			edit: func(p *model.Policy) { p.Segments["db"].Mode = model.ModeAudit },
			from: segment("web"), to: segment("db"), port: "tcp/5432",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := threeTier(t)
			if tt.edit != nil {
				tt.edit(p)
			}
			r, err := analysis.Check(p, tt.from, tt.to, port(t, tt.port))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, []byte(writeString(t, func(b *bytes.Buffer) error { return r.WriteText(b) })))
		})
	}
}
