package aws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/klauspost/compress/gzip"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// VPC flow logs: a pure parser of the space-separated text records, and readers that
// stream them from S3 (flowlogs_s3.go) and CloudWatch Logs (flowlogs_cwl.go).

// Sentinel errors of FlowLogParser.Parse. NODATA and SKIPDATA records, and records
// without addresses, are not flows: readers count them in FlowStats and go on, as
// they do with malformed records.
var (
	// ErrNoData is a record with log-status NODATA (no traffic in the capture
	// window), or one whose source or destination address is "-".
	ErrNoData = errors.New("aws flow log: NODATA record")
	// ErrSkipData is a record with log-status SKIPDATA: AWS skipped flows in the
	// capture window (capacity or an internal error).
	ErrSkipData = errors.New("aws flow log: SKIPDATA record")
	// ErrMalformed is wrapped by the error of every record that cannot be read: wrong
	// number of fields, a bad address, number, action or log-status.
	ErrMalformed = errors.New("aws flow log: malformed record")
)

// DefaultFields is the default (version 2) flow log format, the field order of a
// flow log created without a custom format.
var DefaultFields = []string{
	"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log-status",
}

// FlowStats and FlowSource are the providers' flow-log types; the aliases keep this
// package's readers readable on their own.
type (
	FlowStats  = providers.FlowStats
	FlowSource = providers.FlowSource
)

// DecodeFlowLog reads one VPC flow log file as S3 holds them (plain or gzip, a
// header line naming the fields, then one record a line); it is a
// providers.FlowDecoder, for audits of exported logs.
func DecodeFlowLog(ctx context.Context, body io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	r := newFlowReader(target, since, stats, fn)
	r.ctx = ctx
	if err := r.read(body); err != nil {
		if cb, ok := callbackErr(err); ok {
			return cb
		}
		return err
	}
	return nil
}

var (
	_ providers.FlowDecoder         = DecodeFlowLog
	_ providers.ResumableFlowSource = (*S3FlowLogs)(nil)
	_ FlowSource                    = (*S3FlowLogs)(nil)
	_ FlowSource                    = (*CloudWatchFlowLogs)(nil)
)

// fieldRole is what the parser does with a field.
type fieldRole uint8

const (
	roleIgnore fieldRole = iota
	roleSrcAddr
	roleDstAddr
	rolePktSrcAddr
	rolePktDstAddr
	roleSrcPort
	roleDstPort
	roleProtocol
	rolePackets
	roleBytes
	roleStart
	roleEnd
	roleAction
	roleLogStatus
	roleInterfaceID
	roleInstanceID
	numRoles
)

var roleOf = map[string]fieldRole{
	"srcaddr":      roleSrcAddr,
	"dstaddr":      roleDstAddr,
	"pkt-srcaddr":  rolePktSrcAddr,
	"pkt-dstaddr":  rolePktDstAddr,
	"srcport":      roleSrcPort,
	"dstport":      roleDstPort,
	"protocol":     roleProtocol,
	"packets":      rolePackets,
	"bytes":        roleBytes,
	"start":        roleStart,
	"end":          roleEnd,
	"action":       roleAction,
	"log-status":   roleLogStatus,
	"interface-id": roleInterfaceID,
	"instance-id":  roleInstanceID,
}

// FlowLogParser reads the text records of one flow log format. It holds no state
// between records: one parser may be used by several goroutines.
type FlowLogParser struct {
	isDefault bool // fields are DefaultFields, in that order: parseDefault reads most records
	fields    []string
	roles     []fieldRole
	pos       [numRoles]int // index of the field of each role, -1 when absent
}

