package aws

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
	fields []string
	roles  []fieldRole
	pos    [numRoles]int // index of the field of each role, -1 when absent
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
		return model.FlowRecord{}, ErrNoData
	case "SKIPDATA":
		return model.FlowRecord{}, ErrSkipData
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
		return model.FlowRecord{}, ErrNoData
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

// flowReader streams flow log objects: gzip or plain text, a header line naming the
// fields, then one record a line. Its buffers are reused from object to object, and
// nothing it hands out refers to them, so a stream of any length runs in the same
// memory.
type flowReader struct {
	raw     *bufio.Reader // the object's bytes, to sniff gzip
	gz      *gzip.Reader
	lines   *bufio.Reader
	reports map[string]string // interned Reporter strings
	target  string
	since   time.Time
	stats   *FlowStats
	fn      func(model.FlowRecord) error
	ctx     context.Context // checked now and then, when set: a huge file can be cancelled
	lineNo  int
}

func newFlowReader(target string, since time.Time, stats *FlowStats, fn func(model.FlowRecord) error) *flowReader {
	return &flowReader{
		raw:     bufio.NewReaderSize(nil, 32<<10),
		lines:   bufio.NewReaderSize(nil, maxLine),
		reports: make(map[string]string),
		target:  target,
		since:   since,
		stats:   stats,
		fn:      fn,
	}
}

// callbackError carries the callback's error out of a reader unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// read streams one object: its header line, then its records.
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
	r.lines.Reset(in)

	var parser *FlowLogParser
	for {
		line, long, err := r.readLine()
		if err != nil && err != io.EOF {
			return err
		}
		if r.lineNo++; r.ctx != nil && r.lineNo%8192 == 0 && r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if len(line) > 0 || long {
			switch {
			case long:
				if parser == nil {
					return errors.New("header line too long")
				}
				r.stats.Malformed++
			case parser == nil:
				if len(bytes.TrimSpace(line)) == 0 {
					break
				}
				p, perr := NewFlowLogParser(strings.Fields(string(line)))
				if perr != nil {
					return fmt.Errorf("header line: %w", perr)
				}
				parser = p
			default:
				if err := r.record(parser, line); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readLine returns the next line without its newline (valid until the next call);
// long reports a line longer than maxLine, which is consumed and not returned.
func (r *flowReader) readLine() (line []byte, long bool, err error) {
	line, err = r.lines.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = r.lines.ReadSlice('\n')
		}
		return nil, true, err
	}
	return bytes.TrimRight(line, "\r\n"), false, err
}

// record parses one line and hands its flow to fn. The line's bytes are parsed in
// place: the record keeps no reference to them (Reporter is interned).
func (r *flowReader) record(parser *FlowLogParser, line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	rec, err := parser.Parse(unsafe.String(unsafe.SliceData(line), len(line)))
	return r.deliver(rec, err, true)
}

// deliver counts a parsed record and hands a flow to fn; intern copies Reporter
// when it points into a reused buffer.
func (r *flowReader) deliver(rec model.FlowRecord, err error, intern bool) error {
	switch {
	case err == nil:
	case errors.Is(err, ErrNoData):
		r.stats.NoData++
		return nil
	case errors.Is(err, ErrSkipData):
		r.stats.SkipData++
		return nil
	default:
		r.stats.Malformed++
		return nil
	}
	if !r.since.IsZero() && !rec.Time.IsZero() && rec.Time.Before(r.since) {
		return nil
	}
	if intern && rec.Reporter != "" {
		rec.Reporter = r.intern(rec.Reporter)
	}
	rec.Target = r.target
	r.stats.Records++
	if err := r.fn(rec); err != nil {
		return callbackError{err}
	}
	return nil
}

// intern returns a copy of s that outlives the line buffer, the same copy for the
// same interface; the table is bounded, so memory is too.
func (r *flowReader) intern(s string) string {
	if v, ok := r.reports[s]; ok {
		return v
	}
	if len(r.reports) >= 4096 {
		clear(r.reports)
	}
	v := strings.Clone(s)
	r.reports[v] = v
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
