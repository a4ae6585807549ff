package test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/microseg/microseg/discover"
	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

// The round trip of discovery: a known policy generates the flows a cloud flow log
// would show, discovery proposes a policy from them, and the proposal, loaded next to
// the target by the real loader, must allow every observed flow and nothing between
// groups that never talked.

const discoverTarget = `target "aws" "prod" {
  region = "us-east-1"
  vpc_id = "vpc-0123456789abcdef0"
}
`

// knownPolicy has four tiers on distinct /24s (web on two of them), the internet in
// front, and allows on a few services, one of them on a port with no well-known name.
const knownPolicy = `
network "internet" {
  cidrs = ["0.0.0.0/0"]
}

service "https"    { ports = ["tcp/443"] }
service "app-http" { ports = ["tcp/8080"] }
service "rpc"      { ports = ["tcp/9000"] }
service "postgres" { ports = ["tcp/5432"] }
service "redis"    { ports = ["tcp/6379"] }
service "ping"     { ports = ["icmp/8"] }

segment "lb" {
  target = target.aws.prod
  members { tags = { tier = "lb" } }
  cidrs  = ["10.1.0.0/24"]
}
segment "web" {
  target = target.aws.prod
  members { tags = { tier = "web" } }
  cidrs  = ["10.1.1.0/24", "10.1.2.0/24"]
}
segment "app" {
  target = target.aws.prod
  members { tags = { tier = "app" } }
  cidrs  = ["10.2.0.0/24"]
}
segment "db" {
  target = target.aws.prod
  members { tags = { tier = "db" } }
  cidrs  = ["10.3.0.0/24"]
}

allow "internet-to-lb" {
  from     = [network.internet]
  to       = [segment.lb]
  services = [service.https]
}
allow "lb-to-web" {
  from     = [segment.lb]
  to       = [segment.web]
  services = [service.app-http, service.ping]
}
allow "web-to-app" {
  from     = [segment.web]
  to       = [segment.app]
  services = [service.rpc]
}
allow "app-to-db" {
  from     = [segment.app]
  to       = [segment.db]
  services = [service.postgres, service.redis]
}
`

// observed is one request the generator made: the truth a flow record only hints at.
type observed struct {
	client, server netip.Addr
	port           model.ServicePort
	from, to       model.PeerRef // in the known policy
}

// hostsOf returns n addresses of each CIDR of a peer, from .10 up; the internet's are
// documentation addresses (RFC 5737), never contacted: these are only records.
func hostsOf(p *model.Policy, ref model.PeerRef, n int) []netip.Addr {
	if ref.Kind == model.PeerNetwork {
		var out []netip.Addr
		for i := range n {
			out = append(out, netip.AddrFrom4([4]byte{198, 51, 100, byte(7 + i)}), netip.AddrFrom4([4]byte{203, 0, 113, byte(9 + i)}))
		}
		return out
	}
	var out []netip.Addr
	for _, c := range p.Segments[ref.Name].CIDRs {
		a := c.Addr()
		for range 10 {
			a = a.Next()
		}
		for range n {
			out = append(out, a)
			a = a.Next()
		}
	}
	return out
}

// generateFlows makes, for every allowed pair and port, connections from three
// clients of the source to two servers of the destination, each logged as its request
// and its reply with an ephemeral client port, as cloud flow logs show them.
func generateFlows(t *testing.T, p *model.Policy) ([]model.FlowRecord, []observed) {
	t.Helper()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var records []model.FlowRecord
	var truth []observed
	eph := uint16(32768)
	for _, f := range analysis.Flows(p) {
		for _, c := range hostsOf(p, f.From, 3) {
			for _, s := range hostsOf(p, f.To, 2) {
				for range 2 {
					eph++
					at := t0.Add(time.Duration(len(records)) * time.Second)
					req := model.FlowRecord{Time: at, Src: c, Dst: s, Protocol: f.Port.Protocol, Bytes: 500, Packets: 5, Target: "prod"}
					rep := model.FlowRecord{Time: at, Src: s, Dst: c, Protocol: f.Port.Protocol, Bytes: 9000, Packets: 8, Target: "prod"}
					if f.Port.Protocol.IsICMP() {
						req.DstPort, rep.DstPort = f.Port.Ports.First, 0 // echo request, echo reply
					} else {
						req.SrcPort, req.DstPort = eph, f.Port.Ports.First
						rep.SrcPort, rep.DstPort = f.Port.Ports.First, eph
					}
					records = append(records, req, rep)
					truth = append(truth, observed{c, s, f.Port, f.From, f.To})
				}
			}
		}
	}
	return records, truth
}

