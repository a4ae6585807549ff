package gcp

import (
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// A log entry is scanned by hand instead of decoded with encoding/json: decoding
// into structs cost about 18 allocations and 12 µs per entry, twenty times what
// the audit spends on the flow afterwards. The scanner walks one LogEntry once,
// keeps the few values a FlowRecord needs as slices of the entry (or of a reused
// buffer, for strings with escapes), checks the syntax of everything else while
// skipping it, and allocates nothing.
//
// It gives what json.Unmarshal into the structs the decoders used to have gives
// (they are kept in the tests, which compare the two on fuzzed input):
//
//   - the entry must be one JSON value (RFC 8259: strings without raw control
//     characters and with valid escapes, strict numbers, true/false/null) with only
//     white space around it, nested at most 10,000 deep; null is an entry with no
//     fields;
//   - member names match case-insensitively, with Unicode simple folding, after
//     unescaping; of repeated names the last wins, and repeated objects merge;
//   - null leaves a string or an object as it was; a value of any other wrong type
//     makes the entry malformed;
//   - numbers (bytes, packets, ports, protocol) are read from their raw text, as
//     the decoders' json.Unmarshaler types read them;
//   - strings are unescaped (\uXXXX with surrogate pairs), and invalid UTF-8 and
//     lone surrogates become U+FFFD.

// Indices of entryFields.str.
const (
	fieldLogName = iota
	fieldTimestamp
	fieldSrcIP       // jsonPayload.connection.src_ip
	fieldDestIP      // jsonPayload.connection.dest_ip
	fieldReporter    // VPC: jsonPayload.reporter
	fieldStartTime   // VPC: jsonPayload.start_time
	fieldEndTime     // VPC: jsonPayload.end_time
	fieldSrcVM       // VPC: jsonPayload.src_instance.vm_name
	fieldDestVM      // VPC: jsonPayload.dest_instance.vm_name
	fieldSrcGW       // VPC: jsonPayload.src_gateway.name
	fieldDestGW      // VPC: jsonPayload.dest_gateway.name
	fieldDisposition // firewall: jsonPayload.disposition
	fieldReference   // firewall: jsonPayload.rule_details.reference
	fieldAction      // firewall: jsonPayload.rule_details.action
	fieldInstanceVM  // firewall: jsonPayload.instance.vm_name
	numStringFields
)

// Indices of entryFields.num.
const (
	fieldSrcPort     = iota // jsonPayload.connection.src_port
	fieldDestPort           // jsonPayload.connection.dest_port
	fieldBytesSent          // VPC: jsonPayload.bytes_sent
	fieldPacketsSent        // VPC: jsonPayload.packets_sent
	numUintFields
)

// entryFields are the values of one log entry that the decoders use. The strings
// are valid until the next entry is scanned; absent ones are empty.
type entryFields struct {
	str      [numStringFields][]byte
	num      [numUintFields]uint64
	protocol uint8 // jsonPayload.connection.protocol
}

// A member of an object the scanner knows, and what its value is.
type member struct {
	name   string // as in the LogEntry JSON
	folded string // name folded as encoding/json folds it (ASCII upper case)
	kind   memberKind
	slot   uint8     // index into entryFields.str or .num, or the schema of an object
	words  [2]uint64 // name's bytes, little-endian, zero after its end (names are at most 15 bytes)
	masks  [2]uint64 // the bits of words that are the name's
}

type memberKind uint8

const (
	memberString memberKind = iota + 1
	memberUint
	memberProtocol
	memberObject
)

// schema is the members of one object; the others are skipped.
type schema struct {
	members []member
	// index finds the only member a plain name can be, by its length and first
	// letter (see nameSlot), as 1 + its index in members, or 0 for none.
	index [64]uint8
	// byFirst has bit j set for the members whose name starts with the byte.
	byFirst [256]uint16
}

// nameSlot hashes a name's length and first letter, in either case; the names of
// one schema have different slots, which init checks.
func nameSlot(n int, first byte) int { return (n*7 + int(first|0x20)) & 63 }

// The objects the scanner descends into.
const (
	schemaVPCEntry = iota
	schemaFirewallEntry
	schemaVPCPayload
	schemaFirewallPayload
	schemaConnection
	schemaSrcInstance
	schemaDestInstance
	schemaSrcGateway
	schemaDestGateway
	schemaInstance
	schemaRuleDetails
	numSchemas
)

var schemas = func() (s [numSchemas]schema) {
	str := func(name string, slot uint8) member { return member{name: name, kind: memberString, slot: slot} }
	obj := func(name string, slot uint8) member { return member{name: name, kind: memberObject, slot: slot} }
	num := func(name string, slot uint8) member { return member{name: name, kind: memberUint, slot: slot} }
	def := map[int][]member{
		schemaVPCEntry:      {str("logName", fieldLogName), str("timestamp", fieldTimestamp), obj("jsonPayload", schemaVPCPayload)},
		schemaFirewallEntry: {str("logName", fieldLogName), str("timestamp", fieldTimestamp), obj("jsonPayload", schemaFirewallPayload)},
		schemaVPCPayload: {
			obj("connection", schemaConnection), str("reporter", fieldReporter),
			num("bytes_sent", fieldBytesSent), num("packets_sent", fieldPacketsSent),
			str("start_time", fieldStartTime), str("end_time", fieldEndTime),
			obj("src_instance", schemaSrcInstance), obj("dest_instance", schemaDestInstance),
			obj("src_gateway", schemaSrcGateway), obj("dest_gateway", schemaDestGateway),
		},
		schemaFirewallPayload: {
			obj("connection", schemaConnection), str("disposition", fieldDisposition),
			obj("rule_details", schemaRuleDetails), obj("instance", schemaInstance),
		},
		schemaConnection: {
			str("src_ip", fieldSrcIP), str("dest_ip", fieldDestIP),
			num("src_port", fieldSrcPort), num("dest_port", fieldDestPort),
			{name: "protocol", kind: memberProtocol},
		},
		schemaSrcInstance:  {str("vm_name", fieldSrcVM)},
		schemaDestInstance: {str("vm_name", fieldDestVM)},
		schemaSrcGateway:   {str("name", fieldSrcGW)},
		schemaDestGateway:  {str("name", fieldDestGW)},
		schemaInstance:     {str("vm_name", fieldInstanceVM)},
		schemaRuleDetails:  {str("reference", fieldReference), str("action", fieldAction)},
	}
	for i := range s {
		for j, m := range def[i] {
			if len(m.name) > 15 || j >= 16 {
				panic("gcp: member name " + m.name + " is too long, or its object has too many members")
			}
			m.folded = strings.ToUpper(m.name)
			var w [16]byte
			copy(w[:], m.name)
			m.words = [2]uint64{binary.LittleEndian.Uint64(w[:]), binary.LittleEndian.Uint64(w[8:])}
			for k := range w {
				if k < len(m.name) {
					w[k] = 0xff
				}
			}
			m.masks = [2]uint64{binary.LittleEndian.Uint64(w[:]), binary.LittleEndian.Uint64(w[8:])}
			s[i].byFirst[m.name[0]] |= 1 << j
			s[i].members = append(s[i].members, m)
			slot := &s[i].index[nameSlot(len(m.name), m.name[0])]
			if *slot != 0 {
				panic("gcp: member names " + m.name + " and " + s[i].members[*slot-1].name + " share an index slot")
			}
			*slot = uint8(j + 1)
		}
	}
	return s
}()

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// scanError says why and where an entry is malformed; it is errMalformed.
type scanError struct {
	off  int
	what string
}

func (e *scanError) Error() string {
	return errMalformed.Error() + ": " + e.what + " at byte " + itoa(e.off)
}

func (e *scanError) Is(target error) bool { return target == errMalformed }

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

func malformedAt(off int, what string) error { return &scanError{off, what} }

// entryScanner scans log entries one at a time; its buffers are reused.
type entryScanner struct {
	f     entryFields
	buf   []byte // unescaped strings of the current entry
	key   []byte // a member name being unescaped and folded
	stack []byte // the open brackets of a value being skipped
}

// scan reads the entry b (one JSON value, white space around it allowed) as a
// log entry of kind into s.f.
func (s *entryScanner) scan(b []byte, kind logKind) error {
	s.f = entryFields{}
	s.buf = s.buf[:0]
	root := &schemas[schemaVPCEntry]
	if kind == kindFirewall {
		root = &schemas[schemaFirewallEntry]
	}
	i := skipSpace(b, 0)
	if i == len(b) {
		return malformedAt(i, "no entry")
	}
	var err error
	switch b[i] {
	case '{':
		i, err = s.object(b, i, root, 1)
	case 'n':
		// A null entry decodes to nothing, as encoding/json leaves a struct for null.
		i, err = literal(b, i, "null")
	default:
		return malformedAt(i, "an entry is not a JSON object")
	}
	if err != nil {
		return err
	}
	if i = skipSpace(b, i); i != len(b) {
		return malformedAt(i, "data after the entry")
	}
	return nil
}

// object scans the object at b[i] ('{'), nested depth deep, storing the members of
// sc, and returns the index after it.
func (s *entryScanner) object(b []byte, i int, sc *schema, depth int) (int, error) {
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, malformedAt(i, "expected a member name")
		}
		m, end := sc.exact(b, i)
		if m == nil {
			var flags uint8
			var ok bool
			if end, flags, ok = scanString(b, i); !ok {
				return i, malformedAt(i, "bad member name")
			}
			m = s.lookup(sc, b[i+1:end-1], flags)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, malformedAt(i, "expected ':'")
		}
		if i = skipSpace(b, i+1); i >= len(b) {
			return i, malformedAt(i, "expected a value")
		}
		var err error
		switch {
		case m == nil && b[i] == '"': // most skipped values are strings
			end, _, ok := scanString(b, i)
			if !ok {
				return i, malformedAt(i, "bad string")
			}
			i = end
		case m == nil:
			i, err = s.skipValue(b, i, depth)
		default:
			i, err = s.memberValue(b, i, m, depth)
		}
		if err != nil {
			return i, err
		}
		if i = skipSpace(b, i); i >= len(b) {
			return i, malformedAt(i, "object not closed")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, malformedAt(i, "expected ',' or '}'")
		}
	}
}

