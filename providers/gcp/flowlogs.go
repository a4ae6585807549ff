package gcp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// GCP flow logs are Cloud Logging entries (LogEntry) whose jsonPayload is the record:
//
//   - VPC Flow Logs, log compute.googleapis.com/vpc_flows: connection{src_ip, dest_ip,
//     src_port, dest_port, protocol}, bytes_sent and packets_sent (int64, which the
//     LogEntry JSON writes as strings), start_time, end_time, reporter (SRC, DEST,
//     SRC_GATEWAY, DEST_GATEWAY), src_instance / dest_instance {vm_name, ...},
//     src_gateway / dest_gateway {name, ...}, src_vpc, dest_vpc, ...
//     https://cloud.google.com/vpc/docs/about-flow-logs-records
//   - Firewall Rules Logging, log compute.googleapis.com/firewall: connection,
//     disposition (ALLOWED, DENIED, INTERCEPTED), rule_details{reference, action,
//     direction, priority, ...}, instance{vm_name, ...}, vpc, remote_instance, ...
//     https://cloud.google.com/firewall/docs/vpc-log-format and
//     https://cloud.google.com/firewall/docs/firewall-policy-log-format
//
// A sink to Cloud Storage writes one entry a line
// (https://cloud.google.com/logging/docs/export/storage); `gcloud logging read
// --format=json` prints one JSON array of entries. Both are read here entry by entry,
// and an entry is scanned for the few fields a FlowRecord needs (flowlogs_scan.go),
// so that memory stays the same however large the file and an entry costs no
// allocation.

// FlowStats is the providers' count of what a flow source read.
type FlowStats = providers.FlowStats

var (
	_ providers.FlowDecoder = DecodeVPCFlowLog
	_ providers.FlowDecoder = DecodeFirewallLog
)

// maxEntry bounds one log entry; a longer one is counted as malformed and skipped.
// Flow entries are one or two kilobytes; firewall entries list the rule's ranges
// and tags, which stay far below this.
const maxEntry = 1 << 20

// DecodeVPCFlowLog reads one file of VPC Flow Logs entries; it is a
// providers.FlowDecoder. The input is newline-delimited LogEntry JSON (a sink's
// Cloud Storage object) or a JSON array of entries (`gcloud logging read
// --format=json`), plain or gzip-compressed, told apart by their first bytes.
//
// Every record is a flow that went through: Action is accept. Time is the flow's
// start_time, else its end_time, else the entry's timestamp. Reporter is the
// reporting side's VM (or gateway) name and the side, as "web-1:SRC" or
// "vpn-tunnel-1:DEST_GATEWAY", or the side alone when the record names neither:
// GCP logs a flow between two logged VMs twice, once from each side, and the side
// tells the two apart. Bytes and Packets are what the source sent (bytes_sent,
// packets_sent), written as JSON strings or numbers.
//
// Entries of another log, and entries without a connection, are counted in NoData;
// entries that do not parse (bad JSON, addresses, numbers, times, or longer than
// 1 MiB) in Malformed. A corrupt gzip stream ends the file with one more Malformed.
// An error from fn is returned as it is; read errors of r are returned wrapped.
func DecodeVPCFlowLog(ctx context.Context, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	return decodeWith(ctx, kindVPCFlows, r, target, since, stats, fn)
}

// DecodeFirewallLog reads one file of Firewall Rules Logging entries (VPC firewall
// rules and firewall policy rules alike); it is a providers.FlowDecoder reading the
// same two layouts as DecodeVPCFlowLog.
//
// A record's Action is its disposition: ALLOWED is accept, DENIED is drop, and
// INTERCEPTED (handed to a security profile for inspection, whose own verdict is in
// another log) is accept; an entry without a disposition falls back to
// rule_details.action. Time is the entry's timestamp (the payload has none).
// Reporter is the rule that logged the connection, rule_details.reference (as
// "network:prod-vpc/firewall:microseg-web-allow" or
// "network:prod-vpc/firewallPolicy:123"), or the VM's name when the entry has no
// reference: the rule is what an audit asks about, and the VM and direction are
// implied by the connection. Firewall logs count no bytes or packets.
//
// Counting and errors are as for DecodeVPCFlowLog.
func DecodeFirewallLog(ctx context.Context, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	return decodeWith(ctx, kindFirewall, r, target, since, stats, fn)
}

