package onprem

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"

	"github.com/microseg/microseg/model"
)

// The real host flow samples: NFLOG messages from go-nflog's tests (section A) and
// conntrack lines from weaveworks/scope (section B), kept verbatim with their origin
// and licence in the file's header. The NFLOG half is checked here, the conntrack half
// in conntrack_test.go.
const flowSampleFile = "testdata/flowlogs/linux_nflog_conntrack.txt"

// flowSampleLine is one line of the sample file with the section it is in ("A", "B",
// or "" before the first section header).
type flowSampleLine struct {
	no      int
	section string
	text    string
}

func readFlowSample(t testing.TB) []flowSampleLine {
	t.Helper()
	data, err := os.ReadFile(flowSampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var lines []flowSampleLine
	section := ""
	for i, text := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(text, "# SECTION "); ok {
			section, _, _ = strings.Cut(rest, " ")
		}
		lines = append(lines, flowSampleLine{no: i + 1, section: section, text: text})
	}
	return lines
}

// TestFlowSampleSections makes sure no record of the sample file goes unread: every
// line that is not a comment is in a section some test decodes.
func TestFlowSampleSections(t *testing.T) {
	counts := map[string]int{}
	for _, l := range readFlowSample(t) {
		if l.text == "" || strings.HasPrefix(l.text, "#") {
			continue
		}
		switch l.section {
		case "A", "B":
			counts[l.section]++
		default:
			t.Errorf("%s:%d: a record in section %q, which no test reads", flowSampleFile, l.no, l.section)
		}
	}
	if counts["A"] != 2 || counts["B"] != 8 {
		t.Errorf("records per section %v, want 2 NFLOG messages (A) and 8 conntrack lines (B)", counts)
	}
}

// nflogSample is one NFLOG message of section A with the annotation under it.
type nflogSample struct {
	line  int      // of the hex
	name  string   // the go-nflog test case
	size  int      // bytes, as the "# test case" line says
	msg   []byte   // nfgenmsg and attributes
	notes []string // the annotation lines, without "#" and the indent
}

func readNFLOGSamples(t *testing.T) []nflogSample {
	t.Helper()
	var samples []nflogSample
	var cur *nflogSample
	for _, l := range readFlowSample(t) {
		if l.section != "A" {
			continue
		}
		switch {
		case strings.HasPrefix(l.text, "# test case '"):
			// # test case 'SimplePing': 132 bytes
			rest := strings.TrimPrefix(l.text, "# test case '")
			name, size, ok := strings.Cut(rest, "': ")
			n, err := strconv.Atoi(strings.TrimSuffix(size, " bytes"))
			if !ok || err != nil {
				t.Fatalf("%s:%d: cannot read test case line %q", flowSampleFile, l.no, l.text)
			}
			samples = append(samples, nflogSample{name: name, size: n})
			cur = &samples[len(samples)-1]
		case strings.HasPrefix(l.text, "#   ") && cur != nil && cur.msg != nil:
			cur.notes = append(cur.notes, strings.TrimLeft(strings.TrimPrefix(l.text, "#"), " "))
		case strings.HasPrefix(l.text, "#"):
			if cur != nil && cur.msg != nil {
				cur = nil // the annotation is over
			}
		case l.text != "":
			if cur == nil || cur.msg != nil {
				t.Fatalf("%s:%d: NFLOG message without a '# test case' line above it", flowSampleFile, l.no)
			}
			msg, err := hex.DecodeString(l.text)
			if err != nil {
				t.Fatalf("%s:%d: %v", flowSampleFile, l.no, err)
			}
			cur.msg, cur.line = msg, l.no
		}
	}
	return samples
}

