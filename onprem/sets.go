package onprem

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables"

	"github.com/microseg/microseg/model"
)

// Layout is the key of a set: which packet fields its elements match.
type Layout uint8

// Set layouts. Exact holds single addresses with single ports, in a hash set whose
// lookup cost stays flat at any size; Range holds prefixes and port ranges, in a
// concatenated interval set (the kernel's pipapo), needed only for those. ICMP keys on
// the message type, All on the protocol alone.
const (
	LayoutExact Layout = iota // addr . l4proto . dport, single values
	LayoutRange               // addr . l4proto . dport, intervals
	LayoutICMP                // addr . icmp type, intervals
	LayoutAll                 // addr . l4proto, intervals
)

func (l Layout) String() string {
	return [...]string{"exact", "range", "icmp", "all"}[l]
}

// SetSpec identifies one of the table's sets.
type SetSpec struct {
	Name   string
	IPv6   bool
	Layout Layout
}

// keyType is the nftables key type of the set.
func (s SetSpec) keyType() nftables.SetDatatype {
	addr := nftables.TypeIPAddr
	icmp := nftables.TypeICMPType
	if s.IPv6 {
		addr, icmp = nftables.TypeIP6Addr, nftables.TypeICMP6Type
	}
	switch s.Layout {
	case LayoutICMP:
		return nftables.MustConcatSetType(addr, icmp)
	case LayoutAll:
		return nftables.MustConcatSetType(addr, nftables.TypeInetProto)
	default:
		return nftables.MustConcatSetType(addr, nftables.TypeInetProto, nftables.TypeInetService)
	}
}

func (s SetSpec) interval() bool { return s.Layout != LayoutExact }

// Describe is the set's declaration as nft prints it, the canonical form compared for drift.
func (s SetSpec) Describe() string {
	d := s.keyType().Name
	if s.interval() {
		d += "; flags interval"
	}
	return d
}

// Element is one set element: its canonical text (compared, printed) and the bytes
// the kernel stores.
type Element struct {
	Text   string
	Key    []byte
	KeyEnd []byte // the inclusive end of an interval element; nil in an exact set
}

// field widths in a concatenated key: each field is padded to 4 bytes.
func addrField(a netip.Addr) []byte { return a.AsSlice() }

func u8Field(v uint8) []byte { return []byte{v, 0, 0, 0} }

