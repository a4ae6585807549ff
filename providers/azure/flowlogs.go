package azure

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unsafe"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Network Watcher flow logs: one JSON document {"records":[...]} per blob and hour,
// each record one minute of one NSG (NSG flow logs) or one NIC (VNet flow logs), its
// flows as comma-separated tuple strings grouped by rule. Formats:
// https://learn.microsoft.com/azure/network-watcher/nsg-flow-logs-overview#log-format
// https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview#log-format
//
// The document is walked with encoding/json's tokens down to the records array, and
// each record is then taken whole (encoding/json checks its syntax) and walked by hand
// without allocating; tuples are split and parsed in place. So a blob of any size
// streams in the memory of its largest record, and a tuple costs no allocation.

// FlowStats is the providers' flow-log statistics type.
type FlowStats = providers.FlowStats

// Sentinel errors of the decoders. Tuples and records that do not parse are counted
// in FlowStats.Malformed and skipped; these are what stops a document.
var (
	// ErrMalformedDocument is wrapped by the error of a blob or file that is not a
	// readable flow-log document: not JSON (the error names the byte offset), cut
	// short, not an object with a records array, or a bad gzip stream. Records before
	// the fault have been handed out.
	ErrMalformedDocument = errors.New("azure flow log: malformed document")
	// ErrWrongFormat is wrapped by the error of a document whose records all have
	// the other format's shape: VNet flow log records read as NSG flow logs, or the
	// reverse. They are also counted as malformed.
	ErrWrongFormat = errors.New("azure flow log: records of the other flow log format")
)

// Format is a flow log format of Network Watcher.
type Format string

// The two formats, and the containers Network Watcher writes them to.
const (
	// FormatNSG is an NSG flow log (category NetworkSecurityGroupFlowEvent).
	FormatNSG Format = "nsg"
	// FormatVNet is a virtual network flow log (category FlowLogFlowEvent).
	FormatVNet Format = "vnet"

	// NSGFlowLogContainer is the container of NSG flow logs in the storage account.
	NSGFlowLogContainer = "insights-logs-networksecuritygroupflowevent"
	// VNetFlowLogContainer is the container of virtual network flow logs.
	VNetFlowLogContainer = "insights-logs-flowlogflowevent"
)

var (
	_ providers.FlowDecoder = DecodeNSGFlowLog
	_ providers.FlowDecoder = DecodeVNetFlowLog
)

// DecodeNSGFlowLog reads one NSG flow log document (a PT1H.json blob, plain or
// gzipped), records[].properties.flows[].flows[].flowTuples, and hands every flow not
// before since to fn with Target set to target. It is a providers.FlowDecoder.
//
// A tuple is one flow record. Version 1 tuples
// (time,src,dst,sport,dport,T|U,I|O,A|D) have no counts: Bytes and Packets are 0.
// Version 2 tuples add the flow state (B begin, C continuing, E end) and the packets
// and bytes each way since the flow's last tuple; Bytes and Packets are the sums of
// both directions, so that adding up a flow's B, C and E records gives its totals (B
// has no counts). A (allowed) is accept, D (denied) is drop; T is TCP, U is UDP.
// Reporter is the record's resourceId, the NSG that logged it (each target has one
// NSG, and the NIC is in the addresses); failing that its macAddress, then the MAC of
// the flow group.
//
// Malformed tuples and records are counted and skipped; a document that is not JSON
// or not {"records":[...]} is an error wrapping ErrMalformedDocument, and one of VNet
// flow log records an error wrapping ErrWrongFormat. An error from fn is returned as
// it is.
func DecodeNSGFlowLog(ctx context.Context, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	return newFlowDecoder(&nsgFormat, target, since, stats, fn).decode(ctx, r)
}