// NFULA_* attribute types (linux/netfilter/nfnetlink_log.h), as the annotation names
// them.
var nfulaNames = map[uint16]string{
	1: "PACKET_HDR", 2: "MARK", 3: "TIMESTAMP", 4: "IFINDEX_INDEV", 5: "IFINDEX_OUTDEV",
	6: "IFINDEX_PHYSINDEV", 7: "IFINDEX_PHYSOUTDEV", 8: "HWADDR", 9: "PAYLOAD", 10: "PREFIX",
	11: "UID", 12: "SEQ", 13: "SEQ_GLOBAL", 14: "GID", 15: "HWTYPE", 16: "HWHEADER",
	17: "HWLEN", 18: "CT", 19: "CT_INFO", 20: "VLAN", 21: "L2HDR",
}

// nlAttr is one netlink attribute: a 2-byte length (header included), a 2-byte type
// whose top bits are the nested (0x8000) and network byte order (0x4000) flags, and
// the data, padded to 4 bytes.
type nlAttr struct {
	typ      uint16 // without the flags
	nested   bool
	netOrder bool
	length   int // as the header says: 4 + len(data)
	data     []byte
}

// nlAttrs splits b into attributes. Netlink headers are in the host's byte order; the
// samples were captured on little-endian (x86) hosts, so that is how they are read
// here whatever the byte order of the machine running the test.
func nlAttrs(b []byte) ([]nlAttr, error) {
	var attrs []nlAttr
	for i := 0; i < len(b); {
		if len(b)-i < 4 {
			return nil, fmt.Errorf("offset %d: %d bytes left, too few for an attribute header", i, len(b)-i)
		}
		l := int(binary.LittleEndian.Uint16(b[i : i+2]))
		typ := binary.LittleEndian.Uint16(b[i+2 : i+4])
		if l < 4 || i+l > len(b) {
			return nil, fmt.Errorf("offset %d: attribute length %d, with %d bytes left", i, l, len(b)-i)
		}
		attrs = append(attrs, nlAttr{typ: typ & 0x3fff, nested: typ&0x8000 != 0, netOrder: typ&0x4000 != 0, length: l, data: b[i+4 : i+l]})
		i += (l + 3) &^ 3
	}
	return attrs, nil
}

// nflogMessage is what an NFLOG message carried, decoded from its attributes.
type nflogMessage struct {
	family, version uint8
	group           uint16
	attr            nflog.Attribute // as go-nflog hands it to FlowLogReader
	ct              []byte          // NFULA_CT: ctnetlink attributes of the packet's connection
	rendered        []string        // one line per attribute, in the annotation's words
}

