package verdict_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/test/policygen"
)

// The tests of this file load policies the way the product does (HCL through the
// loader, or the benchmark generator), which model/verdict itself may not import.

func loadThreeTier(tb testing.TB) *model.Policy {
	tb.Helper()
	loaded, diags := hclload.LoadDir("../../examples/three-tier")
	if diags.HasErrors() {
		tb.Fatalf("load examples/three-tier: %s", diags.Error())
	}
	return loaded.Policy
}

var day = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// threeTierFlows is a morning of the example's traffic: each allow used, its replies,
// the batch job (audit mode) reaching where it should not, an attacker probing the
// database from the internet, and an outage.
func threeTierFlows() []model.FlowRecord {
	type f struct {
		min          int
		src, dst     string
		sport, dport uint16
		proto        model.Protocol
		action       model.FlowAction
	}
	tcp, udp := model.ProtocolTCP, model.ProtocolUDP
	accept, drop := model.FlowAccept, model.FlowDrop
	flows := []f{
		{0, "198.51.100.7", "10.10.0.10", 51000, 443, tcp, accept}, // internet -> lb
		{0, "10.10.0.10", "198.51.100.7", 443, 51000, tcp, accept}, // its reply
		{1, "2001:db8::7", "2600:1f18:10::10", 51001, 443, tcp, accept},
		{2, "10.10.0.10", "10.10.1.20", 40000, 443, tcp, accept},   // lb -> web
		{3, "10.10.1.20", "10.30.0.30", 40001, 8080, tcp, accept},  // web -> app
		{4, "10.30.0.30", "10.20.0.11", 40002, 5432, tcp, accept},  // app -> db
		{5, "10.30.0.30", "10.20.0.12", 40003, 5432, tcp, drop},    // app -> db, dropped: an outage
		{6, "10.40.0.5", "10.20.0.11", 40004, 5432, tcp, accept},   // batch -> db (expiring allow)
		{7, "10.40.0.5", "10.30.0.30", 40005, 8080, tcp, accept},   // batch -> app: denied, and app enforces
		{7, "10.40.0.5", "203.0.113.80", 40006, 443, tcp, accept},  // batch -> internet: audit mode
		{8, "10.10.1.20", "10.0.0.2", 53000, 53, udp, accept},      // web -> resolver
		{9, "198.51.100.66", "10.20.0.11", 60000, 5432, tcp, drop}, // probe, blocked
		{9, "198.51.100.66", "10.20.0.12", 60000, 22, tcp, accept}, // probe, let through: violation
		{10, "10.20.1.10", "10.10.1.20", 41000, 9100, tcp, accept}, // monitoring -> web
		{10, "fd00:20:1::10", "2600:1f18:11::20", 41001, 9100, tcp, accept},
		{11, "192.0.2.1", "192.0.2.2", 1, 2, tcp, accept}, // no segment: unknown
	}
	recs := make([]model.FlowRecord, len(flows))
	for i, x := range flows {
		recs[i] = model.FlowRecord{
			Time: day.Add(8*time.Hour + time.Duration(x.min)*time.Minute), Src: netip.MustParseAddr(x.src), Dst: netip.MustParseAddr(x.dst),
			SrcPort: x.sport, DstPort: x.dport, Protocol: x.proto, Action: x.action, Bytes: 1000, Packets: 10, Target: "prod-use1",
		}
	}
	return recs
}

