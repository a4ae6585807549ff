package discover

import (
	"net/netip"
	"strings"
)

// internalPrefixes are the private address ranges: RFC 1918, CGNAT (RFC 6598) and
// IPv6 unique local addresses (RFC 4193). Addresses outside them are public peers
// unless Options.Internal or Options.Labels say otherwise.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// usable reports whether an address can be one end of a dependency: not loopback,
// link-local, multicast or unspecified, which never cross an enforcement point.
func usable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		!a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !a.IsInterfaceLocalMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func (d *Discoverer) isPublic(a netip.Addr) bool {
	if id, ok := d.addrs[a]; ok {
		return d.cands[id].public
	}
	if _, ok := d.opts.Labels[a]; ok {
		return false
	}
	for _, p := range d.internal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// candKind says how a candidate group was formed.
type candKind uint8

const (
	candSubnet candKind = iota
	candLabels
	candPublic
)

// candKey identifies a candidate group.
type candKey struct {
	kind   candKind
	subnet netip.Prefix // candSubnet
	labels string       // candLabels: "key=value" pairs in LabelKeys order, NUL-separated
}

// candidate is a first group of addresses: a subnet, a set of labels, or the public
// peers.
type candidate struct {
	key     candKey
	labels  map[string]string // the grouping labels of a candLabels candidate
	public  bool
	v4, v6  bool              // families seen (for the public candidate's CIDRs)
	targets map[string]uint64 // records mentioning it, by the record's target
}

// candidateFor returns the candidate a new address joins, creating it if needed.
func (d *Discoverer) candidateFor(a netip.Addr) int32 {
	var key candKey
	var labels map[string]string
	switch {
	case d.isPublic(a):
		key = candKey{kind: candPublic}
	default:
		if l := d.opts.Labels[a]; len(l) > 0 {
			var b strings.Builder
			for _, k := range d.opts.LabelKeys {
				if v, ok := l[k]; ok {
					if labels == nil {
						labels = map[string]string{}
					}
					labels[k] = v
					b.WriteString(k)
					b.WriteByte('=')
					b.WriteString(v)
					b.WriteByte(0)
				}
			}
			if labels != nil {
				key = candKey{kind: candLabels, labels: b.String()}
				break
			}
		}
		bits := d.opts.IPv4Prefix
		if a.Is6() {
			bits = d.opts.IPv6Prefix
		}
		key = candKey{kind: candSubnet, subnet: netip.PrefixFrom(a, bits).Masked()}
	}
	id, ok := d.candIndex[key]
	if !ok {
		id = int32(len(d.cands))
		d.cands = append(d.cands, &candidate{key: key, labels: labels, public: key.kind == candPublic})
		d.candIndex[key] = id
		if key.kind == candPublic {
			d.public = id
		}
	}
	c := d.cands[id]
	if a.Is4() {
		c.v4 = true
	} else {
		c.v6 = true
	}
	return id
}
