package onprem

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
	"unsafe"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Conntrack event lines: the accepted half of a host's flows. NFLOG only ever sees
// the packets microseg's chains drop (or would drop); a connection the ruleset let
// through leaves no log message, but it does get a conntrack entry, because the
// kernel confirms an entry only once its first packet has made it through every
// filter hook. So the text conntrack(8) prints about its entries is how a host's
// accepted flows reach an audit. The formats read are those of libnetfilter_conntrack's
// default output (src/conntrack/snprintf_default.c), as printed by
//
//	conntrack -E [-o timestamp] [-o extended] [-o id]   (events)
//	conntrack -L [-o extended] [-o id]                  (a dump of the table)
//
// for example
//
//	[1541500230.282386]	    [NEW] tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=4000 dport=80 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=80 dport=4000
//	tcp      6 431970 ESTABLISHED src=192.168.35.116 dst=216.58.213.227 sport=49862 dport=443 packets=11 bytes=1337 src=216.58.213.227 dst=192.168.35.116 sport=443 dport=49862 packets=8 bytes=716 [ASSURED] mark=0 use=1
//
// that is: an optional wall-clock time in brackets (-o timestamp), an optional event
// tag ([NEW], [UPDATE], [DESTROY]; -L lines have none), an optional layer 3 name and
// number (-o extended), the layer 4 protocol's name and number, the timeout and state
// where the protocol has them, the original direction's tuple (src=, dst=, then sport=
// and dport=, or type= code= id= for ICMP), its counters (packets=, bytes=) when
// accounting is on (sysctl net.netfilter.nf_conntrack_acct=1), then the reply
// direction's tuple and counters, and flags and attributes this reader has no use for.
// The XML output (-o xml) and expectation events (conntrack -E expect) are not read.

// conntrackMaxLine bounds a line; a longer one is counted as malformed and skipped.
// Real lines are a few hundred bytes even with every -o option and an SELinux context.
const conntrackMaxLine = 64 << 10

// errConntrackLine is wrapped by every error of parseConntrackLine.
var errConntrackLine = errors.New("malformed conntrack line")

// conntrackEvent is the event tag a line starts with.
type conntrackEvent uint8

const (
	conntrackDump    conntrackEvent = iota // no tag: a conntrack -L line, an entry as it is
	conntrackNew                           // [NEW]: the entry was confirmed
	conntrackUpdate                        // [UPDATE]: its state, timeout, mark... changed
	conntrackDestroy                       // [DESTROY]: it was deleted or expired
)

func (e conntrackEvent) String() string {
	switch e {
	case conntrackNew:
		return "[NEW]"
	case conntrackUpdate:
		return "[UPDATE]"
	case conntrackDestroy:
		return "[DESTROY]"
	}
	return "dump"
}

var _ providers.FlowDecoder = DecodeConntrack

