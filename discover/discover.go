package discover

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
)

// Defaults of Options, applied by New to zero fields.
const (
	DefaultIPv4Prefix = 24
	DefaultIPv6Prefix = 64
	DefaultSimilarity = 0.8
)

// DefaultLabelKeys are the inventory label keys that group addresses, in the order
// they make up a segment's name.
var DefaultLabelKeys = []string{"app", "role", "tier"}

// maxPending caps the flows whose service port waits for Propose; see the package
// documentation. A variable so that tests can exercise the overflow.
var maxPending = 1 << 18

// Options tunes discovery. The zero value is usable: every field has a default.
type Options struct {
	// Target is the target the proposed segments live in, by name ("prod-use1") or
	// as a reference without "target." ("aws.prod-use1"), which also tells WriteHCL
	// its kind. It must exist in the user's policy (Validate checks it when Policy is
	// set). Empty means each record's own Target: a group goes to the target whose
	// logs mention it most (ties: the name that sorts first).
	Target string
	// IPv4Prefix and IPv6Prefix are the subnet sizes of the first grouping (default
	// 24 and 64).
	IPv4Prefix, IPv6Prefix int
	// Labels are workload labels (or tags) by address from a provider inventory.
	// Addresses with any of LabelKeys group by those labels before subnets do.
	Labels map[netip.Addr]map[string]string
	// LabelKeys are the label keys that group addresses (default app, role, tier).
	LabelKeys []string
	// Similarity is the Jaccard similarity of traffic at or above which two subnet
	// groups merge (default 0.8). A value above 1 turns merging off.
	Similarity float64
	// MinFlows drops candidate edges seen in fewer flows, as noise (0 and 1 keep all).
	MinFlows uint64
	// Internal lists more prefixes whose addresses are workloads rather than public
	// peers: public IPv4 ranges or IPv6 global unicast space the user owns (an AWS
	// VPC's IPv6 block, for instance).
	Internal []netip.Prefix
	// Policy is the user's policy, optional. It gives target kinds (for WriteHCL), the
	// hosts of hosts targets (for their members), names to keep clear of, and services
	// and networks that can be reused instead of declared again.
	Policy *model.Policy
}

// Validate reports the first option that makes no sense, saying which and why.
// New never fails: it replaces what Validate would reject by the default.
func (o Options) Validate() error {
	var errs []error
	if o.IPv4Prefix < 0 || o.IPv4Prefix > 32 {
		errs = append(errs, fmt.Errorf("IPv4 prefix /%d is out of range: give 1 to 32 (default %d)", o.IPv4Prefix, DefaultIPv4Prefix))
	}
	if o.IPv6Prefix < 0 || o.IPv6Prefix > 128 {
		errs = append(errs, fmt.Errorf("IPv6 prefix /%d is out of range: give 1 to 128 (default %d)", o.IPv6Prefix, DefaultIPv6Prefix))
	}
	if math.IsNaN(o.Similarity) || o.Similarity < 0 {
		errs = append(errs, fmt.Errorf("similarity %v is not a Jaccard threshold: give 0 to 1 (default %v), or more than 1 to merge nothing", o.Similarity, DefaultSimilarity))
	}
	for _, k := range o.LabelKeys {
		if k == "" {
			errs = append(errs, errors.New("empty label key: every grouping label key needs a name"))
			break
		}
	}
	for _, p := range o.Internal {
		if !p.IsValid() {
			errs = append(errs, errors.New("invalid internal prefix"))
			break
		}
	}
	kind, name, kindErr := splitTarget(o.Target)
	if kindErr != nil {
		errs = append(errs, kindErr)
	}
	if o.Policy != nil && name != "" && kindErr == nil {
		if t, ok := o.Policy.Targets[name]; ok && kind != "" && t.Kind != kind {
			errs = append(errs, fmt.Errorf("target %q: the policy declares it as target.%s.%s", o.Target, t.Kind, name))
		} else if !ok {
			msg := fmt.Sprintf("target %q is not declared in the policy", name)
			if best, ok := model.ClosestName(name, model.SortedKeys(o.Policy.Targets)); ok {
				msg += fmt.Sprintf("; did you mean %q?", best)
			} else if names := model.SortedKeys(o.Policy.Targets); len(names) > 0 {
				msg += fmt.Sprintf(" (it declares %s)", strings.Join(names, ", "))
			}
			errs = append(errs, errors.New(msg))
		}
	}
	return errors.Join(errs...)
}

