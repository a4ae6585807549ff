package analysis_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func TestLintCleanPolicy(t *testing.T) {
	if got := analysis.Lint(threeTier(t), analysis.LintOptions{Now: lintNow}); len(got) != 0 {
		t.Errorf("Lint of the clean three-tier policy found %d problems:\n%v", len(got), got)
	}
}

// lintCases craft one policy per rule (or per facet of a rule), each with the exact
// findings expected. TestLintRulesCovered checks that every rule has a case.
func lintCases(t *testing.T) []struct {
	name string
	edit func(p *model.Policy)
	opts analysis.LintOptions
	want []analysis.Finding
} {
	peers := func(refs ...model.PeerRef) []model.PeerRef { return refs }
	warning := func(rule, msg string, line int) analysis.Finding {
		return analysis.Finding{Rule: rule, Severity: analysis.SeverityWarning, Message: msg, Pos: at(line)}
	}
	errorAt := func(rule, msg string, line int) analysis.Finding {
		return analysis.Finding{Rule: rule, Severity: analysis.SeverityError, Message: msg, Pos: at(line)}
	}
	info := func(rule, msg string, line int) analysis.Finding {
		return analysis.Finding{Rule: rule, Severity: analysis.SeverityInfo, Message: msg, Pos: at(line)}
	}
	return []struct {
		name string
		edit func(p *model.Policy)
		opts analysis.LintOptions
		want []analysis.Finding
	}{
		{
			name: "duplicate allow",
			edit: func(p *model.Policy) {
				// Same flows, different spelling: peers listed twice, a service named twice.
				addAllow(p, "web-to-app-copy", 60, peers(segment("web"), segment("web")), peers(segment("app")), "app", "app")
			},
			want: []analysis.Finding{
				warning("duplicate-allow", `allow "web-to-app-copy" permits exactly the same flows as allow "web-to-app"`, 60),
			},
		},
		{
			name: "shadowed by a wider allow",
			edit: func(p *model.Policy) {
				addService(t, p, "app-range", 16, "tcp/8000-8100")
				addAllow(p, "web-to-app-wide", 60, peers(segment("web")), peers(segment("app")), "app-range")
			},
			want: []analysis.Finding{
				info("overlapping-services", `services "app" and "app-range" share tcp/8080`, 16),
				warning("shadowed-allow", `allow "web-to-app" is shadowed: every flow it permits is also permitted by allow "web-to-app-wide"`, 50),
			},
		},
		{
			name: "shadowed by several allows together, and not by other peers",
			edit: func(p *model.Policy) {
				addService(t, p, "app-admin", 16, "tcp/8081")
				addService(t, p, "app-both", 17, "tcp/8080-8081")
				addAllow(p, "web-to-app-admin", 60, peers(segment("web")), peers(segment("app")), "app-admin")
				addAllow(p, "web-to-app-both", 62, peers(segment("web")), peers(segment("app")), "app-both")
				// lb-to-app is not covered on lb -> app: it is no shadow.
				addAllow(p, "lb-web-to-app", 64, peers(segment("lb"), segment("web")), peers(segment("app")), "app")
			},
			want: []analysis.Finding{
				info("overlapping-services", `services "app" and "app-both" share tcp/8080`, 17),
				info("overlapping-services", `services "app-admin" and "app-both" share tcp/8081`, 17),
				// The cover names the fewest allows it needs, not every one that overlaps.
				warning("shadowed-allow", `allow "web-to-app" is shadowed: every flow it permits is also permitted by allow "web-to-app-both"`, 50),
				warning("shadowed-allow", `allow "web-to-app-admin" is shadowed: every flow it permits is also permitted by allow "web-to-app-both"`, 60),
				warning("shadowed-allow", `allow "web-to-app-both" is shadowed: every flow it permits is also permitted by allows "lb-web-to-app", "web-to-app-admin"`, 62),
			},
		},
		{
			name: "shadowed by all",
			edit: func(p *model.Policy) {
				addService(t, p, "any", 16, "all")
				addAllow(p, "app-to-db-debug", 60, peers(segment("app")), peers(segment("db")), "any")
			},
			want: []analysis.Finding{
				warning("shadowed-allow", `allow "app-to-db" is shadowed: every flow it permits is also permitted by allow "app-to-db-debug"`, 56),
			},
		},
		{
			name: "overlapping ports in one service",
			edit: func(p *model.Policy) { p.Services["http"].Ports = ports(t, "tcp/80-90", "tcp/85", "all") },
			want: []analysis.Finding{
				info("overlapping-services", `service "http" lists overlapping ports: tcp/80-90 and tcp/85; tcp/80-90 and all`, 13),
			},
		},
		{
			name: "internet to a PCI segment on a non-public port",
			edit: func(p *model.Policy) { p.Allows["internet-to-lb"].Services = []string{"https", "http"} },
			want: []analysis.Finding{
				errorAt("broad-source-pci", `allow "internet-to-lb" opens PCI segment.lb to network.internet (0.0.0.0/0, ::/0) on tcp/80; only tcp/443 may face the internet`, 38),
			},
		},
		{
			name: "PCI public ports are an option",
			edit: func(p *model.Policy) { p.Allows["internet-to-lb"].Services = []string{"https", "http"} },
			opts: analysis.LintOptions{PCIPublicPorts: ports(t, "tcp/80", "tcp/443")},
		},
		{
			name: "a wide prefix is internet-wide too",
			edit: func(p *model.Policy) {
				p.Networks["internet"].CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("64.0.0.0/2")}
				addAllow(p, "internet-to-app", 60, peers(network("internet")), peers(segment("app"), segment("lb")), "app")
			},
			want: []analysis.Finding{
				errorAt("broad-source-pci", `allow "internet-to-app" opens PCI segment.lb to network.internet (64.0.0.0/2) on tcp/8080; only tcp/443 may face the internet`, 60),
			},
		},
		{
			name: "internet on every protocol or a wide range",
			edit: func(p *model.Policy) {
				addService(t, p, "any", 16, "all")
				addService(t, p, "high", 17, "tcp/1024-65535", "udp/5000-5016", "udp/6000-6015", "icmp")
				addAllow(p, "internet-to-web", 60, peers(network("internet")), peers(segment("web")), "any")
				addAllow(p, "internet-to-app", 62, peers(network("internet")), peers(segment("app"), segment("db")), "high")
			},
			want: []analysis.Finding{
				info("overlapping-services", `services "high" and "postgres" share tcp/5432`, 15),
				info("overlapping-services", `services "app" and "high" share tcp/8080`, 17),
				warning("broad-source", `allow "internet-to-web" opens segment.web to network.internet (0.0.0.0/0, ::/0) on every protocol and port`, 60),
				warning("broad-source", `allow "internet-to-app" opens segment.app, segment.db to network.internet (0.0.0.0/0, ::/0) on tcp/1024-65535 (64512 ports), udp/5000-5016 (17 ports)`, 62),
			},
		},
		{
			name: "expired and expiring",
			edit: func(p *model.Policy) {
				a := p.Allows["app-to-db"]
				a.Expires = time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
				a.Owner, a.Ticket = "team-payments", "SEC-142"
				p.Allows["web-to-app"].Expires = time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)
				p.Allows["lb-to-web"].Expires = lintNow // today: still valid
				p.Allows["lb-to-web"].Owner = "team-edge"
				p.Allows["internet-to-lb"].Expires = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC) // beyond 30 days
			},
			want: []analysis.Finding{
				warning("expiring-allow", `allow "lb-to-web" expires on 2026-03-01, today (owner team-edge)`, 44),
				warning("expiring-allow", `allow "web-to-app" expires on 2026-03-13, in 12 days`, 50),
				errorAt("expired-allow", `allow "app-to-db" expired on 2026-01-31 (owner team-payments, ticket SEC-142)`, 56),
			},
		},
		{
			name: "expiry window is an option",
			edit: func(p *model.Policy) {
				p.Allows["web-to-app"].Expires = time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)
			},
			opts: analysis.LintOptions{ExpiryWindow: 7 * 24 * time.Hour},
		},
		{
			name: "unused objects",
			edit: func(p *model.Policy) {
				addSegment(p, "batch", "prod", 34, nil)
				addSegment(p, "legacy", "dc1", 35, nil).Mode = model.ModeAudit
				addService(t, p, "ssh", 16, "tcp/22")
				p.Networks["partners"] = &model.Network{Name: "partners", CIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Pos: at(11)}
			},
			want: []analysis.Finding{
				warning("unused-network", `network "partners" is named by no allow`, 11),
				warning("unused-service", `service "ssh" is named by no allow`, 16),
				warning("unused-segment", `segment "batch" is named by no allow: its members, enforced, will send and receive nothing`, 34),
				warning("unused-segment", `segment "legacy" is named by no allow: in audit mode every flow of its members is logged as would-drop, and once enforced they will send and receive nothing`, 35),
			},
		},
	}
}