// decodeNFLOG decodes an NFLOG message after its nlmsghdr: the nfgenmsg, then the
// NFULA_* attributes, each rendered as the sample's annotation writes it.
func decodeNFLOG(msg []byte) (nflogMessage, error) {
	var m nflogMessage
	if len(msg) < 4 {
		return m, fmt.Errorf("%d bytes, too few for an nfgenmsg", len(msg))
	}
	m.family, m.version = msg[0], msg[1]
	m.group = binary.BigEndian.Uint16(msg[2:4]) // res_id is in network byte order
	m.rendered = append(m.rendered, fmt.Sprintf("nfgenmsg: family=%d version=%d res_id(group)=%d", m.family, m.version, m.group))
	attrs, err := nlAttrs(msg[4:])
	if err != nil {
		return m, err
	}
	be32 := func(a nlAttr) (*uint32, string, error) {
		if len(a.data) != 4 {
			return nil, "", fmt.Errorf("%s of %d bytes, want 4", nfulaNames[a.typ], len(a.data))
		}
		v := binary.BigEndian.Uint32(a.data)
		return &v, strconv.FormatUint(uint64(v), 10), nil
	}
	be16 := func(a nlAttr) (*uint16, string, error) {
		if len(a.data) < 2 {
			return nil, "", fmt.Errorf("%s of %d bytes, want 2", nfulaNames[a.typ], len(a.data))
		}
		v := binary.BigEndian.Uint16(a.data)
		return &v, strconv.FormatUint(uint64(v), 10), nil
	}
	for _, a := range attrs {
		name, ok := nfulaNames[a.typ]
		if !ok {
			return m, fmt.Errorf("unknown NFULA attribute type %d", a.typ)
		}
		if a.nested != (a.typ == 18) {
			return m, fmt.Errorf("%s has nested flag %v", name, a.nested)
		}
		var value string
		var err error
		switch a.typ {
		case 1: // struct nfulnl_msg_packet_hdr: __be16 hw_protocol, __u8 hook, pad
			if len(a.data) < 3 {
				return m, fmt.Errorf("PACKET_HDR of %d bytes", len(a.data))
			}
			proto, hook := binary.BigEndian.Uint16(a.data), a.data[2]
			m.attr.HwProtocol, m.attr.Hook = &proto, &hook
			value = fmt.Sprintf("hw_protocol=0x%04x hook=%d", proto, hook)
		case 3: // struct nfulnl_msg_packet_timestamp: __aligned_be64 sec, usec
			if len(a.data) != 16 {
				return m, fmt.Errorf("TIMESTAMP of %d bytes, want 16", len(a.data))
			}
			sec, usec := int64(binary.BigEndian.Uint64(a.data)), int64(binary.BigEndian.Uint64(a.data[8:]))
			ts := time.Unix(sec, usec*1000)
			m.attr.Timestamp = &ts
			value = fmt.Sprintf("sec=%d usec=%d", sec, usec)
		case 4:
			m.attr.InDev, value, err = be32(a)
		case 5:
			m.attr.OutDev, value, err = be32(a)
		case 6:
			m.attr.PhysInDev, value, err = be32(a)
		case 7:
			m.attr.PhysOutDev, value, err = be32(a)
		case 2:
			m.attr.Mark, value, err = be32(a)
		case 11:
			m.attr.UID, value, err = be32(a)
		case 14:
			m.attr.GID, value, err = be32(a)
		case 12:
			m.attr.Seq, value, err = be32(a)
		case 13:
			m.attr.SeqGlobal, value, err = be32(a)
		case 19:
			m.attr.CtInfo, value, err = be32(a)
		case 15:
			m.attr.HwType, value, err = be16(a)
		case 17:
			m.attr.HwLen, value, err = be16(a)
		case 8, 16, 21: // HWADDR (struct nfulnl_msg_packet_hw), HWHEADER, L2HDR: raw bytes
			b := bytes.Clone(a.data)
			switch a.typ {
			case 8:
				m.attr.HwAddr = &b
			case 16:
				m.attr.HwHeader = &b
			default:
				m.attr.Layer2Hdr = &b
			}
			value = hex.EncodeToString(b)
		case 10: // NUL-terminated
			prefix, _, _ := bytes.Cut(a.data, []byte{0})
			s := string(prefix)
			m.attr.Prefix = &s
			value = "'" + s + "'"
		case 18:
			m.ct = a.data
			m.attr.Ct = &m.ct
			value = fmt.Sprintf("<nested ctnetlink attrs, %d bytes>", len(a.data))
		case 9:
			payload := bytes.Clone(a.data)
			m.attr.Payload = &payload
			value = renderLoggedPacket(payload)
		default:
			value = hex.EncodeToString(a.data)
		}
		if err != nil {
			return m, err
		}
		m.rendered = append(m.rendered, fmt.Sprintf("%s(%d) len=%d: %s", name, a.typ, a.length, value))
	}
	return m, nil
}

// renderLoggedPacket describes a packet as the sample's annotation does, from what
// parseLoggedPacket (FlowLogReader's parser) makes of it.
func renderLoggedPacket(p []byte) string {
	rec, err := parseLoggedPacket(p)
	if err != nil {
		return "unparseable: " + err.Error()
	}
	version, protoKey := "IPv4", "proto"
	if rec.Src.Is6() {
		version, protoKey = "IPv6", "nexthdr"
	}
	s := fmt.Sprintf("%s %s -> %s %s=%d", version, rec.Src, rec.Dst, protoKey, uint8(rec.Protocol))
	if rec.Protocol.HasPorts() {
		s += fmt.Sprintf(" sport=%d dport=%d", rec.SrcPort, rec.DstPort)
	}
	return s + fmt.Sprintf(" len=%d", rec.Bytes)
}

