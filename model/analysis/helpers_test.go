package analysis_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	goldenfile "github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
)

// golden compares got with testdata/name.golden (see internal/golden).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, name+".golden", got)
}

// lintNow is the date every lint test judges expiry against.
var lintNow = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func port(t testing.TB, spec string) model.ServicePort {
	t.Helper()
	p, err := model.ParsePort(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ports(t testing.TB, specs ...string) []model.ServicePort {
	t.Helper()
	out := make([]model.ServicePort, len(specs))
	for i, s := range specs {
		out[i] = port(t, s)
	}
	return out
}

func segment(name string) model.PeerRef { return model.PeerRef{Kind: model.PeerSegment, Name: name} }
func network(name string) model.PeerRef { return model.PeerRef{Kind: model.PeerNetwork, Name: name} }

func at(line int) model.Pos { return model.Pos{File: "main.hcl", Line: line, Column: 1} }

// threeTier builds the reference policy: the internet reaches a PCI load balancer on
// https, which forwards to web (https, and http after TLS termination), web calls
// app, app calls a database on hosts. It is clean: no lint rule fires on it.
func threeTier(t testing.TB) *model.Policy {
	t.Helper()
	p := model.NewPolicy()
	p.Targets["prod"] = &model.Target{Kind: model.KindAWS, Name: "prod", AWS: &model.AWSTarget{Region: "us-east-1", VPCID: "vpc-1"}, Pos: at(1)}
	p.Targets["dc1"] = &model.Target{Kind: model.KindHosts, Name: "dc1", Hosts: &model.HostsTarget{}, Pos: at(6)}
	p.Networks["internet"] = &model.Network{Name: "internet", CIDRs: []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, Pos: at(10)}
	for i, svc := range []struct{ name, port string }{
		{"https", "tcp/443"}, {"http", "tcp/80"}, {"app", "tcp/8080"}, {"postgres", "tcp/5432"},
	} {
		addService(t, p, svc.name, 12+i, svc.port)
	}
	addSegment(p, "lb", "prod", 17, map[string]string{"scope": "pci"})
	addSegment(p, "web", "prod", 22, nil)
	addSegment(p, "app", "prod", 27, nil)
	addSegment(p, "db", "dc1", 32, nil)
	// app talks to db across targets, so both need cidrs to be addressed by.
	p.Segments["app"].CIDRs = []netip.Prefix{netip.MustParsePrefix("10.10.2.0/24")}
	p.Segments["db"].CIDRs = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}
	addAllow(p, "internet-to-lb", 38, []model.PeerRef{network("internet")}, []model.PeerRef{segment("lb")}, "https")
	addAllow(p, "lb-to-web", 44, []model.PeerRef{segment("lb")}, []model.PeerRef{segment("web")}, "https", "http")
	addAllow(p, "web-to-app", 50, []model.PeerRef{segment("web")}, []model.PeerRef{segment("app")}, "app")
	addAllow(p, "app-to-db", 56, []model.PeerRef{segment("app")}, []model.PeerRef{segment("db")}, "postgres")
	return p
}

func addService(t testing.TB, p *model.Policy, name string, line int, specs ...string) {
	t.Helper()
	p.Services[name] = &model.Service{Name: name, Ports: ports(t, specs...), Pos: at(line)}
}

func addSegment(p *model.Policy, name, target string, line int, labels map[string]string) *model.Segment {
	s := &model.Segment{Name: name, Target: target, Labels: labels, Pos: at(line)}
	p.Segments[name] = s
	return s
}

func addAllow(p *model.Policy, name string, line int, from, to []model.PeerRef, services ...string) *model.Allow {
	a := &model.Allow{Name: name, From: from, To: to, Services: services, Pos: at(line)}
	p.Allows[name] = a
	return a
}

// writeString runs a text writer into a string.
func writeString(t *testing.T, write func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestThreeTierCompiles keeps the fixture honest: it must be a policy the real
// compiler accepts, or the analysis tests test nothing real.
func TestThreeTierCompiles(t *testing.T) {
	if _, err := model.Compile(threeTier(t)); err != nil {
		t.Fatal(err)
	}
}
