package verdict

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/microseg/microseg/model"
)

// The engine is checked against a reference written as plainly as possible: straight
// loops over every allow, peer, prefix, service and port, the semantics of the
// package doc and nothing else.

type refHit struct {
	ref      model.PeerRef
	bits     int
	enforced bool
}

// refPeers lists every peer containing a, with its longest prefix containing it.
func refPeers(p *model.Policy, a netip.Addr) []refHit {
	a = a.Unmap()
	var hits []refHit
	for name, s := range p.Segments {
		bits := -1
		for _, c := range s.CIDRs {
			if c.Contains(a) {
				bits = max(bits, c.Bits())
			}
		}
		if t, ok := p.Targets[s.Target]; ok && t.Hosts != nil {
			for _, h := range s.Members.Hosts {
				if host, ok := t.Hosts.Hosts[h]; ok {
					for _, ha := range host.Addresses {
						if ha.Unmap() == a {
							bits = max(bits, a.BitLen())
						}
					}
				}
			}
		}
		if bits >= 0 {
			hits = append(hits, refHit{model.PeerRef{Kind: model.PeerSegment, Name: name}, bits, s.Mode == model.ModeEnforce})
		}
	}
	for name, n := range p.Networks {
		bits := -1
		for _, c := range n.CIDRs {
			if c.Contains(a) {
				bits = max(bits, c.Bits())
			}
		}
		if bits >= 0 {
			hits = append(hits, refHit{model.PeerRef{Kind: model.PeerNetwork, Name: name}, bits, false})
		}
	}
	return hits
}

func refBest(hits []refHit) string {
	var best *refHit
	for i := range hits {
		h := &hits[i]
		switch {
		case best == nil,
			h.ref.Kind == model.PeerSegment && best.ref.Kind == model.PeerNetwork,
			h.ref.Kind == best.ref.Kind && h.bits > best.bits,
			h.ref.Kind == best.ref.Kind && h.bits == best.bits && h.ref.Name < best.ref.Name:
			best = h
		}
	}
	if best == nil {
		return ""
	}
	return best.ref.String()
}

func refIn(hits []refHit, ref model.PeerRef) bool {
	for _, h := range hits {
		if h.ref == ref {
			return true
		}
	}
	return false
}

func refPortMatches(sp model.ServicePort, proto model.Protocol, port uint16) bool {
	return sp.Protocol == model.ProtocolAll || sp.Protocol == proto && sp.Ports.First <= port && port <= sp.Ports.Last
}

// refPermits returns the first allow by name, and its first service by name, that
// lets a peer of from reach a peer of to on port of proto.
func refPermits(p *model.Policy, from, to []refHit, proto model.Protocol, port uint16) (allow, service string, ok bool) {
	for _, name := range model.SortedKeys(p.Allows) {
		a := p.Allows[name]
		services := slices.Clone(a.Services)
		slices.Sort(services)
		for _, svcName := range services {
			svc, exists := p.Services[svcName]
			if !exists {
				continue
			}
			for _, f := range a.From {
				for _, t := range a.To {
					if f.Kind == model.PeerNetwork && t.Kind == model.PeerNetwork {
						continue
					}
					if !refIn(from, f) || !refIn(to, t) {
						continue
					}
					for _, sp := range svc.Ports {
						if refPortMatches(sp, proto, port) {
							return name, svcName, true
						}
					}
				}
			}
		}
	}
	return "", "", false
}

