package aws

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/microseg/microseg/model"
)

// awsDocsSamples is AWS's published flow log records, copied verbatim (with their
// origin and licence in the file) from the team's shared test data.
var awsDocsSamples = filepath.Join("testdata", "aws_vpc_flow_logs_awsdocs.txt")

// sampleRecord is one record of the samples file with the format that precedes it.
type sampleRecord struct {
	lineNo int
	format []string
	line   string
}

// readSamples returns the records of the samples file. The file marks two records
// with a documentation annotation (" #Traffic ...") that is not part of the record:
// it is cut off here, as the file's header says.
func readSamples(t testing.TB) []sampleRecord {
	t.Helper()
	f, err := os.Open(awsDocsSamples)
	if err != nil {
		t.Fatalf("the flow log samples are missing: %v", err)
	}
	defer f.Close()
	var out []sampleRecord
	var format []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# format:"); ok {
			format = strings.Fields(f)
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if format == nil {
			t.Fatalf("%s:%d: record before any # format: line", awsDocsSamples, n)
		}
		if rec, _, ok := strings.Cut(line, " #"); ok {
			line = rec
		}
		out = append(out, sampleRecord{n, format, line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseAWSDocsSamples(t *testing.T) {
	samples := readSamples(t)
	var stats FlowStats
	got := map[int]model.FlowRecord{}
	for _, s := range samples {
		p, err := NewFlowLogParser(s.format)
		if err != nil {
			t.Fatalf("line %d: format %q: %v", s.lineNo, s.format, err)
		}
		rec, err := p.Parse(s.line)
		switch {
		case err == nil:
			stats.Records++
			got[s.lineNo] = rec
			if !rec.Src.IsValid() || !rec.Dst.IsValid() || rec.Reporter == "" {
				t.Errorf("line %d: incomplete record %+v", s.lineNo, rec)
			}
		case errors.Is(err, ErrNoData):
			stats.NoData++
		case errors.Is(err, ErrSkipData):
			stats.SkipData++
		default:
			stats.Malformed++
			t.Errorf("line %d: %q: %v", s.lineNo, s.line, err)
		}
	}
	// 7 default-format records (one NODATA, one SKIPDATA), 8 v3 TCP-flag records,
	// 6 NAT records, 4 transit gateway records and 2 v5 records.
	if want := (FlowStats{Records: 25, NoData: 1, SkipData: 1}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}

	// Spot checks of every format, by the record's content.
	find := func(substr string) model.FlowRecord {
		t.Helper()
		for _, s := range samples {
			if strings.Contains(s.line, substr) {
				rec, ok := got[s.lineNo]
				if !ok {
					t.Fatalf("record %q did not parse", substr)
				}
				return rec
			}
		}
		t.Fatalf("no sample contains %q", substr)
		return model.FlowRecord{}
	}
	for _, tc := range []struct {
		record string
		want   model.FlowRecord
	}{
		{"172.31.16.139 172.31.16.21 20641 22", model.FlowRecord{
			Time: time.Unix(1418530010, 0).UTC(), Src: addr("172.31.16.139"), Dst: addr("172.31.16.21"),
			SrcPort: 20641, DstPort: 22, Protocol: model.ProtocolTCP, Packets: 20, Bytes: 4249,
			Action: model.FlowAccept, Reporter: "eni-1235b8ca123456789"}},
		{"172.31.9.69 172.31.9.12 49761 3389", model.FlowRecord{
			Time: time.Unix(1418530010, 0).UTC(), Src: addr("172.31.9.69"), Dst: addr("172.31.9.12"),
			SrcPort: 49761, DstPort: 3389, Protocol: model.ProtocolTCP, Packets: 20, Bytes: 4249,
			Action: model.FlowDrop, Reporter: "eni-1235b8ca123456789"}},
		{"172.31.16.139 203.0.113.12 0 0 1 4 336", model.FlowRecord{
			Time: time.Unix(1432917094, 0).UTC(), Src: addr("172.31.16.139"), Dst: addr("203.0.113.12"),
			Protocol: model.ProtocolICMP, Packets: 4, Bytes: 336, Action: model.FlowDrop,
			Reporter: "eni-1235b8ca123456789"}},
		{"2001:db8:1234:a100:8d6e:3477:df66:f105", model.FlowRecord{
			Time: time.Unix(1477913708, 0).UTC(), Src: addr("2001:db8:1234:a100:8d6e:3477:df66:f105"),
			Dst: addr("2001:db8:1234:a102:3304:8879:34cf:4071"), SrcPort: 34892, DstPort: 22,
			Protocol: model.ProtocolTCP, Packets: 54, Bytes: 8855, Action: model.FlowAccept,
			Reporter: "eni-1235b8ca123456789"}},
		// v3: bytes before packets in this format; the double space of the source.
		{"5001 43638  10.0.0.62", model.FlowRecord{
			Time: time.Unix(1566933133, 0).UTC(), Src: addr("10.0.0.62"), Dst: addr("52.213.180.42"),
			SrcPort: 5001, DstPort: 43638, Protocol: model.ProtocolTCP, Packets: 14, Bytes: 967,
			Action: model.FlowAccept, Reporter: "eni-1235b8ca123456789"}},
		// NAT: no ports, protocol, time or action in the format; pkt-dstaddr is the
		// host on the internet, not the NAT gateway's dstaddr.
		{"- eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5", model.FlowRecord{
			Src: addr("10.0.1.5"), Dst: addr("203.0.113.5"), Action: model.FlowAccept,
			Reporter: "eni-1235b8ca123456789"}},
		// Transit gateway: the original source behind the gateway's interface.
		{"eni-11111111111111111 123456789010 vpc-abcdefab012345678 subnet-11111111aaaaaaaaa - 10.40.1.175", model.FlowRecord{
			Src: addr("10.20.33.164"), Dst: addr("10.40.2.236"), SrcPort: 39812, DstPort: 80,
			Protocol: model.ProtocolTCP, Action: model.FlowAccept, Reporter: "eni-11111111111111111"}},
		// v5, egress to S3.
		{"5 10.0.0.71 52.95.128.179 34210 80", model.FlowRecord{
			Time: time.Unix(1616729292, 0).UTC(), Src: addr("10.0.0.71"), Dst: addr("52.95.128.179"),
			SrcPort: 34210, DstPort: 80, Protocol: model.ProtocolTCP, Packets: 7, Bytes: 471,
			Action: model.FlowAccept, Reporter: "eni-1235b8ca123456789"}},
	} {
		if diff := cmp.Diff(tc.want, find(tc.record), cmpAddr); diff != "" {
			t.Errorf("record %q (-want +got):\n%s", tc.record, diff)
		}
	}
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// v2 formats a default-format record.
func v2(src, dst string, sport, dport, proto int, action, status string) string {
	return fmt.Sprintf("2 123456789010 eni-0a1b2c3d %s %s %d %d %d 10 840 1700000000 1700000060 %s %s",
		src, dst, sport, dport, proto, action, status)
}

func TestParseMapping(t *testing.T) {
	def := mustParser(t, DefaultFields)
	pkt := mustParser(t, strings.Fields("version instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport protocol start action log-status"))
	noENI := mustParser(t, strings.Fields("instance-id srcaddr dstaddr action"))
	t0 := time.Unix(1700000000, 0).UTC()
	for _, tc := range []struct {
		name    string
		p       *FlowLogParser
		line    string
		want    model.FlowRecord
		wantErr error
	}{
		{"accept", def, v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK"), model.FlowRecord{
			Time: t0, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), SrcPort: 40000, DstPort: 443,
			Protocol: model.ProtocolTCP, Packets: 10, Bytes: 840, Action: model.FlowAccept, Reporter: "eni-0a1b2c3d"}, nil},
		{"reject is drop", def, v2("10.0.0.1", "10.0.0.2", 40000, 53, 17, "REJECT", "OK"), model.FlowRecord{
			Time: t0, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), SrcPort: 40000, DstPort: 53,
			Protocol: model.ProtocolUDP, Packets: 10, Bytes: 840, Action: model.FlowDrop, Reporter: "eni-0a1b2c3d"}, nil},
		{"icmpv6", def, v2("fd00::1", "fd00::2", 0, 0, 58, "ACCEPT", "OK"), model.FlowRecord{
			Time: t0, Src: addr("fd00::1"), Dst: addr("fd00::2"), Protocol: model.ProtocolICMPv6,
			Packets: 10, Bytes: 840, Action: model.FlowAccept, Reporter: "eni-0a1b2c3d"}, nil},
		{"trailing CRLF and runs of spaces", def, "  " + strings.ReplaceAll(v2("10.0.0.1", "10.0.0.2", 1, 2, 6, "REJECT", "OK"), " ", " \t ") + "\r\n", model.FlowRecord{
			Time: t0, Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), SrcPort: 1, DstPort: 2,
			Protocol: model.ProtocolTCP, Packets: 10, Bytes: 840, Action: model.FlowDrop, Reporter: "eni-0a1b2c3d"}, nil},
		{"NODATA", def, "2 123456789010 eni-0a1b2c3d - - - - - - - 1431280876 1431280934 - NODATA", model.FlowRecord{}, ErrNoData},
		{"SKIPDATA", def, "2 123456789010 eni-0a1b2c3d - - - - - - - 1431280876 1431280934 - SKIPDATA", model.FlowRecord{}, ErrSkipData},
		{"no address with status OK", def, v2("-", "10.0.0.2", 1, 2, 6, "ACCEPT", "OK"), model.FlowRecord{}, ErrNoData},
		{"pkt addresses preferred", pkt, "3 i-0123 eni-0123 10.0.0.9 10.0.0.8 192.0.2.1 198.51.100.2 1000 22 6 1700000000 ACCEPT OK", model.FlowRecord{
			Time: t0, Src: addr("192.0.2.1"), Dst: addr("198.51.100.2"), SrcPort: 1000, DstPort: 22,
			Protocol: model.ProtocolTCP, Action: model.FlowAccept, Reporter: "eni-0123"}, nil},
		{"pkt address - falls back", pkt, "3 i-0123 - 10.0.0.9 10.0.0.8 - - 1000 22 6 1700000000 REJECT OK", model.FlowRecord{
			Time: t0, Src: addr("10.0.0.9"), Dst: addr("10.0.0.8"), SrcPort: 1000, DstPort: 22,
			Protocol: model.ProtocolTCP, Action: model.FlowDrop, Reporter: "i-0123"}, nil},
		{"numbers -", pkt, "3 i-0123 eni-0123 10.0.0.9 10.0.0.8 - - - - - - ACCEPT -", model.FlowRecord{
			Src: addr("10.0.0.9"), Dst: addr("10.0.0.8"), Action: model.FlowAccept, Reporter: "eni-0123"}, nil},
		{"instance reporter, lower-case action", noENI, "i-0abc 10.1.1.1 10.1.1.2 reject", model.FlowRecord{
			Src: addr("10.1.1.1"), Dst: addr("10.1.1.2"), Action: model.FlowDrop, Reporter: "i-0abc"}, nil},
		{"largest counters", def, "2 1 eni-1 10.0.0.1 10.0.0.2 65535 65535 255 18446744073709551615 18446744073709551615 0 0 ACCEPT OK", model.FlowRecord{
			Time: time.Unix(0, 0).UTC(), Src: addr("10.0.0.1"), Dst: addr("10.0.0.2"), SrcPort: 65535, DstPort: 65535,
			Protocol: 255, Packets: 1<<64 - 1, Bytes: 1<<64 - 1, Action: model.FlowAccept, Reporter: "eni-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.Parse(tc.line)
			if tc.wantErr != nil {
				if err != tc.wantErr {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpAddr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	def := mustParser(t, DefaultFields)
	good := v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK")
	for _, tc := range []struct {
		name, line, wantMsg string
	}{
		{"empty", "", "empty line"},
		{"blank", " \t\r\n", "empty line"},
		{"truncated", good[:strings.LastIndex(good, " ")], "13 fields, the format has 14"},
		{"truncated mid-address", "2 123456789010 eni-0a1b2c3d 10.0.", "4 fields"},
		{"extra field", good + " extra", "15 fields"},
		{"bad source address", v2("10.0.0.256", "10.0.0.2", 1, 2, 6, "ACCEPT", "OK"), `field 4 (srcaddr) "10.0.0.256" is not an IP address`},
		{"bad destination address", v2("10.0.0.1", "eni-123", 1, 2, 6, "ACCEPT", "OK"), `field 5 (dstaddr) "eni-123" is not an IP address`},
		{"address with zone", v2("fe80::1%eth0", "fe80::2", 1, 2, 6, "ACCEPT", "OK"), "(srcaddr)"},
		{"port out of range", v2("10.0.0.1", "10.0.0.2", 65536, 2, 6, "ACCEPT", "OK"), `field 6 (srcport) "65536" is out of range`},
		{"negative port", strings.Replace(good, " 443 ", " -443 ", 1), `field 7 (dstport) "-443" is not a number`},
		{"protocol out of range", v2("10.0.0.1", "10.0.0.2", 1, 2, 256, "ACCEPT", "OK"), `(protocol) "256" is out of range`},
		{"packets not a number", strings.Replace(good, " 10 840 ", " ten 840 ", 1), `(packets) "ten" is not a number`},
		{"bytes overflow", strings.Replace(good, " 10 840 ", " 10 18446744073709551616 ", 1), `(bytes) "18446744073709551616" is out of range`},
		{"start negative", strings.Replace(good, " 1700000000 ", " -1700000000 ", 1), `(start) "-1700000000" is not a number`},
		{"end too large", strings.Replace(good, " 1700000060 ", " 9223372036854775808 ", 1), `(end) "9223372036854775808" is out of range`},
		{"bad action", v2("10.0.0.1", "10.0.0.2", 1, 2, 6, "ALLOW", "OK"), `field 13 (action) "ALLOW" is not ACCEPT or REJECT`},
		{"bad log status", v2("10.0.0.1", "10.0.0.2", 1, 2, 6, "ACCEPT", "FINE"), `field 14 (log-status) "FINE" is not OK`},
		{"long value is cut", v2(strings.Repeat("1", 500), "10.0.0.2", 1, 2, 6, "ACCEPT", "OK"), `..." is not an IP address`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := def.Parse(tc.line)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %+v, %v; want ErrMalformed", tc.line, rec, err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

func mustParser(t testing.TB, fields []string) *FlowLogParser {
	t.Helper()
	p, err := NewFlowLogParser(fields)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewFlowLogParser(t *testing.T) {
	// Every field of versions 2 to 8, and one of a version to come.
	all := strings.Fields(`version account-id interface-id srcaddr dstaddr srcport dstport protocol
		packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type
		pkt-srcaddr pkt-dstaddr region az-id sublocation-type sublocation-id pkt-src-aws-service
		pkt-dst-aws-service flow-direction traffic-path ecs-cluster-arn ecs-cluster-name
		ecs-container-instance-arn ecs-container-instance-id ecs-container-id
		ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id
		reject-reason resource-id encryption-status some-future-field`)
	p := mustParser(t, all)
	values := make([]string, len(all))
	for i := range values {
		values[i] = "-"
	}
	set := func(field, v string) {
		for i, f := range all {
			if f == field {
				values[i] = v
			}
		}
	}
	set("srcaddr", "10.0.0.1")
	set("dstaddr", "10.0.0.2")
	set("dstport", "443")
	set("action", "REJECT")
	set("log-status", "OK")
	set("ecs-task-arn", "arn:aws:ecs:us-east-1:123456789012:task/c/abc")
	rec, err := p.Parse(strings.Join(values, " "))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Src != addr("10.0.0.1") || rec.DstPort != 443 || rec.Action != model.FlowDrop {
		t.Errorf("v8 record = %+v", rec)
	}

	// ${field} (a LogFormat) and Parquet column names are the same fields.
	p = mustParser(t, []string{"${srcaddr}", "DST_ADDR", "dstaddr", "Log_Status"})
	if got, want := p.Fields(), []string{"srcaddr", "dst-addr", "dstaddr", "log-status"}; !cmp.Equal(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}

	for _, tc := range []struct {
		fields  []string
		wantErr string
	}{
		{nil, "no fields"},
		{[]string{"srcaddr", "", "dstaddr"}, "field 2 is empty"},
		{[]string{"srcaddr", "dstaddr", "srcaddr"}, `"srcaddr" appears twice`},
		{[]string{"srcaddr", "dstaddr", "bytes", "BYTES"}, `"bytes" appears twice`},
		{[]string{"version", "dstaddr", "action"}, "no srcaddr or pkt-srcaddr"},
		{[]string{"pkt-srcaddr", "srcport"}, "no dstaddr or pkt-dstaddr"},
		{strings.Fields("2 123456789010 eni-1235b8ca123456789 172.31.16.139"), "no srcaddr"},
	} {
		if _, err := NewFlowLogParser(tc.fields); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewFlowLogParser(%q) = %v, want %q", tc.fields, err, tc.wantErr)
		}
	}
}

func TestParseLogFormat(t *testing.T) {
	got, err := ParseLogFormat("${version} ${vpc-id}  ${srcaddr} ${dstaddr}")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"version", "vpc-id", "srcaddr", "dstaddr"}; !cmp.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, err := ParseLogFormat(""); err != nil || !cmp.Equal(got, DefaultFields) {
		t.Errorf("empty format = %q, %v; want the default", got, err)
	}
	for _, bad := range []string{"version srcaddr", "${}", "${srcaddr"} {
		if _, err := ParseLogFormat(bad); err == nil {
			t.Errorf("ParseLogFormat(%q) accepted", bad)
		}
	}
}

// formatV2 writes rec as a default-format record.
func formatV2(rec model.FlowRecord) string {
	action := "ACCEPT"
	if rec.Action == model.FlowDrop {
		action = "REJECT"
	}
	return fmt.Sprintf("2 123456789010 %s %s %s %d %d %d %d %d %d %d %s OK",
		rec.Reporter, rec.Src, rec.Dst, rec.SrcPort, rec.DstPort, rec.Protocol,
		rec.Packets, rec.Bytes, rec.Time.Unix(), rec.Time.Unix(), action)
}

func FuzzParseFlowLogLine(f *testing.F) {
	for _, s := range readSamples(f) {
		f.Add(s.line)
	}
	f.Add(v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK"))
	f.Add(v2("::ffff:10.0.0.1", "fe80::1%eth0", 0, 0, 58, "REJECT", "OK"))
	f.Add("2 1 eni-1 10.0.0.1 10.0.0.2 65535 65535 255 18446744073709551615 1 9223372036854775807 0 ACCEPT OK")
	f.Add("")
	f.Add(" - - ")
	def, _ := NewFlowLogParser(DefaultFields)
	v5, _ := NewFlowLogParser(strings.Fields("version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status"))
	nat, _ := NewFlowLogParser(strings.Fields("instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"))
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range []*FlowLogParser{def, v5, nat} {
			rec, err := p.Parse(line)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && err != ErrNoData && err != ErrSkipData {
					t.Fatalf("Parse(%q): error %v is none of the sentinels", line, err)
				}
				// NODATA and SKIPDATA carry their capture window's start, so that
				// readers can leave them out of a window like flows; nothing else.
				if rec != (model.FlowRecord{Time: rec.Time}) || (!rec.Time.IsZero() && err != ErrNoData && err != ErrSkipData) {
					t.Fatalf("Parse(%q): error %v with a record %+v", line, err, rec)
				}
				continue
			}
			if !rec.Src.IsValid() || !rec.Dst.IsValid() || rec.Src.Zone() != "" || rec.Dst.Zone() != "" {
				t.Fatalf("Parse(%q): bad addresses in %+v", line, rec)
			}
			if rec.Action != model.FlowAccept && rec.Action != model.FlowDrop {
				t.Fatalf("Parse(%q): action %v", line, rec.Action)
			}
			if !strings.Contains(line, rec.Reporter) {
				t.Fatalf("Parse(%q): reporter %q is not in the line", line, rec.Reporter)
			}
			if p != def {
				continue
			}
			// A default-format record written back reads the same.
			again, err := def.Parse(formatV2(rec))
			if err != nil {
				t.Fatalf("Parse(%q) = %+v, which written back does not parse: %v", line, rec, err)
			}
			if again != rec {
				t.Fatalf("Parse(%q) = %+v, written back %+v", line, rec, again)
			}
		}
	})
}

func BenchmarkParseFlowLogLine(b *testing.B) {
	p := mustParser(b, DefaultFields)
	line := v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeFlowLog checks Parse's fast paths (parseDefault, for the default
// format's usual records, and parseAny) against parseSlow, the field-by-field
// parser that says what is wrong with a record: the same record or the same error,
// word for word, for every line and format. Then it reads the lines as a flow log
// file after a default header, plain or gzipped, through DecodeFlowLog, and checks
// its flows and counts against parseSlow line by line: the reader's own line
// splitting (CRLF, blank lines, a last line without a newline) included.
func FuzzDecodeFlowLog(f *testing.F) {
	var all []string
	for _, s := range readSamples(f) {
		f.Add(s.line, false)
		all = append(all, s.line)
	}
	f.Add(strings.Join(all, "\n"), true)
	f.Add(strings.Join(all, "\r\n")+"\r\n", false)
	for _, line := range []string{
		v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK"),
		v2("0.0.0.0", "255.255.255.255", 0, 65535, 255, "REJECT", "OK"),
		v2("01.0.0.1", "10.0.0.2", 1, 2, 6, "ACCEPT", "OK"),
		v2("10.0.0.1", "10.0.0.256", 1, 2, 6, "ACCEPT", "OK"),
		v2("10.0.0", "1.2.3.4.5", 1, 2, 6, "ACCEPT", "OK"),
		v2("::ffff:10.0.0.1", "fe80::1%eth0", 0, 0, 58, "REJECT", "OK"),
		v2("fd00::1", "2001:db8::2", 0, 0, 58, "accept", "OK"),
		v2("10.0.0.1", "10.0.0.2", 65536, 443, 6, "ACCEPT", "OK"),
		v2("10.0.0.1", "10.0.0.2", 1, 2, 256, "ACCEPT", "-"),
		v2("-", "-", 1, 2, 6, "-", "NODATA"),
		v2("10.0.0.1", "10.0.0.2", 1, 2, 6, "ACCEPT", "SKIPDATA"),
		"2 1 eni-1 10.0.0.1 10.0.0.2 65535 65535 255 18446744073709551615 99999999999999999999 9223372036854775807 9223372036854775808 ACCEPT OK",
		"2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 0012345678901234567 +5 1700000000 - ACCEPT OK",
		"2 123456789010 - 10.0.0.1 10.0.0.2 1 2 6 10 840 - 1700000060 REJECT OK",
		"  2\t123456789010 eni-0a1b2c3d  10.0.0.1 10.0.0.2 1 2 6 10 840 1700000000 1700000060 ACCEPT OK \r",
		"2 123456789010 eni-0a1b2c3d 10.0.0.1 10.0.0.2 1 2 6 10 840 1700000000 1700000060 ACCEPT OK extra",
		"2 123456789010 eni-0a1b2c3d 10.0.0.1 10.0.0.2 1 2 6 10 840 1700000000 1700000060 ACCEPT",
		"3 i-0123 eni-0123 10.0.0.9 10.0.0.8 192.0.2.1 198.51.100.2 1000 22 6 1700000000 ACCEPT OK",
		"3 i-0123 - bad bad - - 1000 22 6 1700000000 REJECT OK",
		"i-0abc 10.1.1.1 10.1.1.2 reject",
		"\n\n \n",
		"",
	} {
		f.Add(line, false)
	}
	f.Add(v2("10.0.0.1", "10.0.0.2", 40000, 443, 6, "ACCEPT", "OK")+"\n\n"+v2("-", "-", 1, 2, 6, "-", "NODATA"), true)

	var parsers []*FlowLogParser
	for _, format := range []string{
		strings.Join(DefaultFields, " "),
		"version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status",
		"version instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr srcport dstport protocol start action log-status",
		"instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr",
		"instance-id srcaddr dstaddr action",
		"pkt-srcaddr pkt-dstaddr end bytes packets",
	} {
		parsers = append(parsers, mustParser(f, strings.Fields(format)))
	}
	def := parsers[0]
	f.Fuzz(func(t *testing.T, body string, gz bool) {
		for line := range strings.SplitSeq(body, "\n") {
			for _, p := range parsers {
				got, gotErr := p.Parse(line)
				want, wantErr := p.parseSlow(line)
				if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
					t.Fatalf("format %q, line %q: Parse error %v, parseSlow error %v", p.fields, line, gotErr, wantErr)
				}
				if gotErr != nil && !errors.Is(gotErr, ErrMalformed) && gotErr != wantErr {
					t.Fatalf("format %q, line %q: Parse error %v is not parseSlow's sentinel", p.fields, line, gotErr)
				}
				if got != want {
					t.Fatalf("format %q, line %q: Parse = %+v, parseSlow = %+v", p.fields, line, got, want)
				}
			}
		}

		// The same lines as a file.
		if len(body) > maxLine/2 {
			return
		}
		var wantStats FlowStats
		var want []model.FlowRecord
		for line := range strings.SplitSeq(body, "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			rec, err := def.parseSlow(line)
			switch {
			case err == nil:
				rec.Target = "t"
				want = append(want, rec)
				wantStats.Records++
			case err == ErrNoData:
				wantStats.NoData++
			case err == ErrSkipData:
				wantStats.SkipData++
			default:
				wantStats.Malformed++
			}
		}
		file := []byte(strings.Join(DefaultFields, " ") + "\n" + body)
		if gz {
			file = gzipBytes(t, file)
		}
		var stats FlowStats
		var got []model.FlowRecord
		err := DecodeFlowLog(context.Background(), bytes.NewReader(file), "t", time.Time{}, &stats, func(r model.FlowRecord) error {
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatalf("DecodeFlowLog(%q): %v", body, err)
		}
		if stats != wantStats || !slices.Equal(got, want) {
			t.Fatalf("DecodeFlowLog(%q) = %+v, %+v; line by line %+v, %+v", body, stats, got, wantStats, want)
		}
	})
}

// TestNoDataInsideWindowOnly: NODATA and SKIPDATA records count only when their
// capture window is inside the read, like flows, so that audits that re-read a day's
// objects do not count them again.
func TestNoDataInsideWindowOnly(t *testing.T) {
	body := strings.Join(DefaultFields, " ") + "\n" +
		"2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n" +
		"2 123456789010 eni-2 - - - - - - - 1431280876 1431280934 - SKIPDATA\n" +
		"2 123456789010 eni-1 - - - - - - - 1795330800 1795330860 - NODATA\n"
	for _, tt := range []struct {
		since        time.Time
		noData, skip int
	}{
		{time.Time{}, 2, 1},
		{time.Unix(1500000000, 0), 1, 0},
		{time.Unix(1795330801, 0), 0, 0},
	} {
		var stats FlowStats
		if err := DecodeFlowLog(context.Background(), strings.NewReader(body), "t", tt.since, &stats, func(model.FlowRecord) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if stats.NoData != tt.noData || stats.SkipData != tt.skip {
			t.Errorf("since %v: %+v, want %d no data and %d skipped", tt.since, stats, tt.noData, tt.skip)
		}
	}
}