// NewFlowLogParser returns the parser of records whose fields are, in order, fields:
// the header line of a flow log file in S3 split at spaces, or the log format of the
// flow log (ParseLogFormat turns "${version} ${srcaddr} ..." into fields). Names are
// case-insensitive, and "_" stands for "-" (the Parquet column names). Fields the
// parser does not need (account-id, vpc-id, tcp-flags, region, flow-direction,
// ecs-*, names of versions to come, ...) are accepted and ignored; the format needs
// a source and a destination address (srcaddr or pkt-srcaddr, dstaddr or
// pkt-dstaddr), and no field twice.
func NewFlowLogParser(fields []string) (*FlowLogParser, error) {
	if len(fields) == 0 {
		return nil, errors.New("aws flow log format: no fields")
	}
	p := &FlowLogParser{fields: make([]string, len(fields)), roles: make([]fieldRole, len(fields))}
	for r := range p.pos {
		p.pos[r] = -1
	}
	seen := make(map[string]bool, len(fields))
	for i, f := range fields {
		name := normalizeField(f)
		if name == "" {
			return nil, fmt.Errorf("aws flow log format: field %d is empty", i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("aws flow log format: field %q appears twice", cut(name, 64))
		}
		seen[name] = true
		p.fields[i] = name
		if r, ok := roleOf[name]; ok {
			p.roles[i] = r
			p.pos[r] = i
		}
	}
	p.isDefault = slices.Equal(p.fields, DefaultFields)
	if p.pos[roleSrcAddr] < 0 && p.pos[rolePktSrcAddr] < 0 {
		return nil, fmt.Errorf("aws flow log format %q: no srcaddr or pkt-srcaddr field", cut(strings.Join(p.fields, " "), 200))
	}
	if p.pos[roleDstAddr] < 0 && p.pos[rolePktDstAddr] < 0 {
		return nil, fmt.Errorf("aws flow log format %q: no dstaddr or pkt-dstaddr field", cut(strings.Join(p.fields, " "), 200))
	}
	return p, nil
}

func normalizeField(f string) string {
	f = strings.TrimSpace(f)
	if strings.HasPrefix(f, "${") && strings.HasSuffix(f, "}") {
		f = f[2 : len(f)-1]
	}
	return strings.ReplaceAll(strings.ToLower(f), "_", "-")
}

// ParseLogFormat returns the fields of a flow log's LogFormat as EC2 reports it
// ("${version} ${account-id} ${interface-id} ..."); an empty format is the default.
func ParseLogFormat(format string) ([]string, error) {
	toks := strings.Fields(format)
	if len(toks) == 0 {
		return append([]string(nil), DefaultFields...), nil
	}
	fields := make([]string, len(toks))
	for i, t := range toks {
		if !strings.HasPrefix(t, "${") || !strings.HasSuffix(t, "}") || len(t) < 4 {
			return nil, fmt.Errorf("aws flow log format: %q is not a ${field}", t)
		}
		fields[i] = t[2 : len(t)-1]
	}
	return fields, nil
}

// Fields returns the parser's field names, normalized.
func (p *FlowLogParser) Fields() []string { return append([]string(nil), p.fields...) }

// Parse reads one record (leading and trailing white space, and runs of spaces
// between fields, are allowed). A flow's Reporter is its interface-id, or its
// instance-id when the format has no interface; its Target is left empty. Fields the
// format lacks read as zero (ports, counts, time) and an absent action as accept.
// NODATA and SKIPDATA records return ErrNoData and ErrSkipData, records with a "-"
// address ErrNoData, and every other record that does not parse an error wrapping
// ErrMalformed.
func (p *FlowLogParser) Parse(line string) (model.FlowRecord, error) {
	var rec model.FlowRecord
	rep, res := p.parse(unsafe.Slice(unsafe.StringData(line), len(line)), &rec)
	switch res {
	case parsedFlow:
		rec.Reporter = line[rep.start:rep.end]
		return rec, nil
	}
	// NODATA and SKIPDATA records are rare: the general parser reads their time.
	return p.parseSlow(line)
}

// parseResult is what the fast path made of a record.
type parseResult uint8

const (
	parsedFlow parseResult = iota
	parsedNoData
	parsedSkipData
	// parseUnsure is a record the fast path does not read: a malformed one, or a
	// rare spelling (a lower-case action, a 20-digit counter, an IPv6 address with
	// a zone, a bad address in a field the record does not use). parseSlow decides,
	// and says why, so that the two paths cannot disagree.
	parseUnsure
)

// span is a field's place in a line.
type span struct{ start, end int }

// isSpaceByte is isSpace as a table: one load per byte when scanning fields.
var isSpaceByte = [256]bool{' ': true, '\t': true, '\r': true, '\n': true}

// parse is Parse's fast path, on the line's bytes in place: it splits and reads the
// fields in one scan, reads IPv4 addresses and numbers by hand, and neither
// allocates nor builds an error. rec is overwritten when the result is parsedFlow,
// and rep is then the span of its Reporter in line (empty when it has none). Its
// results are parseSlow's for every line it does not answer parseUnsure; the fuzz
// test FuzzDecodeFlowLog compares the two.
func (p *FlowLogParser) parse(line []byte, rec *model.FlowRecord) (rep span, res parseResult) {
	if p.isDefault {
		if rep, ok := parseDefault(line, rec); ok {
			return rep, parsedFlow
		}
	}
	return p.parseAny(line, rec)
}

// parseDefault reads the usual record of the default format, which is most of
// them: fields in DefaultFields' order, an interface, IPv4 or IPv6 addresses,
// numbers, ACCEPT or REJECT, OK. Straight-line code, with no dispatch on each
// field's role. Anything else (NODATA, "-", a malformed record) is not ok: parseAny
// reads it.
func parseDefault(line []byte, rec *model.FlowRecord) (rep span, ok bool) {
	var (
		i, j, k                int
		src, dst               netip.Addr
		sport, dport, proto    uint64
		packets, nbytes, start uint64
		end                    uint64
	)
	// Every field must be there and not empty, so that all of them read means
	// exactly the format's 14 fields.
	_, i = fieldAt(line, 0)               // version
	_, i = fieldAt(line, i)               // account-id
	if j, k = fieldAt(line, i); k-j < 2 { // interface-id, not "-"
		return span{}, false
	}
	rep = span{j, k}
	if src, i, ok = addrAt(line, k); !ok {
		return span{}, false
	}
	if dst, i, ok = addrAt(line, i); !ok {
		return span{}, false
	}
	if sport, i, ok = uintAt(line, i); !ok || sport > 0xffff {
		return span{}, false
	}
	if dport, i, ok = uintAt(line, i); !ok || dport > 0xffff {
		return span{}, false
	}
	if proto, i, ok = uintAt(line, i); !ok || proto > 0xff {
		return span{}, false
	}
	if packets, i, ok = uintAt(line, i); !ok {
		return span{}, false
	}
	if nbytes, i, ok = uintAt(line, i); !ok {
		return span{}, false
	}
	if start, i, ok = uintAt(line, i); !ok || start > 1<<63-1 {
		return span{}, false
	}
	if end, i, ok = uintAt(line, i); !ok || end > 1<<63-1 {
		return span{}, false
	}
	action := model.FlowAccept
	j, i = fieldAt(line, i)
	switch string(line[j:i]) {
	case "ACCEPT":
	case "REJECT":
		action = model.FlowDrop
	default:
		return span{}, false
	}
	if j, i = fieldAt(line, i); string(line[j:i]) != "OK" {
		return span{}, false
	}
	for i < len(line) && isSpaceByte[line[i]] {
		i++
	}
	if i != len(line) {
		return span{}, false
	}
	*rec = model.FlowRecord{
		Time: time.Unix(int64(start), 0).UTC(), Src: src, Dst: dst,
		SrcPort: uint16(sport), DstPort: uint16(dport), Protocol: model.Protocol(proto),
		Packets: packets, Bytes: nbytes, Action: action,
	}
	return rep, true
}

// fieldAt returns the field after the spaces at line[i:]: its start, and its end,
// which is the start when there is none.
func fieldAt(line []byte, i int) (start, end int) {
	for i < len(line) && isSpaceByte[line[i]] {
		i++
	}
	start = i
	for i < len(line) && !isSpaceByte[line[i]] {
		i++
	}
	return start, i
}

// uintAt is scanUint after the spaces at line[i:].
func uintAt(line []byte, i int) (uint64, int, bool) {
	for i < len(line) && isSpaceByte[line[i]] {
		i++
	}
	return scanUint(line, i)
}

// addrAt reads the address after the spaces at line[i:]: scanIPv4, else scanAddr.
func addrAt(line []byte, i int) (netip.Addr, int, bool) {
	for i < len(line) && isSpaceByte[line[i]] {
		i++
	}
	if a, j, ok := scanIPv4(line, i); ok {
		return a, j, true
	}
	if i == len(line) || line[i] == '-' {
		return netip.Addr{}, i, false
	}
	return scanAddr(line, i)
}

// parseAny is parse for every format: one scan of the fields, each read by its
// role.
func (p *FlowLogParser) parseAny(line []byte, rec *model.FlowRecord) (rep span, res parseResult) {
	var (
		have                 uint32 // bit 1<<role: the field is there and is not "-"
		src, dst, psrc, pdst netip.Addr
		sport, dport, proto  uint64
		packets, nbytes      uint64
		start, end           uint64
		action               = model.FlowAccept
		status               = parsedFlow
		iface, inst          span
	)
	i, n := 0, len(line)
	for _, role := range p.roles {
		for i < n && isSpaceByte[line[i]] {
			i++
		}
		if i == n {
			return span{}, parseUnsure // too few fields
		}
		if role == roleIgnore {
			for i++; i < n && !isSpaceByte[line[i]]; i++ {
			}
			continue
		}
		if line[i] == '-' && (i+1 == n || isSpaceByte[line[i+1]]) {
			i++ // "-": not applicable, as if the format lacked the field
			continue
		}
		switch role {
		case roleSrcAddr, roleDstAddr, rolePktSrcAddr, rolePktDstAddr:
			a, j, ok := scanIPv4(line, i)
			if !ok {
				if a, j, ok = scanAddr(line, i); !ok {
					return span{}, parseUnsure
				}
			}
			switch role {
			case roleSrcAddr:
				src = a
			case roleDstAddr:
				dst = a
			case rolePktSrcAddr:
				psrc = a
			default:
				pdst = a
			}
			i = j
		case roleSrcPort, roleDstPort, roleProtocol, rolePackets, roleBytes, roleStart, roleEnd:
			v, j, ok := scanUint(line, i)
			if !ok {
				return span{}, parseUnsure
			}
			switch role {
			case roleSrcPort:
				sport = v
			case roleDstPort:
				dport = v
			case roleProtocol:
				proto = v
			case rolePackets:
				packets = v
			case roleBytes:
				nbytes = v
			case roleStart:
				start = v
			default:
				end = v
			}
			if sport > 0xffff || dport > 0xffff || proto > 0xff || start > 1<<63-1 || end > 1<<63-1 {
				return span{}, parseUnsure
			}
			i = j
		default:
			j := i + 1
			for j < n && !isSpaceByte[line[j]] {
				j++
			}
			switch f := line[i:j]; role {
			case roleAction:
				switch string(f) {
				case "ACCEPT":
				case "REJECT":
					action = model.FlowDrop
				default:
					return span{}, parseUnsure
				}
			case roleLogStatus:
				switch string(f) {
				case "OK":
				case "NODATA":
					status = parsedNoData
				case "SKIPDATA":
					status = parsedSkipData
				default:
					return span{}, parseUnsure
				}
			case roleInterfaceID:
				iface = span{i, j}
			case roleInstanceID:
				inst = span{i, j}
			}
			i = j
		}
		have |= 1 << role
	}
	for i < n && isSpaceByte[line[i]] {
		i++
	}
	if i != n {
		return span{}, parseUnsure // more fields than the format has
	}
	if status != parsedFlow {
		return span{}, status
	}

	// The packet-level addresses, when there, are the flow's (NAT and transit
	// gateways log their own as srcaddr and dstaddr).
	if have&(1<<rolePktSrcAddr) != 0 {
		src = psrc
	} else if have&(1<<roleSrcAddr) == 0 {
		return span{}, parsedNoData
	}
	if have&(1<<rolePktDstAddr) != 0 {
		dst = pdst
	} else if have&(1<<roleDstAddr) == 0 {
		return span{}, parsedNoData
	}
	*rec = model.FlowRecord{
		Src: src, Dst: dst, SrcPort: uint16(sport), DstPort: uint16(dport), Protocol: model.Protocol(proto),
		Packets: packets, Bytes: nbytes, Action: action,
	}
	switch {
	case have&(1<<roleStart) != 0:
		rec.Time = time.Unix(int64(start), 0).UTC()
	case have&(1<<roleEnd) != 0:
		rec.Time = time.Unix(int64(end), 0).UTC()
	}
	switch {
	case have&(1<<roleInterfaceID) != 0:
		rep = iface
	case have&(1<<roleInstanceID) != 0:
		rep = inst
	}
	return rep, parsedFlow
}

// scanUint reads the decimal number that starts line[i:] and ends at a space or
// the end of line, returning the index after it. Numbers of more than 19 digits
// (which may not fit 64 bits) and anything but digits are not ok: parseSlow reads
// them.
func scanUint(line []byte, i int) (v uint64, j int, ok bool) {
	j = i
	for j < len(line) {
		d := line[j] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
		j++
	}
	if j == i || j-i > 19 || (j < len(line) && !isSpaceByte[line[j]]) {
		return 0, j, false
	}
	return v, j, true
}

// scanIPv4 reads the dotted-quad IPv4 address that starts line[i:] and ends at a
// space or the end of line, as netip.ParseAddr does (four decimal octets up to 255,
// no leading zeros), returning the index after it. Anything else is not ok:
// scanAddr reads it.
func scanIPv4(line []byte, i int) (netip.Addr, int, bool) {
	var ip [4]byte
	for k := range 4 {
		if k > 0 {
			if i >= len(line) || line[i] != '.' {
				return netip.Addr{}, i, false
			}
			i++
		}
		if i >= len(line) {
			return netip.Addr{}, i, false
		}
		d := line[i] - '0'
		if d > 9 {
			return netip.Addr{}, i, false
		}
		v := uint(d)
		i++
		if v != 0 { // "0" is an octet; "01" is not
			for m := 0; m < 2 && i < len(line); m++ {
				d = line[i] - '0'
				if d > 9 {
					break
				}
				v = v*10 + uint(d)
				i++
			}
			if v > 255 {
				return netip.Addr{}, i, false
			}
		}
		ip[k] = byte(v)
	}
	if i < len(line) && !isSpaceByte[line[i]] {
		return netip.Addr{}, i, false
	}
	return netip.AddrFrom4(ip), i, true
}

// scanAddr reads the address field that starts line[i:] with netip.ParseAddr (IPv6,
// IPv4-mapped IPv6); an address with a zone is not ok, like one that does not parse.
func scanAddr(line []byte, i int) (netip.Addr, int, bool) {
	j := i
	for j < len(line) && !isSpaceByte[line[j]] {
		j++
	}
	f := line[i:j]
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(f), len(f)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, j, false
	}
	return a, j, true
}