// ctTuple is a connection's original tuple as ctnetlink nests it: CTA_TUPLE_ORIG {
// CTA_TUPLE_IP { CTA_IP_V4_SRC/DST or CTA_IP_V6_SRC/DST }, CTA_TUPLE_PROTO {
// CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT, or the ICMP type } }
// (linux/netfilter/nfnetlink_conntrack.h). Values are in network byte order.
func ctOriginalTuple(ct []byte) (model.FlowRecord, error) {
	var rec model.FlowRecord
	attrs, err := nlAttrs(ct)
	if err != nil {
		return rec, fmt.Errorf("CT: %w", err)
	}
	for _, a := range attrs {
		if a.typ != 1 { // CTA_TUPLE_ORIG
			continue
		}
		if !a.nested {
			return rec, fmt.Errorf("CTA_TUPLE_ORIG without the nested flag")
		}
		parts, err := nlAttrs(a.data)
		if err != nil {
			return rec, fmt.Errorf("CTA_TUPLE_ORIG: %w", err)
		}
		for _, p := range parts {
			inner, err := nlAttrs(p.data)
			if err != nil {
				return rec, fmt.Errorf("CTA_TUPLE_ORIG type %d: %w", p.typ, err)
			}
			for _, x := range inner {
				switch {
				case p.typ == 1 && (x.typ == 1 || x.typ == 2) && len(x.data) == 4: // CTA_IP_V4_SRC/DST
					addr := netip.AddrFrom4([4]byte(x.data))
					if x.typ == 1 {
						rec.Src = addr
					} else {
						rec.Dst = addr
					}
				case p.typ == 1 && (x.typ == 3 || x.typ == 4) && len(x.data) == 16: // CTA_IP_V6_SRC/DST
					addr := netip.AddrFrom16([16]byte(x.data))
					if x.typ == 3 {
						rec.Src = addr
					} else {
						rec.Dst = addr
					}
				case p.typ == 2 && x.typ == 1 && len(x.data) == 1: // CTA_PROTO_NUM
					rec.Protocol = model.Protocol(x.data[0])
				case p.typ == 2 && x.typ == 2 && len(x.data) == 2: // CTA_PROTO_SRC_PORT
					rec.SrcPort = binary.BigEndian.Uint16(x.data)
				case p.typ == 2 && x.typ == 3 && len(x.data) == 2: // CTA_PROTO_DST_PORT
					rec.DstPort = binary.BigEndian.Uint16(x.data)
				case p.typ == 2 && (x.typ == 5 || x.typ == 8) && len(x.data) == 1: // CTA_PROTO_ICMP(V6)_TYPE
					rec.DstPort = uint16(x.data[0])
				}
			}
		}
		return rec, nil
	}
	return rec, fmt.Errorf("CT without CTA_TUPLE_ORIG")
}

// nflogSampleWant is what each sample's packet is, read off its bytes (the annotation
// does not name the ICMP type: the first byte after the 20-byte IPv4 header of
// SimplePing is 8, an echo request, as ping sends).
var nflogSampleWant = map[string]struct {
	group  uint16
	prefix string
	stamp  time.Time // zero: the message has no timestamp
	rec    model.FlowRecord
}{
	"SimplePing": {group: 100, prefix: "", rec: model.FlowRecord{
		Src: nflogAddr("10.0.0.189"), Dst: nflogAddr("1.1.1.1"), Protocol: model.ProtocolICMP, DstPort: 8, Bytes: 84, Packets: 1}},
	"IPv6 TCP packet with conntrack data": {group: 123, prefix: "testprefix: ", stamp: time.Unix(1604136762, 156676000), rec: model.FlowRecord{
		Src: nflogAddr("2001:470:b750:1:f518:96f6:e8ae:72d"), Dst: nflogAddr("2a07:5741:0:1178::1"), Protocol: model.ProtocolTCP,
		SrcPort: 65039, DstPort: 443, Bytes: 72, Packets: 1}},
}

