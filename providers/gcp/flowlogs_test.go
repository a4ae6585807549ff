package gcp

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
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// The samples: composed Cloud Logging entries, one a line, with "#" comment lines
// saying where their format comes from.
var (
	vpcSamples      = filepath.Join("testdata", "gcp_vpc_flows_samples.txt")
	firewallSamples = filepath.Join("testdata", "gcp_firewall_samples.txt")
)

// readEntries returns the entry lines of a samples file, without its comments.
func readEntries(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the samples are missing: %v", err)
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}

// The input layouts a decoder reads, from entry lines.
func ndjson(entries []string) []byte { return []byte(strings.Join(entries, "\n") + "\n") }

func jsonArray(entries []string) []byte { return []byte("[" + strings.Join(entries, ",") + "]") }

// gcloudArray is the array as `gcloud logging read --format=json` prints it:
// indented, one element over many lines.
func gcloudArray(t testing.TB, entries []string) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range entries {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("  ")
		if err := json.Indent(&b, []byte(e), "  ", "  "); err != nil {
			t.Fatalf("entry %d: %v", i+1, err)
		}
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeAll runs a decoder on b and returns the records and stats.
func decodeAll(t testing.TB, dec providers.FlowDecoder, b []byte, since time.Time) ([]model.FlowRecord, FlowStats) {
	t.Helper()
	var recs []model.FlowRecord
	var stats FlowStats
	err := dec(context.Background(), bytes.NewReader(b), "gcp.prod", since, &stats, func(r model.FlowRecord) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return recs, stats
}

// render writes records one a line, normalized, for golden files.
func render(recs []model.FlowRecord, stats FlowStats) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# records=%d nodata=%d skipdata=%d malformed=%d\n", stats.Records, stats.NoData, stats.SkipData, stats.Malformed)
	for _, r := range recs {
		fmt.Fprintf(&b, "%s %s %s -> %s %s bytes=%d packets=%d target=%s reporter=%q\n",
			r.Time.Format(time.RFC3339Nano), r.Protocol,
			netip.AddrPortFrom(r.Src, r.SrcPort), netip.AddrPortFrom(r.Dst, r.DstPort),
			r.Action, r.Bytes, r.Packets, r.Target, r.Reporter)
	}
	return b.Bytes()
}

var decoders = []struct {
	name    string
	dec     providers.FlowDecoder
	samples string
	want    FlowStats
}{
	// 10 flows of VPC Flow Logs and one audit log entry.
	{"vpc_flows", DecodeVPCFlowLog, vpcSamples, FlowStats{Records: 10, NoData: 1}},
	// 6 firewall log entries and one flow log entry.
	{"firewall", DecodeFirewallLog, firewallSamples, FlowStats{Records: 6, NoData: 1}},
}

// TestDecodeSamples reads the samples in every layout a decoder accepts: the golden
// file holds the normalized records, the same for all of them.
func TestDecodeSamples(t *testing.T) {
	for _, d := range decoders {
		t.Run(d.name, func(t *testing.T) {
			entries := readEntries(t, d.samples)
			plain := ndjson(entries)
			layouts := []struct {
				name string
				in   []byte
			}{
				{"ndjson", plain},
				{"ndjson gzip", gzipBytes(t, plain)},
				{"ndjson CRLF, blank lines, no final newline", []byte("\r\n" + strings.Join(entries, "\r\n\r\n"))},
				{"byte order mark", append([]byte("\xef\xbb\xbf"), plain...)},
				{"array", jsonArray(entries)},
				{"gcloud array", gcloudArray(t, entries)},
				{"gcloud array gzip", gzipBytes(t, gcloudArray(t, entries))},
			}
			var first []byte
			for _, l := range layouts {
				recs, stats := decodeAll(t, d.dec, l.in, time.Time{})
				if stats != d.want {
					t.Errorf("%s: stats = %+v, want %+v", l.name, stats, d.want)
				}
				got := render(recs, stats)
				if first == nil {
					first = got
					golden.Check(t, d.name+".golden", got)
				} else if !bytes.Equal(got, first) {
					t.Errorf("%s reads differently from ndjson:\n%s", l.name, got)
				}
			}
		})
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestDecodeMapping checks the fields of one record of each kind in full.
func TestDecodeMapping(t *testing.T) {
	recs, _ := decodeAll(t, DecodeVPCFlowLog, ndjson(readEntries(t, vpcSamples)), time.Time{})
	want := model.FlowRecord{
		Time: time.Date(2026, 11, 22, 10, 4, 57, 186193305, time.UTC),
		Src:  addr("10.10.0.2"), Dst: addr("10.50.0.2"), SrcPort: 40118, DstPort: 443,
		Protocol: model.ProtocolTCP, Bytes: 1224, Packets: 4, Action: model.FlowAccept,
		Target: "gcp.prod", Reporter: "vm-a:SRC",
	}
	if recs[0] != want {
		t.Errorf("first flow = %+v\nwant %+v", recs[0], want)
	}
	if got := recs[8].Reporter; got != "vpn-tunnel-1:SRC_GATEWAY" {
		t.Errorf("gateway reporter = %q", got)
	}

	recs, _ = decodeAll(t, DecodeFirewallLog, ndjson(readEntries(t, firewallSamples)), time.Time{})
	want = model.FlowRecord{
		Time: time.Date(2026, 11, 22, 10, 4, 17, 214711274, time.UTC),
		Src:  addr("10.10.0.99"), Dst: addr("10.20.0.99"), SrcPort: 49152, DstPort: 80,
		Protocol: model.ProtocolTCP, Action: model.FlowDrop,
		Target: "gcp.prod", Reporter: "network:example-net/firewall:rule-a",
	}
	if recs[0] != want {
		t.Errorf("first firewall record = %+v\nwant %+v", recs[0], want)
	}
	// Reporter strings are interned: equal reporters share their bytes.
	if a, b := recs[4].Reporter, recs[5].Reporter; a != b || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("reporters %q and %q are not one string", a, b)
	}
}

// vpcEntry builds a VPC flow log entry with the given jsonPayload members.
func vpcEntry(payload string) string {
	return `{"insertId":"x","jsonPayload":{` + payload + `},"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows","timestamp":"2026-11-22T10:05:00Z"}`
}

const goodConn = `"connection":{"src_ip":"10.0.0.1","src_port":40000,"dest_ip":"10.0.0.2","dest_port":443,"protocol":6}`

// TestDecodeNumbers: int64 fields as strings (how Logging writes them) or numbers,
// ports and protocol as numbers, strings of numbers or names, null.
func TestDecodeNumbers(t *testing.T) {
	for _, tc := range []struct {
		name, payload  string
		bytes, packets uint64
		sport, dport   uint16
		proto          model.Protocol
		start          time.Time
	}{
		{"strings", goodConn + `,"bytes_sent":"1776","packets_sent":"7","start_time":"2026-11-22T10:04:00.5Z"`, 1776, 7, 40000, 443, 6, time.Date(2026, 11, 22, 10, 4, 0, 5e8, time.UTC)},
		{"numbers", goodConn + `,"bytes_sent":1776,"packets_sent":7`, 1776, 7, 40000, 443, 6, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{"null", goodConn + `,"bytes_sent":null,"packets_sent":null`, 0, 0, 40000, 443, 6, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{"largest", goodConn + `,"bytes_sent":"18446744073709551615","packets_sent":18446744073709551615`, 1<<64 - 1, 1<<64 - 1, 40000, 443, 6, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{"ports and protocol as strings", `"connection":{"src_ip":"10.0.0.1","src_port":"65535","dest_ip":"10.0.0.2","dest_port":"0","protocol":"17"}`, 0, 0, 65535, 0, 17, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{"protocol by name", `"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","protocol":"UDP"}`, 0, 0, 0, 0, 17, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)},
		{"end time when no start time", goodConn + `,"end_time":"2026-11-22T10:04:30+02:00"`, 0, 0, 40000, 443, 6, time.Date(2026, 11, 22, 8, 4, 30, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, stats := decodeAll(t, DecodeVPCFlowLog, []byte(vpcEntry(tc.payload)), time.Time{})
			if stats != (FlowStats{Records: 1}) {
				t.Fatalf("stats = %+v", stats)
			}
			r := recs[0]
			if r.Bytes != tc.bytes || r.Packets != tc.packets || r.SrcPort != tc.sport || r.DstPort != tc.dport || r.Protocol != tc.proto || !r.Time.Equal(tc.start) || r.Time.Location() != time.UTC {
				t.Errorf("got %+v", r)
			}
		})
	}
}

// TestDecodeNotFlows: entries of other logs and without addresses count as NoData.
func TestDecodeNotFlows(t *testing.T) {
	for _, tc := range []struct{ name, entry string }{
		{"other log", `{"logName":"projects/p/logs/syslog","jsonPayload":{` + goodConn + `}}`},
		{"firewall log given as flow log", `{"logName":"projects/p/logs/compute.googleapis.com%2Ffirewall","jsonPayload":{` + goodConn + `}}`},
		{"no connection", vpcEntry(`"bytes_sent":"1"`)},
		{"connection null", vpcEntry(`"connection":null`)},
		{"no destination", vpcEntry(`"connection":{"src_ip":"10.0.0.1"}`)},
		{"no payload", `{"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows","textPayload":"x"}`},
		{"empty object", `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, in := range [][]byte{[]byte(tc.entry), jsonArray([]string{tc.entry})} {
				if _, stats := decodeAll(t, DecodeVPCFlowLog, in, time.Time{}); stats != (FlowStats{NoData: 1}) {
					t.Errorf("%s: stats = %+v, want one NoData", in, stats)
				}
			}
		})
	}
}

// TestDecodeMalformed puts one bad entry between two good ones: it is counted, and
// the good ones are read, in both layouts.
func TestDecodeMalformed(t *testing.T) {
	good := vpcEntry(goodConn)
	long := vpcEntry(goodConn + `,"pad":"` + strings.Repeat("x", maxEntry) + `"`)
	for _, tc := range []struct{ name, entry string }{
		{"not JSON", `this is not json`},
		{"truncated", good[:len(good)/2]},
		{"a number", `42`},
		{"payload is a string", `{"logName":"projects/p/logs/compute.googleapis.com%2Fvpc_flows","jsonPayload":"x"}`},
		{"bad source address", vpcEntry(`"connection":{"src_ip":"10.0.0.256","dest_ip":"10.0.0.2"}`)},
		{"address with zone", vpcEntry(`"connection":{"src_ip":"fe80::1%eth0","dest_ip":"fe80::2"}`)},
		{"port out of range", vpcEntry(`"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dest_port":65536}`)},
		{"negative port", vpcEntry(`"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","src_port":-1}`)},
		{"protocol out of range", vpcEntry(`"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","protocol":256}`)},
		{"unknown protocol name", vpcEntry(`"connection":{"src_ip":"10.0.0.1","dest_ip":"10.0.0.2","protocol":"carrier-pigeon"}`)},
		{"bytes not a number", vpcEntry(goodConn + `,"bytes_sent":"lots"`)},
		{"bytes fractional", vpcEntry(goodConn + `,"bytes_sent":1.5`)},
		{"bytes overflow", vpcEntry(goodConn + `,"bytes_sent":"18446744073709551616"`)},
		{"bytes an object", vpcEntry(goodConn + `,"bytes_sent":{}`)},
		{"bad start time", vpcEntry(goodConn + `,"start_time":"yesterday"`)},
		{"longer than the bound", long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := []string{good, tc.entry, good}
			for _, l := range []struct {
				name string
				in   []byte
			}{{"ndjson", ndjson(entries)}, {"array", jsonArray(entries)}} {
				want := FlowStats{Records: 2, Malformed: 1}
				if l.name == "array" && tc.name == "truncated" {
					// Unbalanced braces inside an array take the next element with
					// them: the array itself is broken from there on.
					want = FlowStats{Records: 1, Malformed: 1}
				}
				recs, stats := decodeAll(t, DecodeVPCFlowLog, l.in, time.Time{})
				if stats != want || len(recs) != want.Records {
					t.Errorf("%s: stats = %+v, want %+v", l.name, stats, want)
				}
			}
		})
	}

	fw := func(payload string) string {
		return `{"jsonPayload":{` + goodConn + payload + `},"logName":"projects/p/logs/compute.googleapis.com%2Ffirewall","timestamp":"2026-11-22T10:05:00Z"}`
	}
	for _, tc := range []struct {
		name, entry string
		want        FlowStats
		action      model.FlowAction
	}{
		{"disposition unknown", fw(`,"disposition":"MAYBE"`), FlowStats{Malformed: 1}, 0},
		{"no disposition or action", fw(``), FlowStats{Malformed: 1}, 0},
		{"action when no disposition", fw(`,"rule_details":{"action":"DENY"}`), FlowStats{Records: 1}, model.FlowDrop},
		{"bad timestamp", strings.Replace(fw(`,"disposition":"ALLOWED"`), "2026-11-22T10:05:00Z", "2026-13-01T00:00:00Z", 1), FlowStats{Malformed: 1}, 0},
	} {
		recs, stats := decodeAll(t, DecodeFirewallLog, []byte(tc.entry), time.Time{})
		if stats != tc.want || (len(recs) == 1 && recs[0].Action != tc.action) {
			t.Errorf("firewall %s: stats = %+v, records %+v", tc.name, stats, recs)
		}
	}
}

// TestDecodeCutOff: a file cut short (an array without its ']', an entry or gzip
// stream cut off) counts the last entry as malformed and returns no error; a
// failing reader returns its error.
func TestDecodeCutOff(t *testing.T) {
	entries := readEntries(t, vpcSamples)
	arr := jsonArray(entries)
	zipped := gzipBytes(t, ndjson(entries))
	corrupt := bytes.Clone(zipped)
	corrupt[len(corrupt)/2] ^= 0xff
	for _, tc := range []struct {
		name string
		in   []byte
		want FlowStats
	}{
		{"array without ]", arr[:len(arr)-1], FlowStats{Records: 10, NoData: 1}},
		{"array cut in an entry", arr[:len(arr)-30], FlowStats{Records: 10, Malformed: 1}},
		{"ndjson cut in an entry", ndjson(entries)[:len(ndjson(entries))-30], FlowStats{Records: 10, Malformed: 1}},
		{"gzip cut off", zipped[:len(zipped)-40], FlowStats{Records: 10, Malformed: 1}},
		{"empty", nil, FlowStats{}},
		{"empty array", []byte(" [ ] "), FlowStats{}},
	} {
		_, stats := decodeAll(t, DecodeVPCFlowLog, tc.in, time.Time{})
		if stats != tc.want {
			t.Errorf("%s: stats = %+v, want %+v", tc.name, stats, tc.want)
		}
	}
	// Corrupt gzip data ends the file with one malformed entry, wherever it is detected.
	_, stats := decodeAll(t, DecodeVPCFlowLog, corrupt, time.Time{})
	if stats.Malformed == 0 || stats.Records > 10 {
		t.Errorf("corrupt gzip: stats = %+v", stats)
	}

	failing := io.MultiReader(bytes.NewReader(ndjson(entries[:3])), failingReader{errors.New("connection reset")})
	var st FlowStats
	err := DecodeVPCFlowLog(context.Background(), failing, "t", time.Time{}, &st, func(model.FlowRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("failing reader: err = %v", err)
	}
}

// TestDecodeStrayBrace: a '}' that closes nothing, between or after array
// elements, is one malformed element, and reading goes on after it (it used to
// stop reading for ever).
func TestDecodeStrayBrace(t *testing.T) {
	good := vpcEntry(goodConn)
	for _, in := range []string{
		`[` + good + `}, ` + good + `]`,
		`["logName":"x"}, ` + good + `]`,
		`[` + good + `,}}]`,
	} {
		recs, stats := decodeAll(t, DecodeVPCFlowLog, []byte(in), time.Time{})
		if stats.Malformed == 0 || stats.Records != len(recs) || len(recs) != strings.Count(in, good) {
			t.Errorf("%.40q...: stats = %+v", in, stats)
		}
	}
}

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// TestDecodeCallbackError: fn's error stops the stream and comes back unchanged.
func TestDecodeCallbackError(t *testing.T) {
	stop := errors.New("enough")
	for _, d := range decoders {
		entries := readEntries(t, d.samples)
		for _, in := range [][]byte{ndjson(entries), gcloudArray(t, entries), gzipBytes(t, ndjson(entries))} {
			var stats FlowStats
			calls := 0
			err := d.dec(context.Background(), bytes.NewReader(in), "t", time.Time{}, &stats, func(model.FlowRecord) error {
				calls++
				if calls == 2 {
					return stop
				}
				return nil
			})
			if err != stop || calls != 2 {
				t.Errorf("%s: err = %v after %d calls, want the callback's own error after 2", d.name, err, calls)
			}
		}
	}
}

// TestDecodeSince: flows before since are neither handed out nor counted.
func TestDecodeSince(t *testing.T) {
	since := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	for _, d := range decoders {
		recs, stats := decodeAll(t, d.dec, ndjson(readEntries(t, d.samples)), since)
		all, _ := decodeAll(t, d.dec, ndjson(readEntries(t, d.samples)), time.Time{})
		want := 0
		for _, r := range all {
			if !r.Time.Before(since) {
				want++
			}
		}
		if want == 0 || want == len(all) {
			t.Fatalf("%s: since %s does not split the samples", d.name, since)
		}
		if len(recs) != want || stats.Records != want {
			t.Errorf("%s: %d records (stats %d) since %s, want %d", d.name, len(recs), stats.Records, since, want)
		}
		for _, r := range recs {
			if r.Time.Before(since) {
				t.Errorf("%s: record at %s is before since", d.name, r.Time)
			}
		}
	}
}

func TestDecodeContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stats FlowStats
	err := DecodeVPCFlowLog(ctx, newGenerated(kindVPCFlows, 10<<20, false), "t", time.Time{}, &stats, func(model.FlowRecord) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// generated is an endless-looking input made on the fly: n bytes of entries, as
// NDJSON or as one JSON array.
type generated struct {
	kind  logKind
	left  int
	array bool
	i     int
	buf   []byte
	ended bool
}

func newGenerated(kind logKind, n int, array bool) *generated {
	g := &generated{kind: kind, left: n, array: array}
	if array {
		g.buf = []byte("[\n")
	}
	return g
}

func (g *generated) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.left <= 0 {
			if g.array && !g.ended {
				g.ended = true
				g.buf = []byte("\n]\n")
				continue
			}
			return 0, io.EOF
		}
		g.buf = g.entry(g.buf[:0])
		g.left -= len(g.buf)
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// entry appends the next entry: flows between 1,000 VMs, a minute apart per 100.
func (g *generated) entry(b []byte) []byte {
	i := g.i
	g.i++
	if g.array && i > 0 {
		b = append(b, ",\n"...)
	}
	t := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).Add(time.Duration(i/100) * time.Second)
	src := fmt.Sprintf("10.%d.%d.%d", i%7, i/250%250, i%250+1)
	if g.kind == kindFirewall {
		disp := "ALLOWED"
		if i%3 == 0 {
			disp = "DENIED"
		}
		b = fmt.Appendf(b, `{"insertId":"gen%08d","jsonPayload":{"connection":{"dest_ip":"10.20.0.99","dest_port":443,"protocol":6,"src_ip":"%s","src_port":%d},"disposition":"%s","instance":{"project_id":"example-proj","region":"us-east1","vm_name":"vm%d","zone":"us-east1-b"},"rule_details":{"action":"ALLOW","direction":"INGRESS","ip_port_info":[{"ip_protocol":"TCP","port_range":["443"]}],"priority":1000,"reference":"network:example-net/firewall:rule-%d","source_range":["10.0.0.0/8"],"target_tag":["web"]},"vpc":{"project_id":"example-proj","subnetwork_name":"east-subnet","vpc_name":"example-net"}},"logName":"projects/example-proj/logs/compute.googleapis.com%%2Ffirewall","receiveTimestamp":"%s","resource":{"labels":{"location":"us-east1-b","project_id":"example-proj","subnetwork_id":"1266623735137648253","subnetwork_name":"east-subnet"},"type":"gce_subnetwork"},"timestamp":"%s"}`,
			i, src, 30000+i%30000, disp, i%1000, i%50, t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
	} else {
		b = fmt.Appendf(b, `{"insertId":"gen%08d","jsonPayload":{"bytes_sent":"%d","connection":{"dest_ip":"10.50.0.2","dest_port":443,"protocol":6,"src_ip":"%s","src_port":%d},"dest_instance":{"project_id":"example-proj","region":"us-east1","vm_name":"vm-b","zone":"us-east1-b"},"dest_vpc":{"project_id":"example-proj","subnetwork_name":"east-subnet","vpc_name":"example-net"},"end_time":"%s","packets_sent":"%d","reporter":"SRC","rtt_msec":"36","src_instance":{"project_id":"example-proj","region":"us-west1","vm_name":"vm%d","zone":"us-west1-a"},"src_vpc":{"project_id":"example-proj","subnetwork_name":"west-subnet","vpc_name":"example-net"},"start_time":"%s"},"logName":"projects/example-proj/logs/compute.googleapis.com%%2Fvpc_flows","receiveTimestamp":"%s","resource":{"labels":{"location":"us-west1-a","project_id":"example-proj","subnetwork_id":"758019854043528829","subnetwork_name":"west-subnet"},"type":"gce_subnetwork"},"timestamp":"%s"}`,
			i, 1000+i%5000, src, 30000+i%30000, t.Format(time.RFC3339Nano), 1+i%50, i%1000, t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
	}
	if !g.array {
		b = append(b, '\n')
	}
	return b
}

// TestDecodeFlatMemory streams 200 MB of entries made on the fly, in both layouts,
// and checks that the live heap stays small all along.
func TestDecodeFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB input")
	}
	const size = 200 << 20
	const bound = 16 << 20
	for _, array := range []bool{false, true} {
		var stats FlowStats
		var peak uint64
		var mem runtime.MemStats
		n := 0
		err := DecodeVPCFlowLog(context.Background(), newGenerated(kindVPCFlows, size, array), "t", time.Time{}, &stats, func(r model.FlowRecord) error {
			if n++; n%50000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&mem)
				peak = max(peak, mem.HeapAlloc)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Records < 150000 || stats.Malformed != 0 || stats.NoData != 0 {
			t.Errorf("array=%v: stats = %+v", array, stats)
		}
		if peak == 0 || peak > bound {
			t.Errorf("array=%v: live heap reached %d MB reading %d MB, want under %d MB", array, peak>>20, size>>20, bound>>20)
		}
		t.Logf("array=%v: %d records, live heap at most %.1f MB", array, stats.Records, float64(peak)/(1<<20))
	}
}

func FuzzDecodeVPCFlowLog(f *testing.F) {
	fuzzDecoder(f, DecodeVPCFlowLog, vpcSamples)
}

func FuzzDecodeFirewallLog(f *testing.F) {
	fuzzDecoder(f, DecodeFirewallLog, firewallSamples)
}

func fuzzDecoder(f *testing.F, dec providers.FlowDecoder, samples string) {
	entries := readEntries(f, samples)
	for _, e := range entries {
		f.Add([]byte(e))
	}
	f.Add(ndjson(entries))
	f.Add(jsonArray(entries[:3]))
	f.Add(gcloudArray(f, entries[:2]))
	f.Add(gzipBytes(f, []byte(entries[0])))
	f.Add([]byte(`[1,"x",[],{},null]`))
	f.Add([]byte(`{"jsonPayload":{"connection":{"src_ip":"::ffff:10.0.0.1","dest_ip":"fe80::1%eth0","protocol":"icmp","src_port":"65535"}}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var stats FlowStats
		err := dec(context.Background(), bytes.NewReader(in), "target", time.Time{}, &stats, func(r model.FlowRecord) error {
			if !r.Src.IsValid() || !r.Dst.IsValid() || r.Src.Zone() != "" || r.Dst.Zone() != "" {
				t.Fatalf("bad addresses in %+v", r)
			}
			if r.Action != model.FlowAccept && r.Action != model.FlowDrop {
				t.Fatalf("action %v", r.Action)
			}
			if r.Target != "target" {
				t.Fatalf("target %q", r.Target)
			}
			if !r.Time.IsZero() && r.Time.Location() != time.UTC {
				t.Fatalf("time %v is not UTC", r.Time)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("decode %q: %v", in, err)
		}
		if stats.Records < 0 || stats.Records+stats.NoData+stats.Malformed > len(in)+1 {
			t.Fatalf("stats %+v for %d bytes", stats, len(in))
		}
	})
}

func benchmarkDecoder(b *testing.B, kind logKind, dec providers.FlowDecoder) {
	var in bytes.Buffer
	if _, err := io.Copy(&in, newGenerated(kind, 8<<20, false)); err != nil {
		b.Fatal(err)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		var stats FlowStats
		if err := dec(context.Background(), bytes.NewReader(data), "t", time.Time{}, &stats, func(model.FlowRecord) error { return nil }); err != nil {
			b.Fatal(err)
		}
		records += stats.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeVPCFlowLog(b *testing.B) { benchmarkDecoder(b, kindVPCFlows, DecodeVPCFlowLog) }

func BenchmarkDecodeFirewallLog(b *testing.B) { benchmarkDecoder(b, kindFirewall, DecodeFirewallLog) }

// BenchmarkDecodeVPCFlowLogArray reads the entries as one JSON array, as `gcloud
// logging read --format=json` writes them (unindented).
func BenchmarkDecodeVPCFlowLogArray(b *testing.B) {
	var in bytes.Buffer
	if _, err := io.Copy(&in, newGenerated(kindVPCFlows, 8<<20, true)); err != nil {
		b.Fatal(err)
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		var stats FlowStats
		if err := DecodeVPCFlowLog(context.Background(), bytes.NewReader(data), "t", time.Time{}, &stats, func(model.FlowRecord) error { return nil }); err != nil {
			b.Fatal(err)
		}
		records += stats.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// TestDecodeLongEntry: an entry longer than the read buffer but within the bound
// (a firewall rule with many ranges) is read like any other.
func TestDecodeLongEntry(t *testing.T) {
	ranges := strings.Repeat(`"10.0.0.0/24",`, 20000) + `"10.1.0.0/24"`
	entry := `{"jsonPayload":{` + goodConn + `,"disposition":"DENIED","rule_details":{"reference":"network:n/firewall:big","source_range":[` + ranges + `]}},"logName":"projects/p/logs/compute.googleapis.com%2Ffirewall","timestamp":"2026-11-22T10:05:00Z"}`
	if len(entry) < 200<<10 || len(entry) > maxEntry {
		t.Fatalf("entry is %d bytes", len(entry))
	}
	for _, in := range [][]byte{ndjson([]string{entry, entry}), jsonArray([]string{entry, entry})} {
		recs, stats := decodeAll(t, DecodeFirewallLog, in, time.Time{})
		if stats != (FlowStats{Records: 2}) || recs[1].Reporter != "network:n/firewall:big" {
			t.Errorf("stats = %+v", stats)
		}
	}
}

// refArrayElement is arrayElement as it was, a byte at a time: the reference for
// the one that walks the buffer. (It is also fixed not to stop before a stray '}'.)
func refArrayElement(in *bufio.Reader) (elem []byte, err error) {
	depth := 0
	inString, escaped := false, false
	for {
		c, err := in.ReadByte()
		if err != nil {
			return elem, err
		}
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		} else {
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth < 0 && c == ']' {
					in.UnreadByte()
					return elem, nil
				}
				if depth < 0 {
					return append(elem, c), nil
				}
			case ',':
				if depth == 0 {
					in.UnreadByte()
					return elem, nil
				}
			}
		}
		elem = append(elem, c)
		if depth == 0 && !inString && (c == '}' || c == ']') {
			return elem, nil
		}
	}
}

// FuzzArrayElement: array elements are split as the byte-at-a-time reader split
// them, with elements across the buffer's edges (the smallest buffer bufio allows).
func FuzzArrayElement(f *testing.F) {
	entries := readEntries(f, vpcSamples)
	f.Add(jsonArray(entries[:3]))
	f.Add(gcloudArray(f, entries[:2]))
	f.Add([]byte(`[1,"x",[],{},null, "a\"]" , {"b":"\\"}] ]`))
	f.Add([]byte(`{"a":"unterminated`))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := &entryReader{in: bufio.NewReaderSize(bytes.NewReader(in), 16)}
		ref := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for {
			got, long, err := d.arrayElement()
			want, wantErr := refArrayElement(ref)
			if !bytes.Equal(got, want) || long || err != wantErr {
				t.Fatalf("element %q long=%v err=%v, want %q err=%v", got, long, err, want, wantErr)
			}
			if err != nil {
				return
			}
			c1, err1 := d.in.ReadByte()
			c2, err2 := ref.ReadByte()
			if c1 != c2 || err1 != err2 {
				t.Fatalf("after the element: %q %v, want %q %v", c1, err1, c2, err2)
			}
			if err1 != nil {
				return
			}
		}
	})
}
