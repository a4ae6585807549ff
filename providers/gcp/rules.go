package gcp

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/compute/apiv1/computepb"

	"github.com/microseg/microseg/model"
)

// Priorities: every allow before every deny, and both before GCP's implied rules
// (65535), so that an enforce-mode segment's deny-all ends what its allows permit.
const (
	allowPriority int32 = 1000
	denyPriority  int32 = 65000
)

// tagPrefix makes a segment's network tag: microseg-<segment>.
const tagPrefix = "microseg-"

// markOf is the ownership mark every description microseg writes for a target
// ends with: it tells microseg's rules from others, and one target's from another's
// whose name its own starts with.
func markOf(target string) string { return markStart + target + "]" }

// markStart begins every target's mark.
const markStart = "[microseg-managed target="

// protoPorts is one entry of a firewall's allowed or denied list.
type protoPorts struct {
	protocol string   // lower-case name ("tcp", "icmp", "all") or a number
	ports    []string // "443", "8000-8080"; none for every port
}

// fwSpec is one VPC firewall rule in microseg's typed form: what Desired wants
// (Desired.State) and what Observe read. Lists are sorted and normalized, so that
// two specs of one rule compare equal however GCP spelled it.
type fwSpec struct {
	name        string
	segment     string // the segment whose tag it targets
	ingress     bool
	deny        bool
	priority    int32
	ranges      []string // sourceRanges (ingress) or destinationRanges (egress)
	sourceTags  []string
	targetTags  []string
	protocols   []protoPorts
	description string
	disabled    bool
	// addressedBy says, for an egress rule to a peer segment of the network, how
	// its destinations were found: "cidrs" or "member addresses".
	addressedBy map[string]string
}

// equal reports whether two specs are the same rule to GCP (names aside).
func (f *fwSpec) equal(g *fwSpec) bool {
	return f.ingress == g.ingress && f.deny == g.deny && f.priority == g.priority && slices.Equal(f.ranges, g.ranges) &&
		slices.Equal(f.sourceTags, g.sourceTags) && slices.Equal(f.targetTags, g.targetTags) && f.description == g.description &&
		f.disabled == g.disabled && slices.EqualFunc(f.protocols, g.protocols, func(a, b protoPorts) bool {
		return a.protocol == b.protocol && slices.Equal(a.ports, b.ports)
	})
}

// keys are the model rules a firewall rule enforces, keyed as the model keys
// them: one per peer (source tag or range) and port. A deny-all is "web ingress
// deny all" whatever its ranges.
func (f *fwSpec) keys() []string {
	dir, word := "ingress", " from "
	if !f.ingress {
		dir, word = "egress", " to "
	}
	local := "[" + strings.Join(f.targetTags, ",") + "]"
	if f.segment != "" {
		local = f.segment
	}
	if f.deny && len(f.protocols) == 1 && f.protocols[0].protocol == "all" && len(f.sourceTags) == 0 &&
		(len(f.ranges) == 1 && (f.ranges[0] == "0.0.0.0/0" || f.ranges[0] == "::/0")) {
		return []string{local + " " + dir + " deny all"}
	}
	if f.deny {
		dir += " deny"
	}
	var peers []string
	for _, t := range f.sourceTags {
		if seg, ok := strings.CutPrefix(t, tagPrefix); ok {
			peers = append(peers, "segment."+seg)
		} else {
			peers = append(peers, "tag."+t)
		}
	}
	peers = append(peers, f.ranges...)
	var out []string
	for _, peer := range peers {
		for _, p := range f.protocols {
			for _, port := range portTexts(p) {
				out = append(out, local+" "+dir+word+peer+" "+port)
			}
		}
	}
	return out
}

// portTexts prints one allowed entry as the model's port specs.
func portTexts(p protoPorts) []string {
	if len(p.ports) == 0 {
		return []string{p.protocol}
	}
	out := make([]string, len(p.ports))
	for i, port := range p.ports {
		out[i] = p.protocol + "/" + port
	}
	return out
}

// protocolOf is the GCP form of a model port: its protocol, and its port range
// for tcp, udp and sctp. GCP cannot match ICMP types: icmp/8 is all of ICMP.
func protocolOf(sp model.ServicePort) (protocol, ports string) {
	switch pr := sp.Protocol; {
	case pr == model.ProtocolAll:
		return "all", ""
	case pr.HasPorts():
		if sp.AllPorts() {
			return pr.String(), ""
		}
		ports = strconv.Itoa(int(sp.Ports.First))
		if sp.Ports.Last != sp.Ports.First {
			ports += "-" + strconv.Itoa(int(sp.Ports.Last))
		}
		return pr.String(), ports
	case pr == model.ProtocolICMPv6:
		return "58", "" // GCP names ICMPv6 by its number
	}
	return sp.Protocol.String(), ""
}