func u16Field(v uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, v)
	return b
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 7; j >= 0; j-- {
			if i*8+(7-j) >= bits {
				b[i] |= 1 << j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// protoText names the protocol in element texts, as nft does.
func protoText(p model.Protocol) string { return p.String() }

// box is what an interval element matches: an address range times a range of the
// set's second field (port, ICMP type, or protocol for the all layout) for one
// protocol.
type box struct {
	proto  model.Protocol
	lo, hi netip.Addr
	plo    uint16
	phi    uint16
}

// boxOf is the box a permit covers in a set of the given layout.
func boxOf(layout Layout, peer netip.Prefix, port model.ServicePort) box {
	b := box{proto: port.Protocol, lo: peer.Masked().Addr(), hi: lastAddr(peer), plo: port.Ports.First, phi: port.Ports.Last}
	if layout == LayoutAll {
		b.plo, b.phi = uint16(port.Protocol), uint16(port.Protocol)
		if port.Protocol == model.ProtocolAll {
			b.plo, b.phi = 0, 255
		}
	}
	return b
}

// newElement builds the element that permits peer on port in a set of the given spec.
func newElement(spec SetSpec, peer netip.Prefix, port model.ServicePort) Element {
	return boxElement(spec, boxOf(spec.Layout, peer, port))
}

// boxElement builds the element for a box; in an exact set the box is one address
// and one port.
func boxElement(spec SetSpec, b box) Element {
	addrText := addrRangeText(b.lo, b.hi)
	switch spec.Layout {
	case LayoutExact:
		return Element{
			Text: fmt.Sprintf("%s . %s . %d", addrText, protoText(b.proto), b.plo),
			Key:  concat(addrField(b.lo), u8Field(uint8(b.proto)), u16Field(b.plo)),
		}
	case LayoutICMP:
		return Element{
			Text:   fmt.Sprintf("%s . %s", addrText, rangeText(b.plo, b.phi)),
			Key:    concat(addrField(b.lo), u8Field(uint8(b.plo))),
			KeyEnd: concat(addrField(b.hi), u8Field(uint8(b.phi))),
		}
	case LayoutAll:
		text := protoText(model.Protocol(b.plo))
		if b.plo != b.phi {
			text = "all"
			if b.plo != 0 || b.phi != 255 {
				text = rangeText(b.plo, b.phi)
			}
		}
		return Element{
			Text:   fmt.Sprintf("%s . %s", addrText, text),
			Key:    concat(addrField(b.lo), u8Field(uint8(b.plo))),
			KeyEnd: concat(addrField(b.hi), u8Field(uint8(b.phi))),
		}
	default:
		return Element{
			Text:   fmt.Sprintf("%s . %s . %s", addrText, protoText(b.proto), rangeText(b.plo, b.phi)),
			Key:    concat(addrField(b.lo), u8Field(uint8(b.proto)), u16Field(b.plo)),
			KeyEnd: concat(addrField(b.hi), u8Field(uint8(b.proto)), u16Field(b.phi)),
		}
	}
}

func rangeText(lo, hi uint16) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// decodeElement gives the canonical text of an element read back from the kernel,
// the inverse of newElement; an element it cannot read is named by its bytes, so that
// it still shows up as drift.
func decodeElement(spec SetSpec, key, keyEnd []byte) string {
	alen := 4
	if spec.IPv6 {
		alen = 16
	}
	want := alen + 8
	if spec.Layout == LayoutICMP || spec.Layout == LayoutAll {
		want = alen + 4
	}
	if len(key) != want || (spec.interval() && len(keyEnd) != want) {
		return fmt.Sprintf("raw %x-%x", key, keyEnd)
	}
	if !spec.interval() {
		keyEnd = key
	}
	first, _ := netip.AddrFromSlice(key[:alen])
	last, _ := netip.AddrFromSlice(keyEnd[:alen])
	addr := addrRangeText(first, last)
	switch spec.Layout {
	case LayoutExact:
		return fmt.Sprintf("%s . %s . %d", addr, protoText(model.Protocol(key[alen])), binary.BigEndian.Uint16(key[alen+4:]))
	case LayoutICMP:
		return fmt.Sprintf("%s . %s", addr, rangeText(uint16(key[alen]), uint16(keyEnd[alen])))
	case LayoutAll:
		switch lo, hi := key[alen], keyEnd[alen]; {
		case lo == 0 && hi == 255:
			return addr + " . all"
		case lo == hi:
			return fmt.Sprintf("%s . %s", addr, protoText(model.Protocol(lo)))
		default:
			return fmt.Sprintf("%s . %s", addr, rangeText(uint16(lo), uint16(hi)))
		}
	default:
		lo, hi := binary.BigEndian.Uint16(key[alen+4:]), binary.BigEndian.Uint16(keyEnd[alen+4:])
		return fmt.Sprintf("%s . %s . %s", addr, protoText(model.Protocol(key[alen])), rangeText(lo, hi))
	}
}

// addrRangeText prints an address range as a prefix when it is one.
func addrRangeText(first, last netip.Addr) string {
	if first == last {
		return first.String()
	}
	for bits := 0; bits <= first.BitLen(); bits++ {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() == first && lastAddr(p) == last {
			return p.String()
		}
	}
	return first.String() + "-" + last.String()
}

// setName is the name of the set for a direction, address family and layout, e.g.
// "in4_exact", "out6_range"; management sets are "mgmt4" and "mgmtout4".
func setName(dir string, ipv6 bool, layout Layout) string {
	fam := "4"
	if ipv6 {
		fam = "6"
	}
	return dir + fam + "_" + layout.String()
}
