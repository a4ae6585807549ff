package verdict

import (
	"net/netip"
	"testing"
	"time"

	"github.com/microseg/microseg/model"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func port(spec string) model.ServicePort {
	p, err := model.ParsePort(spec)
	if err != nil {
		panic(err)
	}
	return p
}

func seg(name string) model.PeerRef { return model.PeerRef{Kind: model.PeerSegment, Name: name} }
func net_(name string) model.PeerRef {
	return model.PeerRef{Kind: model.PeerNetwork, Name: name}
}

// tablePolicy has a case for every rule of the semantics: overlapping segments and
// networks, a hosts target whose members are known only by their host addresses,
// IPv6, ICMP, protocol "all", ties between allows and between services, audit and
// enforce modes, and an (invalid) allow between two networks.
func tablePolicy() *model.Policy {
	p := model.NewPolicy()
	p.Targets["aws"] = &model.Target{Kind: model.KindAWS, Name: "aws", AWS: &model.AWSTarget{}}
	p.Targets["dc1"] = &model.Target{Kind: model.KindHosts, Name: "dc1", Hosts: &model.HostsTarget{Hosts: map[string]*model.Host{
		"db-01":  {Name: "db-01", Addresses: []netip.Addr{ip("10.20.0.11")}},
		"db-02":  {Name: "db-02", Addresses: []netip.Addr{ip("10.20.0.12"), ip("fd00:20::12")}},
		"mon-01": {Name: "mon-01", Addresses: []netip.Addr{ip("10.99.0.5")}},
	}}}
	p.Segments["web"] = &model.Segment{Name: "web", Target: "aws", CIDRs: []netip.Prefix{pfx("10.10.1.0/24"), pfx("2600:1f18:11::/64")}}
	p.Segments["pci"] = &model.Segment{Name: "pci", Target: "aws", CIDRs: []netip.Prefix{pfx("10.10.0.0/16")}}
	p.Segments["app"] = &model.Segment{Name: "app", Target: "aws", CIDRs: []netip.Prefix{pfx("10.30.0.0/24")}, Mode: model.ModeAudit}
	p.Segments["db"] = &model.Segment{Name: "db", Target: "dc1", CIDRs: []netip.Prefix{pfx("10.20.0.0/24")}, Members: model.Members{Hosts: []string{"db-01", "db-02"}}}
	p.Segments["mon"] = &model.Segment{Name: "mon", Target: "dc1", Members: model.Members{Hosts: []string{"mon-01", "no-such-host"}}, Mode: model.ModeAudit}
	p.Segments["tagged"] = &model.Segment{Name: "tagged", Target: "aws", Members: model.Members{Tags: map[string]string{"a": "b"}}}
	p.Networks["internet"] = &model.Network{Name: "internet", CIDRs: []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}}
	p.Networks["corp"] = &model.Network{Name: "corp", CIDRs: []netip.Prefix{pfx("10.0.0.0/8")}}
	p.Networks["aaa"] = &model.Network{Name: "aaa", CIDRs: []netip.Prefix{pfx("10.0.0.0/8")}}
	p.Networks["resolvers"] = &model.Network{Name: "resolvers", CIDRs: []netip.Prefix{pfx("10.0.0.2/32")}}
	p.Networks["office"] = &model.Network{Name: "office", CIDRs: []netip.Prefix{pfx("10.10.2.0/24")}}
	for name, ports := range map[string][]string{
		"https":  {"tcp/443"},
		"pg":     {"tcp/5432"},
		"pg-alt": {"tcp/5432"},
		"ping":   {"icmp/8"},
		"ping6":  {"icmpv6/128"},
		"any":    {"all"},
		"dns":    {"udp/53", "tcp/53"},
		"high":   {"tcp/1024-65535"},
	} {
		s := &model.Service{Name: name}
		for _, spec := range ports {
			s.Ports = append(s.Ports, port(spec))
		}
		p.Services[name] = s
	}
	allow := func(name string, from, to []model.PeerRef, services ...string) {
		p.Allows[name] = &model.Allow{Name: name, From: from, To: to, Services: services}
	}
	allow("internet-to-web", []model.PeerRef{net_("internet")}, []model.PeerRef{seg("web")}, "https")
	allow("b-web-to-db", []model.PeerRef{seg("web")}, []model.PeerRef{seg("db")}, "pg")
	allow("a-web-to-db", []model.PeerRef{seg("web")}, []model.PeerRef{seg("db")}, "pg-alt", "pg", "missing-service")
	allow("web-pings-app", []model.PeerRef{seg("web")}, []model.PeerRef{seg("app")}, "ping")
	allow("web-pings-db6", []model.PeerRef{seg("web")}, []model.PeerRef{seg("db")}, "ping6")
	allow("mon-all", []model.PeerRef{seg("mon")}, []model.PeerRef{seg("db")}, "any")
	allow("dns", []model.PeerRef{seg("web"), seg("app")}, []model.PeerRef{net_("resolvers"), seg("nonexistent")}, "dns")
	allow("corp-to-internet", []model.PeerRef{net_("corp")}, []model.PeerRef{net_("internet")}, "any")
	allow("pci-to-app-high", []model.PeerRef{seg("pci")}, []model.PeerRef{seg("app")}, "high")
	allow("0-app-to-pci", []model.PeerRef{seg("app")}, []model.PeerRef{seg("pci")}, "pg")
	return p
}