// parseSlow is the general parser, and the reference of parse: it reads the fields
// as strings with netip.ParseAddr and strconv, and says what is wrong with a
// record that is not a flow.
func (p *FlowLogParser) parseSlow(line string) (model.FlowRecord, error) {
	var raw [numRoles]string
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if n < len(p.roles) {
			raw[p.roles[n]] = line[i:j]
		}
		n++
		i = j
	}
	if n != len(p.roles) {
		if n == 0 {
			return model.FlowRecord{}, fmt.Errorf("%w: empty line", ErrMalformed)
		}
		return model.FlowRecord{}, fmt.Errorf("%w: %d fields, the format has %d", ErrMalformed, n, len(p.roles))
	}

	switch s := raw[roleLogStatus]; s {
	case "", "OK", "-":
	case "NODATA":
		return model.FlowRecord{Time: p.statusTime(&raw)}, ErrNoData
	case "SKIPDATA":
		return model.FlowRecord{Time: p.statusTime(&raw)}, ErrSkipData
	default:
		return model.FlowRecord{}, p.malformed(roleLogStatus, s, "is not OK, NODATA or SKIPDATA")
	}

	var rec model.FlowRecord
	var err error
	srcRole, dstRole := roleSrcAddr, roleDstAddr
	if s := raw[rolePktSrcAddr]; s != "" && s != "-" {
		srcRole = rolePktSrcAddr
	}
	if s := raw[rolePktDstAddr]; s != "" && s != "-" {
		dstRole = rolePktDstAddr
	}
	src, dst := raw[srcRole], raw[dstRole]
	if src == "" || src == "-" || dst == "" || dst == "-" {
		return model.FlowRecord{Time: p.statusTime(&raw)}, ErrNoData
	}
	if rec.Src, err = netip.ParseAddr(src); err != nil || rec.Src.Zone() != "" {
		return model.FlowRecord{}, p.malformed(srcRole, src, "is not an IP address")
	}
	if rec.Dst, err = netip.ParseAddr(dst); err != nil || rec.Dst.Zone() != "" {
		return model.FlowRecord{}, p.malformed(dstRole, dst, "is not an IP address")
	}

	var v uint64
	if v, err = p.number(&raw, roleSrcPort, 16); err != nil {
		return model.FlowRecord{}, err
	}
	rec.SrcPort = uint16(v)
	if v, err = p.number(&raw, roleDstPort, 16); err != nil {
		return model.FlowRecord{}, err
	}
	rec.DstPort = uint16(v)
	if v, err = p.number(&raw, roleProtocol, 8); err != nil {
		return model.FlowRecord{}, err
	}
	rec.Protocol = model.Protocol(v)
	if rec.Packets, err = p.number(&raw, rolePackets, 64); err != nil {
		return model.FlowRecord{}, err
	}
	if rec.Bytes, err = p.number(&raw, roleBytes, 64); err != nil {
		return model.FlowRecord{}, err
	}
	start, err := p.number(&raw, roleStart, 63)
	if err != nil {
		return model.FlowRecord{}, err
	}
	end, err := p.number(&raw, roleEnd, 63)
	if err != nil {
		return model.FlowRecord{}, err
	}
	switch {
	case raw[roleStart] != "" && raw[roleStart] != "-":
		rec.Time = time.Unix(int64(start), 0).UTC()
	case raw[roleEnd] != "" && raw[roleEnd] != "-":
		rec.Time = time.Unix(int64(end), 0).UTC()
	}

	switch a := raw[roleAction]; {
	case a == "" || a == "-" || strings.EqualFold(a, "ACCEPT"):
		rec.Action = model.FlowAccept
	case strings.EqualFold(a, "REJECT"):
		rec.Action = model.FlowDrop
	default:
		return model.FlowRecord{}, p.malformed(roleAction, a, "is not ACCEPT or REJECT")
	}

	if s := raw[roleInterfaceID]; s != "" && s != "-" {
		rec.Reporter = s
	} else if s := raw[roleInstanceID]; s != "" && s != "-" {
		rec.Reporter = s
	}
	return rec, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// number parses the field of role r as an unsigned number of bits bits; an absent