// readers keeps entryReaders, whose buffers are most of the cost of reading a small
// file, for the next file.
var readers = sync.Pool{New: func() any { return newEntryReader(0, "", time.Time{}, nil, nil) }}

func decodeWith(ctx context.Context, kind logKind, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	d := readers.Get().(*entryReader)
	d.kind, d.target, d.since, d.stats, d.fn = kind, target, since, stats, fn
	err := d.decode(ctx, r)
	// Drop what belongs to the caller before the reader goes back.
	d.target, d.stats, d.fn, d.src = "", nil, nil, errReader{}
	d.raw.Reset(nil)
	d.in.Reset(nil)
	if cap(d.elem) > 64<<10 {
		d.elem = nil
	}
	if cap(d.scan.buf) > 64<<10 || cap(d.scan.stack) > 64<<10 {
		d.scan = entryScanner{}
	}
	readers.Put(d)
	return err
}

// logKind is which of the two logs a reader decodes.
type logKind uint8

const (
	kindVPCFlows logKind = iota + 1
	kindFirewall
)

func (k logKind) String() string {
	if k == kindFirewall {
		return "firewall"
	}
	return "vpc_flows"
}

// Why an entry is not a flow.
var (
	errNoData    = errors.New("not a flow")
	errMalformed = errors.New("malformed log entry")
)

// entryReader splits files into log entries and decodes them. Its buffers and
// decoding structs are reused from entry to entry and object to object, and nothing
// it hands out refers to them.
type entryReader struct {
	kind      logKind
	raw       *bufio.Reader // the file's bytes, to sniff gzip
	gz        *gzip.Reader
	in        *bufio.Reader // the decompressed text
	src       errReader     // r, remembering its own read errors
	elem      []byte        // a long line or an array element being collected, up to maxEntry
	scan      entryScanner
	reporters map[string]string // interned Reporter strings
	key       []byte
	entries   int

	target string
	since  time.Time
	stats  *FlowStats
	fn     func(model.FlowRecord) error
}

func newEntryReader(kind logKind, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) *entryReader {
	return &entryReader{
		kind:      kind,
		raw:       bufio.NewReaderSize(nil, 32<<10),
		in:        bufio.NewReaderSize(nil, 64<<10),
		reporters: make(map[string]string),
		target:    target,
		since:     since,
		stats:     stats,
		fn:        fn,
	}
}

// callbackError carries fn's error out of the reader so that it can be returned as
// it is.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// errReader remembers the last error of the reader it wraps other than io.EOF, so
// that a failing source (a dropped connection) is told apart from corrupt data
// detected by the gzip layer above it.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// decode reads one file and returns fn's error unchanged.
func (d *entryReader) decode(ctx context.Context, r io.Reader) error {
	err := d.read(ctx, r)
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

// read streams one file: gzip or plain, then entries until the end.
func (d *entryReader) read(ctx context.Context, r io.Reader) error {
	d.src = errReader{r: r}
	d.raw.Reset(&d.src)
	var in io.Reader = d.raw
	if magic, _ := d.raw.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if d.gz == nil {
			d.gz, err = gzip.NewReader(d.raw)
		} else {
			err = d.gz.Reset(d.raw)
		}
		if err != nil {
			return d.readError(err)
		}
		in = d.gz
	}
	d.in.Reset(in)

	for {
		c, err := d.skipSpace()
		if err != nil {
			return d.readError(err)
		}
		if c == '[' {
			d.in.ReadByte()
			if err := d.readArray(ctx); err != nil {
				return err
			}
			continue
		}
		return d.readLines(ctx)
	}
}

// readError turns an error met while reading into what read returns: nil at the end
// of the input, the source's own failure wrapped, and corrupt compressed data as
// one malformed entry that ends the file.
func (d *entryReader) readError(err error) error {
	switch {
	case err == io.EOF:
		return nil
	case d.src.err != nil:
		return fmt.Errorf("read %s log: %w", d.kind, d.src.err)
	default:
		d.stats.Malformed++
		return nil
	}
}