// specFromFirewall reads a firewall rule as GCP returns it.
func specFromFirewall(fw *computepb.Firewall) *fwSpec {
	f := &fwSpec{
		name:        fw.GetName(),
		ingress:     fw.GetDirection() != "EGRESS",
		priority:    fw.GetPriority(),
		sourceTags:  sortedCopy(fw.GetSourceTags()),
		targetTags:  sortedCopy(fw.GetTargetTags()),
		description: fw.GetDescription(),
		disabled:    fw.GetDisabled(),
	}
	if fw.Priority == nil {
		f.priority = 1000 // GCP's default
	}
	ranges := fw.GetSourceRanges()
	if !f.ingress {
		ranges = fw.GetDestinationRanges()
	}
	for _, r := range ranges {
		f.ranges = append(f.ranges, normalizeRange(r))
	}
	slices.Sort(f.ranges)
	f.ranges = slices.Compact(f.ranges)
	for _, a := range fw.GetAllowed() {
		f.protocols = append(f.protocols, protoPorts{protocol: normalizeProtocol(a.GetIPProtocol()), ports: normalizePorts(a.GetPorts())})
	}
	for _, d := range fw.GetDenied() {
		f.deny = true
		f.protocols = append(f.protocols, protoPorts{protocol: normalizeProtocol(d.GetIPProtocol()), ports: normalizePorts(d.GetPorts())})
	}
	sortProtocols(f.protocols)
	if len(f.targetTags) == 1 {
		f.segment, _ = strings.CutPrefix(f.targetTags[0], tagPrefix)
		if f.segment == f.targetTags[0] {
			f.segment = ""
		}
	}
	return f
}

// firewall is the GCP form of f on network (a URL or partial path).
func (f *fwSpec) firewall(network string) *computepb.Firewall {
	dir := "INGRESS"
	if !f.ingress {
		dir = "EGRESS"
	}
	fw := &computepb.Firewall{
		Name: ptr(f.name), Network: ptr(network), Direction: ptr(dir), Priority: ptr(f.priority),
		Description: ptr(f.description), TargetTags: f.targetTags, Disabled: ptr(f.disabled),
	}
	if f.ingress {
		fw.SourceRanges, fw.SourceTags = f.ranges, f.sourceTags
	} else {
		fw.DestinationRanges = f.ranges
	}
	for _, p := range f.protocols {
		if f.deny {
			fw.Denied = append(fw.Denied, &computepb.Denied{IPProtocol: ptr(p.protocol), Ports: p.ports})
		} else {
			fw.Allowed = append(fw.Allowed, &computepb.Allowed{IPProtocol: ptr(p.protocol), Ports: p.ports})
		}
	}
	return fw
}

// protocolNumbers are the names GCP takes for protocols it also knows by number.
var protocolNumbers = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "50": "esp", "51": "ah", "132": "sctp", "4": "ipip"}

// normalizeProtocol writes a protocol as microseg sends it: lower-case names for
// the protocols GCP names, numbers otherwise (ICMPv6 is "58").
func normalizeProtocol(p string) string {
	p = strings.ToLower(p)
	if name, ok := protocolNumbers[p]; ok {
		return name
	}
	return p
}

// normalizePorts sorts port specs and writes "443-443" as "443"; "0-65535" (every
// port) as none.
func normalizePorts(ports []string) []string {
	var out []string
	for _, p := range ports {
		if a, b, ok := strings.Cut(p, "-"); ok && a == b {
			p = a
		}
		if p == "0-65535" || p == "1-65535" {
			return nil
		}
		out = append(out, p)
	}
	slices.SortFunc(out, comparePorts)
	return slices.Compact(out)
}

// comparePorts orders port specs by their first port.
func comparePorts(a, b string) int {
	first := func(s string) int {
		n, _ := strconv.Atoi(strings.SplitN(s, "-", 2)[0])
		return n
	}
	return cmp.Or(cmp.Compare(first(a), first(b)), strings.Compare(a, b))
}

func sortProtocols(ps []protoPorts) {
	slices.SortFunc(ps, func(a, b protoPorts) int {
		return cmp.Or(strings.Compare(a.protocol, b.protocol), slices.CompareFunc(a.ports, b.ports, comparePorts))
	})
}

// normalizeRange writes a range as the model does: masked, shortest IPv6 form, a
// bare address as a /32 or /128.
func normalizeRange(r string) string {
	if p, err := netip.ParsePrefix(r); err == nil {
		return p.Masked().String()
	}
	if a, err := netip.ParseAddr(r); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return r
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func ptr[T any](v T) *T { return &v }

// ruleName is a valid, deterministic firewall name that carries the target's name
// (names are unique per project): "ms-<target>-<rest>", shortened with a hash of the
// whole when over 63 characters, never truncated into a collision.
func ruleName(target, rest string) string {
	name := sanitizeName("ms-" + target + "-" + rest)
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return strings.TrimRight(name[:54], "-") + "-" + hex.EncodeToString(sum[:4])
}

// sanitizeName keeps [-a-z0-9], lower-casing, and writes '-' for anything else;
// the result starts with a letter and does not end with '-'.
func sanitizeName(s string) string {
	out := []byte(strings.ToLower(s))
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			out[i] = '-'
		}
	}
	return strings.TrimRight(string(out), "-")
}
