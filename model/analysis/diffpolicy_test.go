package analysis_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func TestDiffReachability(t *testing.T) {
	tests := []struct {
		name    string
		editOld func(p *model.Policy) // optional
		edit    func(p *model.Policy)
		want    analysis.Delta
	}{
		{name: "same policy", edit: func(*model.Policy) {}},
		{
			name: "renamed and split allows change nothing",
			edit: func(p *model.Policy) {
				lb := p.Allows["lb-to-web"]
				delete(p.Allows, "lb-to-web")
				addAllow(p, "lb-to-web-tls", 44, lb.From, lb.To, "https")
				addAllow(p, "lb-to-web-plain", 46, lb.From, lb.To, "http")
			},
		},
		{
			name: "widened service adds only the new ports",
			edit: func(p *model.Policy) { p.Services["app"].Ports = ports(t, "tcp/8080-8090") },
			want: analysis.Delta{Added: []analysis.FlowChange{
				{From: segment("web"), To: segment("app"), Port: port(t, "tcp/8081-8090"), Allows: []string{"web-to-app"}},
			}},
		},
		{
			name: "widened allow and removed allow",
			edit: func(p *model.Policy) {
				addService(t, p, "https-alt", 16, "tcp/444")
				p.Allows["internet-to-lb"].Services = []string{"https", "https-alt"}
				delete(p.Allows, "app-to-db")
			},
			want: analysis.Delta{
				Added: []analysis.FlowChange{
					{From: network("internet"), To: segment("lb"), Port: port(t, "tcp/444"), Allows: []string{"internet-to-lb"}},
				},
				Removed: []analysis.FlowChange{
					{From: segment("app"), To: segment("db"), Port: port(t, "tcp/5432"), Allows: []string{"app-to-db"}},
				},
			},
		},
		{
			name:    "narrowed in the middle",
			editOld: func(p *model.Policy) { p.Services["app"].Ports = ports(t, "tcp/8000-8100") },
			edit:    func(p *model.Policy) { p.Services["app"].Ports = ports(t, "tcp/8000-8049", "tcp/8060-8100") },
			want: analysis.Delta{
				Removed: []analysis.FlowChange{
					{From: segment("web"), To: segment("app"), Port: port(t, "tcp/8050-8059"), Allows: []string{"web-to-app"}},
				},
			},
		},
		{
			name: "opened to all protocols",
			edit: func(p *model.Policy) {
				addService(t, p, "any", 16, "all")
				addAllow(p, "db-debug", 60, []model.PeerRef{segment("app")}, []model.PeerRef{segment("db")}, "any")
			},
			want: analysis.Delta{Added: []analysis.FlowChange{
				{From: segment("app"), To: segment("db"), Port: port(t, "all"), Except: ports(t, "tcp/5432"), Allows: []string{"db-debug"}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := threeTier(t), threeTier(t)
			if tt.editOld != nil {
				tt.editOld(old)
			}
			tt.edit(new)
			got := analysis.DiffReachability(old, new)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DiffReachability (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffReachabilityReverse: swapping the versions swaps added and removed, for the
// "all except" form too.
func TestDiffReachabilityReverse(t *testing.T) {
	old, new := threeTier(t), threeTier(t)
	addService(t, new, "any", 16, "all")
	addAllow(new, "db-debug", 60, []model.PeerRef{segment("app")}, []model.PeerRef{segment("db")}, "any")
	delete(new.Allows, "lb-to-web")
	forward := analysis.DiffReachability(old, new)
	backward := analysis.DiffReachability(new, old)
	if diff := cmp.Diff(forward.Added, backward.Removed); diff != "" {
		t.Errorf("added forward vs removed backward (-forward +backward):\n%s", diff)
	}
	if diff := cmp.Diff(forward.Removed, backward.Added); diff != "" {
		t.Errorf("removed forward vs added backward (-forward +backward):\n%s", diff)
	}
}

func TestDeltaWriteText(t *testing.T) {
	old, new := threeTier(t), threeTier(t)
	addService(t, new, "https-alt", 16, "tcp/444")
	new.Allows["internet-to-lb"].Services = []string{"https", "https-alt"}
	delete(new.Allows, "app-to-db")
	new.Services["postgres"].Ports = ports(t, "tcp/5433")
	addAllow(new, "app-to-db-v2", 56, []model.PeerRef{segment("app")}, []model.PeerRef{segment("db")}, "postgres")
	addAllow(new, "app-to-db-v3", 58, []model.PeerRef{segment("app")}, []model.PeerRef{segment("db")}, "postgres")
	addService(t, new, "any", 17, "all")
	addAllow(new, "web-debug", 60, []model.PeerRef{segment("lb")}, []model.PeerRef{segment("web")}, "any")

	var out bytes.Buffer
	if err := analysis.DiffReachability(old, new).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if err := analysis.DiffReachability(old, threeTier(t)).WriteText(&out); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff", out.Bytes())
}