// TestNFLOGSamples decodes every NFLOG message of the sample file: its attributes,
// checked line by line against the annotation under it, and its packet through
// parseLoggedPacket; then it hands the message to FlowLogReader.record as go-nflog
// would, as sent (both samples carry someone else's prefix, so it is skipped) and
// with each of microseg's prefixes (then it is a record of that action).
func TestNFLOGSamples(t *testing.T) {
	samples := readNFLOGSamples(t)
	if len(samples) != len(nflogSampleWant) {
		t.Errorf("%d NFLOG samples, want %d", len(samples), len(nflogSampleWant))
	}
	littleEndian := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			want, ok := nflogSampleWant[s.name]
			if !ok {
				t.Fatalf("%s:%d: no expectations for sample %q", flowSampleFile, s.line, s.name)
			}
			if len(s.msg) != s.size {
				t.Errorf("message of %d bytes, the test case line says %d", len(s.msg), s.size)
			}
			m, err := decodeNFLOG(s.msg)
			if err != nil {
				t.Fatalf("%s:%d: %v", flowSampleFile, s.line, err)
			}
			if diff := cmp.Diff(s.notes, m.rendered); diff != "" {
				t.Errorf("%s:%d: decoded attributes differ from the annotation (-annotation +decoded):\n%s", flowSampleFile, s.line, diff)
			}

			// The attributes as go-nflog's own decoder (mdlayher/netlink's, in host
			// byte order) sees them: the same types, flags stripped, and data.
			if littleEndian {
				ad, err := netlink.NewAttributeDecoder(s.msg[4:])
				if err != nil {
					t.Fatal(err)
				}
				attrs, _ := nlAttrs(s.msg[4:])
				i := 0
				for ; ad.Next(); i++ {
					if i >= len(attrs) || ad.Type() != attrs[i].typ || !bytes.Equal(ad.Bytes(), attrs[i].data) {
						t.Fatalf("netlink.AttributeDecoder attribute %d (type %d) differs from ours", i, ad.Type())
					}
				}
				if ad.Err() != nil || i != len(attrs) {
					t.Errorf("netlink.AttributeDecoder read %d attributes (err %v), we read %d", i, ad.Err(), len(attrs))
				}
			}

			if m.group != want.group {
				t.Errorf("group %d, want %d", m.group, want.group)
			}
			if m.attr.Prefix == nil || *m.attr.Prefix != want.prefix {
				t.Errorf("prefix %v, want %q", m.attr.Prefix, want.prefix)
			}
			if m.attr.Payload == nil {
				t.Fatal("no NFULA_PAYLOAD: every sample carries a packet")
			}
			got, err := parseLoggedPacket(*m.attr.Payload)
			if err != nil {
				t.Fatalf("parseLoggedPacket: %v", err)
			}
			if diff := cmp.Diff(want.rec, got, nflogAddrCmp); diff != "" {
				t.Errorf("parseLoggedPacket (-want +got):\n%s", diff)
			}
			// The family of the nfgenmsg and the hardware protocol agree with the packet.
			wantFamily, wantHW := uint8(2), uint16(0x0800) // AF_INET, ETH_P_IP
			if got.Src.Is6() {
				wantFamily, wantHW = 10, 0x86dd // AF_INET6, ETH_P_IPV6
			}
			if m.family != wantFamily || m.attr.HwProtocol == nil || *m.attr.HwProtocol != wantHW {
				t.Errorf("family %d, hw_protocol %v for an %v packet", m.family, m.attr.HwProtocol, got.Src)
			}
			if want.stamp.IsZero() != (m.attr.Timestamp == nil) || m.attr.Timestamp != nil && !m.attr.Timestamp.Equal(want.stamp) {
				t.Errorf("timestamp %v, want %v", m.attr.Timestamp, want.stamp)
			}
			// The conntrack entry attached to the message is the packet's own
			// connection, seen in its original direction.
			if m.ct != nil {
				tuple, err := ctOriginalTuple(m.ct)
				if err != nil {
					t.Fatal(err)
				}
				pkt := model.FlowRecord{Src: got.Src, Dst: got.Dst, Protocol: got.Protocol, SrcPort: got.SrcPort, DstPort: got.DstPort}
				if diff := cmp.Diff(pkt, tuple, nflogAddrCmp); diff != "" {
					t.Errorf("NFULA_CT original tuple differs from the packet (-packet +ct):\n%s", diff)
				}
			}

			// FlowLogReader as it would meet the message: not one of microseg's.
			r := &FlowLogReader{cfg: FlowLogConfig{Group: m.group, Target: "lab", Host: "web-1"}}
			if _, ok := r.record(m.attr); ok || r.Skipped() != 1 || r.Malformed() != 0 {
				t.Errorf("record of a message with prefix %q: ok %v, skipped %d, malformed %d; want it skipped",
					want.prefix, ok, r.Skipped(), r.Malformed())
			}
			// The same packet logged by microseg's rules.
			for _, prefix := range []string{LogPrefixDropIn, LogPrefixDropOut, LogPrefixWouldDropIn, LogPrefixWouldDropOut} {
				a := m.attr
				a.Prefix = &prefix
				before := time.Now()
				rec, ok := r.record(a)
				if !ok {
					t.Fatalf("record skipped the packet with prefix %q", prefix)
				}
				action, _ := nflogPrefixAction(prefix)
				wantRec := want.rec
				wantRec.Action, wantRec.Target, wantRec.Reporter, wantRec.Time = action, "lab", "web-1", want.stamp
				if want.stamp.IsZero() {
					// No timestamp in the message: the reader stamps it on arrival.
					if rec.Time.Before(before) || time.Since(rec.Time) > time.Minute {
						t.Errorf("record time %v, want about now", rec.Time)
					}
					wantRec.Time = rec.Time
				}
				if diff := cmp.Diff(wantRec, rec, nflogAddrCmp); diff != "" {
					t.Errorf("record with prefix %q (-want +got):\n%s", prefix, diff)
				}
			}
			if r.Skipped() != 1 || r.Malformed() != 0 {
				t.Errorf("skipped %d, malformed %d after microseg's prefixes; want 1, 0", r.Skipped(), r.Malformed())
			}
		})
	}
}