// DecodeVNetFlowLog reads one virtual network flow log document (flowLogVersion 4, a
// PT1H.json blob, plain or gzipped), records[].flowRecords.flows[].flowGroups[].flowTuples,
// and hands every flow not before since to fn with Target set to target. It is a
// providers.FlowDecoder.
//
// A tuple (time,src,dst,sport,dport,protocol,I|O,state,encryption,packets and bytes
// each way) is one flow record. Its time is in epoch milliseconds; a value below 10^11
// is taken as seconds, as in the format page's own bandwidth example (10^11 seconds is
// the year 5138, 10^11 milliseconds 1973). State D (denied) is drop, B, C and E
// (begin, continuing, end of an allowed flow) accept. The protocol is its IANA number.
// Bytes and Packets are the sums of both directions since the flow's last tuple (B
// has none), so adding up a flow's records gives its totals. Reporter is the record's
// macAddress, the NIC whose traffic it is, like an AWS ENI (a VNet flow log's target
// may be a whole virtual network); failing that its targetResourceID.
//
// Errors and counting are as for DecodeNSGFlowLog.
func DecodeVNetFlowLog(ctx context.Context, r io.Reader, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) error {
	return newFlowDecoder(&vnetFormat, target, since, stats, fn).decode(ctx, r)
}

// Decoder returns the decoder of format f, or nil for a format that is not one.
func (f Format) Decoder() providers.FlowDecoder {
	switch f {
	case FormatNSG:
		return DecodeNSGFlowLog
	case FormatVNet:
		return DecodeVNetFlowLog
	}
	return nil
}

// logFormat is where a format keeps its tuples: both are
// record.<container>.flows[].<groups>[].flowTuples.
type logFormat struct {
	name      string
	container string    // the record's key holding the flows
	other     string    // the other format's container key, to tell a wrong format
	groups    string    // key of the arrays of tuple groups in each flow
	reporter  [2]string // record keys giving Reporter, in order of preference
	groupMAC  string    // key of a group giving Reporter when the record has none
	tuple     func(t []byte) (model.FlowRecord, bool)
}

var (
	nsgFormat = logFormat{
		name: "NSG", container: "properties", other: "flowRecords", groups: "flows",
		reporter: [2]string{"resourceId", "macAddress"}, groupMAC: "mac",
		tuple: parseNSGTuple,
	}
	vnetFormat = logFormat{
		name: "VNet", container: "flowRecords", other: "properties", groups: "flowGroups",
		reporter: [2]string{"macAddress", "targetResourceID"},
		tuple:    parseVNetTuple,
	}
)

// flowDecoder reads documents of one format. Its buffers are reused from document
// to document, and nothing it hands out refers to them.
type flowDecoder struct {
	format  *logFormat
	raw     *bufio.Reader
	gz      *gzip.Reader
	reports map[string]string // interned Reporter strings
	target  string
	since   time.Time
	stats   *FlowStats
	fn      func(model.FlowRecord) error
	skipBuf json.RawMessage // top-level values other than records, skipped
	unq     []byte          // scratch for strings with escapes
	gzErr   errorRecorder   // the gzip reader, to tell its errors
	// Records of the current document, and how many of them had the other
	// format's shape.
	docRecords, docOther int
	ctx                  context.Context
}

func newFlowDecoder(format *logFormat, target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) *flowDecoder {
	return &flowDecoder{
		format:  format,
		raw:     bufio.NewReaderSize(nil, 64<<10),
		reports: make(map[string]string),
		target:  target,
		since:   since,
		stats:   stats,
		fn:      fn,
	}
}

// callbackError carries fn's error (or the context's) out of encoding/json unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// readError is a failed read of the document's reader.
type readError struct{ err error }