// peerAt resolves an address to the peer that holds it most specifically: a segment
// before a network, then the longest prefix, as the verdict engine reads them.
func peerAt(p *model.Policy, a netip.Addr) (model.PeerRef, bool) {
	best, bestBits, found := model.PeerRef{}, -1, false
	for _, kind := range []model.PeerKind{model.PeerSegment, model.PeerNetwork} {
		if found {
			break
		}
		var cidrs map[string][]netip.Prefix = map[string][]netip.Prefix{}
		if kind == model.PeerSegment {
			for n, s := range p.Segments {
				cidrs[n] = s.CIDRs
			}
		} else {
			for n, s := range p.Networks {
				cidrs[n] = s.CIDRs
			}
		}
		for _, name := range model.SortedKeys(cidrs) {
			for _, c := range cidrs[name] {
				if c.Contains(a) && c.Bits() > bestBits {
					best, bestBits, found = model.PeerRef{Kind: kind, Name: name}, c.Bits(), true
				}
			}
		}
	}
	return best, found
}

func loadPolicy(t *testing.T, files map[string]string) (*model.Policy, string) {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	loaded, diags := hclload.LoadDir(dir)
	if len(diags) > 0 {
		t.Fatalf("loading %v: %v", model.SortedKeys(files), diags)
	}
	return loaded.Policy, dir
}

