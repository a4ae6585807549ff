package discover

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/microseg/microseg/model"
)

// benchRecords makes n records of a data centre of 2,000 addresses on 20 /24s: each
// connection from an ephemeral port to one of a few services, logged with its reply.
func benchRecords(n int) []model.FlowRecord {
	rng := rand.New(rand.NewPCG(7, 8))
	ports := []uint16{443, 5432, 6379, 9000, 53, 8080}
	out := make([]model.FlowRecord, 0, n)
	for len(out) < n {
		c := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(20)), byte(1 + rng.IntN(100))})
		s := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(20)), byte(1 + rng.IntN(100))})
		port := ports[rng.IntN(len(ports))]
		eph := uint16(32768 + rng.IntN(28000))
		proto := model.ProtocolTCP
		if port == 53 {
			proto = model.ProtocolUDP
		}
		out = append(out,
			model.FlowRecord{Src: c, Dst: s, SrcPort: eph, DstPort: port, Protocol: proto, Bytes: 500, Packets: 5, Target: "prod"},
			model.FlowRecord{Src: s, Dst: c, SrcPort: port, DstPort: eph, Protocol: proto, Bytes: 9000, Packets: 8, Target: "prod"})
	}
	return out
}

// BenchmarkAdd measures the streaming half: run it with -benchtime=3000000x for a few
// million records.
func BenchmarkAdd(b *testing.B) {
	records := benchRecords(1 << 20)
	d := New(Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		d.Add(&records[i%len(records)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	st := d.Stats()
	b.ReportMetric(float64(st.Edges), "edges")
}

// BenchmarkPropose10k measures Propose on 10,000 addresses in 100 /24s of 10
// roles: every subnet of a role talks alike, so subnets merge role by role; addresses
// also talk to the public internet and to DNS.
func BenchmarkPropose10k(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	d := New(Options{})
	addr := func(subnet, host int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(subnet / 256), byte(subnet % 256), byte(1 + host)})
	}
	dns := netip.MustParseAddr("10.255.0.2")
	for subnet := range 100 {
		role := subnet % 10
		for host := range 100 {
			c := addr(subnet, host)
			for k := range 3 { // three services of the next role
				s := addr((role+1)%10+10*rng.IntN(10), rng.IntN(100))
				r := model.FlowRecord{Src: c, Dst: s, SrcPort: uint16(40000 + k), DstPort: uint16(9000 + role), Protocol: model.ProtocolTCP}
				d.Add(&r)
			}
			r := model.FlowRecord{Src: c, Dst: dns, SrcPort: 50000, DstPort: 53, Protocol: model.ProtocolUDP}
			d.Add(&r)
			if role == 0 {
				r = model.FlowRecord{Src: netip.AddrFrom4([4]byte{198, 51, 100, byte(host)}), Dst: c, SrcPort: 50000, DstPort: 443, Protocol: model.ProtocolTCP}
				d.Add(&r)
			}
		}
	}
	if n := d.Stats().Addresses; n < 10_000 {
		b.Fatalf("%d addresses", n)
	}
	b.ReportAllocs()
	var p *Proposal
	for b.Loop() {
		p = d.Propose()
	}
	b.ReportMetric(float64(len(p.Segments)), "segments")
	b.ReportMetric(float64(len(p.Allows)), "allows")
}

// BenchmarkPropose10kUnlike is the hard case for merging: 10,000 addresses, each its
// own group (/32 subnets), each talking to four random services of 200 servers, so
// that profiles overlap in part and few are identical.
func BenchmarkPropose10kUnlike(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	d := New(Options{IPv4Prefix: 32, Similarity: 0.6})
	for i := range 10_000 {
		c := netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)})
		for k := range 4 {
			s := netip.AddrFrom4([4]byte{10, 2, 0, byte(rng.IntN(200))})
			r := model.FlowRecord{Src: c, Dst: s, SrcPort: uint16(40000 + k), DstPort: uint16(9000 + rng.IntN(3)), Protocol: model.ProtocolTCP}
			d.Add(&r)
		}
	}
	b.ReportAllocs()
	var p *Proposal
	for b.Loop() {
		p = d.Propose()
	}
	b.ReportMetric(float64(len(p.Segments)), "segments")
	b.ReportMetric(float64(len(p.Allows)), "allows")
}