// memberValue scans the value at b[i] of a known member into s.f.
func (s *entryScanner) memberValue(b []byte, i int, m *member, depth int) (int, error) {
	switch m.kind {
	case memberString:
		switch b[i] {
		case '"':
			end, flags, ok := scanString(b, i)
			if !ok {
				return i, malformedAt(i, "bad string")
			}
			if raw := b[i+1 : end-1]; flags == 0 {
				s.f.str[m.slot] = raw
			} else {
				s.f.str[m.slot] = s.stringValue(raw, flags)
			}
			return end, nil
		case 'n':
			return literal(b, i, "null") // null leaves the string as it was
		}
		return i, malformedAt(i, m.name+" is not a string")
	case memberObject:
		switch b[i] {
		case '{':
			if depth+1 > maxDepth {
				return i, malformedAt(i, "nested too deep")
			}
			return s.object(b, i, &schemas[m.slot], depth+1)
		case 'n':
			return literal(b, i, "null")
		}
		return i, malformedAt(i, m.name+" is not an object")
	}
	// Numbers are read from the value's text, whatever its type, as the decoders'
	// json.Unmarshaler types were given it.
	start := i
	i, err := s.skipValue(b, i, depth)
	if err != nil {
		return i, err
	}
	if m.kind == memberProtocol {
		p, ok := parseProtocol(b[start:i])
		if !ok {
			return start, malformedAt(start, "protocol is not an IP protocol")
		}
		s.f.protocol = p
		return i, nil
	}
	v, ok := parseJSONUint(b[start:i])
	if !ok {
		return start, malformedAt(start, m.name+" is not an unsigned integer")
	}
	s.f.num[m.slot] = v
	return i, nil
}

