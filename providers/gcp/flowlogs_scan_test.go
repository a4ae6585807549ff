package gcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/microseg/microseg/model"
)

// The reference: the structs the decoders unmarshaled entries into with
// encoding/json before the scanner, and their number types, as they were. The
// scanner must read every entry as json.Unmarshal into these reads it.
type (
	refConnection struct {
		SrcIP    string      `json:"src_ip"`
		DestIP   string      `json:"dest_ip"`
		SrcPort  refUint     `json:"src_port"`
		DestPort refUint     `json:"dest_port"`
		Protocol refProtocol `json:"protocol"`
	}
	refInstance struct {
		VMName string `json:"vm_name"`
	}
	refGateway struct {
		Name string `json:"name"`
	}
	refVPCPayload struct {
		Connection   refConnection `json:"connection"`
		Reporter     string        `json:"reporter"`
		BytesSent    refUint       `json:"bytes_sent"`
		PacketsSent  refUint       `json:"packets_sent"`
		StartTime    string        `json:"start_time"`
		EndTime      string        `json:"end_time"`
		SrcInstance  refInstance   `json:"src_instance"`
		DestInstance refInstance   `json:"dest_instance"`
		SrcGateway   refGateway    `json:"src_gateway"`
		DestGateway  refGateway    `json:"dest_gateway"`
	}
	refVPCEntry struct {
		LogName   string        `json:"logName"`
		Timestamp string        `json:"timestamp"`
		Payload   refVPCPayload `json:"jsonPayload"`
	}
	refRuleDetails struct {
		Reference string `json:"reference"`
		Action    string `json:"action"`
	}
	refFirewallPayload struct {
		Connection  refConnection  `json:"connection"`
		Disposition string         `json:"disposition"`
		RuleDetails refRuleDetails `json:"rule_details"`
		Instance    refInstance    `json:"instance"`
	}
	refFirewallEntry struct {
		LogName   string             `json:"logName"`
		Timestamp string             `json:"timestamp"`
		Payload   refFirewallPayload `json:"jsonPayload"`
	}
)

type refUint struct{ v uint64 }

func (n *refUint) UnmarshalJSON(b []byte) error {
	v, ok := parseJSONUint(b)
	if !ok {
		return fmt.Errorf("%s is not an unsigned integer", cut(string(b), 64))
	}
	n.v = v
	return nil
}

type refProtocol uint8

func (p *refProtocol) UnmarshalJSON(b []byte) error {
	if v, ok := parseJSONUint(b); ok {
		if v > 255 {
			return fmt.Errorf("protocol %d is out of range", v)
		}
		*p = refProtocol(v)
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		if v, ok := protocolByName[strings.ToLower(string(b[1:len(b)-1]))]; ok {
			*p = refProtocol(v)
			return nil
		}
	}
	return fmt.Errorf("protocol %s is not an IP protocol", cut(string(b), 64))
}

// refScan reads entry with encoding/json into the fields the scanner gives.
func refScan(entry []byte, kind logKind) (entryFields, error) {
	var f entryFields
	set := func(i int, s string) { f.str[i] = []byte(s) }
	setConn := func(c *refConnection) {
		set(fieldSrcIP, c.SrcIP)
		set(fieldDestIP, c.DestIP)
		f.num[fieldSrcPort], f.num[fieldDestPort] = c.SrcPort.v, c.DestPort.v
		f.protocol = uint8(c.Protocol)
	}
	if kind == kindFirewall {
		var e refFirewallEntry
		if err := json.Unmarshal(entry, &e); err != nil {
			return f, err
		}
		set(fieldLogName, e.LogName)
		set(fieldTimestamp, e.Timestamp)
		setConn(&e.Payload.Connection)
		set(fieldDisposition, e.Payload.Disposition)
		set(fieldReference, e.Payload.RuleDetails.Reference)
		set(fieldAction, e.Payload.RuleDetails.Action)
		set(fieldInstanceVM, e.Payload.Instance.VMName)
		return f, nil
	}
	var e refVPCEntry
	if err := json.Unmarshal(entry, &e); err != nil {
		return f, err
	}
	p := &e.Payload
	set(fieldLogName, e.LogName)
	set(fieldTimestamp, e.Timestamp)
	setConn(&p.Connection)
	set(fieldReporter, p.Reporter)
	set(fieldStartTime, p.StartTime)
	set(fieldEndTime, p.EndTime)
	set(fieldSrcVM, p.SrcInstance.VMName)
	set(fieldDestVM, p.DestInstance.VMName)
	set(fieldSrcGW, p.SrcGateway.Name)
	set(fieldDestGW, p.DestGateway.Name)
	f.num[fieldBytesSent], f.num[fieldPacketsSent] = p.BytesSent.v, p.PacketsSent.v
	return f, nil
}