func (e readError) Error() string { return "read: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// decode reads every document of r (one, for a blob; concatenated documents are read
// in turn).
func (d *flowDecoder) decode(ctx context.Context, r io.Reader) error {
	rr := &errorRecorder{r: r}
	err := d.documents(ctx, rr)
	switch {
	case err == nil:
		return nil
	case rr.err != nil:
		return readError{rr.err}
	}
	var cb callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

func (d *flowDecoder) documents(ctx context.Context, r io.Reader) error {
	d.ctx = ctx
	d.gzErr = errorRecorder{}
	d.raw.Reset(r)
	var in io.Reader = d.raw
	magic, _ := d.raw.Peek(3)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		var err error
		if d.gz == nil {
			d.gz, err = gzip.NewReader(d.raw)
		} else {
			err = d.gz.Reset(d.raw)
		}
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", ErrMalformedDocument, err)
		}
		d.gzErr = errorRecorder{r: d.gz}
		in = &d.gzErr
	case bytes.Equal(magic, []byte("\xef\xbb\xbf")):
		d.raw.Discard(3) // a UTF-8 byte order mark, as Windows tools write
	}
	dec := json.NewDecoder(in)
	// Numbers stay text: Token would otherwise turn a stray top-level number into a
	// float64 and fail, not as a syntax error, on one out of its range.
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return d.syntaxError(dec, err)
		}
		if tok != json.Delim('{') {
			return fmt.Errorf("%w: at byte %d: the document is not a JSON object {\"records\":[...]}", ErrMalformedDocument, dec.InputOffset())
		}
		if err := d.document(dec); err != nil {
			return err
		}
	}
}

// document reads the members of a document after its opening brace.
func (d *flowDecoder) document(dec *json.Decoder) error {
	d.docRecords, d.docOther = 0, 0
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return d.syntaxError(dec, err)
		}
		if key, _ := tok.(string); !strings.EqualFold(key, "records") {
			if err := dec.Decode(&d.skipBuf); err != nil {
				return d.syntaxError(dec, err)
			}
			continue
		}
		found = true
		at := dec.InputOffset()
		if tok, err = dec.Token(); err != nil {
			return d.syntaxError(dec, err)
		}
		if tok != json.Delim('[') {
			return fmt.Errorf("%w: at byte %d: records is not an array", ErrMalformedDocument, at)
		}
		sink := recordSink{d}
		for dec.More() {
			if err := d.ctx.Err(); err != nil {
				return callbackError{err}
			}
			if err := dec.Decode(&sink); err != nil {
				return d.syntaxError(dec, err)
			}
		}
		if _, err := dec.Token(); err != nil { // ]
			return d.syntaxError(dec, err)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return d.syntaxError(dec, err)
	}
	if !found {
		return fmt.Errorf("%w: no records array", ErrMalformedDocument)
	}
	if d.docRecords > 0 && d.docOther == d.docRecords {
		other := "VNet"
		if d.format == &vnetFormat {
			other = "NSG"
		}
		return fmt.Errorf("%w: its %d records are %s flow log records (%q), not %s ones",
			ErrWrongFormat, d.docRecords, other, d.format.other, d.format.name)
	}
	return nil
}

// syntaxError says where the document stopped parsing, as a byte offset from its
// start (after decompression). encoding/json gives that offset for errors between
// values, but for an error inside a value one that also counts the bytes of earlier
// values and not the tokens between them: the value is then scanned again, from the
// decoder's buffer, for the offset within it.
func (d *flowDecoder) syntaxError(dec *json.Decoder, err error) error {
	var ce callbackError
	if errors.As(err, &ce) {
		return ce
	}
	if d.gzErr.err != nil {
		return fmt.Errorf("%w: gzip: %v", ErrMalformedDocument, d.gzErr.err)
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		at := dec.InputOffset()
		if se.Offset != at {
			var v json.RawMessage
			var again *json.SyntaxError
			if errors.As(json.NewDecoder(dec.Buffered()).Decode(&v), &again) {
				at += max(again.Offset-1, 0)
			}
		}
		return fmt.Errorf("%w: at byte %d: %v", ErrMalformedDocument, at, se)
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF:
		return fmt.Errorf("%w: the document ends early, in the value at byte %d", ErrMalformedDocument, dec.InputOffset())
	}
	// A failed read of the underlying reader, told apart by decode.
	return err
}

// errorRecorder remembers the first error other than io.EOF of a reader.
type errorRecorder struct {
	r   io.Reader
	err error
}