// splitTarget reads Options.Target: "NAME", "KIND.NAME" or "target.KIND.NAME".
func splitTarget(ref string) (model.TargetKind, string, error) {
	ref = strings.TrimPrefix(ref, "target.")
	k, n, ok := strings.Cut(ref, ".")
	if !ok {
		return "", ref, nil
	}
	if !slices.Contains(model.TargetKinds, model.TargetKind(k)) {
		return "", "", fmt.Errorf("target %q: %q is not a target kind (aws, azure, gcp or hosts)", ref, k)
	}
	if n == "" || strings.Contains(n, ".") {
		return "", "", fmt.Errorf("target %q: write NAME or KIND.NAME, like aws.prod-use1", ref)
	}
	return model.TargetKind(k), n, nil
}

// normalized returns the options with defaults in place of zero or invalid values.
func (o Options) normalized() (Options, model.TargetKind) {
	kind, name, err := splitTarget(o.Target)
	if err == nil {
		o.Target = name
	}
	if o.IPv4Prefix <= 0 || o.IPv4Prefix > 32 {
		o.IPv4Prefix = DefaultIPv4Prefix
	}
	if o.IPv6Prefix <= 0 || o.IPv6Prefix > 128 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if math.IsNaN(o.Similarity) || o.Similarity <= 0 {
		o.Similarity = DefaultSimilarity
	}
	if len(o.LabelKeys) == 0 {
		o.LabelKeys = DefaultLabelKeys
	}
	return o, kind
}

// Discoverer accumulates flow records into candidate groups and edges. It is not safe
// for concurrent use: feed it from one goroutine (or merge under a lock).
type Discoverer struct {
	opts       Options
	targetKind model.TargetKind // from Options.Target, when it said
	internal   []netip.Prefix

	addrs     map[netip.Addr]int32 // address -> candidate
	cands     []*candidate
	candIndex map[candKey]int32
	public    int32 // the candidate of every public address, -1 until one is seen

	edges     map[edgeKey]*flowStats
	listeners map[socket]struct{}
	pending   map[pendingKey]*flowStats
	fanIn     map[socket]int32 // distinct peer sockets of each socket among pending flows

	counts      counts
	first, last time.Time
}

// counts are the record tallies behind Coverage.
type counts struct {
	observed, unsupported, rejected, publicOnly, skipped uint64
	records                                              uint64
}

// New returns an empty Discoverer.
func New(opts Options) *Discoverer {
	opts, kind := opts.normalized()
	d := &Discoverer{
		opts:       opts,
		targetKind: kind,
		internal:   append(append([]netip.Prefix(nil), internalPrefixes...), opts.Internal...),
		addrs:      map[netip.Addr]int32{},
		candIndex:  map[candKey]int32{},
		public:     -1,
		edges:      map[edgeKey]*flowStats{},
		listeners:  map[socket]struct{}{},
		pending:    map[pendingKey]*flowStats{},
		fanIn:      map[socket]int32{},
	}
	return d
}

// Stats is the size of a Discoverer's state, for progress output and for checking the
// memory bound.
type Stats struct {
	Records    uint64 // records given to Add
	Addresses  int    // distinct addresses
	Candidates int    // candidate groups (subnets, label sets, the public peers)
	Edges      int    // candidate edges
	Listeners  int    // listening sockets kept as evidence
	Pending    int    // flows whose service port waits for Propose
}

// Stats reports the size of the state.
func (d *Discoverer) Stats() Stats {
	return Stats{
		Records:    d.counts.records,
		Addresses:  len(d.addrs),
		Candidates: len(d.cands),
		Edges:      len(d.edges),
		Listeners:  len(d.listeners),
		Pending:    len(d.pending),
	}
}