// refIsLog is isLog as it was, building the decoded log ID.
func refIsLog(logName string, kind logKind) bool {
	if logName == "" {
		return true
	}
	_, id, ok := strings.Cut(logName, "/logs/")
	if !ok {
		return false
	}
	id = strings.ReplaceAll(id, "%2F", "/")
	id = strings.ReplaceAll(id, "%2f", "/")
	if kind == kindFirewall {
		return id == "compute.googleapis.com/firewall"
	}
	return id == "compute.googleapis.com/vpc_flows" || id == "networkmanagement.googleapis.com/vpc_flows"
}

var fieldNames = [numStringFields]string{
	"logName", "timestamp", "src_ip", "dest_ip", "reporter", "start_time", "end_time",
	"src_instance.vm_name", "dest_instance.vm_name", "src_gateway.name", "dest_gateway.name",
	"disposition", "rule_details.reference", "rule_details.action", "instance.vm_name",
}

// diffFields says how got differs from want, or "".
func diffFields(got, want *entryFields) string {
	var b strings.Builder
	for i := range got.str {
		if !bytes.Equal(got.str[i], want.str[i]) {
			fmt.Fprintf(&b, "%s = %q, want %q; ", fieldNames[i], got.str[i], want.str[i])
		}
	}
	if got.num != want.num {
		fmt.Fprintf(&b, "numbers = %v, want %v; ", got.num, want.num)
	}
	if got.protocol != want.protocol {
		fmt.Fprintf(&b, "protocol = %d, want %d; ", got.protocol, want.protocol)
	}
	return b.String()
}

// checkScan compares the scanner with encoding/json on one entry, for both kinds.
func checkScan(t *testing.T, s *entryScanner, entry []byte) {
	t.Helper()
	for _, kind := range []logKind{kindVPCFlows, kindFirewall} {
		want, wantErr := refScan(entry, kind)
		err := s.scan(entry, kind)
		switch {
		case wantErr != nil && err == nil:
			t.Fatalf("%s %q: scanned, but encoding/json says %v", kind, entry, wantErr)
		case wantErr == nil && err != nil:
			t.Fatalf("%s %q: %v, but encoding/json reads it", kind, entry, err)
		case err != nil && !errors.Is(err, errMalformed):
			t.Fatalf("%s %q: error %v is not errMalformed", kind, entry, err)
		case err == nil:
			if d := diffFields(&s.f, &want); d != "" {
				t.Fatalf("%s %q: %s", kind, entry, d)
			}
			if got, want := isLog(bstr(s.f.str[fieldLogName]), kind), refIsLog(string(want.str[fieldLogName]), kind); got != want {
				t.Fatalf("%s %q: isLog = %v, want %v", kind, s.f.str[fieldLogName], got, want)
			}
		}
	}
}