// exact returns the member whose name is spelled exactly as the member name at
// b[i] ('"'), and the index after the name, comparing the entry's bytes with the
// names in place: the names of the members kept are nearly always written so.
// Otherwise it returns nil, and the name is to be scanned and looked up.
func (sc *schema) exact(b []byte, i int) (*member, int) {
	if i+17 > len(b) {
		return nil, 0
	}
	x0, x1 := binary.LittleEndian.Uint64(b[i+1:]), binary.LittleEndian.Uint64(b[i+9:])
	for set := sc.byFirst[b[i+1]]; set != 0; set &= set - 1 {
		m := &sc.members[bits.TrailingZeros16(set)]
		if x0&m.masks[0] == m.words[0] && x1&m.masks[1] == m.words[1] && b[i+1+len(m.name)] == '"' {
			return m, i + 2 + len(m.name)
		}
	}
	return nil, 0
}

// lookup returns the member of sc named name (the raw text between the quotes, as
// scanString flagged it), or nil. encoding/json compares names folded: ASCII
// letters in upper case, other runes to the smallest of their simple fold orbit.
func (s *entryScanner) lookup(sc *schema, name []byte, flags uint8) *member {
	if flags == 0 {
		// Plain ASCII, the usual case: one member at most can match.
		if len(name) == 0 || len(name) > 16 {
			return nil
		}
		j := sc.index[nameSlot(len(name), name[0])]
		if j == 0 {
			return nil
		}
		m := &sc.members[j-1]
		if len(name) != len(m.name) {
			return nil
		}
		if equalWords(name, &m.words) || asciiEqualFold(name, m.folded) {
			return m
		}
		return nil
	}
	if flags&stringEscaped != 0 {
		s.key = appendUnquoted(s.key[:0], name)
		name = s.key
	}
	var arr [64]byte
	folded := appendFoldedName(arr[:0], name)
	for j := range sc.members {
		if m := &sc.members[j]; string(folded) == m.folded {
			return m
		}
	}
	return nil
}

