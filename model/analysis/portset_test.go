package analysis_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func TestPortSetOperations(t *testing.T) {
	set := func(specs ...string) analysis.PortSet { return analysis.NewPortSet(ports(t, specs...)...) }
	tests := []struct {
		name string
		got  analysis.PortSet
		want string
	}{
		{"empty", set(), "none"},
		{"adjacent ranges merge", set("tcp/81", "tcp/80", "tcp/82-90"), "tcp/80-90"},
		{"protocols stay apart", set("udp/53", "tcp/53"), "tcp/53, udp/53"},
		{"whole protocol however spelled", set("tcp/1-65535"), "tcp"},
		{"all absorbs the rest", set("tcp/443", "all"), "all"},
		{"union", set("tcp/443").Union(set("tcp/444")), "tcp/443-444"},
		{"subtract splits", set("tcp/1-10").Subtract(set("tcp/5")), "tcp/1-4, tcp/6-10"},
		{"subtract a widened allow", set("tcp/443-444").Subtract(set("tcp/443")), "tcp/444"},
		{"subtract other protocol", set("tcp/443").Subtract(set("udp/443")), "tcp/443"},
		{"subtract from all", set("all").Subtract(set("tcp/443", "udp")), "all except tcp/443, udp"},
		{"subtract all", set("tcp/443").Subtract(set("all")), "none"},
		{"holey minus holey", set("all").Subtract(set("tcp/1-10")).Subtract(set("all").Subtract(set("tcp/1-100"))), "tcp/11-100"},
		{"union fills a hole", set("all").Subtract(set("tcp/443")).Union(set("tcp/443")), "all"},
		{"intersect", set("tcp/1-100", "udp/53").Intersect(set("tcp/50-200")), "tcp/50-100"},
		{"intersect with all except", set("tcp/1-100").Intersect(set("all").Subtract(set("tcp/50"))), "tcp/1-49, tcp/51-100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPortSetCovers(t *testing.T) {
	allButHTTPS := analysis.AllPorts().Subtract(analysis.NewPortSet(port(t, "tcp/443")))
	tests := []struct {
		name string
		set  analysis.PortSet
		port string
		want bool
	}{
		{"inside a range", analysis.NewPortSet(ports(t, "tcp/400-500")...), "tcp/443", true},
		{"across two ranges that touch", analysis.NewPortSet(ports(t, "tcp/400-443", "tcp/444-500")...), "tcp/440-450", true},
		{"other protocol", analysis.NewPortSet(ports(t, "udp/443")...), "tcp/443", false},
		{"all covers tcp", analysis.AllPorts(), "tcp/443", true},
		{"all covers all", analysis.AllPorts(), "all", true},
		{"every named protocol is not all", analysis.NewPortSet(ports(t, "tcp", "udp", "icmp", "icmpv6", "sctp")...), "all", false},
		{"all except: the hole", allButHTTPS, "tcp/443", false},
		{"all except: beside the hole", allButHTTPS, "tcp/444", true},
		{"all except: other protocol", allButHTTPS, "udp/53", true},
		{"all except is not all", allButHTTPS, "all", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.set.Covers(port(t, tt.port)); got != tt.want {
				t.Errorf("%s covers %s = %v, want %v", tt.set, tt.port, got, tt.want)
			}
		})
	}
}

// TestPortSetAlgebra checks Union, Subtract and Intersect against membership of
// single flows, over random sets that include "all" and its holey results. The
// probes include protocols no set names, which only "all" covers.
func TestPortSetAlgebra(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	protocols := []model.Protocol{model.ProtocolTCP, model.ProtocolUDP, model.ProtocolICMP}
	var probes []model.ServicePort
	for _, proto := range protocols {
		for p := uint16(1); p <= 24; p++ {
			probes = append(probes, model.ServicePort{Protocol: proto, Ports: model.PortRange{First: p, Last: p}})
		}
	}
	probes = append(probes, model.ServicePort{Protocol: 47}) // GRE: only "all" names it
	random := func() analysis.PortSet {
		if rng.IntN(8) == 0 {
			return analysis.AllPorts()
		}
		var ps []model.ServicePort
		for range rng.IntN(4) {
			first := uint16(1 + rng.IntN(20))
			ps = append(ps, model.ServicePort{Protocol: protocols[rng.IntN(len(protocols))],
				Ports: model.PortRange{First: first, Last: first + uint16(rng.IntN(5))}})
		}
		return analysis.NewPortSet(ps...)
	}
	pool := []analysis.PortSet{analysis.AllPorts(), {}}
	for range 40 {
		pool = append(pool, random())
	}
	ops := []struct {
		name string
		op   func(a, b analysis.PortSet) analysis.PortSet
		want func(a, b bool) bool
	}{
		{"union", analysis.PortSet.Union, func(a, b bool) bool { return a || b }},
		{"subtract", analysis.PortSet.Subtract, func(a, b bool) bool { return a && !b }},
		{"intersect", analysis.PortSet.Intersect, func(a, b bool) bool { return a && b }},
	}
	for round := range 3000 {
		a, b := pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]
		o := ops[round%len(ops)]
		got := o.op(a, b)
		for _, q := range probes {
			if want := o.want(a.Covers(q), b.Covers(q)); got.Covers(q) != want {
				t.Fatalf("(%s) %s (%s) = %s: covers %s = %v, want %v", a, o.name, b, got, q, !want, want)
			}
		}
		// The canonical form makes equal sets equal, whatever built them.
		if o.name == "union" && !got.Equal(b.Union(a)) {
			t.Fatalf("union not commutative: %s vs %s", got, b.Union(a))
		}
		if len(pool) < 400 {
			pool = append(pool, got)
		}
	}
}