func reference(p *model.Policy, r *model.FlowRecord) Verdict {
	src, dst := refPeers(p, r.Src), refPeers(p, r.Dst)
	v := Verdict{Src: refBest(src), Dst: refBest(dst)}
	segments := false
	for _, h := range append(slices.Clone(src), dst...) {
		if h.ref.Kind == model.PeerSegment {
			segments = true
			v.Enforced = v.Enforced || h.enforced
		}
	}
	if !segments {
		return Verdict{Class: Unknown, Src: v.Src, Dst: v.Dst}
	}
	allow, service, ok := refPermits(p, src, dst, r.Protocol, r.DstPort)
	if !ok {
		back := r.SrcPort
		switch {
		case r.Protocol == model.ProtocolICMP && r.DstPort == 0:
			back = 8
		case r.Protocol == model.ProtocolICMP && (r.DstPort == 14 || r.DstPort == 16 || r.DstPort == 18):
			back = r.DstPort - 1
		case r.Protocol == model.ProtocolICMPv6 && r.DstPort == 129:
			back = 128
		}
		allow, service, ok = refPermits(p, dst, src, r.Protocol, back)
		v.Return = ok
	}
	switch {
	case ok && r.Action == model.FlowDrop:
		v.Class = WantedButBlocked
	case ok:
		v.Class = Allowed
	case r.Action == model.FlowDrop:
		v.Class = Blocked
	case r.Action == model.FlowWouldDrop:
		v.Class = WouldBlock
	case v.Enforced:
		v.Class = Violation
	default:
		v.Class = WouldBlock
	}
	v.Allow, v.Service = allow, service
	return v
}

// randomPolicy draws a small policy whose prefixes, ports and names collide often:
// nested and equal prefixes in both families, host addresses, port ranges that
// overlap, "all" services, ICMP types, missing references and network-to-network
// allows.
func randomPolicy(rng *rand.Rand) *model.Policy {
	p := model.NewPolicy()
	hosts := &model.HostsTarget{Hosts: map[string]*model.Host{}}
	p.Targets["dc"] = &model.Target{Kind: model.KindHosts, Name: "dc", Hosts: hosts}
	p.Targets["cloud"] = &model.Target{Kind: model.KindAWS, Name: "cloud", AWS: &model.AWSTarget{}}
	for i := range 1 + rng.IntN(4) {
		name := fmt.Sprintf("h%d", i)
		h := &model.Host{Name: name}
		for range 1 + rng.IntN(2) {
			h.Addresses = append(h.Addresses, randomAddr(rng))
		}
		hosts.Hosts[name] = h
	}
	nSeg, nNet := 1+rng.IntN(6), rng.IntN(4)
	for i := range nSeg {
		name := fmt.Sprintf("s%d", i)
		s := &model.Segment{Name: name, Target: "cloud"}
		if rng.IntN(3) == 0 {
			s.Target = "dc"
			for range 1 + rng.IntN(2) {
				s.Members.Hosts = append(s.Members.Hosts, fmt.Sprintf("h%d", rng.IntN(5)))
			}
		}
		for range rng.IntN(3) {
			s.CIDRs = append(s.CIDRs, randomPrefix(rng))
		}
		if rng.IntN(2) == 0 {
			s.Mode = model.ModeAudit
		}
		p.Segments[name] = s
	}
	for i := range nNet {
		name := fmt.Sprintf("n%d", i)
		n := &model.Network{Name: name}
		for range 1 + rng.IntN(2) {
			n.CIDRs = append(n.CIDRs, randomPrefix(rng))
		}
		p.Networks[name] = n
	}
	nSvc := 1 + rng.IntN(5)
	for i := range nSvc {
		name := fmt.Sprintf("v%d", i)
		s := &model.Service{Name: name}
		for range 1 + rng.IntN(2) {
			s.Ports = append(s.Ports, randomServicePort(rng))
		}
		p.Services[name] = s
	}
	peer := func() model.PeerRef {
		if nNet > 0 && rng.IntN(3) == 0 {
			return model.PeerRef{Kind: model.PeerNetwork, Name: fmt.Sprintf("n%d", rng.IntN(nNet+1))}
		}
		return model.PeerRef{Kind: model.PeerSegment, Name: fmt.Sprintf("s%d", rng.IntN(nSeg+1))}
	}
	for i := range rng.IntN(9) {
		name := fmt.Sprintf("a%d", i)
		a := &model.Allow{Name: name}
		for range 1 + rng.IntN(2) {
			a.From = append(a.From, peer())
		}
		for range 1 + rng.IntN(2) {
			a.To = append(a.To, peer())
		}
		for range 1 + rng.IntN(2) {
			a.Services = append(a.Services, fmt.Sprintf("v%d", rng.IntN(nSvc+1)))
		}
		p.Allows[name] = a
	}
	return p
}

