package analysis_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

// blastPolicy extends the three tiers with a partner network that app calls out to,
// and a vault segment reachable only from that network: a compromised app reaches the
// partner, but the policy says nothing about what the partner reaches, so vault must
// stay outside the radius. An allow from web back to lb makes a cycle.
func blastPolicy(t *testing.T) *model.Policy {
	p := threeTier(t)
	p.Networks["partner"] = &model.Network{Name: "partner", Pos: at(11)}
	addSegment(p, "vault", "prod", 36, nil)
	addAllow(p, "app-to-partner", 60, []model.PeerRef{segment("app")}, []model.PeerRef{network("partner")}, "https")
	addAllow(p, "partner-to-vault", 64, []model.PeerRef{network("partner")}, []model.PeerRef{segment("vault")}, "https")
	addAllow(p, "web-to-lb", 68, []model.PeerRef{segment("web")}, []model.PeerRef{segment("lb")}, "http")
	return p
}

func TestBlastRadius(t *testing.T) {
	p := blastPolicy(t)
	lbToWeb := analysis.Hop{From: segment("lb"), To: segment("web"), Allows: []string{"lb-to-web"}, Ports: ports(t, "tcp/80", "tcp/443")}
	webToApp := analysis.Hop{From: segment("web"), To: segment("app"), Allows: []string{"web-to-app"}, Ports: ports(t, "tcp/8080")}
	appToDB := analysis.Hop{From: segment("app"), To: segment("db"), Allows: []string{"app-to-db"}, Ports: ports(t, "tcp/5432")}
	appToPartner := analysis.Hop{From: segment("app"), To: network("partner"), Allows: []string{"app-to-partner"}, Ports: ports(t, "tcp/443")}
	webToLB := analysis.Hop{From: segment("web"), To: segment("lb"), Allows: []string{"web-to-lb"}, Ports: ports(t, "tcp/80")}
	tests := []struct {
		start model.PeerRef
		want  []analysis.Reach
	}{
		{segment("lb"), []analysis.Reach{
			{Node: segment("web"), Hops: 1, Path: []analysis.Hop{lbToWeb}},
			{Node: segment("app"), Hops: 2, Path: []analysis.Hop{lbToWeb, webToApp}},
			{Node: segment("db"), Hops: 3, Path: []analysis.Hop{lbToWeb, webToApp, appToDB}},
			{Node: network("partner"), Hops: 3, Path: []analysis.Hop{lbToWeb, webToApp, appToPartner}},
		}},
		{segment("web"), []analysis.Reach{
			{Node: segment("app"), Hops: 1, Path: []analysis.Hop{webToApp}},
			{Node: segment("lb"), Hops: 1, Path: []analysis.Hop{webToLB}},
			{Node: segment("db"), Hops: 2, Path: []analysis.Hop{webToApp, appToDB}},
			{Node: network("partner"), Hops: 2, Path: []analysis.Hop{webToApp, appToPartner}},
		}},
		{segment("db"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.start.String(), func(t *testing.T) {
			got, err := analysis.BlastRadius(p, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("BlastRadius (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBlastRadiusErrors(t *testing.T) {
	p := blastPolicy(t)
	_, err := analysis.BlastRadius(p, network("internet"))
	if want := "blast radius of network.internet: start at a segment; a network is a peer, not a workload microseg controls, so it has no blast radius in the policy"; err == nil || err.Error() != want {
		t.Errorf("network start: err = %v, want %q", err, want)
	}
	_, err = analysis.BlastRadius(p, segment("ap"))
	if !errors.Is(err, analysis.ErrUnknownPeer) {
		t.Errorf("unknown start: err = %v, want ErrUnknownPeer", err)
	}
	if want := `blast radius: unknown segment "ap"; did you mean segment.app?`; err == nil || err.Error() != want {
		t.Errorf("unknown start: err = %v, want %q", err, want)
	}
}

func TestWriteBlastRadius(t *testing.T) {
	p := blastPolicy(t)
	// Two allows on one edge: the hop names both and the union of their ports.
	addService(t, p, "app-admin", 16, "tcp/8081")
	addAllow(p, "web-to-app-admin", 72, []model.PeerRef{segment("web")}, []model.PeerRef{segment("app")}, "app-admin")
	var out bytes.Buffer
	for _, start := range []model.PeerRef{segment("lb"), segment("db")} {
		reaches, err := analysis.BlastRadius(p, start)
		if err != nil {
			t.Fatal(err)
		}
		if err := analysis.WriteBlastRadius(&out, start, reaches); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "blast", out.Bytes())
}
