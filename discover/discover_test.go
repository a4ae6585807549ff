package discover

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/microseg/microseg/model"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// conn returns the two records a cloud flow log shows for one connection: the
// request and the server's reply, which has the service port as its source port.
func conn(client string, cport uint16, server string, sport uint16, proto model.Protocol, at time.Duration) []model.FlowRecord {
	c, s := netip.MustParseAddr(client), netip.MustParseAddr(server)
	return []model.FlowRecord{
		{Time: t0.Add(at), Src: c, Dst: s, SrcPort: cport, DstPort: sport, Protocol: proto, Bytes: 600, Packets: 6, Target: "prod"},
		{Time: t0.Add(at), Src: s, Dst: c, SrcPort: sport, DstPort: cport, Protocol: proto, Bytes: 4000, Packets: 5, Target: "prod"},
	}
}

func tcp(client string, cport uint16, server string, sport uint16) []model.FlowRecord {
	return conn(client, cport, server, sport, model.ProtocolTCP, 0)
}

func propose(t *testing.T, opts Options, records ...[]model.FlowRecord) *Proposal {
	t.Helper()
	d := New(opts)
	for _, rs := range records {
		for i := range rs {
			d.Add(&rs[i])
		}
	}
	return d.Propose()
}

func segmentNames(p *Proposal) []string {
	var out []string
	for _, s := range p.Segments {
		out = append(out, s.Name)
	}
	return out
}

