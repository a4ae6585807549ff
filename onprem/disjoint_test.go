package onprem

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/microseg/microseg/model"
)

// TestDisjointCoversTheSame checks on random boxes that disjoint covers exactly the
// same (address, port) points, with no two boxes overlapping.
func TestDisjointCoversTheSame(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	addr := func(n int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(n)}) }
	for range 500 {
		var boxes []box
		for range 1 + r.IntN(8) {
			lo, hi := r.IntN(64), r.IntN(64)
			plo, phi := r.IntN(20), r.IntN(20)
			boxes = append(boxes, box{model.ProtocolTCP, addr(min(lo, hi)), addr(max(lo, hi)), uint16(min(plo, phi)), uint16(max(plo, phi))})
		}
		in := func(list []box, a, p int) int {
			n := 0
			for _, b := range list {
				if b.lo.Compare(addr(a)) <= 0 && addr(a).Compare(b.hi) <= 0 && int(b.plo) <= p && p <= int(b.phi) {
					n++
				}
			}
			return n
		}
		out := disjoint(append([]box(nil), boxes...))
		for a := range 64 {
			for p := range 20 {
				want, got := in(boxes, a, p) > 0, in(out, a, p)
				if got > 1 || (got == 1) != want {
					t.Fatalf("point (%d, %d): covered by %d output boxes, want covered=%v\nin:  %+v\nout: %+v", a, p, got, want, boxes, out)
				}
			}
		}
	}
}

// TestOverlappingPermitsBuildDisjointSets: the internet on tcp/443 and a /24 on
// tcp/443-444 become elements that do not overlap.
func TestOverlappingPermitsBuildDisjointSets(t *testing.T) {
	hp := bigPolicy(0, false,
		Permit{netip.MustParsePrefix("0.0.0.0/0"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}},
		Permit{netip.MustParsePrefix("10.1.2.0/24"), model.ServicePort{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 444}}},
	)
	var got []string
	for _, s := range Build(hp).Sets {
		if s.Spec.Name == "in4_range" {
			for _, e := range s.Elements {
				got = append(got, e.Text)
			}
		}
	}
	want := []string{
		"0.0.0.0-10.1.1.255 . tcp . 443",
		"10.1.2.0/24 . tcp . 443-444",
		"10.1.3.0-255.255.255.255 . tcp . 443",
	}
	if len(got) != len(want) {
		t.Fatalf("elements = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("elements = %q, want %q", got, want)
		}
	}
}
