package onprem

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	goldenfile "github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
)

// TestBuildGolden renders each lab host's ruleset in canonical form, without root.
func TestBuildGolden(t *testing.T) {
	state := labPolicy(t, "testdata/lab")
	var b strings.Builder
	for _, host := range []string{"app-01", "db-01", "web-01"} {
		hp, err := ForHost(state, host)
		if err != nil {
			t.Fatal(err)
		}
		model.Diff(host, Build(hp).Objects(), nil).Render(&b)
	}
	goldenfile.Check(t, "lab.objects.golden", []byte(b.String()))
}

func TestForHost(t *testing.T) {
	state := labPolicy(t, "testdata/lab")
	hp, err := ForHost(state, "app-01")
	if err != nil {
		t.Fatal(err)
	}
	var in, out []string
	for _, p := range hp.Ingress {
		in = append(in, p.Peer.String()+" "+p.Port.String())
	}
	for _, p := range hp.Egress {
		out = append(out, p.Peer.String()+" "+p.Port.String())
	}
	if got, want := strings.Join(in, ", "), "10.99.0.11/32 tcp/8080, fd99::11/128 tcp/8080"; got != want {
		t.Errorf("ingress = %s, want %s", got, want)
	}
	if got, want := strings.Join(out, ", "), "10.99.0.13/32 icmp/8, 10.99.0.13/32 tcp/5432, 10.99.0.13/32 udp/5514, fd99::13/128 tcp/5432, fd99::13/128 udp/5514, fd99::13/128 icmpv6/128"; got != want {
		t.Errorf("egress = %s\nwant %s", got, want)
	}
	if hp.Mode != model.ModeEnforce || hp.LogGroup != 42 || len(hp.Segments) != 1 {
		t.Errorf("policy = %+v", hp)
	}
	if _, err := ForHost(state, "db-99"); err == nil {
		t.Error("an unknown host has a policy")
	}
	state.Target.Hosts.ManagementCIDRs = nil
	if _, err := ForHost(state, "app-01"); err == nil || !strings.Contains(err.Error(), "lock out") {
		t.Errorf("without management CIDRs: %v", err)
	}
}

// TestElementsRoundTrip checks that every element reads back from its kernel bytes as
// the text it was written with, so that an applied set never looks drifted.
func TestElementsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ports := []string{"tcp/443", "udp/53", "tcp/8000-8100", "tcp", "sctp/2905", "icmp", "icmp/8", "icmpv6/128", "icmpv6", "all"}
	for range 2000 {
		v6 := r.IntN(2) == 1
		var addr netip.Addr
		if v6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			addr = netip.AddrFrom16(b)
		} else {
			addr = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		peer := netip.PrefixFrom(addr, r.IntN(addr.BitLen()+1)).Masked()
		port, _ := model.ParsePort(ports[r.IntN(len(ports))])
		if (port.Protocol == model.ProtocolICMP && v6) || (port.Protocol == model.ProtocolICMPv6 && !v6) {
			continue
		}
		p := Permit{peer, port}
		l := layoutOf(p)
		spec := SetSpec{Name: setName("in", v6, l), IPv6: v6, Layout: l}
		e := newElement(spec, peer, port)
		if got := decodeElement(spec, e.Key, e.KeyEnd); got != e.Text {
			t.Fatalf("%v %v in %s: wrote %q, reads back %q", peer, port, spec.Name, e.Text, got)
		}
	}
}