// field and "-" (not applicable) read as 0.
func (p *FlowLogParser) number(raw *[numRoles]string, r fieldRole, bits int) (uint64, error) {
	s := raw[r]
	if s == "" || s == "-" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, p.malformed(r, s, "is out of range")
		}
		return 0, p.malformed(r, s, "is not a number")
	}
	return v, nil
}

func (p *FlowLogParser) malformed(r fieldRole, value, why string) error {
	i := p.pos[r]
	return fmt.Errorf("%w: field %d (%s) %q %s", ErrMalformed, i+1, p.fields[i], cut(value, 64), why)
}

// cut shortens s for an error message.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// maxLine bounds a record; a longer line is counted as malformed and skipped. Real
// records are a few hundred bytes even in the largest formats.
const maxLine = 64 << 10

// internBound is the number of Reporter strings each of the intern table's two
// generations holds: more than the interfaces of most VPCs, so that their strings
// are made once per stream, and a bound on its memory (about 2 MiB) when there are
// more.
const internBound = 1 << 14

// flowReader streams flow log objects: gzip or plain text, a header line naming the
// fields, then one record a line. Its buffers are reused from object to object, and
// nothing it hands out refers to them, so a stream of any length runs in the same
// memory.
type flowReader struct {
	raw    *bufio.Reader // the object's bytes, to sniff gzip
	gz     *gzip.Reader
	buf    []byte // text, maxLine bytes: lines are split and parsed in place
	target string
	since  time.Time
	stats  *FlowStats
	fn     func(model.FlowRecord) error
	ctx    context.Context // checked now and then, when set: a huge file can be cancelled
	lineNo int

	// Interned Reporter strings, in two generations: when the current one is
	// full it becomes the old one, and strings found in the old one move back.
	// Unlike one table cleared when full, a set of interfaces that fits is made
	// once whatever the order of its records.
	reports, oldReports map[string]string
	lastReport          string // the last one handed out: records come in runs of one interface
}