// TestNFLOGSampleTruncated cuts each sample's packet short, as a smaller copy range
// would: FlowLogReader counts it as malformed until the IP header and the transport
// bytes it reads (the ports, or the ICMP type) are all there, and from then on makes
// the same record, with the length the IP header gives.
func TestNFLOGSampleTruncated(t *testing.T) {
	for _, s := range readNFLOGSamples(t) {
		m, err := decodeNFLOG(s.msg)
		if err != nil || m.attr.Payload == nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		full, err := parseLoggedPacket(*m.attr.Payload)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		need := 20 + 1 // IPv4 header, ICMP type
		if full.Src.Is6() {
			need = 40 + 4 // IPv6 header, ports
		}
		prefix := LogPrefixDropIn
		for n := range len(*m.attr.Payload) + 1 {
			cut := (*m.attr.Payload)[:n]
			a := nflog.Attribute{Prefix: &prefix, Payload: &cut, Timestamp: m.attr.Timestamp}
			r := &FlowLogReader{}
			rec, ok := r.record(a)
			switch {
			case n < need && (ok || r.Malformed() != 1):
				t.Errorf("%s cut to %d bytes: record ok %v, malformed %d; want it counted as malformed", s.name, n, ok, r.Malformed())
			case n >= need && (!ok || rec.Src != full.Src || rec.Dst != full.Dst || rec.Protocol != full.Protocol ||
				rec.SrcPort != full.SrcPort || rec.DstPort != full.DstPort || rec.Bytes != full.Bytes):
				t.Errorf("%s cut to %d bytes: record %+v, %v; want the full packet's %+v", s.name, n, rec, ok, full)
			}
		}
	}
}