func TestDiscoverRoundTrip(t *testing.T) {
	known, _ := loadPolicy(t, map[string]string{"targets.hcl": discoverTarget, "policy.hcl": knownPolicy})
	records, truth := generateFlows(t, known)
	targetOnly, _ := loadPolicy(t, map[string]string{"targets.hcl": discoverTarget})

	opts := discover.Options{Target: "prod", Policy: targetOnly}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	d := discover.New(opts)
	for i := range records {
		d.Add(&records[i])
	}
	proposal := d.Propose()
	if c := proposal.Coverage; c.Observed != uint64(len(records)) || c.Allowed != c.Observed || c.Share != 1 {
		t.Errorf("coverage = %+v, want all %d records allowed", c, len(records))
	}
	var out bytes.Buffer
	if err := proposal.WriteHCL(&out, "aws.prod"); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if formatted, diags := hclload.Format("discovered.hcl", out.Bytes()); diags.HasErrors() || string(formatted) != text {
		t.Errorf("the proposal is not in microseg fmt layout (%v):\n%s", diags, text)
	}
	got, _ := loadPolicy(t, map[string]string{"targets.hcl": discoverTarget, "discovered.hcl": text})
	if _, err := model.Compile(got); err != nil {
		t.Fatalf("the proposal does not compile: %v\n%s", err, text)
	}
	for name, s := range got.Segments {
		if s.Mode != model.ModeAudit {
			t.Errorf("segment %s is in %s mode, want audit", name, s.Mode)
		}
	}

	// Each known peer becomes exactly one proposed peer, and no proposed peer holds
	// two known ones.
	image := map[model.PeerRef]model.PeerRef{}    // known -> proposed
	preimage := map[model.PeerRef]model.PeerRef{} // proposed -> known
	mapAddr := func(known model.PeerRef, a netip.Addr) model.PeerRef {
		p, ok := peerAt(got, a)
		if !ok {
			t.Fatalf("address %s of %s is in no proposed segment or network", a, known)
		}
		if prev, ok := image[known]; ok && prev != p {
			t.Errorf("%s is split between %s and %s", known, prev, p)
		}
		if prev, ok := preimage[p]; ok && prev != known {
			t.Errorf("%s mixes %s and %s", p, prev, known)
		}
		image[known], preimage[p] = p, known
		return p
	}

	// Every observed flow is allowed.
	talked := map[[2]model.PeerRef]analysis.PortSet{}
	for _, o := range truth {
		from, to := mapAddr(o.from, o.client), mapAddr(o.to, o.server)
		res, err := analysis.Check(got, from, to, o.port)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed {
			t.Errorf("%s -> %s (%s -> %s) on %s is not allowed", o.client, o.server, from, to, o.port)
		}
		k := [2]model.PeerRef{from, to}
		talked[k] = talked[k].Union(analysis.NewPortSet(o.port))
	}
	if len(image) != 5 {
		t.Errorf("known peers mapped: %v, want lb, web, app, db and the internet", image)
	}

	// Nothing else is allowed: every permission joins a pair that talked, on a port
	// it talked on.
	for _, f := range analysis.Flows(got) {
		ports, ok := talked[[2]model.PeerRef{f.From, f.To}]
		if !ok {
			t.Errorf("allow %s lets %s reach %s, which never talked", f.Allow, f.From, f.To)
			continue
		}
		if !ports.Covers(f.Port) {
			t.Errorf("allow %s lets %s reach %s on %s, never used (used: %s)", f.Allow, f.From, f.To, f.Port, ports)
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("proposal:\n%s", text)
	}
}

// FuzzDiscoverRoundTrip feeds arbitrary records (16 bytes each, over a small pool of
// private, public and IPv6 addresses) to discovery and checks that whatever it
// proposes loads without a diagnostic, is laid out as microseg fmt lays it out, and
// accounts for every flow. Discovery parses no text, so this is its fuzz target.
func FuzzDiscoverRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x01\x90\x01\x01\xbb\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add(bytes.Repeat([]byte("\x03\x09\x00\x35\xa0\x01\x11\x00\x02\x05\x00\x08\x01\x01\x00\x00"), 3))
	pool := []netip.Addr{
		netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.1.11"), netip.MustParseAddr("10.0.2.20"),
		netip.MustParseAddr("10.0.3.30"), netip.MustParseAddr("172.16.5.5"), netip.MustParseAddr("192.168.1.1"),
		netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd00:1::1"), netip.MustParseAddr("fd00:2::1"),
		netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("::ffff:10.0.1.10"), netip.MustParseAddr("10.0.1.12"),
		{},
	}
	protos := []model.Protocol{model.ProtocolTCP, model.ProtocolUDP, model.ProtocolICMP, model.ProtocolICMPv6, model.ProtocolSCTP, 47}
	f.Fuzz(func(t *testing.T, data []byte) {
		labels := map[netip.Addr]map[string]string{
			pool[1]: {"app": "shop", "tier": "web"},
			pool[4]: {"role": "${x}\"\n"},
		}
		d := discover.New(discover.Options{Target: "prod", MinFlows: uint64(len(data) % 3), Labels: labels, Similarity: float64(len(data)%4) / 3})
		for ; len(data) >= 16; data = data[16:] {
			r := model.FlowRecord{
				Time:     time.Unix(int64(binary.BigEndian.Uint16(data[10:12])), 0),
				Src:      pool[data[0]%byte(len(pool))],
				Dst:      pool[data[1]%byte(len(pool))],
				SrcPort:  binary.BigEndian.Uint16(data[2:4]),
				DstPort:  binary.BigEndian.Uint16(data[4:6]),
				Protocol: protos[data[6]%byte(len(protos))],
				Action:   model.FlowAction(data[7] % 3),
				Bytes:    uint64(data[8]),
				Packets:  uint64(data[9]),
				Target:   "prod",
			}
			d.Add(&r)
		}
		p := d.Propose()
		c := p.Coverage
		if c.Observed != c.Allowed+c.BelowMinFlows+c.Unsupported {
			t.Fatalf("coverage does not add up: %+v", c)
		}
		var out bytes.Buffer
		if err := p.WriteHCL(&out, "aws.prod"); err != nil {
			t.Fatal(err)
		}
		if formatted, _ := hclload.Format("discovered.hcl", out.Bytes()); !bytes.Equal(formatted, out.Bytes()) {
			t.Fatalf("not in fmt layout:\n%s", out.String())
		}
		loaded, diags := hclload.LoadSources(map[string][]byte{"targets.hcl": []byte(discoverTarget), "discovered.hcl": out.Bytes()})
		if len(diags) > 0 {
			t.Fatalf("%v\n%s", diags, out.String())
		}
		var allows uint64
		for _, a := range p.Allows {
			allows += a.Flows
			if !slices.Contains(model.SortedKeys(loaded.Policy.Allows), a.Name) {
				t.Fatalf("allow %s did not load", a.Name)
			}
		}
		if allows != c.Allowed {
			t.Fatalf("allows sum %d flows, coverage says %d", allows, c.Allowed)
		}
		if len(loaded.Policy.Segments) != len(p.Segments) {
			t.Fatalf("%d segments proposed, %d loaded", len(p.Segments), len(loaded.Policy.Segments))
		}
		for name, s := range loaded.Policy.Segments {
			if s.Mode != model.ModeAudit {
				t.Fatalf("segment %s is not in audit mode", name)
			}
		}
	})
}
