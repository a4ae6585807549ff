package verdict

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/policygen"
)

// TestClassifierEvictions runs far more distinct addresses and pairs than a
// Classifier's tables hold through one, over the table policy, with addresses
// concentrated on its prefixes so that most land in peers: entries are overwritten
// all the time, and every verdict must still be the Engine's.
func TestClassifierEvictions(t *testing.T) {
	e := New(tablePolicy())
	c := e.NewClassifier()
	rng := rand.New(rand.NewPCG(5, 6))
	v4 := []netip.Prefix{pfx("10.10.1.0/24"), pfx("10.10.0.0/16"), pfx("10.30.0.0/24"), pfx("10.20.0.0/24"), pfx("10.0.0.0/8"), pfx("0.0.0.0/0")}
	addr := func() netip.Addr {
		if rng.IntN(8) == 0 {
			b := ip("2600:1f18:11::").As16()
			b[15], b[14] = byte(rng.IntN(256)), byte(rng.IntN(4))
			if rng.IntN(2) == 0 {
				b[0] = 0xfd
			}
			return netip.AddrFrom16(b)
		}
		p := v4[rng.IntN(len(v4))]
		b := p.Addr().As4()
		host := rng.Uint32() & (1<<(32-p.Bits()) - 1)
		for i := range 4 {
			b[3-i] |= byte(host >> (8 * i))
		}
		return netip.AddrFrom4(b)
	}
	protos := []model.Protocol{model.ProtocolTCP, model.ProtocolUDP, model.ProtocolICMP, model.ProtocolICMPv6}
	ports := []uint16{0, 8, 53, 128, 129, 443, 1024, 5432, 40000}
	for i := range 200_000 {
		r := model.FlowRecord{
			Src: addr(), Dst: addr(),
			Protocol: protos[rng.IntN(len(protos))],
			SrcPort:  ports[rng.IntN(len(ports))], DstPort: ports[rng.IntN(len(ports))],
			Action: model.FlowAction(rng.IntN(3)),
		}
		if got, want := c.Classify(&r), e.Classify(&r); got != want {
			t.Fatalf("record %d %+v: Classifier %+v, Engine %+v", i, r, got, want)
		}
	}
}

func TestClassifierDoesNotAllocate(t *testing.T) {
	c := New(tablePolicy()).NewClassifier()
	recs := []model.FlowRecord{
		{Src: ip("203.0.113.5"), Dst: ip("10.10.1.10"), SrcPort: 50000, DstPort: 443, Protocol: model.ProtocolTCP},
		{Src: ip("10.10.1.10"), Dst: ip("203.0.113.5"), SrcPort: 443, DstPort: 50000, Protocol: model.ProtocolTCP},
		{Src: ip("2001:db8::1"), Dst: ip("2600:1f18:11::5"), DstPort: 80, Protocol: model.ProtocolTCP},
		{Src: ip("192.0.2.1"), Dst: ip("192.0.2.2")},
		{},
	}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range recs {
			c.Classify(&recs[i])
		}
	})
	if allocs != 0 {
		t.Errorf("Classifier.Classify allocates %v times per run; want 0", allocs)
	}
}

// The buckets of a large IPv4 table narrow its search and must not change its
// answers: every interval's first address, the one before it, and random addresses
// resolve as a search over the whole table does.
func TestTable4Buckets(t *testing.T) {
	e := New(policygen.Generate(policygen.Params{Segments: 300, Allows: 100, Seed: 3}))
	if e.v4.bucket == nil {
		t.Fatalf("a table of %d intervals has no buckets", len(e.v4.starts))
	}
	whole := table4{starts: e.v4.starts, sets: e.v4.sets}
	check := func(a uint32) {
		if got, want := e.v4.lookup(a), whole.lookup(a); got != want {
			t.Fatalf("%08x: set %d with buckets, %d without", a, got, want)
		}
	}
	for _, s := range e.v4.starts {
		check(s)
		check(s - 1)
		check(s + 1)
	}
	check(0)
	check(^uint32(0))
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		check(rng.Uint32())
		check(0x0a000000 | rng.Uint32()&0xffffff) // 10/8, where the generator puts segments
	}
}

func TestClassifierSize(t *testing.T) {
	// The doc promises about 350 KiB; a change of the table sizes must say so.
	if size := unsafe.Sizeof(Classifier{}); size < 340<<10 || size > 360<<10 {
		t.Errorf("a Classifier is %d KiB; update its doc comment", size>>10)
	}
}