// scanCases are entries that exercise the scanner's corners; the fuzz target is
// seeded with them.
var scanCases = []string{
	`{}`, `null`, ` null `, `nul`, `[]`, `"x"`, `42`, `true`, `{"a":1}x`, `{"a":1}{}`, ``, " \t\r\n",
	`{"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows"}`,
	// Names: case-insensitive, escaped, folded beyond ASCII (ſ is s, K is k).
	`{"LOGNAME":"a","TimeStamp":"b"}`,
	`{"log\u004eame":"a","jsonPayload":{"\u0063onnection":{"src_ip":"1.2.3.4"}}}`,
	`{"jsonPayload":{"connection":{"ſrc_ip":"1.2.3.4","dest_ip":"5.6.7.8"},"pac\u212Aets_sent":"7"}}`,
	`{"jsonPayload":{"pacKets_sent":"7","PACKETS_SENT":"8"}}`,
	`{"logNam":"a","logNamee":"b","logName\u0000":"c","":"d"}`,
	// Repeated names: the last wins, null changes nothing, objects merge, numbers take null as 0.
	`{"logName":"a","logName":"b","timestamp":"c","timestamp":null}`,
	`{"jsonPayload":{"connection":{"src_ip":"1.2.3.4"}},"jsonPayload":{"connection":{"dest_ip":"5.6.7.8"}},"jsonPayload":null}`,
	`{"jsonPayload":{"bytes_sent":"5","bytes_sent":null,"packets_sent":3}}`,
	// Wrong types.
	`{"logName":1}`, `{"logName":{}}`, `{"logName":[]}`, `{"logName":true}`, `{"jsonPayload":"x"}`,
	`{"jsonPayload":[]}`, `{"jsonPayload":{"connection":7}}`, `{"jsonPayload":{"bytes_sent":{}}}`,
	`{"jsonPayload":{"bytes_sent":[1]}}`, `{"jsonPayload":{"bytes_sent":true}}`, `{"jsonPayload":{"bytes_sent":-1}}`,
	`{"jsonPayload":{"bytes_sent":1e3}}`, `{"jsonPayload":{"bytes_sent":"1\u0032"}}`, `{"jsonPayload":{"bytes_sent":" 1"}}`,
	`{"jsonPayload":{"connection":{"protocol":"TcP"}}}`, `{"jsonPayload":{"connection":{"protocol":"ICMPV6"}}}`,
	`{"jsonPayload":{"connection":{"protocol":"\u0074cp"}}}`, `{"jsonPayload":{"connection":{"protocol":256}}}`,
	`{"jsonPayload":{"connection":{"protocol":"255"}}}`, `{"jsonPayload":{"connection":{"protocol":null}}}`,
	`{"jsonPayload":{"connection":{"protocol":"ıpip"}}}`, `{"jsonPayload":{"connection":{"protocol":"very-long-protocol-name"}}}`,
	`{"jsonPayload":{"disposition":5}}`, `{"jsonPayload":{"rule_details":{"action":"DENY"},"instance":"x"}}`,
	// String values: escapes, surrogates, invalid UTF-8.
	`{"logName":"a\"b\\c\/d\be\ff\ng\rh\ti"}`,
	`{"jsonPayload":{"reporter":"\u00e9\u20ac\ud83d\ude00 \ud83d \ude00 \ud83d\u0041 \udc00\ud800"}}`,
	"{\"jsonPayload\":{\"reporter\":\"bad \xff\xfe utf8 \xed\xa0\x80 \xe2\x82\"}}",
	"{\"jsonPayload\":{\"reporter\":\"ok \xc3\xa9 \xef\xbf\xbd\"}}",
	"{\"logName\":\"tab\there\"}", `{"logName":"\x"}`, `{"logName":"\u12"}`, `{"logName":"\u12G4"}`, `{"logName":"abc`,
	// Skipped values of every kind.
	`{"a":[1,-2,3.5,-0.0e+1,1E-2,true,false,null,"s",{},[],{"b":[{"c":{}}]}],"b":{"c":"\u0041"},"c":-0}`,
	`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":-}`, `{"a":+1}`, `{"a":[1,]}`, `{"a":{"b":1,}}`,
	`{"a":[1 2]}`, `{"a":{"b" 1}}`, `{"a":{1:2}}`, `{"a":tru}`, `{"a":nulll}`, `{"a",1}`, `{,}`, `{"a":1,}`,
	"{ \"logName\" : \"x\" ,\r\n\t\"a\" : [ 1 , { } ] }",
	"{\"a\":\v1}", "\xef\xbb\xbf{}",
}