func TestLint(t *testing.T) {
	for _, tt := range lintCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			p := threeTier(t)
			tt.edit(p)
			opts := tt.opts
			opts.Now = lintNow
			got := analysis.Lint(p, opts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLintRulesCovered(t *testing.T) {
	fired := make(map[string]bool)
	for _, tt := range lintCases(t) {
		for _, f := range tt.want {
			fired[f.Rule] = true
		}
	}
	seen := make(map[string]bool)
	for _, r := range analysis.Rules {
		if seen[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		seen[r.ID] = true
		if !fired[r.ID] {
			t.Errorf("rule %s has no test case that fires it", r.ID)
		}
		if r.Description == "" {
			t.Errorf("rule %s has no description", r.ID)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, s := range []analysis.Severity{analysis.SeverityInfo, analysis.SeverityWarning, analysis.SeverityError} {
		got, err := analysis.ParseSeverity(s.String())
		if err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", s, got, err, s)
		}
	}
	if got, err := analysis.ParseSeverity("Warn"); err != nil || got != analysis.SeverityWarning {
		t.Errorf(`ParseSeverity("Warn") = %v, %v`, got, err)
	}
	if _, err := analysis.ParseSeverity("fatal"); err == nil {
		t.Error(`ParseSeverity("fatal") succeeded`)
	}
	if !(analysis.SeverityInfo < analysis.SeverityWarning && analysis.SeverityWarning < analysis.SeverityError) {
		t.Error("severities are out of order")
	}
}

// generatedPolicy builds a policy of the given size in code: segments in ten targets,
// fifty services of one to three ports, and allows between pseudo-random segments,
// with a share of wide allows so that shadowing and duplicates are common.
func generatedPolicy(tb testing.TB, segments, allows int) *model.Policy {
	p := model.NewPolicy()
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		p.Targets[name] = &model.Target{Kind: model.KindAWS, Name: name, AWS: &model.AWSTarget{}}
	}
	for i := range segments {
		name := fmt.Sprintf("s%04d", i)
		p.Segments[name] = &model.Segment{Name: name, Target: fmt.Sprintf("t%d", i%10),
			CIDRs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i / 256), byte(i % 256), 0}), 24)},
			Pos:   model.Pos{File: "segments.hcl", Line: i + 1, Column: 1}}
	}
	services := make([]string, 50)
	for i := range services {
		services[i] = fmt.Sprintf("svc%02d", i)
		var specs []string
		for j := range 1 + i%3 {
			specs = append(specs, fmt.Sprintf("tcp/%d", 8000+i*10+j))
		}
		if i%10 == 9 {
			specs = []string{fmt.Sprintf("tcp/%d-%d", 8000+(i-9)*10, 8000+i*10+2)} // covers the nine before
		}
		p.Services[services[i]] = &model.Service{Name: services[i], Ports: ports(tb, specs...)}
	}
	for i := range allows {
		name := fmt.Sprintf("a%06d", i)
		from := model.PeerRef{Name: fmt.Sprintf("s%04d", (i*7)%segments)}
		to := model.PeerRef{Name: fmt.Sprintf("s%04d", (i*13+1)%segments)}
		p.Allows[name] = &model.Allow{Name: name, From: []model.PeerRef{from}, To: []model.PeerRef{to},
			Services: []string{services[i%len(services)], services[(i/7)%len(services)]},
			Pos:      model.Pos{File: "allows.hcl", Line: i + 1, Column: 1}}
	}
	return p
}