func (e *errorRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// recordSink hands each record of the records array, as encoding/json has checked
// it, to the decoder without copying it.
type recordSink struct{ d *flowDecoder }

func (s *recordSink) UnmarshalJSON(b []byte) error { return s.d.record(b) }

// record walks one record: first its own members, for Reporter (JSON members come
// in any order), then the tuples.
func (d *flowDecoder) record(b []byte) error {
	d.docRecords++
	f := d.format
	s := jsonScan{b: b}
	if !s.open('{') {
		d.stats.Malformed++
		return nil
	}
	var rep [2]string
	flowsAt, other := -1, false
	for s.next() {
		k, ok := s.key()
		if !ok {
			d.stats.Malformed++
			return nil
		}
		switch {
		case keyIs(k, f.reporter[0]):
			rep[0] = d.intern(d.stringValue(&s))
		case keyIs(k, f.reporter[1]):
			rep[1] = d.intern(d.stringValue(&s))
		case keyIs(k, f.container):
			flowsAt = s.i
			s.skip()
		case keyIs(k, f.other):
			other = true
			s.skip()
		default:
			s.skip()
		}
	}
	if flowsAt < 0 {
		if other {
			d.docOther++
		}
		d.stats.Malformed++
		return nil
	}
	reporter := rep[0]
	if reporter == "" {
		reporter = rep[1]
	}

	s.i = flowsAt
	if !s.open('{') {
		d.stats.Malformed++
		return nil
	}
	for s.next() {
		k, ok := s.key()
		if !ok {
			d.stats.Malformed++
			return nil
		}
		if !keyIs(k, "flows") {
			s.skip()
			continue
		}
		if !s.open('[') {
			d.stats.Malformed++
			continue
		}
		for s.next() { // a rule (NSG) or an ACL (VNet)
			if !s.open('{') {
				d.stats.Malformed++
				continue
			}
			for s.next() {
				k, ok := s.key()
				if !ok {
					d.stats.Malformed++
					return nil
				}
				if !keyIs(k, f.groups) {
					s.skip()
					continue
				}
				if !s.open('[') {
					d.stats.Malformed++
					continue
				}
				for s.next() {
					if err := d.group(&s, reporter); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// group reads one object holding flowTuples: a NIC's tuples of a rule (NSG) or a
// rule's tuples (VNet).
func (d *flowDecoder) group(s *jsonScan, reporter string) error {
	if !s.open('{') {
		d.stats.Malformed++
		return nil
	}
	tuplesAt := -1
	var mac []byte
	for s.next() {
		k, ok := s.key()
		if !ok {
			d.stats.Malformed++
			return nil
		}
		switch {
		case keyIs(k, "flowTuples"):
			tuplesAt = s.i
			s.skip()
		case d.format.groupMAC != "" && keyIs(k, d.format.groupMAC):
			mac = d.stringValue(s)
		default:
			s.skip()
		}
	}
	if tuplesAt < 0 {
		return nil
	}
	if reporter == "" && len(mac) > 0 {
		reporter = d.intern(mac)
	}
	end := s.i
	defer func() { s.i = end }()
	s.i = tuplesAt
	if !s.open('[') {
		d.stats.Malformed++
		return nil
	}
	for s.next() {
		t, esc, ok := s.str()
		if !ok {
			s.skip()
			d.stats.Malformed++
			continue
		}
		if esc {
			t = d.unescape(t)
		}
		rec, ok := d.format.tuple(t)
		if !ok {
			d.stats.Malformed++
			continue
		}
		if !d.since.IsZero() && rec.Time.Before(d.since) {
			continue
		}
		rec.Reporter = reporter
		rec.Target = d.target
		d.stats.Records++
		if err := d.fn(rec); err != nil {
			return callbackError{err}
		}
	}
	return nil
}

// stringValue returns a string member's contents, unescaped (valid until the next
// call), or nil for a value of another kind, which it skips.
func (d *flowDecoder) stringValue(s *jsonScan) []byte {
	v, esc, ok := s.str()
	if !ok {
		s.skip()
		return nil
	}
	if esc {
		return d.unescape(v)
	}
	return v
}

// unescape decodes the contents of a JSON string with escapes. Flow logs have
// none; this is the slow path for the odd one.
func (d *flowDecoder) unescape(raw []byte) []byte {
	d.unq = append(d.unq[:0], '"')
	d.unq = append(d.unq, raw...)
	d.unq = append(d.unq, '"')
	var s string
	if json.Unmarshal(d.unq, &s) != nil {
		return nil
	}
	d.unq = append(d.unq[:0], s...)
	return d.unq
}

// intern returns b as a string, the same string for the same bytes; the table is
// bounded, so memory is too.
func (d *flowDecoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if v, ok := d.reports[string(b)]; ok {
		return v
	}
	if len(d.reports) >= 4096 {
		clear(d.reports)
	}
	v := string(b)
	d.reports[v] = v
	return v
}

// keyIs compares a member name with a known one, ignoring case as encoding/json
// does (Microsoft's pages spell resourceId both ways).
func keyIs(k []byte, name string) bool {
	if len(k) != len(name) {
		return false
	}
	for i := range len(k) {
		if a, b := k[i]|0x20, name[i]|0x20; a != b || (a < 'a' || a > 'z') && k[i] != name[i] {
			return false
		}
	}
	return true
}

// maxTupleFields is the number of fields of a VNet or NSG version 2 tuple.
const maxTupleFields = 13

// splitTuple cuts t at its commas into f and returns the number of fields, or -1 for
// more than maxTupleFields. (One pass by hand: fields are a few bytes, too short for
// bytes.IndexByte to pay for its call.)
func splitTuple(t []byte, f *[maxTupleFields][]byte) int {
	n, start := 0, 0
	for i, c := range t {
		if c != ',' {
			continue
		}
		if n == maxTupleFields-1 {
			return -1
		}
		f[n] = t[start:i]
		n++
		start = i + 1
	}
	f[n] = t[start:]
	return n + 1
}

// parseNSGTuple reads an NSG flow tuple of version 1 (8 fields) or 2 (13 fields).
func parseNSGTuple(t []byte) (model.FlowRecord, bool) {
	var f [maxTupleFields][]byte
	n := splitTuple(t, &f)
	if n != 8 && n != 13 {
		return model.FlowRecord{}, false
	}
	var rec model.FlowRecord
	if !parseCommon(&f, &rec) {
		return model.FlowRecord{}, false
	}
	switch string(f[5]) {
	case "T":
		rec.Protocol = model.ProtocolTCP
	case "U":
		rec.Protocol = model.ProtocolUDP
	default:
		return model.FlowRecord{}, false
	}
	if !isDirection(f[6]) {
		return model.FlowRecord{}, false
	}
	switch string(f[7]) {
	case "A":
		rec.Action = model.FlowAccept
	case "D":
		rec.Action = model.FlowDrop
	default:
		return model.FlowRecord{}, false
	}
	if n == 8 {
		return rec, true
	}
	switch string(f[8]) {
	case "B", "C", "E":
	default:
		return model.FlowRecord{}, false
	}
	if !parseCounts(&f, 9, &rec) {
		return model.FlowRecord{}, false
	}
	return rec, true
}

// parseVNetTuple reads a virtual network flow tuple (13 fields).
func parseVNetTuple(t []byte) (model.FlowRecord, bool) {
	var f [maxTupleFields][]byte
	if splitTuple(t, &f) != 13 {
		return model.FlowRecord{}, false
	}
	var rec model.FlowRecord
	if !parseCommon(&f, &rec) {
		return model.FlowRecord{}, false
	}
	proto, ok := parseUint(f[5], 8)
	if !ok {
		return model.FlowRecord{}, false
	}
	rec.Protocol = model.Protocol(proto)
	if !isDirection(f[6]) {
		return model.FlowRecord{}, false
	}
	switch string(f[7]) {
	case "B", "C", "E":
		rec.Action = model.FlowAccept
	case "D":
		rec.Action = model.FlowDrop
	default:
		return model.FlowRecord{}, false
	}
	// f[8] is the encryption state (X, NX, NX_...): not a property of the flow
	// record, and new values may come.
	if !parseCounts(&f, 9, &rec) {
		return model.FlowRecord{}, false
	}
	return rec, true
}

// parseCommon reads the fields both formats share: time, addresses and ports.
func parseCommon(f *[maxTupleFields][]byte, rec *model.FlowRecord) bool {
	ts, ok := parseUint(f[0], 63)
	if !ok {
		return false
	}
	if ts >= 1e11 {
		rec.Time = time.UnixMilli(int64(ts)).UTC()
	} else {
		rec.Time = time.Unix(int64(ts), 0).UTC()
	}
	if rec.Src, ok = parseAddr(f[1]); !ok {
		return false
	}
	if rec.Dst, ok = parseAddr(f[2]); !ok {
		return false
	}
	sport, ok := parseUint(f[3], 16)
	if !ok {
		return false
	}
	dport, ok := parseUint(f[4], 16)
	if !ok {
		return false
	}
	rec.SrcPort, rec.DstPort = uint16(sport), uint16(dport)
	return true
}

// parseCounts reads packets and bytes source to destination, then destination to
// source, from f[i:i+4]; empty fields (a B tuple's) are 0.
func parseCounts(f *[maxTupleFields][]byte, i int, rec *model.FlowRecord) bool {
	var c [4]uint64
	for k := range c {
		if len(f[i+k]) == 0 {
			continue
		}
		v, ok := parseUint(f[i+k], 64)
		if !ok {
			return false
		}
		c[k] = v
	}
	rec.Packets = addSat(c[0], c[2])
	rec.Bytes = addSat(c[1], c[3])
	return true
}

func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func isDirection(b []byte) bool { return len(b) == 1 && (b[0] == 'I' || b[0] == 'O') }

// parseUint reads a decimal number of at most bits bits: digits only, no sign.
func parseUint(b []byte, bits uint) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	limit := uint64(1)<<bits - 1
	if bits == 64 {
		limit = ^uint64(0)
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseAddr reads an IPv4 or IPv6 address in place; zones are refused.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	// The string does not outlive the call: netip.Addr keeps no reference to its
	// text (only a zone would be, and one is refused).
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a, true
}

// jsonScan walks one JSON value that encoding/json has already checked (a record),
// without allocating. It stays within its bytes whatever they are, so that input it
// did not expect is a malformed record, never a panic or a loop: every step either
// consumes a byte or reports the end.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) peek() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// open consumes the bracket c starting an object or array and reports whether the
// value is one; a value of another kind is skipped.
func (s *jsonScan) open(c byte) bool {
	if s.peek() != c {
		s.skip()
		return false
	}
	s.i++
	return true
}

// next reports whether the object or array being read has another member,
// consuming the comma before it, or the closing bracket after the last.
func (s *jsonScan) next() bool {
	switch s.peek() {
	case ',':
		s.i++
		return true
	case '}', ']':
		s.i++
		return false
	case 0:
		return false
	}
	return true
}

// key reads a member name and its colon.
func (s *jsonScan) key() ([]byte, bool) {
	k, _, ok := s.str()
	if !ok || s.peek() != ':' {
		return nil, false
	}
	s.i++
	return k, true
}

// str reads a string, returning its contents as they are in the JSON and whether
// they hold escapes; it consumes nothing when the value is not a string.
func (s *jsonScan) str() (raw []byte, escaped, ok bool) {
	if s.peek() != '"' {
		return nil, false, false
	}
	start := s.i + 1
	j := bytes.IndexByte(s.b[start:], '"')
	if j < 0 {
		s.i = len(s.b)
		return nil, false, false
	}
	if bytes.IndexByte(s.b[start:start+j], '\\') < 0 {
		s.i = start + j + 1
		return s.b[start : start+j], false, true
	}
	for i := start; i < len(s.b); i++ {
		switch s.b[i] {
		case '\\':
			i++
		case '"':
			s.i = i + 1
			return s.b[start:i], true, true
		}
	}
	s.i = len(s.b)
	return nil, false, false
}

// skip consumes one value of any kind.
func (s *jsonScan) skip() {
	switch s.peek() {
	case 0:
		return
	case '"':
		if _, _, ok := s.str(); !ok {
			s.i = len(s.b)
		}
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, _, ok := s.str(); !ok {
					s.i = len(s.b)
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default: // a number, true, false or null
		s.i++
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}
