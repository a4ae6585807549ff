package onprem

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	hclload "github.com/microseg/microseg/hcl"
	goldenfile "github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/internal/netlab"
	"github.com/microseg/microseg/model"
)

// labPolicy loads testdata/lab (or another directory) and compiles it.
func labPolicy(t *testing.T, dir string) *model.DesiredState {
	t.Helper()
	loaded, diags := hclload.LoadDir(dir)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	states, err := model.Compile(loaded.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return states["lab"]
}

// applyLab renders and applies each lab host's ruleset and checks that reading it
// back gives exactly what was written.
func applyLab(t *testing.T, l *netlab.Lab, state *model.DesiredState) map[string]*Ruleset {
	t.Helper()
	out := map[string]*Ruleset{}
	for host := range l.Hosts {
		hp, err := ForHost(state, host)
		if err != nil {
			t.Fatal(err)
		}
		desired := Build(hp)
		e := enforcerFor(l, host)
		if _, err := e.Apply(desired); err != nil {
			t.Fatalf("apply %s: %v", host, err)
		}
		observed, err := e.Observe()
		if err != nil {
			t.Fatal(err)
		}
		if plan := model.Diff(host, desired.Objects(), observed.Objects()); !plan.Empty() {
			var b strings.Builder
			plan.Render(&b)
			t.Fatalf("host %s: read back differs from what was applied:\n%s", host, b.String())
		}
		out[host] = desired
	}
	return out
}

type flowCheck struct {
	from, to string
	network  string // tcp, udp, icmp
	port     int
	v6       bool
	pass     bool
}

func checkFlows(t *testing.T, l *netlab.Lab, checks []flowCheck) {
	t.Helper()
	for _, c := range checks {
		addr := l.Hosts[c.to].IPv4
		if c.v6 {
			addr = l.Hosts[c.to].IPv6
		}
		var err error
		if c.network == "icmp" {
			err = l.Ping(c.from, addr)
		} else {
			err = l.Probe(c.from, c.network, net.JoinHostPort(addr, fmt.Sprint(c.port)))
		}
		name := fmt.Sprintf("%s -> %s %s/%d v6=%v", c.from, c.to, c.network, c.port, c.v6)
		switch {
		case c.pass && err != nil:
			t.Errorf("%s: want it to pass, got %v", name, err)
		case !c.pass && err == nil:
			t.Errorf("%s: want it blocked, but it passed", name)
		}
	}
}

// labChecks is what the lab policy must allow and deny, in both address families.
func labChecks() []flowCheck {
	var checks []flowCheck
	for _, v6 := range []bool{false, true} {
		checks = append(checks,
			flowCheck{"web-01", "app-01", "tcp", 8080, v6, true},
			flowCheck{"app-01", "db-01", "tcp", 5432, v6, true},
			flowCheck{"app-01", "db-01", "udp", 5514, v6, true},
			flowCheck{"app-01", "db-01", "icmp", 0, v6, true},
			flowCheck{"web-01", "app-01", "udp", 8080, v6, false}, // right port, wrong protocol
			flowCheck{"web-01", "db-01", "tcp", 5432, v6, false},  // no allow web -> db
			flowCheck{"db-01", "app-01", "tcp", 8080, v6, false},  // allows are one-way
			flowCheck{"web-01", "db-01", "icmp", 0, v6, false},    // ping only from app
			flowCheck{"app-01", "web-01", "tcp", 8080, v6, false}, // reverse of web -> app
		)
	}
	return checks
}

func serveLab(l *netlab.Lab) {
	l.Serve("app-01", 8080)
	l.Serve("db-01", 5432)
	l.Serve("db-01", 5514)
	l.Serve("web-01", 8080)
}

func TestEnforceTraffic(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	// Before any policy everything passes: the hosts are in no microseg table yet.
	checkFlows(t, l, []flowCheck{{"web-01", "db-01", "tcp", 5432, false, true}, {"web-01", "db-01", "icmp", 0, true, true}})
	applyLab(t, l, labPolicy(t, "testdata/lab"))
	checkFlows(t, l, labChecks())
}

// TestRulesetGolden compares what the kernel holds after an apply, as nft lists it
// (stateless: without counter values)
// from a netlink read-back, with testdata/app-01.nft.golden.
func TestRulesetGolden(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	applyLab(t, l, labPolicy(t, "testdata/lab"))
	goldenfile.Check(t, "app-01.nft.golden", []byte(l.Nft("app-01", "--stateless", "list", "table", "inet", "microseg")))
	goldenfile.Check(t, "db-01.nft.golden", []byte(l.Nft("db-01", "--stateless", "list", "table", "inet", "microseg")))
}

// TestOverlappingPermitsApply: the kernel refuses overlapping interval elements, so
// overlapping allows (the internet and a partner /24 on the same port) must still
// load, and read back as written.
func TestOverlappingPermitsApply(t *testing.T) {
	l := netlab.New(t, "h")
	e := enforcerFor(l, "h")
	rs := Build(bigPolicy(1000, false,
		Permit{netip.MustParsePrefix("0.0.0.0/0"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 1000, Last: 1001}}},
		Permit{netip.MustParsePrefix("::/0"), model.ServicePort{Protocol: model.ProtocolICMPv6, Ports: model.PortRange{First: 0, Last: 255}}},
		Permit{netip.MustParsePrefix("fd00::/8"), model.ServicePort{Protocol: model.ProtocolICMPv6, Ports: model.PortRange{First: 128, Last: 128}}},
	))
	if _, err := e.Apply(rs); err != nil {
		t.Fatal(err)
	}
	back, err := e.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if plan := planText("h", rs, back); !strings.HasPrefix(plan, "target h: 0 to add, 0 to change, 0 to remove") {
		t.Errorf("read back differs:\n%s", plan)
	}
}