func TestClassify(t *testing.T) {
	e := New(tablePolicy())
	const (
		web       = "segment.web"
		db        = "segment.db"
		app       = "segment.app"
		internet  = "network.internet"
		tcp       = model.ProtocolTCP
		accept    = model.FlowAccept
		drop      = model.FlowDrop
		wouldDrop = model.FlowWouldDrop
	)
	type rec struct {
		src, dst     string
		sport, dport uint16
		proto        model.Protocol
		action       model.FlowAction
	}
	tests := []struct {
		name string
		rec  rec
		want Verdict
	}{
		{"allowed", rec{"203.0.113.5", "10.10.1.10", 50000, 443, tcp, accept},
			Verdict{Class: Allowed, Allow: "internet-to-web", Service: "https", Src: internet, Dst: web, Enforced: true}},
		{"allowed but dropped is an outage", rec{"203.0.113.5", "10.10.1.10", 50000, 443, tcp, drop},
			Verdict{Class: WantedButBlocked, Allow: "internet-to-web", Service: "https", Src: internet, Dst: web, Enforced: true}},
		{"allowed and would-drop is allowed", rec{"203.0.113.5", "10.10.1.10", 50000, 443, tcp, wouldDrop},
			Verdict{Class: Allowed, Allow: "internet-to-web", Service: "https", Src: internet, Dst: web, Enforced: true}},
		{"denied and dropped", rec{"203.0.113.5", "10.10.1.10", 50000, 22, tcp, drop},
			Verdict{Class: Blocked, Src: internet, Dst: web, Enforced: true}},
		{"denied and accepted by an enforcing segment", rec{"203.0.113.5", "10.10.1.10", 50000, 22, tcp, accept},
			Verdict{Class: Violation, Src: internet, Dst: web, Enforced: true}},
		{"denied and would-drop", rec{"203.0.113.5", "10.10.1.10", 50000, 22, tcp, wouldDrop},
			Verdict{Class: WouldBlock, Src: internet, Dst: web, Enforced: true}},
		{"denied and accepted in audit mode", rec{"203.0.113.5", "10.30.0.5", 50000, 22, tcp, accept},
			Verdict{Class: WouldBlock, Src: internet, Dst: app}},
		{"denied between two audit segments, dropped", rec{"10.30.0.5", "10.99.0.5", 50000, 22, tcp, drop},
			Verdict{Class: Blocked, Src: app, Dst: "segment.mon"}},
		{"unknown: networks only", rec{"192.0.2.1", "198.51.100.1", 1234, 443, tcp, accept},
			Verdict{Class: Unknown, Src: internet, Dst: internet}},
		{"unknown whatever the action", rec{"192.0.2.1", "198.51.100.1", 1234, 443, tcp, drop},
			Verdict{Class: Unknown, Src: internet, Dst: internet}},
		{"unknown: an allow between networks enforces nothing", rec{"10.5.5.5", "203.0.113.9", 1234, 443, tcp, accept},
			Verdict{Class: Unknown, Src: "network.aaa", Dst: internet}},
		{"unknown: addresses in no peer at all", rec{"", "", 0, 0, tcp, accept},
			Verdict{Class: Unknown}},

		{"return traffic", rec{"10.10.1.10", "203.0.113.5", 443, 50000, tcp, accept},
			Verdict{Class: Allowed, Allow: "internet-to-web", Service: "https", Return: true, Src: web, Dst: internet, Enforced: true}},
		{"return traffic dropped", rec{"10.10.1.10", "203.0.113.5", 443, 50000, tcp, drop},
			Verdict{Class: WantedButBlocked, Allow: "internet-to-web", Service: "https", Return: true, Src: web, Dst: internet, Enforced: true}},
		{"not return traffic from the wrong port", rec{"10.10.1.10", "203.0.113.5", 444, 50000, tcp, accept},
			Verdict{Class: Violation, Src: web, Dst: internet, Enforced: true}},
		// pci -> app permits tcp/1024-65535 and app -> pci tcp/5432: a flow from pci
		// port 5432 to app port 40000 is allowed forward, so it is not return traffic.
		{"forward wins over return", rec{"10.10.3.3", "10.30.0.5", 5432, 40000, tcp, accept},
			Verdict{Class: Allowed, Allow: "pci-to-app-high", Service: "high", Src: "segment.pci", Dst: app, Enforced: true}},
		{"forward only when reverse also fits", rec{"10.30.0.5", "10.10.3.3", 40000, 5432, tcp, accept},
			Verdict{Class: Allowed, Allow: "0-app-to-pci", Service: "pg", Src: app, Dst: "segment.pci", Enforced: true}},

		{"icmp type allowed", rec{"10.10.1.10", "10.30.0.5", 0, 8, model.ProtocolICMP, accept},
			Verdict{Class: Allowed, Allow: "web-pings-app", Service: "ping", Src: web, Dst: app, Enforced: true}},
		{"icmp other type denied", rec{"10.10.1.10", "10.30.0.5", 0, 13, model.ProtocolICMP, accept},
			Verdict{Class: Violation, Src: web, Dst: app, Enforced: true}},
		{"icmp echo reply is return traffic", rec{"10.30.0.5", "10.10.1.10", 0, 0, model.ProtocolICMP, accept},
			Verdict{Class: Allowed, Allow: "web-pings-app", Service: "ping", Return: true, Src: app, Dst: web, Enforced: true}},
		{"icmp type is not a tcp port", rec{"10.10.1.10", "10.30.0.5", 0, 8, tcp, drop},
			Verdict{Class: Blocked, Src: web, Dst: app, Enforced: true}},
		{"icmpv6 to a host address of a hosts target", rec{"2600:1f18:11::5", "fd00:20::12", 0, 128, model.ProtocolICMPv6, accept},
			Verdict{Class: Allowed, Allow: "web-pings-db6", Service: "ping6", Src: web, Dst: db, Enforced: true}},
		{"icmpv6 echo reply is return traffic", rec{"fd00:20::12", "2600:1f18:11::5", 0, 129, model.ProtocolICMPv6, accept},
			Verdict{Class: Allowed, Allow: "web-pings-db6", Service: "ping6", Return: true, Src: db, Dst: web, Enforced: true}},

		{"protocol all permits udp", rec{"10.99.0.5", "10.20.0.11", 40000, 9999, model.ProtocolUDP, accept},
			Verdict{Class: Allowed, Allow: "mon-all", Service: "any", Src: "segment.mon", Dst: db, Enforced: true}},
		{"protocol all permits a protocol no service names", rec{"10.99.0.5", "10.20.0.11", 0, 0, 47, accept},
			Verdict{Class: Allowed, Allow: "mon-all", Service: "any", Src: "segment.mon", Dst: db, Enforced: true}},
		{"hosts-target address outside the segment's cidrs", rec{"10.99.0.5", "fd00:20::12", 1, 2, model.ProtocolUDP, accept},
			Verdict{Class: Allowed, Allow: "mon-all", Service: "any", Src: "segment.mon", Dst: db, Enforced: true}},
		{"a host the target does not declare is no address", rec{"10.99.0.6", "10.20.0.11", 1, 2, model.ProtocolUDP, accept},
			Verdict{Class: Violation, Src: "network.aaa", Dst: db, Enforced: true}},

		{"ipv6 allowed", rec{"2001:db8::1", "2600:1f18:11::5", 50000, 443, tcp, accept},
			Verdict{Class: Allowed, Allow: "internet-to-web", Service: "https", Src: internet, Dst: web, Enforced: true}},
		{"ipv6 denied", rec{"2001:db8::1", "2600:1f18:11::5", 50000, 80, tcp, accept},
			Verdict{Class: Violation, Src: internet, Dst: web, Enforced: true}},
		{"ipv4-mapped ipv6 is ipv4", rec{"::ffff:203.0.113.5", "::ffff:10.10.1.10", 50000, 443, tcp, accept},
			Verdict{Class: Allowed, Allow: "internet-to-web", Service: "https", Src: internet, Dst: web, Enforced: true}},

		{"longest network prefix", rec{"10.10.1.10", "10.0.0.2", 40000, 53, model.ProtocolUDP, accept},
			Verdict{Class: Allowed, Allow: "dns", Service: "dns", Src: web, Dst: "network.resolvers", Enforced: true}},
		{"equal network prefixes: first by name", rec{"10.10.1.10", "10.0.0.3", 40000, 53, model.ProtocolUDP, drop},
			Verdict{Class: Blocked, Src: web, Dst: "network.aaa", Enforced: true}},
		{"segment before a network with a longer prefix", rec{"10.10.2.1", "10.30.0.5", 1, 2000, tcp, accept},
			Verdict{Class: Allowed, Allow: "pci-to-app-high", Service: "high", Src: "segment.pci", Dst: app, Enforced: true}},
		{"longest segment prefix, and a containing segment's allow", rec{"10.10.1.10", "10.30.0.5", 1, 2000, tcp, accept},
			Verdict{Class: Allowed, Allow: "pci-to-app-high", Service: "high", Src: web, Dst: app, Enforced: true}},
		{"host address beats the segment's cidr of the same segment", rec{"10.10.1.10", "10.20.0.11", 40000, 5432, tcp, accept},
			Verdict{Class: Allowed, Allow: "a-web-to-db", Service: "pg", Src: web, Dst: db, Enforced: true}},
		{"first allow and service by name", rec{"10.10.1.10", "10.20.0.200", 40000, 5432, tcp, accept},
			Verdict{Class: Allowed, Allow: "a-web-to-db", Service: "pg", Src: web, Dst: db, Enforced: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := model.FlowRecord{SrcPort: tt.rec.sport, DstPort: tt.rec.dport, Protocol: tt.rec.proto, Action: tt.rec.action}
			if tt.rec.src != "" {
				r.Src, r.Dst = ip(tt.rec.src), ip(tt.rec.dst)
			}
			if got := e.Classify(&r); got != tt.want {
				t.Errorf("Classify(%+v)\n got %+v\nwant %+v", tt.rec, got, tt.want)
			}
		})
	}
}