// DecodeConntrack reads the text output of `conntrack -E` or `conntrack -L` (plain or
// gzip-compressed, sniffed from the first bytes); it is a providers.FlowDecoder. Every
// record has Action model.FlowAccept: conntrack only holds connections the ruleset let
// through.
//
// It makes one record per connection, from its [NEW] event or from its line in a
// dump, and ignores [UPDATE] and [DESTROY] events (they are still checked, and counted
// as malformed when they do not parse). A connection's events all carry its tuple, so
// reading more than one of them would count the connection several times, and only
// the first is sure to be there when the capture started before the connection did.
// The price is the byte and packet counters, which the kernel sends with [DESTROY]
// only: records from events have Bytes and Packets 0, which means "not known", and
// records from a dump with accounting on have the original direction's counters so
// far. Connections that were open before `conntrack -E` started show up in no [NEW]
// event: capture a `conntrack -L` dump when the event capture starts to have them.
// A capture of [DESTROY] events only (conntrack -E -e DESTROY) yields no records.
//
// The record is the original direction's tuple (who opened the connection, to whom),
// with the protocol by number; ports for TCP, UDP and SCTP, and the message type as
// DstPort for ICMP and ICMPv6, as FlowLogReader fills them, and none for other
// protocols. Time is the line's -o timestamp time when it has one; otherwise it is the
// zero time, which since does not filter.
//
// Blank lines, lines starting with '#', and the summary conntrack prints when it ends
// ("conntrack v1.4.8 (conntrack-tools): 3 flow entries have been shown.", on stderr,
// so present when that was captured too) are skipped; every other line that is not a
// conntrack entry or event is counted as malformed. A last line without its newline
// is read like the others.
func DecodeConntrack(ctx context.Context, r io.Reader, target string, since time.Time, stats *providers.FlowStats, fn func(model.FlowRecord) error) error {
	lines := bufio.NewReaderSize(r, conntrackMaxLine)
	if magic, _ := lines.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(lines)
		if err != nil {
			return fmt.Errorf("read conntrack lines: gzip: %w", err)
		}
		defer gz.Close()
		lines = bufio.NewReaderSize(gz, conntrackMaxLine)
	}
	for n := 1; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := lines.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			stats.Malformed++
			for err == bufio.ErrBufferFull {
				_, err = lines.ReadSlice('\n')
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read conntrack lines: line %d: %w", n, err)
			}
			continue
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read conntrack lines: line %d: %w", n, err)
		}
		if len(line) > 0 {
			if ferr := conntrackDeliver(line, target, since, stats, fn); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// conntrackDeliver parses one line and hands its record, if it makes one, to fn.
// Only fn's error is returned.
func conntrackDeliver(line []byte, target string, since time.Time, stats *providers.FlowStats, fn func(model.FlowRecord) error) error {
	line = bytes.TrimRight(line, "\r\n")
	body := bytes.TrimLeft(line, " \t")
	if len(body) == 0 || body[0] == '#' || isConntrackSummary(body) {
		return nil
	}
	ev, rec, err := parseConntrackLine(line)
	switch {
	case err != nil:
		stats.Malformed++
		return nil
	case ev == conntrackUpdate || ev == conntrackDestroy:
		return nil
	case !since.IsZero() && !rec.Time.IsZero() && rec.Time.Before(since):
		return nil
	}
	rec.Target = target
	stats.Records++
	return fn(rec)
}

// isConntrackSummary reports whether line is the count conntrack prints to stderr
// when it ends, such as "conntrack v1.4.6 (conntrack-tools): 4 flow entries have
// been shown." or "... 12 flow events have been shown.".
func isConntrackSummary(line []byte) bool {
	return bytes.HasPrefix(line, []byte("conntrack v")) &&
		bytes.Contains(line, []byte(" (conntrack-tools): ")) &&
		bytes.HasSuffix(line, []byte(" have been shown."))
}

// parseConntrackLine reads one line of conntrack's default output (see the comment at
// the top of this file): its event tag, and the record of its original direction
// with Action accept, Time from the -o timestamp prefix when there is one, and
// Bytes and Packets from the original direction's counters when there are any.
//
// It does not keep line, and allocates nothing unless the line is malformed.
func parseConntrackLine(line []byte) (conntrackEvent, model.FlowRecord, error) {
	var rec model.FlowRecord
	ev := conntrackDump
	f := conntrackFields{s: line}
	tok := f.next()

	// -o timestamp: "[1541500230.282386]" then a tab.
	if len(tok) > 1 && tok[0] == '[' && isDigit(tok[1]) {
		t, ok := parseConntrackTime(tok)
		if !ok {
			return ev, rec, conntrackErr("timestamp %q is not [SECONDS.MICROSECONDS]", tok)
		}
		rec.Time = t
		tok = f.next()
	}
	if len(tok) > 0 && tok[0] == '[' {
		switch string(tok) { // no allocation: the conversion is only compared
		case "[NEW]":
			ev = conntrackNew
		case "[UPDATE]":
			ev = conntrackUpdate
		case "[DESTROY]":
			ev = conntrackDestroy
		default:
			return ev, rec, conntrackErr("unknown event %q", tok)
		}
		tok = f.next()
	}
	if tok == nil {
		return ev, rec, conntrackErr("no protocol")
	}

	// -o extended: the layer 3 protocol's name and number ("ipv4     2").
	family := 0
	switch string(tok) {
	case "ipv4", "ipv6":
		want := "2"
		family = 4
		if tok[3] == '6' {
			want, family = "10", 6
		}
		if num := f.next(); string(num) != want {
			return ev, rec, conntrackErr("layer 3 protocol %s has number %q, want %s", tok, num, want)
		}
		tok = f.next()
	}

	// The layer 4 protocol's name and number ("tcp      6"). The name is "unknown"
	// for protocols conntrack has no name for: the number is what counts.
	if !isConntrackWord(tok) {
		return ev, rec, conntrackErr("%q where the protocol's name belongs", tok)
	}
	num := f.next()
	proto, ok := parseConntrackUint(num, 255)
	if !ok {
		return ev, rec, conntrackErr("protocol %s has number %q", tok, num)
	}
	rec.Protocol = model.Protocol(proto)

	// The timeout and the state come next, where they are, then the original tuple.
	for tok = f.next(); !bytes.HasPrefix(tok, []byte("src=")); tok = f.next() {
		if tok == nil {
			return ev, rec, conntrackErr("no original tuple (src=)")
		}
		if bytes.IndexByte(tok, '=') >= 0 || tok[0] == '[' {
			return ev, rec, conntrackErr("%q before the original tuple", tok)
		}
	}
	src, dst, err := conntrackAddrs(tok, f.next(), "original")
	if err != nil {
		return ev, rec, err
	}
	rec.Src, rec.Dst = src, dst

	// The rest of the original direction, up to the reply tuple's src=.
	var sport, dport, icmpType, packets, bytesSeen bool
	for tok = f.next(); !bytes.HasPrefix(tok, []byte("src=")); tok = f.next() {
		if tok == nil {
			return ev, rec, conntrackErr("no reply tuple (src=)")
		}
		key, value, isKV := bytes.Cut(tok, []byte("="))
		if !isKV {
			continue // [UNREPLIED]
		}
		var v uint64
		switch string(key) {
		case "sport":
			v, sport = parseConntrackUint(value, 65535)
			rec.SrcPort = uint16(v)
			ok = sport
		case "dport":
			v, dport = parseConntrackUint(value, 65535)
			rec.DstPort = uint16(v)
			ok = dport
		case "type":
			v, icmpType = parseConntrackUint(value, 255)
			ok = icmpType
			if icmpType {
				rec.DstPort = uint16(v)
			}
		case "packets":
			rec.Packets, packets = parseConntrackUint(value, 1<<64-1)
			ok = packets
		case "bytes":
			rec.Bytes, bytesSeen = parseConntrackUint(value, 1<<64-1)
			ok = bytesSeen
		default:
			continue // code=, id=, srckey=, zone-orig= ...
		}
		if !ok {
			return ev, rec, conntrackErr("%q in the original tuple", tok)
		}
	}
	if packets != bytesSeen {
		return ev, rec, conntrackErr("original direction has only one of packets= and bytes=")
	}
	switch {
	case rec.Protocol.HasPorts():
		if !sport || !dport {
			return ev, rec, conntrackErr("%v entry without sport= and dport=", rec.Protocol)
		}
	case rec.Protocol.IsICMP():
		if !icmpType {
			return ev, rec, conntrackErr("%v entry without type=", rec.Protocol)
		}
		rec.SrcPort = 0
	default:
		// DCCP and UDP-Lite have ports in conntrack too, but the model knows ports
		// for TCP, UDP and SCTP only, as FlowLogReader does.
		rec.SrcPort, rec.DstPort = 0, 0
	}

	// The reply tuple must be there and be of the same family; what follows it
	// (its ports and counters, flags, mark=, secctx=, [start=...], id=) is not needed.
	rsrc, _, err := conntrackAddrs(tok, f.next(), "reply")
	if err != nil {
		return ev, rec, err
	}
	if rsrc.Is4() != src.Is4() {
		return ev, rec, conntrackErr("reply tuple's family differs from the original's")
	}
	if family == 4 && !src.Is4() || family == 6 && src.Is4() {
		return ev, rec, conntrackErr("ipv%d entry with address %v", family, src)
	}
	rec.Action = model.FlowAccept
	return ev, rec, nil
}

// conntrackAddrs reads a tuple's "src=A" and "dst=B" tokens, of one address family.
func conntrackAddrs(srcTok, dstTok []byte, dir string) (src, dst netip.Addr, err error) {
	v, _ := bytes.CutPrefix(srcTok, []byte("src="))
	src, ok := parseConntrackAddr(v)
	if !ok {
		return src, dst, conntrackErr("%s tuple has %q", dir, srcTok)
	}
	v, isDst := bytes.CutPrefix(dstTok, []byte("dst="))
	if !isDst {
		return src, dst, conntrackErr("%s tuple has %q after src=, want dst=", dir, dstTok)
	}
	if dst, ok = parseConntrackAddr(v); !ok {
		return src, dst, conntrackErr("%s tuple has %q", dir, dstTok)
	}
	if src.Is4() != dst.Is4() {
		return src, dst, conntrackErr("%s tuple mixes address families: %q %q", dir, srcTok, dstTok)
	}
	return src, dst, nil
}

// parseConntrackAddr parses an address as inet_ntoa or inet_ntop print it: no zone
// (a zone would be a string kept past the line's buffer), no brackets.
func parseConntrackAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false
	}
	// ParseAddr keeps no reference to a zoneless input, so the line's bytes can be
	// read in place; its error, which would, is dropped.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	return a, err == nil
}