func TestThreeTier(t *testing.T) {
	e := verdict.New(loadThreeTier(t))
	s := verdict.NewSummary(0)
	var out strings.Builder
	out.WriteString("# flows\n")
	for _, r := range threeTierFlows() {
		v := e.Classify(&r)
		s.Add(&r, v)
		fmt.Fprintf(&out, "%s:%d -> %s:%d %s %s => %s src=%s dst=%s allow=%q service=%q return=%t enforced=%t\n",
			r.Src, r.SrcPort, r.Dst, r.DstPort, r.Protocol, r.Action, v.Class, v.Src, v.Dst, v.Allow, v.Service, v.Return, v.Enforced)
	}
	out.WriteString("\n# rows\n")
	for _, r := range s.Rows() {
		fmt.Fprintf(&out, "%s %s %s %s -> %s %s/%d allow=%q service=%q flows=%d bytes=%d first=%s last=%s sample=%s->%s\n",
			r.Day.Format(time.DateOnly), r.Target, r.Class, r.Src, r.Dst, r.Protocol, r.Port, r.Allow, r.Service,
			r.Flows, r.Bytes, r.First.Format(time.TimeOnly), r.Last.Format(time.TimeOnly), r.SampleSrc, r.SampleDst)
	}
	out.WriteString("\n# totals\n")
	totals := s.Totals()
	for _, c := range verdict.Classes {
		fmt.Fprintf(&out, "%s %d\n", c, totals[c])
	}
	golden.Check(t, "three-tier.golden", []byte(out.String()))
}