// Addresses come from a tiny space (10.{0,1}.{0,1,2}.x, fd00::{0,1}:x) so that
// random prefixes and addresses meet.
func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(3) == 0 {
		var b [16]byte
		b[0], b[1] = 0xfd, 0
		b[13] = byte(rng.IntN(2))
		b[15] = byte(rng.IntN(8)) * 32
		b[15] += byte(rng.IntN(3))
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{10, byte(rng.IntN(2)), byte(rng.IntN(3)), byte(rng.IntN(8))*32 + byte(rng.IntN(3))})
}

func randomPrefix(rng *rand.Rand) netip.Prefix {
	a := randomAddr(rng)
	var bits int
	if a.Is4() {
		bits = []int{0, 8, 16, 23, 24, 27, 30, 32}[rng.IntN(8)]
	} else {
		bits = []int{0, 8, 64, 112, 120, 123, 127, 128}[rng.IntN(8)]
	}
	return netip.PrefixFrom(a, bits).Masked()
}

func randomServicePort(rng *rand.Rand) model.ServicePort {
	switch rng.IntN(8) {
	case 0:
		return model.ServicePort{Protocol: model.ProtocolAll}
	case 1:
		return port("icmp/" + []string{"0", "3", "8", "13"}[rng.IntN(4)])
	case 2:
		return port([]string{"icmp", "icmpv6", "icmpv6/128", "udp"}[rng.IntN(4)])
	}
	proto := []string{"tcp", "udp"}[rng.IntN(2)]
	first := 1 + rng.IntN(8)
	if rng.IntN(2) == 0 {
		return port(fmt.Sprintf("%s/%d", proto, first))
	}
	return port(fmt.Sprintf("%s/%d-%d", proto, first, first+rng.IntN(6)))
}

func randomRecord(rng *rand.Rand) model.FlowRecord {
	r := model.FlowRecord{
		Src:      randomAddr(rng),
		Dst:      randomAddr(rng),
		SrcPort:  uint16(rng.IntN(12)),
		DstPort:  uint16(rng.IntN(12)),
		Protocol: []model.Protocol{model.ProtocolTCP, model.ProtocolUDP, model.ProtocolICMP, model.ProtocolICMPv6, 47}[rng.IntN(5)],
		Action:   model.FlowAction(rng.IntN(3)),
	}
	if r.Protocol.IsICMP() {
		r.SrcPort = 0
		r.DstPort = []uint16{0, 3, 8, 13, 14, 128, 129}[rng.IntN(7)]
	}
	if rng.IntN(10) == 0 {
		r.Src = netip.AddrFrom16(r.Src.As16()) // IPv4-mapped: must read as IPv4
	}
	return r
}

func TestClassifyMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	policies, records := 1000, 40
	if testing.Short() {
		policies = 100
	}
	classes := map[Class]int{}
	returns := 0
	for i := range policies {
		p := randomPolicy(rng)
		e := New(p)
		for range records {
			r := randomRecord(rng)
			got, want := e.Classify(&r), reference(p, &r)
			classes[want.Class]++
			if want.Return {
				returns++
			}
			if got != want {
				t.Fatalf("policy %d, record %+v:\n got %+v\nwant %+v\npolicy: %s", i, r, got, want, dumpPolicy(p))
			}
		}
	}
	// The generator must reach every class, or the comparison proves little.
	for _, c := range Classes {
		if classes[c] < policies/20 {
			t.Errorf("only %d of %d cases were %s; make the generator reach it", classes[c], policies*records, c)
		}
	}
	if returns < policies/20 {
		t.Errorf("only %d cases were return traffic", returns)
	}
	t.Logf("classes %v, return traffic %d", classes, returns)
}