func newFlowReader(target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) *flowReader {
	return &flowReader{
		raw:        bufio.NewReaderSize(nil, 32<<10),
		buf:        make([]byte, maxLine),
		reports:    make(map[string]string),
		oldReports: make(map[string]string),
		target:     target,
		since:      since,
		stats:      stats,
		fn:         fn,
	}
}

// callbackError carries the callback's error out of a reader unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// read streams one object: its header line, then its records. It reads the text
// into its own buffer and splits the lines there, so that a record costs one scan
// of its bytes past the newline search, and no copy.
func (r *flowReader) read(body io.Reader) error {
	r.raw.Reset(body)
	var in io.Reader = r.raw
	magic, _ := r.raw.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		if r.gz == nil {
			gz, err := gzip.NewReader(r.raw)
			if err != nil {
				return fmt.Errorf("gzip: %w", err)
			}
			r.gz = gz
		} else if err := r.gz.Reset(r.raw); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		in = r.gz
	case bytes.Equal(magic, []byte("PAR1")):
		return errors.New("parquet flow logs are not supported: use the text format")
	}

	var (
		parser   *FlowLogParser
		buf      = r.buf
		start    int   // buf[start:end] is read and not yet split
		end      int   //
		skipping bool  // inside a line longer than maxLine, up to its newline
		rerr     error // the last Read's error, acted on once buf's lines are done
		empty    int   // Reads in a row that returned nothing
	)
	for {
		for {
			nl := bytes.IndexByte(buf[start:end], '\n')
			if nl < 0 {
				break
			}
			line := buf[start : start+nl]
			start += nl + 1
			if skipping {
				skipping = false
				continue
			}
			if err := r.line(&parser, line); err != nil {
				return err
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				return rerr
			}
			if start < end && !skipping { // the last line, without a newline
				return r.line(&parser, buf[start:end])
			}
			return nil
		}
		if start > 0 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		if end == len(buf) {
			// A line longer than maxLine: not a record, and the rest of it is
			// not one either.
			end = 0
			if !skipping {
				skipping = true
				if err := r.countLine(); err != nil {
					return err
				}
				if parser == nil {
					return errors.New("header line too long")
				}
				r.stats.Malformed++
			}
		}
		var n int
		n, rerr = in.Read(buf[end:])
		end += n
		if n == 0 && rerr == nil {
			if empty++; empty == 100 {
				rerr = io.ErrNoProgress // as bufio says of a reader that never returns
			}
		} else {
			empty = 0
		}
	}
}