// allowSummary is "from -> to: svc,svc" for every allow, sorted.
func allowSummary(p *Proposal) []string {
	var out []string
	for _, a := range p.Allows {
		out = append(out, fmt.Sprintf("%s -> %s: %s", a.From, a.To, strings.Join(a.Services, ",")))
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestGroupsBySubnet(t *testing.T) {
	p := propose(t, Options{},
		tcp("10.0.1.10", 40001, "10.0.2.20", 5432),
		tcp("10.0.1.11", 40002, "10.0.2.21", 5432),
		tcp("10.0.1.12", 40003, "10.0.2.20", 5432),
	)
	if diff := cmp.Diff([]string{"net-10-0-1-0-24", "net-10-0-2-0-24"}, segmentNames(p)); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: postgres"}, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	// The tightest correct CIDRs: exactly the members, aggregated.
	if diff := cmp.Diff(prefixes("10.0.1.10/31", "10.0.1.12/32"), p.Segments[0].CIDRs, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("CIDRs (-want +got):\n%s", diff)
	}
	if p.Segments[0].Addresses != 3 || p.Segments[1].Addresses != 2 {
		t.Errorf("addresses = %d, %d, want 3, 2", p.Segments[0].Addresses, p.Segments[1].Addresses)
	}
	want := Coverage{Observed: 6, Allowed: 6, Share: 1}
	if p.Coverage != want {
		t.Errorf("coverage = %+v, want %+v", p.Coverage, want)
	}
	a := p.Allows[0]
	if a.Flows != 6 || a.Bytes != 3*4600 || a.Packets != 33 {
		t.Errorf("allow counts = %d flows %d bytes %d packets, want 6, 13800, 33", a.Flows, a.Bytes, a.Packets)
	}
}

func TestGroupsByLabelsBeforeSubnets(t *testing.T) {
	labels := map[netip.Addr]map[string]string{
		netip.MustParseAddr("10.0.1.10"): {"app": "shop", "tier": "web", "owner": "x"},
		netip.MustParseAddr("10.0.1.11"): {"app": "shop", "tier": "web"},
		netip.MustParseAddr("10.0.1.20"): {"tier": "db"},
		netip.MustParseAddr("10.0.1.30"): {"owner": "nobody"}, // no grouping key: by subnet
	}
	p := propose(t, Options{Labels: labels},
		tcp("10.0.1.10", 40001, "10.0.1.20", 5432),
		tcp("10.0.1.11", 40002, "10.0.1.20", 5432),
		tcp("10.0.1.30", 40003, "10.0.1.10", 443),
	)
	if diff := cmp.Diff([]string{"db", "net-10-0-1-0-24", "shop-web"}, segmentNames(p)); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	wantAllows := []string{
		"segment.net-10-0-1-0-24 -> segment.shop-web: https",
		"segment.shop-web -> segment.db: postgres",
	}
	if diff := cmp.Diff(wantAllows, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	for _, s := range p.Segments {
		switch s.Name {
		case "shop-web":
			if diff := cmp.Diff(map[string]string{"app": "shop", "tier": "web"}, s.Labels); diff != "" {
				t.Errorf("labels of shop-web (-want +got):\n%s", diff)
			}
			if got := fmt.Sprint(s.CIDRs); got != "[10.0.1.10/31]" {
				t.Errorf("CIDRs of shop-web = %s", got)
			}
		case "net-10-0-1-0-24":
			if got := fmt.Sprint(s.CIDRs); got != "[10.0.1.30/32]" {
				t.Errorf("CIDRs of the subnet group = %s: it must not overlap the label groups", got)
			}
		}
	}
}

// webTier is traffic of a web tier on subnet net: the internet reaches it on https
// and it reaches the database and a cache.
func webTier(net string, extra ...[]model.FlowRecord) [][]model.FlowRecord {
	out := [][]model.FlowRecord{
		tcp("198.51.100.7", 50001, net+".10", 443),
		tcp(net+".10", 40001, "10.0.9.5", 5432),
		tcp(net+".11", 40002, "10.0.9.6", 6379),
	}
	return append(out, extra...)
}

func TestSimilarSubnetsMerge(t *testing.T) {
	records := append(webTier("10.0.1"), webTier("10.0.3")...)
	p := propose(t, Options{}, records...)
	// The db subnet 10.0.9.0/24 serves postgres and redis; both web subnets do the
	// same thing and merge, named after the lowest.
	if diff := cmp.Diff([]string{"net-10-0-1-0-24", "net-10-0-9-0-24"}, segmentNames(p)); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if got := fmt.Sprint(p.Segments[0].Subnets); got != "[10.0.1.0/24 10.0.3.0/24]" {
		t.Errorf("merged subnets = %s", got)
	}
	wantAllows := []string{
		"network.internet -> segment.net-10-0-1-0-24: https",
		"segment.net-10-0-1-0-24 -> segment.net-10-0-9-0-24: postgres,redis",
	}
	if diff := cmp.Diff(wantAllows, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}

	// Above 1, nothing merges.
	if p := propose(t, Options{Similarity: 1.5}, records...); len(p.Segments) != 3 {
		t.Errorf("with merging off: %v, want three segments", segmentNames(p))
	}
}

func TestNearSimilarityThreshold(t *testing.T) {
	// The second web subnet is also reached by a bastion on ssh: 3 of 4 features in
	// common, a Jaccard similarity of 0.75.
	records := append(webTier("10.0.1"), webTier("10.0.3", tcp("10.0.7.5", 40009, "10.0.3.12", 22))...)
	if p := propose(t, Options{Similarity: 0.8}, records...); len(p.Segments) != 4 {
		t.Errorf("at 0.8: %v, want the web subnets apart", segmentNames(p))
	}
	p := propose(t, Options{Similarity: 0.75}, records...)
	if diff := cmp.Diff([]string{"net-10-0-1-0-24", "net-10-0-7-0-24", "net-10-0-9-0-24"}, segmentNames(p)); diff != "" {
		t.Errorf("at 0.75 (-want +got):\n%s", diff)
	}
}

func TestIPv4AndIPv6HalvesMerge(t *testing.T) {
	p := propose(t, Options{},
		tcp("10.0.1.10", 40001, "10.0.9.5", 5432),
		tcp("fd00:1:2:3::10", 40001, "10.0.9.5", 5432),
	)
	if diff := cmp.Diff([]string{"net-10-0-1-0-24", "net-10-0-9-0-24"}, segmentNames(p)); diff != "" {
		t.Fatalf("segments (-want +got):\n%s", diff)
	}
	if got := fmt.Sprint(p.Segments[0].CIDRs); got != "[10.0.1.10/32 fd00:1:2:3::10/128]" {
		t.Errorf("CIDRs = %s", got)
	}
}

func TestIPv6SubnetNames(t *testing.T) {
	p := propose(t, Options{Similarity: 2},
		tcp("fd00:1:2:3::10", 40001, "fd00:1:2:4::20", 443),
		tcp("fd00:1:2:3:ffff::1", 40001, "fd00:1:2:4::21", 443),
	)
	if diff := cmp.Diff([]string{"net-fd00-1-2-3-64", "net-fd00-1-2-4-64"}, segmentNames(p)); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if got := fmt.Sprint(p.Segments[1].CIDRs); got != "[fd00:1:2:4::20/127]" {
		t.Errorf("CIDRs = %s", got)
	}
}

func TestServicePortOfReplies(t *testing.T) {
	tests := []struct {
		name    string
		records []model.FlowRecord
		want    string
	}{
		{"reply only, well-known source port", tcp("10.0.1.10", 40001, "10.0.2.20", 443)[1:], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: https"},
		{"registered port against an ephemeral one", tcp("10.0.1.10", 50000, "10.0.2.20", 3000)[1:], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: tcp-3000"},
		{"low port against a registered one", tcp("10.0.1.10", 1500, "10.0.2.20", 999)[1:], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: tcp-999"},
		{"known name wins over a lower port", tcp("10.0.1.10", 1000, "10.0.2.20", 8080)[1:], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: http-alt"},
		{"udp dns reply", conn("10.0.1.10", 53000, "10.0.2.2", 53, model.ProtocolUDP, 0)[1:], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: dns"},
		{"both ports equal: destination", conn("10.0.1.10", 123, "10.0.2.2", 123, model.ProtocolUDP, 0)[:1], "segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: ntp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := propose(t, Options{}, tt.records)
			if diff := cmp.Diff([]string{tt.want}, allowSummary(p)); diff != "" {
				t.Errorf("allows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnclearPortsByFanIn(t *testing.T) {
	// Both ports ephemeral: 10.0.2.5:50000 talks with three clients, each on its own
	// port; the socket with the most peers serves, whichever side logged first.
	var records [][]model.FlowRecord
	for i, c := range []string{"10.0.1.10", "10.0.1.11", "10.0.1.12"} {
		rs := tcp(c, uint16(60001+i), "10.0.2.5", 50000)
		if i == 1 {
			rs = rs[1:] // the reply only
		}
		records = append(records, rs)
	}
	p := propose(t, Options{}, records...)
	if diff := cmp.Diff([]string{"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: tcp-50000"}, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	if p.Coverage.Allowed != 5 || p.Coverage.Observed != 5 {
		t.Errorf("coverage = %+v", p.Coverage)
	}
}

func TestUnclearPortsByListenerEvidence(t *testing.T) {
	// 10.0.2.5 was seen serving tcp/3000 to an ephemeral port; a later flow from port
	// 5000 (both below 32768) goes to the same socket.
	p := propose(t, Options{Similarity: 2},
		tcp("10.0.1.10", 45000, "10.0.2.5", 3000),
		tcp("10.0.3.10", 5000, "10.0.2.5", 3000)[1:], // reply: source 3000, destination 5000
	)
	want := []string{
		"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: tcp-3000",
		"segment.net-10-0-3-0-24 -> segment.net-10-0-2-0-24: tcp-3000",
	}
	if diff := cmp.Diff(want, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
}

func TestICMP(t *testing.T) {
	p := propose(t, Options{},
		[]model.FlowRecord{
			{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"), Protocol: model.ProtocolICMP, DstPort: 8},
			{Src: netip.MustParseAddr("10.0.2.20"), Dst: netip.MustParseAddr("10.0.1.10"), Protocol: model.ProtocolICMP, DstPort: 0},
			{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"), Protocol: model.ProtocolICMP, DstPort: 3},
			{Src: netip.MustParseAddr("fd00:1::1"), Dst: netip.MustParseAddr("fd00:2::1"), Protocol: model.ProtocolICMPv6, DstPort: 128},
			{Src: netip.MustParseAddr("fd00:2::1"), Dst: netip.MustParseAddr("fd00:1::1"), Protocol: model.ProtocolICMPv6, DstPort: 129},
		},
	)
	want := []string{
		"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: icmp-3,icmp-echo",
		"segment.net-fd00-1-64 -> segment.net-fd00-2-64: icmpv6-echo",
	}
	if diff := cmp.Diff(want, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	var ports []string
	for _, s := range p.Services {
		ports = append(ports, s.Name+"="+portsKey(s.Ports))
	}
	if diff := cmp.Diff([]string{"icmp-3=icmp/3", "icmp-echo=icmp/8", "icmpv6-echo=icmpv6/128"}, ports); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
}

func TestPublicPeersBecomeOneNetwork(t *testing.T) {
	p := propose(t, Options{},
		tcp("198.51.100.7", 50001, "10.0.1.10", 443),
		tcp("203.0.113.9", 50002, "10.0.1.11", 443),
		tcp("10.0.1.10", 40001, "192.0.2.80", 443),
		tcp("198.51.100.7", 50001, "203.0.113.9", 443), // public to public: nobody's
	)
	if len(p.Networks) != 1 || p.Networks[0].Name != "internet" || fmt.Sprint(p.Networks[0].CIDRs) != "[0.0.0.0/0]" {
		t.Errorf("networks = %+v, want internet with 0.0.0.0/0 only", p.Networks)
	}
	want := []string{
		"network.internet -> segment.net-10-0-1-0-24: https",
		"segment.net-10-0-1-0-24 -> network.internet: https",
	}
	if diff := cmp.Diff(want, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	if p.Coverage.PublicOnly != 2 || p.Coverage.Observed != 6 || p.Coverage.Share != 1 {
		t.Errorf("coverage = %+v", p.Coverage)
	}

	// IPv6 global unicast is public unless the user says it is theirs.
	v6 := tcp("2600:1f18:10::5", 40001, "10.0.1.10", 443)
	if p := propose(t, Options{}, v6); fmt.Sprint(p.Networks[0].CIDRs) != "[::/0]" {
		t.Errorf("networks = %+v, want ::/0", p.Networks)
	}
	p = propose(t, Options{Internal: prefixes("2600:1f18:10::/56")}, v6)
	if len(p.Networks) != 0 || len(p.Segments) != 2 {
		t.Errorf("with Internal: networks %+v, segments %v", p.Networks, segmentNames(p))
	}
}

func TestMinFlowsDropsNoise(t *testing.T) {
	var records [][]model.FlowRecord
	for i := range 5 {
		records = append(records, tcp("10.0.1.10", uint16(40000+i), "10.0.2.20", 5432))
	}
	records = append(records, tcp("10.0.1.10", 41000, "10.0.3.30", 22)[:1])
	p := propose(t, Options{MinFlows: 3}, records...)
	if diff := cmp.Diff([]string{"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: postgres"}, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"net-10-0-1-0-24", "net-10-0-2-0-24"}, segmentNames(p)); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	c := p.Coverage
	if c.Observed != 11 || c.Allowed != 10 || c.BelowMinFlows != 1 || c.BelowMinFlowsEdges != 1 || c.Share != 10.0/11 {
		t.Errorf("coverage = %+v", c)
	}
}

func TestDroppedAndSkippedFlows(t *testing.T) {
	drop := tcp("10.0.1.10", 40000, "10.0.2.20", 22)
	for i := range drop {
		drop[i].Action = model.FlowDrop
	}
	would := tcp("10.0.1.10", 40001, "10.0.2.20", 443)
	for i := range would {
		would[i].Action = model.FlowWouldDrop // it passed: a dependency
	}
	skipped := []model.FlowRecord{
		{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("127.0.0.1"), Protocol: model.ProtocolTCP, DstPort: 80},
		{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("10.0.1.10"), Protocol: model.ProtocolTCP, DstPort: 80},
		{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("224.0.0.5"), Protocol: model.ProtocolUDP, DstPort: 5353},
		{Protocol: model.ProtocolTCP},
	}
	gre := []model.FlowRecord{
		{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"), Protocol: 47},
		{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"), Protocol: model.ProtocolTCP, SrcPort: 40000},
		{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"), Protocol: model.ProtocolICMP, DstPort: 0x0803},
	}
	p := propose(t, Options{}, drop, would, skipped, gre)
	if diff := cmp.Diff([]string{"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: https"}, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	want := Coverage{Observed: 5, Allowed: 2, Unsupported: 3, Dropped: 2, Skipped: 4, Share: 2.0 / 5}
	if p.Coverage != want {
		t.Errorf("coverage = %+v, want %+v", p.Coverage, want)
	}
}

// threeTier is a small fixed flow set: the internet reaches a load balancer, which
// reaches web servers, which reach an app tier (unknown port) and the database; dns
// from every tier; a ping from monitoring.
func threeTier() [][]model.FlowRecord {
	var out [][]model.FlowRecord
	at := time.Duration(0)
	next := func() time.Duration { at += 7 * time.Second; return at }
	add := func(client, server string, port uint16, proto model.Protocol, n int) {
		for i := range n {
			out = append(out, conn(client, uint16(40000+i*13+int(port)%97), server, port, proto, next()))
		}
	}
	add("198.51.100.7", "10.10.0.5", 443, model.ProtocolTCP, 3)
	add("2001:db8::7", "10.10.0.5", 443, model.ProtocolTCP, 1)
	for _, web := range []string{"10.10.1.10", "10.10.1.11", "10.10.2.10"} {
		add("10.10.0.5", web, 8080, model.ProtocolTCP, 2)
		add(web, "10.30.0.20", 9000, model.ProtocolTCP, 2)
		add(web, "10.0.0.2", 53, model.ProtocolUDP, 1)
	}
	add("10.30.0.20", "10.20.0.11", 5432, model.ProtocolTCP, 3)
	add("10.30.0.21", "10.20.0.12", 5432, model.ProtocolTCP, 1)
	add("10.30.0.20", "10.0.0.2", 53, model.ProtocolUDP, 1)
	out = append(out, []model.FlowRecord{
		{Time: t0.Add(next()), Src: netip.MustParseAddr("10.20.1.10"), Dst: netip.MustParseAddr("10.30.0.20"), Protocol: model.ProtocolICMP, DstPort: 8, Bytes: 84, Packets: 1},
		{Time: t0.Add(next()), Src: netip.MustParseAddr("10.30.0.20"), Dst: netip.MustParseAddr("10.20.1.10"), Protocol: model.ProtocolICMP, DstPort: 0, Bytes: 84, Packets: 1},
	})
	return out
}

func writeHCL(t *testing.T, p *Proposal, target string) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteHCL(&b, target); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestNamesAndOutputDeterministic(t *testing.T) {
	records := threeTier()
	want := writeHCL(t, propose(t, Options{}, records...), "aws.prod")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		var flat []model.FlowRecord
		for _, rs := range records {
			flat = append(flat, rs...)
		}
		rng.Shuffle(len(flat), func(i, j int) { flat[i], flat[j] = flat[j], flat[i] })
		got := writeHCL(t, propose(t, Options{}, flat), "aws.prod")
		if got != want {
			t.Fatalf("shuffled records give other output:\n%s", cmp.Diff(want, got))
		}
	}
}

func TestNamesAvoidThePolicy(t *testing.T) {
	pol := model.NewPolicy()
	pol.Targets["prod"] = &model.Target{Kind: model.KindAWS, Name: "prod", AWS: &model.AWSTarget{}}
	pol.Segments["net-10-0-1-0-24"] = &model.Segment{Name: "net-10-0-1-0-24"}
	pol.Services["web"] = &model.Service{Name: "web", Ports: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 443, Last: 443}}}}
	pol.Services["postgres"] = &model.Service{Name: "postgres", Ports: []model.ServicePort{{Protocol: model.ProtocolTCP, Ports: model.PortRange{First: 5433, Last: 5433}}}}
	pol.Networks["internet"] = &model.Network{Name: "internet", CIDRs: prefixes("10.0.0.0/8")}
	pol.Networks["anywhere"] = &model.Network{Name: "anywhere", CIDRs: prefixes("0.0.0.0/0", "::/0")}
	pol.Allows["net-10-0-1-0-24-2-to-net-10-0-2-0-24"] = &model.Allow{}
	p := propose(t, Options{Policy: pol, Target: "prod"},
		tcp("10.0.1.10", 40001, "10.0.2.20", 5432),
		tcp("10.0.1.10", 40001, "10.0.2.20", 443),
		tcp("198.51.100.7", 40001, "10.0.2.20", 443),
	)
	want := []string{
		"network.anywhere -> segment.net-10-0-2-0-24: web",
		"segment.net-10-0-1-0-24-2 -> segment.net-10-0-2-0-24: postgres-2,web",
	}
	if diff := cmp.Diff(want, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
	if got := p.Allows[1].Name; got != "net-10-0-1-0-24-2-to-net-10-0-2-0-24-2" {
		t.Errorf("allow name = %q", got)
	}
	out := writeHCL(t, p, "prod")
	for _, bad := range []string{`service "web"`, `network "anywhere"`, `network "internet"`} {
		if strings.Contains(out, bad) {
			t.Errorf("output declares %s again:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, `service "postgres-2"`) || !strings.Contains(out, "target = target.aws.prod") {
		t.Errorf("output:\n%s", out)
	}
}

func TestWriteHCLTargets(t *testing.T) {
	pol := model.NewPolicy()
	pol.Targets["dc1"] = &model.Target{Kind: model.KindHosts, Name: "dc1", Hosts: &model.HostsTarget{Hosts: map[string]*model.Host{
		"web-01": {Name: "web-01", Addresses: []netip.Addr{netip.MustParseAddr("10.0.1.10")}},
		"db-01":  {Name: "db-01", Addresses: []netip.Addr{netip.MustParseAddr("10.0.2.20")}},
	}}}
	pol.Targets["edge"] = &model.Target{Kind: model.KindGCP, Name: "edge", GCP: &model.GCPTarget{}}
	records := tcp("10.0.1.10", 40001, "10.0.2.20", 5432)
	p := propose(t, Options{Policy: pol, Target: "dc1"}, records)
	out := writeHCL(t, p, "dc1")
	for _, want := range []string{`hosts = ["web-01"]`, `hosts = ["db-01"]`, "target = target.hosts.dc1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if out := writeHCL(t, propose(t, Options{Target: "edge"}, records), "gcp.edge"); !strings.Contains(out, `labels = { microseg-segment = "net-10-0-1-0-24" }`) {
		t.Errorf("gcp members:\n%s", out)
	}

	errs := []struct{ target, want string }{
		{"", "no target"},
		{"prod", "kind is unknown"},
		{"vmware.prod", "not a target kind"},
		{"aws.", "KIND.NAME"},
		{"aws.dc1", "declares it as target.hosts.dc1"},
	}
	for _, e := range errs {
		err := p.WriteHCL(&bytes.Buffer{}, e.target)
		if err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("WriteHCL(%q) = %v, want an error saying %q", e.target, err, e.want)
		}
	}
	// The kind can come with Options.Target instead of the policy.
	withKind := propose(t, Options{Target: "azure.weu"}, records)
	if out := writeHCL(t, withKind, "weu"); !strings.Contains(out, "target = target.azure.weu") {
		t.Errorf("kind from Options.Target:\n%s", out)
	}
	// A hosts target whose hosts are not the members.
	unknown := propose(t, Options{Policy: pol, Target: "dc1"}, tcp("10.0.5.1", 40001, "10.0.2.20", 5432))
	if err := unknown.WriteHCL(&bytes.Buffer{}, "hosts.dc1"); err == nil || !strings.Contains(err.Error(), "none of its addresses (10.0.5.1/32) is a host") {
		t.Errorf("err = %v", err)
	}
	// Records of a target the policy does not know, written elsewhere.
	other := propose(t, Options{Policy: pol}, tcp("10.0.1.10", 40001, "10.0.2.20", 5432))
	if err := other.WriteHCL(&bytes.Buffer{}, "aws.x"); err == nil || !strings.Contains(err.Error(), `observed in target "prod"`) {
		t.Errorf("err = %v", err)
	}
}

func TestRecordTargetsByMajority(t *testing.T) {
	a := tcp("10.0.1.10", 40001, "10.0.2.20", 5432)
	b := tcp("10.0.1.10", 40002, "10.0.2.20", 5432)
	for i := range b {
		b[i].Target = "dc1"
	}
	c := tcp("10.0.2.20", 40002, "10.0.3.30", 22) // 10.0.2.20 is mentioned twice more in prod
	p := propose(t, Options{}, a, b, c)
	got := map[string]string{}
	for _, s := range p.Segments {
		got[s.Name] = s.Target
	}
	// 10.0.1.0/24: two records in each target, the tie goes to the first name.
	want := map[string]string{"net-10-0-1-0-24": "dc1", "net-10-0-2-0-24": "prod", "net-10-0-3-0-24": "prod"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestMemoryBoundedByAddressesAndEdges(t *testing.T) {
	d := New(Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	clients := 40
	for i := range 200_000 {
		c := netip.AddrFrom4([4]byte{10, 0, 1, byte(i % clients)})
		s := netip.AddrFrom4([4]byte{10, 0, 2, byte(rng.IntN(5))})
		port := uint16(32768 + rng.IntN(28000))
		r := model.FlowRecord{Src: c, Dst: s, SrcPort: port, DstPort: 443, Protocol: model.ProtocolTCP, Bytes: 1}
		d.Add(&r)
		r.Src, r.Dst, r.SrcPort, r.DstPort = s, c, 443, port
		d.Add(&r)
	}
	st := d.Stats()
	want := Stats{Records: 400_000, Addresses: clients + 5, Candidates: 2, Edges: 1, Listeners: 5, Pending: 0}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
}

func TestPendingCapDecidesOnArrival(t *testing.T) {
	defer func(n int) { maxPending = n }(maxPending)
	maxPending = 10
	d := New(Options{})
	for i := range 1000 {
		// Both ports ephemeral and never seen serving: unclear.
		r := model.FlowRecord{Src: netip.MustParseAddr("10.0.1.10"), Dst: netip.MustParseAddr("10.0.2.20"),
			SrcPort: uint16(40000 + i), DstPort: 50000, Protocol: model.ProtocolTCP}
		d.Add(&r)
	}
	if st := d.Stats(); st.Pending != 10 {
		t.Errorf("pending = %d, want the cap of 10", st.Pending)
	}
	p := d.Propose()
	if p.Coverage.Allowed != 1000 || p.Coverage.Share != 1 {
		t.Errorf("coverage = %+v", p.Coverage)
	}
	if diff := cmp.Diff([]string{"segment.net-10-0-1-0-24 -> segment.net-10-0-2-0-24: tcp-50000"}, allowSummary(p)); diff != "" {
		t.Errorf("allows (-want +got):\n%s", diff)
	}
}

func TestProposeLeavesStateAlone(t *testing.T) {
	d := New(Options{})
	for _, rs := range threeTier() {
		for i := range rs {
			d.Add(&rs[i])
		}
	}
	var first, second bytes.Buffer
	if err := d.Propose().WriteHCL(&first, "aws.prod"); err != nil {
		t.Fatal(err)
	}
	if err := d.Propose().WriteHCL(&second, "aws.prod"); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("a second Propose differs:\n%s", cmp.Diff(first.String(), second.String()))
	}
}

func TestAggregate(t *testing.T) {
	var addrs []netip.Addr
	for i := range 256 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
	}
	addrs = append(addrs, netip.MustParseAddr("10.0.2.1"), netip.MustParseAddr("10.0.2.2"),
		netip.MustParseAddr("10.0.2.3"), netip.MustParseAddr("10.0.2.4"), netip.MustParseAddr("255.255.255.255"),
		netip.MustParseAddr("fd00::"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
	got := fmt.Sprint(aggregate(addrs))
	want := "[10.0.1.0/24 10.0.2.1/32 10.0.2.2/31 10.0.2.4/32 255.255.255.255/32 fd00::/127 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128]"
	if got != want {
		t.Errorf("aggregate = %s\nwant        %s", got, want)
	}
}

func TestValidate(t *testing.T) {
	pol := model.NewPolicy()
	pol.Targets["prod-use1"] = &model.Target{Name: "prod-use1", Kind: model.KindAWS}
	tests := []struct {
		opts Options
		want string
	}{
		{Options{}, ""},
		{Options{IPv4Prefix: 33}, "IPv4 prefix /33 is out of range"},
		{Options{IPv6Prefix: -1}, "IPv6 prefix /-1 is out of range"},
		{Options{Similarity: -0.1}, "similarity -0.1 is not a Jaccard threshold"},
		{Options{LabelKeys: []string{"app", ""}}, "empty label key"},
		{Options{Internal: []netip.Prefix{{}}}, "invalid internal prefix"},
		{Options{Policy: pol, Target: "prod-use2"}, `target "prod-use2" is not declared in the policy; did you mean "prod-use1"?`},
		{Options{Policy: pol, Target: "staging"}, `target "staging" is not declared in the policy (it declares prod-use1)`},
		{Options{Policy: pol, Target: "aws.prod-use1"}, ""},
		{Options{Policy: pol, Target: "target.aws.prod-use1"}, ""},
		{Options{Policy: pol, Target: "gcp.prod-use1"}, `the policy declares it as target.aws.prod-use1`},
		{Options{Target: "vmware.x"}, `"vmware" is not a target kind`},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		if tt.want == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tt.opts, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
		// New never fails: it falls back to defaults.
		_ = New(tt.opts).Propose()
	}
}

func TestQuote(t *testing.T) {
	got := quote("a\"b\\c\n${x} %{y} $z \x01 \xff é")
	want := `"a\"b\\c\n$${x} %%{y} $z \u0001 \uFFFD é"`
	if got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
	if !slices.Equal([]bool{isIdentifier("app"), isIdentifier("app-name"), isIdentifier("k8s.io/app"), isIdentifier("1x"), isIdentifier("true")}, []bool{true, true, false, false, false}) {
		t.Error("isIdentifier")
	}
}