// TestScanEntryMatchesJSON: the scanner and encoding/json agree on the samples, the
// corner cases, and every prefix of a sample.
func TestScanEntryMatchesJSON(t *testing.T) {
	var s entryScanner
	entries := append(readEntries(t, vpcSamples), readEntries(t, firewallSamples)...)
	for _, e := range entries {
		checkScan(t, &s, []byte(e))
		var ind bytes.Buffer
		if err := json.Indent(&ind, []byte(e), "", "  "); err != nil {
			t.Fatal(err)
		}
		checkScan(t, &s, ind.Bytes())
	}
	for _, e := range scanCases {
		checkScan(t, &s, []byte(e))
	}
	for i := range entries[0] {
		checkScan(t, &s, []byte(entries[0][:i]))
	}
}

// TestScanDepth: encoding/json refuses nesting deeper than 10,000; so does the scanner.
func TestScanDepth(t *testing.T) {
	var s entryScanner
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		inner := strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1)
		for _, e := range []string{
			`{"a":` + inner + `}`,
			`{"jsonPayload":{"x":` + inner[2:len(inner)-2] + `}}`,
			`{"jsonPayload":{"bytes_sent":` + inner[2:len(inner)-2] + `}}`,
		} {
			checkScan(t, &s, []byte(e))
		}
	}
}

// TestFoldedNames: the runes beyond ASCII that fold to an ASCII letter, which a
// member name may be written with, are the two the scanner's tests use.
func TestFoldedNames(t *testing.T) {
	var found []rune
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if f := foldRune(r); f < utf8.RuneSelf {
			found = append(found, r)
		}
	}
	if string(found) != "\u017f\u212a" { // ſ is s, K (Kelvin) is k
		t.Errorf("runes folding to ASCII: %q", string(found))
	}
}

// TestDecodeNoAllocs: a VPC flow entry costs no allocation once the reader is warm.
func TestDecodeNoAllocs(t *testing.T) {
	for _, kind := range []logKind{kindVPCFlows, kindFirewall} {
		var in bytes.Buffer
		if _, err := io.Copy(&in, newGenerated(kind, 1<<20, false)); err != nil {
			t.Fatal(err)
		}
		d := newEntryReader(kind, "t", time.Time{}, &FlowStats{}, func(model.FlowRecord) error { return nil })
		lines := bytes.SplitAfter(in.Bytes(), []byte("\n"))
		lines = lines[:len(lines)-1]
		for _, l := range lines { // intern the reporters
			if err := d.entry(context.Background(), l); err != nil {
				t.Fatal(err)
			}
		}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			d.entry(context.Background(), lines[i%len(lines)])
			i++
		})
		if allocs != 0 || d.stats.Records < len(lines) {
			t.Errorf("%s: %v allocations an entry, stats %+v", kind, allocs, *d.stats)
		}
	}
}

func FuzzScanEntryMatchesJSON(f *testing.F) {
	for _, e := range append(readEntries(f, vpcSamples), readEntries(f, firewallSamples)...) {
		f.Add([]byte(e))
	}
	for _, e := range scanCases {
		f.Add([]byte(e))
	}
	var s entryScanner
	f.Fuzz(func(t *testing.T, entry []byte) {
		checkScan(t, &s, entry)
	})
}

// BenchmarkScanEntry scans the generated VPC flow entries, without the reading
// around it.
func BenchmarkScanEntry(b *testing.B) {
	for _, kind := range []logKind{kindVPCFlows, kindFirewall} {
		b.Run(kind.String(), func(b *testing.B) {
			var in bytes.Buffer
			if _, err := io.Copy(&in, newGenerated(kind, 1<<20, false)); err != nil {
				b.Fatal(err)
			}
			lines := bytes.SplitAfter(in.Bytes(), []byte("\n"))
			lines = lines[:len(lines)-1]
			b.SetBytes(int64(in.Len() / len(lines)))
			b.ReportAllocs()
			var s entryScanner
			i := 0
			for b.Loop() {
				if err := s.scan(lines[i%len(lines)], kind); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