// countLine counts a line read, and checks ctx every 8,192 lines.
func (r *flowReader) countLine() error {
	if r.lineNo++; r.ctx != nil && r.lineNo%8192 == 0 && r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	return nil
}

// line reads one line (without its newline; valid only during the call): the
// header while *parser is nil, a record after it. Blank lines are skipped.
func (r *flowReader) line(parser **FlowLogParser, line []byte) error {
	if err := r.countLine(); err != nil {
		return err
	}
	for len(line) > 0 && (line[len(line)-1] == '\r' || line[len(line)-1] == '\n') {
		line = line[:len(line)-1]
	}
	if *parser == nil {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		p, err := NewFlowLogParser(strings.Fields(string(line)))
		if err != nil {
			return fmt.Errorf("header line: %w", err)
		}
		*parser = p
		return nil
	}
	return r.record(*parser, line)
}

// record parses one line and hands its flow to fn. The line's bytes are parsed in
// place: the record keeps no reference to them (Reporter is interned).
func (r *flowReader) record(parser *FlowLogParser, line []byte) error {
	var rec model.FlowRecord
	rep, res := parser.parse(line, &rec)
	switch res {
	case parsedFlow:
	default:
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		rec, err := parser.parseSlow(unsafe.String(unsafe.SliceData(line), len(line)))
		return r.deliver(rec, err, true)
	}
	if !r.since.IsZero() && !rec.Time.IsZero() && rec.Time.Before(r.since) {
		return nil
	}
	if rep.end > rep.start {
		rec.Reporter = r.intern(line[rep.start:rep.end])
	}
	rec.Target = r.target
	r.stats.Records++
	if err := r.fn(rec); err != nil {
		return callbackError{err}
	}
	return nil
}

