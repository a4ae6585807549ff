package onprem

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/microseg/microseg/model"
)

// TableName is the one table microseg owns on a host, in family inet.
const TableName = "microseg"

// Ruleset is the content of table inet microseg, desired or read back from the kernel,
// in one form so that the two can be compared.
type Ruleset struct {
	Present bool // the table exists (a host in no segment has none)
	Chains  []Chain
	Sets    []*Set // sorted by name
	Rules   []Rule // in chain order
}

// Chain is a base chain and its default verdict.
type Chain struct {
	Name   string // "input" or "output"
	Policy string // "drop" or "accept"
}

// Set is a named set and its elements, sorted by text.
type Set struct {
	Spec     SetSpec
	Elements []Element
}

// Rule is one rule of a chain. Rules microseg writes carry their Key in the rule's
// user data, which is how they are recognised when read back; a rule without one was
// added by someone else.
type Rule struct {
	Chain string
	Key   string
	Exprs []expr.Any
}

// The rules' keys, in the order they appear in each chain.
const (
	keyEstablished = "ct-established"
	keyInvalid     = "ct-invalid"
	keyLoopback    = "loopback"
	keyNeighbour   = "icmpv6-nd"
	keyMLD         = "icmpv6-mld2"
	keyLog         = "log"
)

// LogRate bounds how many dropped (or would-drop) packets per second a chain logs:
// enough for audit, never a flood into the log daemon during an attack.
const LogRate = 50

var layouts = []Layout{LayoutExact, LayoutRange, LayoutICMP, LayoutAll}

// layoutOf says which kind of set holds a permit.
func layoutOf(p Permit) Layout {
	switch {
	case p.Port.Protocol == model.ProtocolAll:
		return LayoutAll
	case p.Port.Protocol.IsICMP():
		return LayoutICMP
	case p.Peer.IsSingleIP() && p.Port.Ports.First == p.Port.Ports.Last:
		return LayoutExact
	default:
		return LayoutRange
	}
}

// Build renders a host's policy into the table it must have.
func Build(hp *HostPolicy) *Ruleset {
	if len(hp.Segments) == 0 {
		return &Ruleset{}
	}
	policy, action := "drop", model.FlowDrop
	if hp.Mode == model.ModeAudit {
		policy, action = "accept", model.FlowWouldDrop
	}
	rs := &Ruleset{Present: true, Chains: []Chain{{"input", policy}, {"output", policy}}}
	sets := map[string]*Set{}
	boxes := map[string][]box{} // of interval sets, made disjoint at the end
	add := func(spec SetSpec, peer netip.Prefix, port model.ServicePort) {
		if spec.interval() {
			boxes[spec.Name] = append(boxes[spec.Name], boxOf(spec.Layout, peer, port))
			return
		}
		sets[spec.Name].Elements = append(sets[spec.Name].Elements, newElement(spec, peer, port))
	}
	// Every set exists whether or not it has elements, so that the rules referring to
	// them never change with the policy and a change of allows is a change of elements.
	for _, dir := range []string{"in", "out"} {
		for _, v6 := range []bool{false, true} {
			for _, l := range layouts {
				spec := SetSpec{Name: setName(dir, v6, l), IPv6: v6, Layout: l}
				sets[spec.Name] = &Set{Spec: spec}
			}
		}
	}
	for _, v6 := range []bool{false, true} {
		sets[mgmtName("mgmt", v6)] = &Set{Spec: SetSpec{Name: mgmtName("mgmt", v6), IPv6: v6, Layout: LayoutRange}}
		sets[mgmtName("mgmtout", v6)] = &Set{Spec: SetSpec{Name: mgmtName("mgmtout", v6), IPv6: v6, Layout: LayoutAll}}
	}
	// Every interval set has a companion of revoked elements (see tombstones.go).
	for _, name := range model.SortedKeys(sets) {
		if spec := sets[name].Spec; spec.interval() {
			rev := spec
			rev.Name = revokedName(spec.Name)
			sets[rev.Name] = &Set{Spec: rev}
		}
	}
	for dir, permits := range map[string][]Permit{"in": hp.Ingress, "out": hp.Egress} {
		for _, p := range permits {
			v6 := !p.Peer.Addr().Is4()
			spec := sets[setName(dir, v6, layoutOf(p))].Spec
			add(spec, p.Peer, p.Port)
		}
	}
	all := model.ServicePort{Protocol: model.ProtocolAll}
	for _, m := range hp.Management {
		v6 := !m.Addr().Is4()
		for _, port := range hp.ManagementPorts {
			spec := sets[mgmtName("mgmt", v6)].Spec
			add(spec, m, port)
		}
		spec := sets[mgmtName("mgmtout", v6)].Spec
		add(spec, m, all)
	}
	for name, list := range boxes {
		s := sets[name]
		for _, b := range disjoint(list) {
			s.Elements = append(s.Elements, boxElement(s.Spec, b))
		}
	}
	for _, name := range model.SortedKeys(sets) {
		s := sets[name]
		slices.SortFunc(s.Elements, func(a, b Element) int { return strings.Compare(a.Text, b.Text) })
		s.Elements = slices.CompactFunc(s.Elements, func(a, b Element) bool { return a.Text == b.Text })
		rs.Sets = append(rs.Sets, s)
	}
	for _, chain := range []string{"input", "output"} {
		dir := "in"
		if chain == "output" {
			dir = "out"
		}
		rs.Rules = append(rs.Rules,
			Rule{chain, keyEstablished, ctStateRule(expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, expr.VerdictAccept)},
			Rule{chain, keyInvalid, ctStateRule(expr.CtStateBitINVALID, expr.VerdictDrop)},
			Rule{chain, keyLoopback, loopbackRule(chain)},
			Rule{chain, keyNeighbour, neighbourRule()},
			Rule{chain, keyMLD, mldRule()},
		)
		for _, v6 := range []bool{false, true} {
			if chain == "input" {
				rs.Rules = append(rs.Rules, Rule{chain, mgmtName("mgmt", v6), lookupRule(sets[mgmtName("mgmt", v6)].Spec, true)})
			} else {
				rs.Rules = append(rs.Rules, Rule{chain, mgmtName("mgmtout", v6), lookupRule(sets[mgmtName("mgmtout", v6)].Spec, false)})
			}
			for _, l := range layouts {
				spec := sets[setName(dir, v6, l)].Spec
				rs.Rules = append(rs.Rules, Rule{chain, spec.Name, lookupRule(spec, chain == "input")})
			}
		}
		rs.Rules = append(rs.Rules, Rule{chain, keyLog, logRule(hp.LogGroup, LogPrefix(action, dir))})
	}
	return rs
}