func TestClassifyEmptyPolicies(t *testing.T) {
	r := model.FlowRecord{Src: ip("10.0.0.1"), Dst: ip("2001:db8::1"), DstPort: 443, Protocol: model.ProtocolTCP}
	for name, p := range map[string]*model.Policy{"nil": nil, "empty": model.NewPolicy()} {
		if got := New(p).Classify(&r); got != (Verdict{Class: Unknown}) {
			t.Errorf("%s policy: got %+v, want Unknown", name, got)
		}
	}
}

// A segment covering a whole family, and prefixes at both ends of the address space,
// exercise the edges of the interval tables.
func TestClassifyAddressSpaceEdges(t *testing.T) {
	p := model.NewPolicy()
	p.Segments["all4"] = &model.Segment{Name: "all4", CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}
	p.Segments["all6"] = &model.Segment{Name: "all6", CIDRs: []netip.Prefix{pfx("::/0")}}
	p.Segments["top"] = &model.Segment{Name: "top", CIDRs: []netip.Prefix{pfx("255.255.255.255/32"), pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")}}
	p.Segments["bottom"] = &model.Segment{Name: "bottom", CIDRs: []netip.Prefix{pfx("0.0.0.0/32"), pfx("::/128")}}
	p.Segments["mid6"] = &model.Segment{Name: "mid6", CIDRs: []netip.Prefix{pfx("8000::/1"), pfx("7fff:ffff:ffff:ffff::/64")}}
	e := New(p)
	for addr, want := range map[string]string{
		"0.0.0.0":         "segment.bottom",
		"0.0.0.1":         "segment.all4",
		"255.255.255.254": "segment.all4",
		"255.255.255.255": "segment.top",
		"::":              "segment.bottom",
		"::1":             "segment.all6",
		"7fff:ffff:ffff:fffe:ffff:ffff:ffff:ffff": "segment.all6",
		"7fff:ffff:ffff:ffff::":                   "segment.mid6",
		"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "segment.mid6",
		"8000::": "segment.mid6",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe": "segment.mid6",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff": "segment.top",
	} {
		r := model.FlowRecord{Src: ip(addr), Dst: ip(addr)}
		if got := e.Classify(&r); got.Src != want {
			t.Errorf("%s: got %q, want %q", addr, got.Src, want)
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	e := New(tablePolicy())
	recs := []model.FlowRecord{
		{Src: ip("203.0.113.5"), Dst: ip("10.10.1.10"), SrcPort: 50000, DstPort: 443, Protocol: model.ProtocolTCP},
		{Src: ip("10.10.1.10"), Dst: ip("203.0.113.5"), SrcPort: 443, DstPort: 50000, Protocol: model.ProtocolTCP},
		{Src: ip("2001:db8::1"), Dst: ip("2600:1f18:11::5"), DstPort: 80, Protocol: model.ProtocolTCP},
		{Src: ip("192.0.2.1"), Dst: ip("192.0.2.2"), Time: time.Unix(0, 0)},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range recs {
			e.Classify(&recs[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Classify allocates %v times per run; want 0", allocs)
	}
}

func TestClassifyConcurrently(t *testing.T) {
	e := New(tablePolicy())
	r := model.FlowRecord{Src: ip("203.0.113.5"), Dst: ip("10.10.1.10"), SrcPort: 50000, DstPort: 443, Protocol: model.ProtocolTCP}
	want := e.Classify(&r)
	done := make(chan Verdict)
	for range 4 {
		go func() {
			var v Verdict
			for range 1000 {
				v = e.Classify(&r)
			}
			done <- v
		}()
	}
	for range 4 {
		if got := <-done; got != want {
			t.Errorf("concurrent Classify: got %+v, want %+v", got, want)
		}
	}
}

func TestParseClassRoundTrips(t *testing.T) {
	for _, c := range Classes {
		got, err := ParseClass(c.String())
		if err != nil || got != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.String(), got, err)
		}
	}
	if _, err := ParseClass("allow"); err == nil {
		t.Error("ParseClass(\"allow\") succeeded")
	}
}