// statusTime is the capture window's start of a NODATA or SKIPDATA record (zero when
// it has none), so that readers count such records only inside their window, like
// flows: re-reading a day's objects must not count them again.
func (p *FlowLogParser) statusTime(raw *[numRoles]string) time.Time {
	if start, err := p.number(raw, roleStart, 63); err == nil && start > 0 {
		return time.Unix(int64(start), 0).UTC()
	}
	return time.Time{}
}

// deliver counts a parsed record and hands a flow to fn; intern copies Reporter
// when it points into a reused buffer.
func (r *flowReader) deliver(rec model.FlowRecord, err error, intern bool) error {
	outside := !r.since.IsZero() && !rec.Time.IsZero() && rec.Time.Before(r.since)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoData):
		if !outside {
			r.stats.NoData++
		}
		return nil
	case errors.Is(err, ErrSkipData):
		if !outside {
			r.stats.SkipData++
		}
		return nil
	default:
		r.stats.Malformed++
		return nil
	}
	if outside {
		return nil
	}
	if intern && rec.Reporter != "" {
		rec.Reporter = r.intern(unsafe.Slice(unsafe.StringData(rec.Reporter), len(rec.Reporter)))
	}
	rec.Target = r.target
	r.stats.Records++
	if err := r.fn(rec); err != nil {
		return callbackError{err}
	}
	return nil
}

// intern returns a string of b's bytes that outlives the line buffer, the same
// string for the same interface as long as it stays in the table.
func (r *flowReader) intern(b []byte) string {
	if string(b) == r.lastReport {
		return r.lastReport
	}
	v, ok := r.reports[string(b)]
	if !ok {
		if v, ok = r.oldReports[string(b)]; !ok {
			v = string(b)
		}
		if len(r.reports) >= internBound {
			r.reports, r.oldReports = r.oldReports, r.reports
			clear(r.reports)
		}
		r.reports[v] = v
	}
	r.lastReport = v
	return v
}

// callbackErr returns the callback's own error if err carries one.
func callbackErr(err error) (error, bool) {
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err, true
	}
	return nil, false
}