// skipSpace returns the next byte that is not white space (or a UTF-8 byte order
// mark) without consuming it.
func (d *entryReader) skipSpace() (byte, error) {
	for {
		b, err := d.in.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			d.in.ReadByte()
		case 0xef:
			if bom, _ := d.in.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
				d.in.Discard(3)
				continue
			}
			return b[0], nil
		default:
			return b[0], nil
		}
	}
}

// readLines reads one entry a line to the end of the input.
func (d *entryReader) readLines(ctx context.Context) error {
	for {
		line, long, err := d.readLine()
		if err != nil && err != io.EOF {
			// A line cut short by a failing reader is not counted: the error says it.
			return d.readError(err)
		}
		switch {
		case long:
			d.stats.Malformed++
		case len(bytes.TrimSpace(line)) > 0:
			if err := d.entry(ctx, line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line, valid until the next read. A line longer than
// the reader's buffer is collected in elem; long reports one longer than maxEntry,
// which is consumed and not returned.
func (d *entryReader) readLine() (line []byte, long bool, err error) {
	line, err = d.in.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, false, err
	}
	d.elem = append(d.elem[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = d.in.ReadSlice('\n')
		if !long {
			if len(d.elem)+len(line) > maxEntry {
				long = true
			} else {
				d.elem = append(d.elem, line...)
			}
		}
	}
	return d.elem, long, err
}

// readArray reads the elements of a JSON array whose '[' was consumed, up to its
// ']'. Elements are found by their brackets and strings, so that one of any size
// costs no more than maxEntry bytes, and a bad one is skipped alone.
func (d *entryReader) readArray(ctx context.Context) error {
	for {
		c, err := d.skipSpace()
		if err != nil {
			return d.readError(err) // no ']': a cut-off file, whose entries were read
		}
		switch c {
		case ']':
			d.in.ReadByte()
			return nil
		case ',':
			d.in.ReadByte()
			continue
		}
		elem, long, err := d.arrayElement()
		if err == io.EOF {
			d.stats.Malformed++ // the last element, cut off
			return nil
		}
		if err != nil {
			return d.readError(err)
		}
		if long {
			d.stats.Malformed++
			continue
		}
		if err := d.entry(ctx, elem); err != nil {
			return err
		}
	}
}

// arrayElement collects one array element: an object or array up to its matching
// bracket, or anything else up to the next ',' or ']' outside strings. long reports
// an element of more than maxEntry bytes, which is consumed but not returned.
//
// It walks the reader's buffered bytes in place and copies what it passed in
// one go, so that an element costs a pass over its bytes and no call per byte.
func (d *entryReader) arrayElement() (elem []byte, long bool, err error) {
	d.elem = d.elem[:0]
	depth := 0
	inString, escaped := false, false
	collect := func(part []byte) {
		switch {
		case long:
		case len(d.elem)+len(part) > maxEntry:
			long = true
			d.elem = d.elem[:0]
		default:
			d.elem = append(d.elem, part...)
		}
	}
	for {
		if _, err := d.in.Peek(1); err != nil {
			return d.elem, long, err
		}
		chunk, _ := d.in.Peek(d.in.Buffered())
		for k := 0; k < len(chunk); k++ {
			c := chunk[k]
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
				default:
					// The rest of a plain run of the string at once.
					k += plainRun(chunk[k:]) - 1
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth < 0 && c == ']' { // the array's own ']' after a bare value
					collect(chunk[:k])
					d.in.Discard(k)
					return d.elem, long, nil
				}
				if depth < 0 {
					// A stray '}' ends the (broken) element with it: left
					// for the next element, it would end that one at once,
					// consuming nothing, for ever.
					collect(chunk[:k+1])
					d.in.Discard(k + 1)
					return d.elem, long, nil
				}
				if depth == 0 {
					collect(chunk[:k+1])
					d.in.Discard(k + 1)
					return d.elem, long, nil
				}
			case ',':
				if depth == 0 {
					collect(chunk[:k])
					d.in.Discard(k)
					return d.elem, long, nil
				}
			}
		}
		collect(chunk)
		d.in.Discard(len(chunk))
	}
}

// entry decodes one log entry and hands its flow to fn.
func (d *entryReader) entry(ctx context.Context, b []byte) error {
	if d.entries++; d.entries%1024 == 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	var rec model.FlowRecord
	var err error
	if d.kind == kindFirewall {
		rec, err = d.firewallRecord(b)
	} else {
		rec, err = d.vpcFlowRecord(b)
	}
	switch {
	case err == nil:
	case errors.Is(err, errNoData):
		d.stats.NoData++
		return nil
	default:
		d.stats.Malformed++
		return nil
	}
	if !d.since.IsZero() && !rec.Time.IsZero() && rec.Time.Before(d.since) {
		return nil
	}
	rec.Target = d.target
	d.stats.Records++
	if err := d.fn(rec); err != nil {
		return callbackError{err}
	}
	return nil
}

// vpcFlowRecord decodes one VPC Flow Logs entry.
func (d *entryReader) vpcFlowRecord(b []byte) (model.FlowRecord, error) {
	if err := d.scan.scan(b, kindVPCFlows); err != nil {
		return model.FlowRecord{}, err
	}
	f := &d.scan.f
	if !isLog(bstr(f.str[fieldLogName]), kindVPCFlows) {
		return model.FlowRecord{}, errNoData
	}
	rec, err := connectionRecord(f)
	if err != nil {
		return model.FlowRecord{}, err
	}
	rec.Bytes, rec.Packets = f.num[fieldBytesSent], f.num[fieldPacketsSent]
	for _, s := range [...][]byte{f.str[fieldStartTime], f.str[fieldEndTime], f.str[fieldTimestamp]} {
		if len(s) != 0 {
			if rec.Time, err = parseTime(bstr(s)); err != nil {
				return model.FlowRecord{}, err
			}
			break
		}
	}
	rec.Action = model.FlowAccept

	var name []byte
	switch side := f.str[fieldReporter]; {
	case bytes.HasPrefix(side, []byte("SRC")):
		name = firstOf(f.str[fieldSrcVM], f.str[fieldSrcGW])
	case bytes.HasPrefix(side, []byte("DEST")):
		name = firstOf(f.str[fieldDestVM], f.str[fieldDestGW])
	}
	d.key = d.key[:0]
	if len(name) != 0 {
		d.key = append(append(d.key, name...), ':')
	}
	d.key = append(d.key, f.str[fieldReporter]...)
	rec.Reporter = d.intern(d.key)
	return rec, nil
}

// firewallRecord decodes one Firewall Rules Logging entry.
func (d *entryReader) firewallRecord(b []byte) (model.FlowRecord, error) {
	if err := d.scan.scan(b, kindFirewall); err != nil {
		return model.FlowRecord{}, err
	}
	f := &d.scan.f
	if !isLog(bstr(f.str[fieldLogName]), kindFirewall) {
		return model.FlowRecord{}, errNoData
	}
	rec, err := connectionRecord(f)
	if err != nil {
		return model.FlowRecord{}, err
	}
	if ts := f.str[fieldTimestamp]; len(ts) != 0 {
		if rec.Time, err = parseTime(bstr(ts)); err != nil {
			return model.FlowRecord{}, err
		}
	}
	verdict := bstr(firstOf(f.str[fieldDisposition], f.str[fieldAction]))
	switch strings.ToUpper(verdict) {
	case "ALLOWED", "ALLOW", "INTERCEPTED":
		rec.Action = model.FlowAccept
	case "DENIED", "DENY":
		rec.Action = model.FlowDrop
	default:
		return model.FlowRecord{}, fmt.Errorf("%w: disposition %q is not ALLOWED, DENIED or INTERCEPTED", errMalformed, cut(verdict, 64))
	}
	d.key = append(d.key[:0], firstOf(f.str[fieldReference], f.str[fieldInstanceVM])...)
	rec.Reporter = d.intern(d.key)
	return rec, nil
}

// connectionRecord reads the 5-tuple; an entry without addresses is not a flow.
func connectionRecord(f *entryFields) (model.FlowRecord, error) {
	var rec model.FlowRecord
	if len(f.str[fieldSrcIP]) == 0 || len(f.str[fieldDestIP]) == 0 {
		return rec, errNoData
	}
	var err error
	if rec.Src, err = parseAddr(bstr(f.str[fieldSrcIP])); err != nil {
		return rec, err
	}
	if rec.Dst, err = parseAddr(bstr(f.str[fieldDestIP])); err != nil {
		return rec, err
	}
	sport, dport := f.num[fieldSrcPort], f.num[fieldDestPort]
	if sport > 65535 || dport > 65535 {
		return rec, fmt.Errorf("%w: port %d is out of range", errMalformed, max(sport, dport))
	}
	rec.SrcPort, rec.DstPort = uint16(sport), uint16(dport)
	rec.Protocol = model.Protocol(f.protocol)
	return rec, nil
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: %q is not an IP address", errMalformed, cut(s, 64))
	}
	return a, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q is not RFC 3339", errMalformed, cut(s, 64))
	}
	return t.UTC(), nil
}

// isLog reports whether an entry's logName ("projects/P/logs/compute.googleapis.com%2Fvpc_flows",
// or organizations/, folders/, billingAccounts/) is the log kind reads. VPC Flow Logs
// configured through the Network Management API are written to
// networkmanagement.googleapis.com%2Fvpc_flows. An entry without a logName (a
// payload exported alone) is taken as the log it was given as.
func isLog(logName string, kind logKind) bool {
	if logName == "" {
		return true
	}
	_, id, ok := strings.Cut(logName, "/logs/")
	if !ok {
		return false
	}
	// The usual spellings first, compared whole.
	if kind == kindFirewall {
		return id == "compute.googleapis.com%2Ffirewall" || logIDIs(id, "compute.googleapis.com/firewall")
	}
	return id == "compute.googleapis.com%2Fvpc_flows" || logIDIs(id, "compute.googleapis.com/vpc_flows") || logIDIs(id, "networkmanagement.googleapis.com/vpc_flows")
}

// logIDIs reports whether id, with "%2F" and "%2f" read as "/", is want; it is
// id's URL decoding compared without building it, which would cost an allocation
// an entry.
func logIDIs(id, want string) bool {
	for want != "" {
		if len(id) >= 3 && id[0] == '%' && id[1] == '2' && (id[2] == 'F' || id[2] == 'f') {
			if want[0] != '/' {
				return false
			}
			id, want = id[3:], want[1:]
			continue
		}
		if id == "" || id[0] != want[0] {
			return false
		}
		id, want = id[1:], want[1:]
	}
	return id == ""
}

// intern returns key as a string that outlives the reader's buffers, the same
// string for the same key; the table is bounded, so memory is too.
func (d *entryReader) intern(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	if v, ok := d.reporters[string(key)]; ok {
		return v
	}
	if len(d.reporters) >= 4096 {
		clear(d.reporters)
	}
	v := string(key)
	d.reporters[v] = v
	return v
}

func firstOf(a, b []byte) []byte {
	if len(a) != 0 {
		return a
	}
	return b
}

// cut shortens s for an error message.
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseJSONUint reads an unsigned integer written as a JSON number or, as the
// LogEntry JSON writes int64 values, a string of one (its raw text, quotes
// included); null is 0.
func parseJSONUint(b []byte) (uint64, bool) {
	if string(b) == "null" {
		return 0, true
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// protocolByName are the IP protocols by the names some exports write instead of
// their IANA number.
var protocolByName = map[string]model.Protocol{
	"icmp": model.ProtocolICMP, "tcp": model.ProtocolTCP, "udp": model.ProtocolUDP,
	"icmpv6": model.ProtocolICMPv6, "ipv6-icmp": model.ProtocolICMPv6, "sctp": model.ProtocolSCTP,
	"gre": 47, "esp": 50, "ah": 51, "ipip": 4,
}

// parseProtocol reads an IP protocol from a value's raw text: its IANA number (a
// JSON number or a string of one, as the documentation defines it) or, as some
// exports write it, its name in any case.
func parseProtocol(b []byte) (uint8, bool) {
	if v, ok := parseJSONUint(b); ok {
		return uint8(v), v <= 255
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return 0, false
	}
	name := b[1 : len(b)-1]
	var lower [16]byte
	if len(name) > len(lower) || !isASCII(name) {
		// strings.ToLower maps a few runes beyond ASCII to ASCII letters.
		p, ok := protocolByName[strings.ToLower(string(name))]
		return uint8(p), ok
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	p, ok := protocolByName[string(lower[:len(name)])]
	return uint8(p), ok
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