// benchRecords makes n flows over a generated policy: half of them what an allow
// permits, a quarter their replies, a quarter random ports between random segments
// or from the internet, all within one day.
func benchRecords(p *model.Policy, n int) []model.FlowRecord {
	rng := rand.New(rand.NewPCG(11, 12))
	allows := model.SortedKeys(p.Allows)
	segs := model.SortedKeys(p.Segments)
	addrIn := func(ref model.PeerRef) netip.Addr {
		if ref.Kind == model.PeerNetwork {
			return netip.AddrFrom4([4]byte{byte(100 + rng.IntN(100)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		}
		b := p.Segments[ref.Name].CIDRs[0].Addr().As4()
		b[3] = byte(1 + rng.IntN(254))
		return netip.AddrFrom4(b)
	}
	recs := make([]model.FlowRecord, n)
	for i := range recs {
		r := &recs[i]
		r.Time = day.Add(time.Duration(rng.IntN(86400)) * time.Second)
		r.Target, r.Bytes, r.Packets, r.SrcPort = "t-aws", 1500, 3, uint16(32768+rng.IntN(28000))
		switch k := rng.IntN(4); {
		case k < 3:
			a := p.Allows[allows[rng.IntN(len(allows))]]
			svc := p.Services[a.Services[rng.IntN(len(a.Services))]]
			sp := svc.Ports[rng.IntN(len(svc.Ports))]
			r.Src, r.Dst = addrIn(a.From[rng.IntN(len(a.From))]), addrIn(a.To[rng.IntN(len(a.To))])
			r.Protocol, r.DstPort = sp.Protocol, sp.Ports.First+uint16(rng.IntN(sp.Ports.Size()))
			if k == 2 {
				r.Src, r.Dst, r.SrcPort, r.DstPort = r.Dst, r.Src, r.DstPort, r.SrcPort
			}
		default:
			r.Src = addrIn(model.PeerRef{Name: segs[rng.IntN(len(segs))]})
			if rng.IntN(4) == 0 {
				r.Src = addrIn(model.PeerRef{Kind: model.PeerNetwork})
			}
			r.Dst = addrIn(model.PeerRef{Name: segs[rng.IntN(len(segs))]})
			r.Protocol, r.DstPort = model.ProtocolTCP, uint16(1+rng.IntN(2000))
		}
		if rng.IntN(10) == 0 {
			r.Action = model.FlowDrop
		}
	}
	return recs
}

func benchPolicy(b *testing.B, name string) (*model.Policy, []model.FlowRecord) {
	var p *model.Policy
	switch name {
	case "three-tier":
		p = loadThreeTier(b)
		return p, threeTierFlows()
	case "1000-segments-10000-allows":
		p = policygen.Generate(policygen.Params{Segments: 1000, Allows: 10000, Seed: 1})
	case "10000-segments-100000-allows":
		p = policygen.Generate(policygen.Params{Segments: 10000, Allows: 100000, Seed: 1})
	}
	return p, benchRecords(p, 1<<14)
}

func BenchmarkClassify(b *testing.B) {
	for _, name := range []string{"three-tier", "1000-segments-10000-allows", "10000-segments-100000-allows"} {
		b.Run(name, func(b *testing.B) {
			p, recs := benchPolicy(b, name)
			e := verdict.New(p)
			b.ReportAllocs()
			b.ResetTimer()
			var allowed int
			for i := range b.N {
				if e.Classify(&recs[i%len(recs)]).Class == verdict.Allowed {
					allowed++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(allowed)/float64(b.N), "allowed/record")
		})
	}
}

// BenchmarkClassifier is BenchmarkClassify through a Classifier. The records are
// more varied than a flow log (random hosts, ports and source ports), so its caches
// hit less often than they do on real logs; BenchmarkClassifierRepeating shows them
// hitting.
func BenchmarkClassifier(b *testing.B) {
	for _, name := range []string{"three-tier", "1000-segments-10000-allows", "10000-segments-100000-allows"} {
		b.Run(name, func(b *testing.B) {
			p, recs := benchPolicy(b, name)
			c := verdict.New(p).NewClassifier()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c.Classify(&recs[i%len(recs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkClassifierRepeating classifies flows among 1,000 addresses on a few
// ports, the shape of a flow log, through an Engine and through a Classifier.
func BenchmarkClassifierRepeating(b *testing.B) {
	for _, name := range []string{"1000-segments-10000-allows", "10000-segments-100000-allows"} {
		p, recs := benchPolicy(b, name)
		// 1,000 hosts, each talking to a few others on a few ports.
		hosts := make([]netip.Addr, 1000)
		for i := range hosts {
			hosts[i] = recs[i].Src
		}
		for i := range recs {
			r := &recs[i]
			r.Src, r.Dst = hosts[i%len(hosts)], hosts[(i*7+3)%len(hosts)]
			r.DstPort = []uint16{443, 5432, 8080, 22, 53}[i%5]
		}
		e := verdict.New(p)
		b.Run(name+"/engine", func(b *testing.B) {
			for i := range b.N {
				e.Classify(&recs[i%len(recs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(name+"/classifier", func(b *testing.B) {
			c := e.NewClassifier()
			b.ReportAllocs()
			for i := range b.N {
				c.Classify(&recs[i%len(recs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		// The audit's inner loop on such flows: classify, then count.
		b.Run(name+"/classifier+summary", func(b *testing.B) {
			c, s := e.NewClassifier(), verdict.NewSummary(0)
			b.ReportAllocs()
			for i := range b.N {
				r := &recs[i%len(recs)]
				s.Add(r, c.Classify(r))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(s.Len()), "rows")
		})
	}
}

// BenchmarkClassifyAndSummarize is the audit's inner loop: verdict, then count.
func BenchmarkClassifyAndSummarize(b *testing.B) {
	for _, name := range []string{"three-tier", "1000-segments-10000-allows"} {
		b.Run(name, func(b *testing.B) {
			p, recs := benchPolicy(b, name)
			e := verdict.New(p)
			s := verdict.NewSummary(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				r := &recs[i%len(recs)]
				s.Add(r, e.Classify(r))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(s.Len()), "rows")
		})
	}
}

func BenchmarkNew(b *testing.B) {
	p := policygen.Generate(policygen.Params{Segments: 1000, Allows: 10000, Seed: 1})
	b.ReportAllocs()
	for range b.N {
		verdict.New(p)
	}
}

// BenchmarkSummaryAdd counts precomputed verdicts: the Summary's share of the loop.
func BenchmarkSummaryAdd(b *testing.B) {
	for _, name := range []string{"three-tier", "1000-segments-10000-allows"} {
		b.Run(name, func(b *testing.B) {
			p, recs := benchPolicy(b, name)
			e := verdict.New(p)
			verdicts := make([]verdict.Verdict, len(recs))
			for i := range recs {
				verdicts[i] = e.Classify(&recs[i])
			}
			s := verdict.NewSummary(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.Add(&recs[i%len(recs)], verdicts[i%len(recs)])
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