// parseConntrackTime parses "[SECONDS.MICROSECONDS]" as conntrack -o timestamp prints
// it (printf "[%-.8ld.%-.6ld]"): the fraction may have 1 to 9 digits.
func parseConntrackTime(tok []byte) (time.Time, bool) {
	inner, ok := bytes.CutPrefix(tok, []byte("["))
	if !ok {
		return time.Time{}, false
	}
	if inner, ok = bytes.CutSuffix(inner, []byte("]")); !ok {
		return time.Time{}, false
	}
	secs, frac, hasFrac := bytes.Cut(inner, []byte("."))
	// 1<<40 seconds is some 35,000 years: far enough, and safe from overflow.
	sec, ok := parseConntrackUint(secs, 1<<40)
	if !ok {
		return time.Time{}, false
	}
	var nsec int64
	if hasFrac {
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		f, ok := parseConntrackUint(frac, 999_999_999)
		if !ok {
			return time.Time{}, false
		}
		nsec = int64(f)
		for range 9 - len(frac) {
			nsec *= 10
		}
	}
	return time.Unix(int64(sec), nsec).UTC(), true
}

// parseConntrackUint parses a decimal number of at most max, digits only.
func parseConntrackUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (max-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isConntrackWord reports whether b looks like a protocol name as conntrack prints
// them: "tcp", "icmpv6", "udplite", "unknown".
func isConntrackWord(b []byte) bool {
	if len(b) == 0 || b[0] < 'a' || b[0] > 'z' {
		return false
	}
	for _, c := range b {
		if (c < 'a' || c > 'z') && !isDigit(c) {
			return false
		}
	}
	return true
}

// conntrackErr makes an error wrapping errConntrackLine. Byte slices in args are
// copied (and cut short), so the error keeps nothing of the line's buffer.
func conntrackErr(format string, args ...any) error {
	for i, a := range args {
		if b, ok := a.([]byte); ok {
			if len(b) > 64 {
				b = b[:64]
			}
			args[i] = string(b)
		}
	}
	return fmt.Errorf("%w: "+format, append([]any{errConntrackLine}, args...)...)
}

// conntrackFields splits a line into fields separated by blanks and tabs.
type conntrackFields struct {
	s []byte
	i int
}

// next returns the next field, or nil when there are no more.
func (f *conntrackFields) next() []byte {
	for f.i < len(f.s) && (f.s[f.i] == ' ' || f.s[f.i] == '\t') {
		f.i++
	}
	start := f.i
	for f.i < len(f.s) && f.s[f.i] != ' ' && f.s[f.i] != '\t' {
		f.i++
	}
	if start == f.i {
		return nil
	}
	return f.s[start:f.i]
}