func BenchmarkLint(b *testing.B) {
	p := generatedPolicy(b, 1000, 10000)
	opts := analysis.LintOptions{Now: lintNow}
	b.ResetTimer()
	var findings []analysis.Finding
	for b.Loop() {
		findings = analysis.Lint(p, opts)
	}
	shadowed := 0
	for _, f := range findings {
		if f.Rule == "shadowed-allow" {
			shadowed++
		}
	}
	b.ReportMetric(float64(shadowed), "shadowed")
}

// TestLintRedundancyMatchesBruteForce compares duplicate-allow and shadowed-allow on
// random small policies with the definition computed the slow way: an allow is a
// duplicate when an allow earlier by name has the same flows, and shadowed when, on
// each of its pairs, the other non-duplicate allows together cover its ports.
func TestLintRedundancyMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]int{}
	for round := range 300 {
		p := model.NewPolicy()
		peers := []model.PeerRef{segment("a"), segment("b"), segment("c"), network("n")}
		for _, ref := range peers {
			if ref.Kind == model.PeerSegment {
				addSegment(p, ref.Name, "t", 1, nil)
			}
		}
		p.Networks["n"] = &model.Network{Name: "n"}
		for i := range 6 {
			var specs []string
			for range 1 + rng.IntN(2) {
				switch first := 1 + rng.IntN(12); rng.IntN(8) {
				case 0:
					specs = append(specs, "all")
				case 1:
					specs = append(specs, fmt.Sprintf("udp/%d", first))
				default:
					specs = append(specs, fmt.Sprintf("tcp/%d-%d", first, first+rng.IntN(4)))
				}
			}
			addService(t, p, fmt.Sprintf("s%d", i), 1, specs...)
		}
		pick := func() []model.PeerRef {
			out := []model.PeerRef{peers[rng.IntN(len(peers))]}
			if rng.IntN(3) == 0 {
				out = append(out, peers[rng.IntN(len(peers))])
			}
			return out
		}
		for i := range 12 {
			addAllow(p, fmt.Sprintf("x%02d", i), i+1, pick(), pick(), fmt.Sprintf("s%d", rng.IntN(6)), fmt.Sprintf("s%d", rng.IntN(6)))
		}

		type flows struct {
			ports analysis.PortSet
			pairs map[[2]model.PeerRef]bool
		}
		of := make(map[string]flows)
		var names []string
		for _, name := range model.SortedKeys(p.Allows) {
			a := p.Allows[name]
			var ps []model.ServicePort
			for _, s := range a.Services {
				ps = append(ps, p.Services[s].Ports...)
			}
			f := flows{analysis.NewPortSet(ps...), map[[2]model.PeerRef]bool{}}
			for _, from := range a.From {
				for _, to := range a.To {
					if from.Kind == model.PeerSegment || to.Kind == model.PeerSegment {
						f.pairs[[2]model.PeerRef{from, to}] = true
					}
				}
			}
			if len(f.pairs) > 0 {
				of[name] = f
				names = append(names, name)
			}
		}
		want := map[string]string{}
		var reps []string
		for _, name := range names {
			dup := false
			for _, r := range reps {
				if of[r].ports.Equal(of[name].ports) && cmp.Equal(of[r].pairs, of[name].pairs) {
					dup = true
				}
			}
			if dup {
				want[name] = "duplicate-allow"
			} else {
				reps = append(reps, name)
			}
		}
		for _, name := range reps {
			shadowed := true
			for pr := range of[name].pairs {
				var others analysis.PortSet
				for _, r := range reps {
					if r != name && of[r].pairs[pr] {
						others = others.Union(of[r].ports)
					}
				}
				shadowed = shadowed && others.Contains(of[name].ports)
			}
			if shadowed {
				want[name] = "shadowed-allow"
			}
		}

		got := map[string]string{}
		for _, f := range analysis.Lint(p, analysis.LintOptions{Now: lintNow}) {
			if f.Rule == "duplicate-allow" || f.Rule == "shadowed-allow" {
				name, _, _ := strings.Cut(strings.TrimPrefix(f.Message, `allow "`), `"`)
				got[name] = f.Rule
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: redundant allows (-brute force +Lint):\n%s", round, diff)
		}
		for _, rule := range got {
			seen[rule]++
		}
	}
	// Guard against a generator that never produces the cases under test.
	if seen["duplicate-allow"] < 20 || seen["shadowed-allow"] < 20 {
		t.Errorf("random policies produced too few findings to test anything: %v", seen)
	}
	t.Logf("findings checked: %v", seen)
}
