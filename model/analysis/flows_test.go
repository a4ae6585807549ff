package analysis_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func TestFlows(t *testing.T) {
	p := threeTier(t)
	// Invalid or redundant parts must not add flows: a pair of networks, and a service
	// named twice.
	p.Networks["partners"] = &model.Network{Name: "partners"}
	addAllow(p, "nets", 70, []model.PeerRef{network("internet")}, []model.PeerRef{network("partners"), segment("web")}, "https", "https")

	got := analysis.Flows(p)
	flow := func(from, to model.PeerRef, spec, allow, service string) analysis.Flow {
		return analysis.Flow{From: from, To: to, Port: port(t, spec), Allow: allow, Service: service}
	}
	want := []analysis.Flow{
		flow(segment("app"), segment("db"), "tcp/5432", "app-to-db", "postgres"),
		flow(segment("lb"), segment("web"), "tcp/80", "lb-to-web", "http"),
		flow(segment("lb"), segment("web"), "tcp/443", "lb-to-web", "https"),
		flow(segment("web"), segment("app"), "tcp/8080", "web-to-app", "app"),
		flow(network("internet"), segment("lb"), "tcp/443", "internet-to-lb", "https"),
		flow(network("internet"), segment("web"), "tcp/443", "nets", "https"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Flows (-want +got):\n%s", diff)
	}
}