// equalWords reports whether name (1 to 16 bytes) is words, comparing eight bytes
// at a time where the slice's capacity allows reading past its end.
func equalWords(name []byte, words *[2]uint64) bool {
	n := uint(len(name))
	if cap(name) < 16 {
		var w [16]byte
		copy(w[:], name)
		return binary.LittleEndian.Uint64(w[:]) == words[0] && binary.LittleEndian.Uint64(w[8:]) == words[1]
	}
	full := name[:16]
	x0, x1 := binary.LittleEndian.Uint64(full), binary.LittleEndian.Uint64(full[8:])
	if n <= 8 {
		return x0&(^uint64(0)>>(64-8*n)) == words[0]
	}
	return x0 == words[0] && x1&(^uint64(0)>>(128-8*n)) == words[1]
}

// asciiEqualFold reports whether a (ASCII) folds to upper (ASCII, upper case).
func asciiEqualFold(a []byte, upper string) bool {
	for i, c := range a {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// appendFoldedName is encoding/json's folding of member names (fold.go).
func appendFoldedName(out, in []byte) []byte {
	for i := 0; i < len(in); {
		if c := in[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(in[i:])
		out = utf8.AppendRune(out, foldRune(r))
		i += n
	}
	return out
}

// foldRune returns the smallest rune of r's simple fold orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// stringValue returns a string's value from its raw text: the text itself when it
// needs no change, which is nearly always, else its unescaped form in s.buf.
func (s *entryScanner) stringValue(raw []byte, flags uint8) []byte {
	if flags&stringEscaped == 0 && (flags&stringNonASCII == 0 || utf8.Valid(raw)) {
		return raw
	}
	start := len(s.buf)
	// Earlier values stay valid if this append moves the buffer: they keep the old
	// array, which is not written again during this entry.
	s.buf = appendUnquoted(s.buf, raw)
	return s.buf[start:len(s.buf):len(s.buf)]
}

// appendUnquoted appends the value of a string's raw text, whose syntax scanString
// checked, as encoding/json's unquoteBytes makes it.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\' && r+1 < len(s):
			switch e := s[r+1]; e {
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						break
					}
					rr = unicode.ReplacementChar
				}
				if rr < 0 { // not reached after scanString
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
			default:
				dst = append(dst, unescape[e])
				r += 2
			}
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, n := utf8.DecodeRune(s[r:])
			dst = utf8.AppendRune(dst, rr)
			r += n
		}
	}
	return dst
}

// unescape maps the character after a backslash to what it stands for.
var unescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		v := hexValue[c]
		if v == 0xff {
			return -1
		}
		r = r<<4 | rune(v)
	}
	return r
}

var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// Flags of a scanned string.
const (
	stringEscaped  = 1 << iota // has a backslash escape
	stringNonASCII             // has bytes of 0x80 and above
)

// SWAR constants: a byte's lowest and highest bit in every byte of a word.
const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// stringStops marks (with its high bit) every byte of x that ends a run of plain
// string bytes: '"', '\\' or a control character. The lowest mark is exact; marks
// above it may be spurious (borrows), which does not matter since only the first
// one is used.
func stringStops(x uint64) uint64 {
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	return ((q-lsb)&^q | (e-lsb)&^e | (x-lsb*0x20)&^x) & msb
}

// scanString checks the string starting with the quote at b[i] and returns the
// index after its closing quote and its flags.
func scanString(b []byte, i int) (end int, flags uint8, ok bool) {
	i++
	// Most strings of a log entry are short and plain: look at their first 16
	// bytes at once, choosing the word without a branch, which the length of the
	// string would make unpredictable.
	if i+16 <= len(b) {
		x0 := binary.LittleEndian.Uint64(b[i:])
		x1 := binary.LittleEndian.Uint64(b[i+8:])
		m0, m1 := stringStops(x0), stringStops(x1)
		m, x, off, high := m0, x0, 0, uint64(0)
		if m0 == 0 {
			m, x, off, high = m1, x1, 8, x0
		}
		if m != 0 {
			n := uint(bits.TrailingZeros64(m)) &^ 7
			j := i + off + int(n>>3)
			if b[j] == '"' {
				if (high|x&(1<<n-1))&msb != 0 {
					flags = stringNonASCII
				}
				return j + 1, flags, true
			}
		} else {
			return scanStringRest(b, i+16, x0|x1)
		}
	}
	return scanStringRest(b, i, 0)
}