// TestRevokedElements: removing an interval element revokes it (fast) rather than
// deleting it (slow in the kernel); traffic must follow the policy at every step.
func TestRevokedElements(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01")
	l.Serve("app-01", 8080)
	e := enforcerFor(l, "app-01")
	webNet := func(ports ...uint16) Permit {
		return Permit{netip.MustParsePrefix("10.99.0.0/24"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: ports[0], Last: ports[len(ports)-1]}}}
	}
	steps := []struct {
		name    string
		rs      *Ruleset
		full    bool
		passes  bool
		revoked int
	}{
		{"first apply", Build(bigPolicy(1000, false, webNet(8080))), true, true, 0},
		{"allow removed: revoked", Build(bigPolicy(1000, false)), false, false, 1},
		{"allow back: revived", Build(bigPolicy(1000, false, webNet(8080))), false, true, 0},
		{"removed again", Build(bigPolicy(1000, false)), false, false, 1},
		{"widened over a revoked element: whole table", Build(bigPolicy(1000, false, webNet(8080, 8081))), true, true, 0},
	}
	for _, st := range steps {
		stats, err := e.Apply(st.rs)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if stats.Full != st.full {
			t.Errorf("%s: whole table = %v, want %v", st.name, stats.Full, st.full)
		}
		back, err := e.Observe()
		if err != nil {
			t.Fatal(err)
		}
		if plan := planText("app-01", st.rs, back); !strings.HasPrefix(plan, "target app-01: 0 to add, 0 to change, 0 to remove") {
			t.Errorf("%s: read back differs:\n%s", st.name, plan)
		}
		revoked := 0
		for _, s := range back.Sets {
			if strings.HasSuffix(s.Spec.Name, revokedSuffix) {
				revoked += len(s.Elements)
			}
		}
		if revoked != st.revoked {
			t.Errorf("%s: %d revoked elements, want %d", st.name, revoked, st.revoked)
		}
		if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); (err == nil) != st.passes {
			t.Errorf("%s: web -> app passes = %v, want %v", st.name, err == nil, st.passes)
		}
	}
}

// enforcerFor returns an enforcer for host's namespace, closed when the test ends.
func enforcerFor(l *netlab.Lab, host string) *Enforcer {
	e := NewEnforcer(l.Hosts[host].NS)
	l.T.Cleanup(func() { e.Close() })
	return e
}

// TestFailedApplyChangesNothing: when the kernel refuses a transaction (here two
// overlapping interval elements, which it rejects), the ruleset before stays whole.
func TestFailedApplyChangesNothing(t *testing.T) {
	l := netlab.New(t, "h")
	e := enforcerFor(l, "h")
	good := Build(bigPolicy(100, false))
	if _, err := e.Apply(good); err != nil {
		t.Fatal(err)
	}
	bad := Build(bigPolicy(50, true)) // another structure: a whole-table write
	bad.Chains[0].Policy = "accept"
	for _, s := range bad.Sets {
		if s.Spec.Name == "in4_range" {
			spec := s.Spec
			s.Elements = append(s.Elements,
				newElement(spec, netip.MustParsePrefix("10.0.0.0/8"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 1, Last: 100}}),
				newElement(spec, netip.MustParsePrefix("10.1.0.0/16"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 50, Last: 60}}))
		}
	}
	if _, err := e.Apply(bad); err == nil {
		t.Fatal("the kernel accepted overlapping interval elements")
	}
	back, err := e.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if plan := planText("h", good, back); !strings.HasPrefix(plan, "target h: 0 to add, 0 to change, 0 to remove") {
		t.Errorf("a failed apply changed the ruleset:\n%s", plan)
	}
	// And the enforcer still works afterwards.
	if _, err := e.Apply(Build(bigPolicy(200, false))); err != nil {
		t.Errorf("apply after a failed one: %v", err)
	}
}