// TestClassifierMatchesReference checks the cached path: records drawn from a small
// pool, so that the Classifier's tables hit, and some fresh ones, so that they miss
// and get overwritten, every verdict compared with the reference and the Engine.
func TestClassifierMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	policies := 300
	if testing.Short() {
		policies = 50
	}
	for i := range policies {
		p := randomPolicy(rng)
		e := New(p)
		c := e.NewClassifier()
		pool := make([]model.FlowRecord, 8)
		for k := range pool {
			pool[k] = randomRecord(rng)
		}
		for range 200 {
			var r model.FlowRecord
			switch k := rng.IntN(4); k {
			case 0:
				r = randomRecord(rng)
			case 1:
				// A pooled flow's addresses with new ports: the address and pair
				// tables hit, the ports differ.
				r = pool[rng.IntN(len(pool))]
				q := randomRecord(rng)
				r.SrcPort, r.DstPort, r.Protocol, r.Action = q.SrcPort, q.DstPort, q.Protocol, q.Action
			default:
				r = pool[rng.IntN(len(pool))]
			}
			got, want := c.Classify(&r), reference(p, &r)
			if got != want {
				t.Fatalf("policy %d, record %+v:\n got %+v\nwant %+v\npolicy: %s", i, r, got, want, dumpPolicy(p))
			}
			if eng := e.Classify(&r); eng != got {
				t.Fatalf("policy %d, record %+v: Classifier %+v, Engine %+v", i, r, got, eng)
			}
		}
	}
}

func dumpPolicy(p *model.Policy) string {
	s := ""
	for _, n := range model.SortedKeys(p.Segments) {
		seg := p.Segments[n]
		s += fmt.Sprintf("\n  segment %s %v cidrs=%v hosts=%v", n, seg.Mode, seg.CIDRs, seg.Members.Hosts)
	}
	if t := p.Targets["dc"]; t != nil {
		for _, n := range model.SortedKeys(t.Hosts.Hosts) {
			s += fmt.Sprintf("\n  host %s %v", n, t.Hosts.Hosts[n].Addresses)
		}
	}
	for _, n := range model.SortedKeys(p.Networks) {
		s += fmt.Sprintf("\n  network %s %v", n, p.Networks[n].CIDRs)
	}
	for _, n := range model.SortedKeys(p.Services) {
		s += fmt.Sprintf("\n  service %s %v", n, p.Services[n].Ports)
	}
	for _, n := range model.SortedKeys(p.Allows) {
		a := p.Allows[n]
		s += fmt.Sprintf("\n  allow %s %v -> %v %v", n, a.From, a.To, a.Services)
	}
	return s
}

// FuzzClassify checks the engine against the reference on a random policy (from
// the seed) and a flow whose every field the fuzzer chooses.
func FuzzClassify(f *testing.F) {
	f.Add(uint64(1), []byte{10, 0, 1, 1}, []byte{10, 1, 2, 33}, uint8(6), uint16(3), uint16(4), uint8(0))
	f.Add(uint64(7), []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}, []byte{10, 0, 0, 0}, uint8(58), uint16(0), uint16(129), uint8(2))
	f.Add(uint64(3), []byte{}, []byte{255, 255, 255, 255}, uint8(1), uint16(0), uint16(0), uint8(1))
	f.Fuzz(func(t *testing.T, seed uint64, src, dst []byte, proto uint8, sport, dport uint16, action uint8) {
		p := randomPolicy(rand.New(rand.NewPCG(seed, 0)))
		r := model.FlowRecord{Src: addrFromBytes(src), Dst: addrFromBytes(dst), SrcPort: sport, DstPort: dport, Protocol: model.Protocol(proto), Action: model.FlowAction(action % 3)}
		e := New(p)
		want := reference(p, &r)
		if got := e.Classify(&r); got != want {
			t.Fatalf("record %+v:\n got %+v\nwant %+v\npolicy: %s", r, got, want, dumpPolicy(p))
		}
		// Twice through a Classifier: once filling its tables, once from them.
		c := e.NewClassifier()
		for range 2 {
			if got := c.Classify(&r); got != want {
				t.Fatalf("Classifier, record %+v:\n got %+v\nwant %+v\npolicy: %s", r, got, want, dumpPolicy(p))
			}
		}
	})
}

func addrFromBytes(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}