// scanStringRest is scanString from b[i] on, inside the string; high is the
// bytes before, or'ed.
func scanStringRest(b []byte, i int, high uint64) (end int, flags uint8, ok bool) {
	for {
		// Plain bytes eight at a time: the strings of a log entry have few escapes.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if m := stringStops(x); m != 0 {
				n := uint(bits.TrailingZeros64(m)) &^ 7
				high |= x & (1<<n - 1)
				i += int(n >> 3)
				break
			}
			high |= x
			i += 8
		}
		for i < len(b) {
			c := b[i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			high |= uint64(c)
			i++
		}
		if i >= len(b) {
			return i, 0, false
		}
		switch b[i] {
		case '"':
			if high&msb != 0 {
				flags |= stringNonASCII
			}
			return i + 1, flags, true
		case '\\':
			if i+1 >= len(b) {
				return i, 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if getu4(b[i:]) < 0 {
					return i, 0, false
				}
				i += 6
			default:
				return i, 0, false
			}
			flags |= stringEscaped
		default: // a control character
			return i, 0, false
		}
	}
}

// plainRun returns the index of the first '"' or '\\' in b, or len(b).
func plainRun(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, e := x^(lsb*'"'), x^(lsb*'\\')
		if m := ((q-lsb)&^q | (e-lsb)&^e) & msb; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b) && b[i] != '"' && b[i] != '\\'; i++ {
	}
	return i
}

// skipSpace returns the index of the first byte from i that is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// literal checks the literal lit (true, false, null) at b[i].
func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, malformedAt(i, "bad literal")
	}
	return i + len(lit), nil
}

// skipNumber checks the number at b[i] and returns the index after it.
func skipNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// skipValue checks the value at b[i], inside containers depth deep, and returns the
// index after it. It keeps its own stack of open brackets rather than recursing,
// so that depth costs no goroutine stack.
func (s *entryScanner) skipValue(b []byte, i, depth int) (int, error) {
	stack := s.stack[:0]
	for {
		// A value starts at b[i].
		if i >= len(b) {
			return i, malformedAt(i, "expected a value")
		}
		switch c := b[i]; c {
		case '"':
			end, _, ok := scanString(b, i)
			if !ok {
				return i, malformedAt(i, "bad string")
			}
			i = end
		case '{', '[':
			if depth+len(stack)+1 > maxDepth {
				return i, malformedAt(i, "nested too deep")
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				i++
				break
			}
			stack = append(stack, c)
			s.stack = stack[:0] // keep a grown stack for the next value
			if c == '{' {
				var err error
				if i, err = skipName(b, i); err != nil {
					return i, err
				}
			}
			continue
		case 't':
			if string(b[i:min(i+4, len(b))]) != "true" {
				return i, malformedAt(i, "bad literal")
			}
			i += 4
		case 'f':
			if string(b[i:min(i+5, len(b))]) != "false" {
				return i, malformedAt(i, "bad literal")
			}
			i += 5
		case 'n':
			if string(b[i:min(i+4, len(b))]) != "null" {
				return i, malformedAt(i, "bad literal")
			}
			i += 4
		default:
			end, ok := skipNumber(b, i)
			if !ok {
				return end, malformedAt(i, "bad value")
			}
			i = end
		}
		// After a value: close the containers it ends, and go on to the next one.
		for {
			if len(stack) == 0 {
				return i, nil
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, malformedAt(i, "not closed")
			}
			open := stack[len(stack)-1]
			if b[i] == open+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return i, malformedAt(i, "expected ',' or a closing bracket")
			}
			i = skipSpace(b, i+1)
			if open == '{' {
				var err error
				if i, err = skipName(b, i); err != nil {
					return i, err
				}
			}
			break
		}
	}
}

// skipName checks a member name and its ':' at b[i] and returns the index of the
// value.
func skipName(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, malformedAt(i, "expected a member name")
	}
	end, _, ok := scanString(b, i)
	if !ok {
		return i, malformedAt(i, "bad member name")
	}
	if i = skipSpace(b, end); i >= len(b) || b[i] != ':' {
		return i, malformedAt(i, "expected ':'")
	}
	return skipSpace(b, i+1), nil
}

// bstr returns a string sharing b's bytes, for calls that keep no reference to it
// (netip.ParseAddr, time.Parse, map lookups): the bytes are not written while the
// string is in use, and what outlives the call is copied (errors format the
// text they quote).
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
