package model

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is an IP protocol by IANA number, or ProtocolAll.
type Protocol uint8

// Protocols a service can name.
const (
	ProtocolICMP   Protocol = 1
	ProtocolTCP    Protocol = 6
	ProtocolUDP    Protocol = 17
	ProtocolICMPv6 Protocol = 58
	ProtocolSCTP   Protocol = 132
	// ProtocolAll matches every protocol. IANA reserves 255, so it never names a real one.
	ProtocolAll Protocol = 255
)

var protocolNames = map[Protocol]string{
	ProtocolICMP:   "icmp",
	ProtocolTCP:    "tcp",
	ProtocolUDP:    "udp",
	ProtocolICMPv6: "icmpv6",
	ProtocolSCTP:   "sctp",
	ProtocolAll:    "all",
}

func (p Protocol) String() string {
	if n, ok := protocolNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

// HasPorts reports whether the protocol carries ports (as opposed to ICMP types or nothing).
func (p Protocol) HasPorts() bool {
	return p == ProtocolTCP || p == ProtocolUDP || p == ProtocolSCTP
}

// IsICMP reports whether the protocol is ICMP or ICMPv6, whose "port" is the message type.
func (p Protocol) IsICMP() bool { return p == ProtocolICMP || p == ProtocolICMPv6 }

// PortRange is an inclusive range of ports (or ICMP types). For a protocol without
// ports it spans everything.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether q lies inside r.
func (r PortRange) Contains(q PortRange) bool { return r.First <= q.First && q.Last <= r.Last }

// Overlaps reports whether r and q share a port.
func (r PortRange) Overlaps(q PortRange) bool { return r.First <= q.Last && q.First <= r.Last }

// Size is the number of ports in the range.
func (r PortRange) Size() int { return int(r.Last) - int(r.First) + 1 }

// ServicePort is one protocol with a port range: the unit services are made of.
type ServicePort struct {
	Protocol Protocol
	Ports    PortRange
}

// fullRange is the range a protocol's "every port" means.
func fullRange(p Protocol) PortRange {
	switch {
	case p.HasPorts():
		return PortRange{0, 65535}
	case p.IsICMP():
		return PortRange{0, 255}
	default:
		return PortRange{0, 0}
	}
}

// AllPorts reports whether the port covers its protocol's whole range.
func (s ServicePort) AllPorts() bool { return s.Ports == fullRange(s.Protocol) }

// Contains reports whether every flow q permits is permitted by s too.
func (s ServicePort) Contains(q ServicePort) bool {
	if s.Protocol == ProtocolAll {
		return true
	}
	return s.Protocol == q.Protocol && s.Ports.Contains(q.Ports)
}

// Overlaps reports whether s and q share a flow.
func (s ServicePort) Overlaps(q ServicePort) bool {
	if s.Protocol == ProtocolAll || q.Protocol == ProtocolAll {
		return true
	}
	return s.Protocol == q.Protocol && s.Ports.Overlaps(q.Ports)
}

// String gives the spec form ParsePort reads: "tcp/443", "tcp/8000-8100", "udp", "icmp/8", "all".
func (s ServicePort) String() string { return string(s.appendTo(nil)) }

func (s ServicePort) appendTo(b []byte) []byte {
	b = append(b, s.Protocol.String()...)
	if s.AllPorts() {
		return b
	}
	b = strconv.AppendUint(append(b, '/'), uint64(s.Ports.First), 10)
	if s.Ports.First != s.Ports.Last {
		b = strconv.AppendUint(append(b, '-'), uint64(s.Ports.Last), 10)
	}
	return b
}

// Compare orders service ports by protocol, then range.
func (s ServicePort) Compare(q ServicePort) int {
	switch {
	case s.Protocol != q.Protocol:
		return int(s.Protocol) - int(q.Protocol)
	case s.Ports.First != q.Ports.First:
		return int(s.Ports.First) - int(q.Ports.First)
	default:
		return int(s.Ports.Last) - int(q.Ports.Last)
	}
}

// ParsePort reads a port spec: "PROTO", "PROTO/PORT" or "PROTO/FIRST-LAST" for tcp, udp
// and sctp (ports 1-65535); "icmp" or "icmp/TYPE" (and icmpv6) for ICMP messages; "all"
// for every protocol. The error says what is wrong in words a policy author can act on.
func ParsePort(spec string) (ServicePort, error) {
	protoName, rest, hasSlash := strings.Cut(spec, "/")
	var proto Protocol
	switch strings.ToLower(protoName) {
	case "tcp":
		proto = ProtocolTCP
	case "udp":
		proto = ProtocolUDP
	case "sctp":
		proto = ProtocolSCTP
	case "icmp", "icmpv4":
		proto = ProtocolICMP
	case "icmpv6", "ipv6-icmp":
		proto = ProtocolICMPv6
	case "all", "any", "*":
		proto = ProtocolAll
	case "":
		return ServicePort{}, errors.New(`empty protocol: write "tcp/443", "udp/53", "icmp" or "all"`)
	default:
		return ServicePort{}, fmt.Errorf("unknown protocol %q: use tcp, udp, sctp, icmp, icmpv6 or all", protoName)
	}
	sp := ServicePort{Protocol: proto, Ports: fullRange(proto)}
	if !hasSlash {
		return sp, nil
	}
	switch {
	case proto == ProtocolAll:
		return ServicePort{}, errors.New(`"all" takes no port: it already means every protocol and port`)
	case rest == "":
		return ServicePort{}, fmt.Errorf("missing port after %q/", protoName)
	case proto.IsICMP():
		t, err := parseNumber(rest, 0, 255, "ICMP type")
		if err != nil {
			return ServicePort{}, err
		}
		sp.Ports = PortRange{t, t}
		return sp, nil
	}
	firstText, lastText, isRange := strings.Cut(rest, "-")
	first, err := parseNumber(firstText, 1, 65535, "port")
	if err != nil {
		return ServicePort{}, err
	}
	last := first
	if isRange {
		if last, err = parseNumber(lastText, 1, 65535, "port"); err != nil {
			return ServicePort{}, err
		}
		if last < first {
			return ServicePort{}, fmt.Errorf("port range %d-%d is reversed: write %d-%d", first, last, last, first)
		}
	}
	sp.Ports = PortRange{first, last}
	return sp, nil
}

func parseNumber(text string, min, max int, what string) (uint16, error) {
	if text == "" {
		return 0, fmt.Errorf("missing %s", what)
	}
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s %q is not a number", what, text)
		}
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%s %s is out of range %d-%d", what, text, min, max)
	}
	return uint16(n), nil
}

// ErrHostBitsSet is returned (wrapped) by ParsePrefix when the address has bits set
// beyond the prefix length; the returned prefix is masked and usable.
var ErrHostBitsSet = errors.New("host bits set")

// ParsePrefix reads a CIDR ("10.0.0.0/24", "2001:db8::/32") or a single address,
// which becomes a /32 or /128. A prefix with host bits set is returned masked together
// with an error wrapping ErrHostBitsSet, so that callers can warn and go on.
func ParsePrefix(text string) (netip.Prefix, error) {
	if !strings.Contains(text, "/") {
		addr, err := netip.ParseAddr(text)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", text)
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has a zone; zones are not allowed in policies", text)
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(text)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR", text)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q is an IPv4-mapped IPv6 prefix; write the IPv4 CIDR", text)
	}
	if masked := p.Masked(); masked != p {
		return masked, fmt.Errorf("%w: %s has bits set beyond /%d, read as %s", ErrHostBitsSet, text, p.Bits(), masked)
	}
	return p, nil
}