// flowStats sums the flows of an edge.
type flowStats struct {
	flows, bytes, packets uint64
	first, last           time.Time
}

func (s *flowStats) add(r *model.FlowRecord) {
	s.flows++
	s.bytes += r.Bytes
	s.packets += r.Packets
	s.addTime(r.Time)
}

func (s *flowStats) addTime(t time.Time) {
	if t.IsZero() {
		return
	}
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

func (s *flowStats) merge(o *flowStats) {
	s.flows += o.flows
	s.bytes += o.bytes
	s.packets += o.packets
	s.addTime(o.first)
	s.addTime(o.last)
}

// edgeKey is one dependency between candidates: clients of one talk to servers of the
// other on one service port.
type edgeKey struct {
	client, server int32
	proto          model.Protocol
	port           uint16
}

// socket is one server address's service port.
type socket struct {
	addr  netip.Addr
	proto model.Protocol
	port  uint16
}

// pendingKey is a flow whose service port is unclear, with its ends in a canonical
// order (a before b) so that a request and its reply share a key.
type pendingKey struct {
	a, b   netip.Addr
	proto  model.Protocol
	pa, pb uint16
}

// Add counts one flow record. It never fails: records it cannot use are counted by
// kind (dropped, skipped, public only, unsupported protocol) in the Coverage.
func (d *Discoverer) Add(r *model.FlowRecord) {
	d.counts.records++
	if r.Action == model.FlowDrop {
		d.counts.rejected++
		return
	}
	src, dst := r.Src.Unmap().WithZone(""), r.Dst.Unmap().WithZone("")
	if !usable(src) || !usable(dst) {
		d.counts.skipped++
		return
	}
	if d.isPublic(src) && d.isPublic(dst) {
		d.counts.publicOnly++
		return
	}
	d.counts.observed++
	if !r.Time.IsZero() {
		if d.first.IsZero() || r.Time.Before(d.first) {
			d.first = r.Time
		}
		if r.Time.After(d.last) {
			d.last = r.Time
		}
	}
	target := d.opts.Target
	if target == "" {
		target = r.Target
	}
	switch {
	case r.Protocol.IsICMP() && r.DstPort > 255:
		d.counts.unsupported++ // not an ICMP type
	case r.Protocol.IsICMP():
		typ := r.DstPort
		if echo, ok := echoRequestOf(r.Protocol, typ); ok { // a reply: count its request
			d.addEdge(dst, src, r.Protocol, echo, target, r)
			return
		}
		d.addEdge(src, dst, r.Protocol, typ, target, r)
	case r.Protocol.HasPorts() && (r.SrcPort == 0 || r.DstPort == 0):
		// Port 0 is not a TCP, UDP or SCTP port: a fragment or a log without
		// ports. No service can name it.
		d.counts.unsupported++
	case r.Protocol.HasPorts():
		switch serverSide(r.Protocol, r.SrcPort, r.DstPort) {
		case sideDst:
			d.listeners[socket{dst, r.Protocol, r.DstPort}] = struct{}{}
			d.addEdge(src, dst, r.Protocol, r.DstPort, target, r)
		case sideSrc:
			d.listeners[socket{src, r.Protocol, r.SrcPort}] = struct{}{}
			d.addEdge(dst, src, r.Protocol, r.SrcPort, target, r)
		default:
			d.addUnclear(src, dst, r, target)
		}
	default:
		d.counts.unsupported++
	}
}

// addUnclear places a flow whose ports do not say which side serves.
func (d *Discoverer) addUnclear(src, dst netip.Addr, r *model.FlowRecord, target string) {
	dstListens := d.serves(socket{dst, r.Protocol, r.DstPort})
	srcListens := d.serves(socket{src, r.Protocol, r.SrcPort})
	switch {
	case dstListens && !srcListens:
		d.addEdge(src, dst, r.Protocol, r.DstPort, target, r)
		return
	case srcListens && !dstListens:
		d.addEdge(dst, src, r.Protocol, r.SrcPort, target, r)
		return
	}
	key := pendingKey{src, dst, r.Protocol, r.SrcPort, r.DstPort}
	if c := src.Compare(dst); c > 0 || (c == 0 && r.SrcPort > r.DstPort) {
		key = pendingKey{dst, src, r.Protocol, r.DstPort, r.SrcPort}
	}
	s, ok := d.pending[key]
	if !ok && len(d.pending) >= maxPending {
		// Full: decide now, by the fan-in so far, then the lower port, then the
		// destination.
		if d.srcServes(socket{src, r.Protocol, r.SrcPort}, socket{dst, r.Protocol, r.DstPort}) {
			d.addEdge(dst, src, r.Protocol, r.SrcPort, target, r)
		} else {
			d.addEdge(src, dst, r.Protocol, r.DstPort, target, r)
		}
		return
	}
	if !ok {
		s = &flowStats{}
		d.pending[key] = s
		d.fanIn[socket{src, r.Protocol, r.SrcPort}]++
		d.fanIn[socket{dst, r.Protocol, r.DstPort}]++
	}
	// Register both ends now, as addEdge would, so that candidates and target
	// counts do not depend on when Propose resolves the flow.
	d.touch(src, target)
	d.touch(dst, target)
	s.add(r)
}

// srcServes decides an unclear flow between two sockets: the one with more distinct
// peer sockets among the unclear flows serves (a server port is met by many client
// ports, a client port by one server), then the lower port, then the destination.
func (d *Discoverer) srcServes(src, dst socket) bool {
	ns, nd := d.fanIn[src], d.fanIn[dst]
	return ns > nd || (ns == nd && src.port < dst.port)
}

func (d *Discoverer) serves(s socket) bool {
	_, ok := d.listeners[s]
	return ok
}

// addEdge counts one flow from client to server on port.
func (d *Discoverer) addEdge(client, server netip.Addr, proto model.Protocol, port uint16, target string, r *model.FlowRecord) {
	key := edgeKey{d.touch(client, target), d.touch(server, target), proto, port}
	s, ok := d.edges[key]
	if !ok {
		s = &flowStats{}
		d.edges[key] = s
	}
	s.add(r)
}

// touch returns the candidate of addr, creating it on first sight, and counts the
// record's target for it.
func (d *Discoverer) touch(addr netip.Addr, target string) int32 {
	id, ok := d.addrs[addr]
	if !ok {
		id = d.candidateFor(addr)
		d.addrs[addr] = id
	}
	if c := d.cands[id]; !c.public && d.opts.Target == "" && target != "" {
		if c.targets == nil {
			c.targets = map[string]uint64{}
		}
		c.targets[target]++
	}
	return id
}

// echoRequestOf maps an echo reply type to its request's type.
func echoRequestOf(proto model.Protocol, typ uint16) (uint16, bool) {
	switch {
	case proto == model.ProtocolICMP && typ == 0:
		return 8, true
	case proto == model.ProtocolICMPv6 && typ == 129:
		return 128, true
	}
	return 0, false
}

// side says which end of a flow serves.
type side uint8

const (
	sideUnclear side = iota
	sideDst
	sideSrc
)

// serverSide applies the port rules of the package documentation.
func serverSide(proto model.Protocol, sport, dport uint16) side {
	_, srcKnown := wellKnown[model.ServicePort{Protocol: proto, Ports: model.PortRange{First: sport, Last: sport}}]
	_, dstKnown := wellKnown[model.ServicePort{Protocol: proto, Ports: model.PortRange{First: dport, Last: dport}}]
	switch {
	case dstKnown && !srcKnown:
		return sideDst
	case srcKnown && !dstKnown:
		return sideSrc
	case dport < 1024 && sport >= 1024:
		return sideDst
	case sport < 1024 && dport >= 1024:
		return sideSrc
	case dport < 32768 && sport >= 32768:
		return sideDst
	case sport < 32768 && dport >= 32768:
		return sideSrc
	}
	return sideUnclear
}