func mgmtName(base string, v6 bool) string {
	if v6 {
		return base + "6"
	}
	return base + "4"
}

// Register numbers: NFT_REG_1 is the 16-byte register that concatenated set keys are
// loaded into; its 4-byte slots are NFT_REG32_00 (8) onwards, so the field after an
// IPv4 address goes to slot 9 and after an IPv6 address to slot 12.
const (
	reg1    = unix.NFT_REG_1
	reg32_0 = 8
)

func ctStateRule(bits uint32, verdict expr.VerdictKind) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: nativeU32(bits), Xor: nativeU32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: nativeU32(0)},
		&expr.Verdict{Kind: verdict},
	}
}

func loopbackRule(chain string) []expr.Any {
	key := expr.MetaKeyIIFNAME
	if chain == "output" {
		key = expr.MetaKeyOIFNAME
	}
	name := make([]byte, unix.IFNAMSIZ)
	copy(name, "lo")
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: name},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// neighbourRule accepts the ICMPv6 messages IPv6 cannot work without: multicast
// listener queries, reports and done (types 130-132; MLDv2 reports, type 143, go by
// mldRule), router and neighbour solicitations and advertisements (133-136). Without
// neighbour discovery nothing connects; without MLD, switches that snoop it stop
// delivering the solicited-node multicast neighbour discovery relies on.
func neighbourRule() []expr.Any { return icmpv6TypesRule(130, 136) }

func mldRule() []expr.Any { return icmpv6TypesRule(143, 143) }

func icmpv6TypesRule(first, last byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		match(first, last),
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// match compares the one-byte register with a value or a range of values.
func match(first, last byte) expr.Any {
	if first == last {
		return &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{first}}
	}
	return &expr.Range{Op: expr.CmpOpEq, Register: reg1, FromData: []byte{first}, ToData: []byte{last}}
}

// lookupRule matches packets whose (peer address, protocol, port) is in the set: the
// source for input, the destination for output.
func lookupRule(spec SetSpec, input bool) []expr.Any {
	nfproto, offset, alen, next := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4), uint32(reg32_0+1)
	if spec.IPv6 {
		nfproto, offset, alen, next = unix.NFPROTO_IPV6, 8, 16, reg32_0+4
	}
	if !input {
		offset += alen // daddr follows saddr in both headers
	}
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{nfproto}},
	}
	if spec.Layout == LayoutICMP {
		proto := byte(unix.IPPROTO_ICMP)
		if spec.IPv6 {
			proto = unix.IPPROTO_ICMPV6
		}
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
		)
	}
	exprs = append(exprs, &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: alen})
	switch spec.Layout {
	case LayoutICMP:
		exprs = append(exprs, &expr.Payload{DestRegister: next, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1})
	case LayoutAll:
		exprs = append(exprs, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next})
	default:
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
			&expr.Payload{DestRegister: next + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		)
	}
	exprs = append(exprs, &expr.Lookup{SourceRegister: reg1, SetName: spec.Name})
	if spec.interval() {
		// The key is still in the registers: accept only if it is not revoked.
		exprs = append(exprs, &expr.Lookup{SourceRegister: reg1, SetName: revokedName(spec.Name), Invert: true})
	}
	return append(exprs, &expr.Verdict{Kind: expr.VerdictAccept})
}

// logRule ends each chain: count what falls through, and log it to NFLOG, rate-limited.
func logRule(group uint16, prefix string) []expr.Any {
	return []expr.Any{
		&expr.Counter{},
		&expr.Limit{Type: expr.LimitTypePkts, Rate: LogRate, Unit: expr.LimitTimeSecond, Burst: 5},
		&expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_PREFIX, Group: group, Data: []byte(prefix)},
	}
}

func nativeU32(v uint32) []byte {
	b := make([]byte, 4)
	nativeEndian.PutUint32(b, v)
	return b
}

// chainPolicy converts between the canonical name and nftables' value.
func chainPolicy(name string) *nftables.ChainPolicy {
	p := nftables.ChainPolicyDrop
	if name == "accept" {
		p = nftables.ChainPolicyAccept
	}
	return &p
}
