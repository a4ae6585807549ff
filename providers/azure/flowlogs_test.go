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
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"

	"github.com/microseg/microseg/internal/golden"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// The samples from Microsoft's format pages, copied verbatim (with their origin and
// licence in the files) from the team's shared test data. They hold tuples, with the
// time and rule of their record in "# time ... rule ..." annotations; the documents
// around them are built here as Network Watcher writes them.
var (
	nsgSamples  = filepath.Join("testdata", "azure_nsg_flow_logs_msdocs.txt")
	vnetSamples = filepath.Join("testdata", "azure_vnet_flow_logs_msdocs.txt")
)

// The NSG and NIC of every NSG sample record, as the file's header gives them.
const (
	sampleNSG = "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG"
	sampleMAC = "000D3AF8801A"
)

// sampleGroup is a run of tuples of one record and rule in a samples file.
type sampleGroup struct {
	time, rule string
	tuples     []string
}

// readSampleGroups returns the tuples of a samples file, grouped by the "# time T
// rule R" annotation before them; tuples after a "# SECTION" line without one form a
// group of their own.
func readSampleGroups(t testing.TB, path string) (groups []sampleGroup, tuples int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the flow log samples are missing: %v", err)
	}
	defer f.Close()
	var cur *sampleGroup
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# time "); ok {
			tm, rule, _ := strings.Cut(rest, " rule ")
			groups = append(groups, sampleGroup{time: tm, rule: rule})
			cur = &groups[len(groups)-1]
			continue
		}
		if strings.HasPrefix(line, "# SECTION") {
			cur = nil
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if cur == nil {
			groups = append(groups, sampleGroup{time: "2024-02-26T20:10:15.0000000Z", rule: "UserRule_sample"})
			cur = &groups[len(groups)-1]
		}
		cur.tuples = append(cur.tuples, line)
		tuples++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if tuples == 0 {
		t.Fatalf("%s: no tuples", path)
	}
	return groups, tuples
}

// nsgSampleDocument builds the PT1H.json document of the NSG samples: one record per
// annotated time, its rules' tuples under the NIC's MAC, Version 1 or 2 by the
// tuples' length.
func nsgSampleDocument(t testing.TB) ([]byte, int) {
	groups, n := readSampleGroups(t, nsgSamples)
	type nic struct {
		MAC        string   `json:"mac"`
		FlowTuples []string `json:"flowTuples"`
	}
	type rule struct {
		Rule  string `json:"rule"`
		Flows []nic  `json:"flows"`
	}
	type props struct {
		Version int    `json:"Version"`
		Flows   []rule `json:"flows"`
	}
	type record struct {
		Time          string `json:"time"`
		SystemID      string `json:"systemId"`
		MACAddress    string `json:"macAddress"`
		Category      string `json:"category"`
		ResourceID    string `json:"resourceId"`
		OperationName string `json:"operationName"`
		Properties    props  `json:"properties"`
	}
	var recs []record
	for _, g := range groups {
		version := 1
		if strings.Count(g.tuples[0], ",") == 12 {
			version = 2
		}
		if len(recs) == 0 || recs[len(recs)-1].Time != g.time || recs[len(recs)-1].Properties.Version != version {
			recs = append(recs, record{
				Time: g.time, SystemID: "55ff55ff-aa66-bb77-cc88-99dd99dd99dd", MACAddress: sampleMAC,
				Category: "NetworkSecurityGroupFlowEvent", ResourceID: sampleNSG,
				OperationName: "NetworkSecurityGroupFlowEvents", Properties: props{Version: version},
			})
		}
		p := &recs[len(recs)-1].Properties
		p.Flows = append(p.Flows, rule{g.rule, []nic{{sampleMAC, g.tuples}}})
	}
	doc, err := json.MarshalIndent(map[string]any{"records": recs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return doc, n
}

// The VNet sample record's envelope, as on the format page.
const (
	sampleVNetMAC      = "112233445566"
	sampleVNetFlowLog  = "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS2EUAP/FLOWLOGS/VNETFLOWLOG"
	sampleVNetResource = "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/myResourceGroup/providers/Microsoft.Network/virtualNetworks/myVNet"
)

// vnetSampleDocument builds the PT1H.json document of the VNet samples.
func vnetSampleDocument(t testing.TB) ([]byte, int) {
	groups, n := readSampleGroups(t, vnetSamples)
	type group struct {
		Rule       string   `json:"rule"`
		FlowTuples []string `json:"flowTuples"`
	}
	type flow struct {
		ACLID      string  `json:"aclID"`
		FlowGroups []group `json:"flowGroups"`
	}
	var gs []group
	for _, g := range groups {
		gs = append(gs, group{g.rule, g.tuples})
	}
	rec := map[string]any{
		"time":              "2022-09-14T09:00:52.5625085Z",
		"flowLogVersion":    4,
		"flowLogGUID":       "66aa66aa-bb77-cc88-dd99-00ee00ee00ee",
		"macAddress":        sampleVNetMAC,
		"category":          "FlowLogFlowEvent",
		"flowLogResourceID": sampleVNetFlowLog,
		"targetResourceID":  sampleVNetResource,
		"operationName":     "FlowLogFlowEvent",
		"flowRecords":       map[string]any{"flows": []flow{{"00aa00aa-bb11-cc22-dd33-44ee44ee44ee", gs}}},
	}
	doc, err := json.MarshalIndent(map[string]any{"records": []any{rec}}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return doc, n
}

// formatRecord is the golden files' line of a flow record.
func formatRecord(r model.FlowRecord) string {
	return fmt.Sprintf("%s %s %s %s -> %s bytes=%d packets=%d target=%s reporter=%s",
		r.Time.Format(time.RFC3339Nano), r.Action, r.Protocol,
		netip.AddrPortFrom(r.Src, r.SrcPort), netip.AddrPortFrom(r.Dst, r.DstPort),
		r.Bytes, r.Packets, r.Target, r.Reporter)
}

// decodeAll runs a decoder and returns its records as golden lines.
func decodeAll(t testing.TB, decode providers.FlowDecoder, doc []byte, since time.Time) ([]model.FlowRecord, FlowStats, error) {
	t.Helper()
	var stats FlowStats
	var recs []model.FlowRecord
	err := decode(context.Background(), bytes.NewReader(doc), "fabrikam", since, &stats, func(r model.FlowRecord) error {
		recs = append(recs, r)
		return nil
	})
	return recs, stats, err
}

func gzipped(t testing.TB, b []byte) []byte {
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

// TestDecodeMSDocsSamples reads every tuple of Microsoft's samples, as plain and
// gzipped documents, and compares the records with the golden files.
func TestDecodeMSDocsSamples(t *testing.T) {
	for _, tc := range []struct {
		name   string
		decode providers.FlowDecoder
		doc    func(testing.TB) ([]byte, int)
	}{
		{"nsg", DecodeNSGFlowLog, nsgSampleDocument},
		{"vnet", DecodeVNetFlowLog, vnetSampleDocument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, tuples := tc.doc(t)
			var want []byte
			for i, in := range [][]byte{doc, gzipped(t, doc), append([]byte("\xef\xbb\xbf"), doc...)} {
				recs, stats, err := decodeAll(t, tc.decode, in, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if stats != (FlowStats{Records: tuples}) || len(recs) != tuples {
					t.Fatalf("input %d: stats %+v, %d records; want all %d tuples read", i, stats, len(recs), tuples)
				}
				var out bytes.Buffer
				for _, r := range recs {
					fmt.Fprintln(&out, formatRecord(r))
				}
				if i == 0 {
					want = out.Bytes()
					golden.Check(t, tc.name+"_msdocs.golden", want)
				} else if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("input %d read differently:\n%s", i, cmp.Diff(string(want), out.String()))
				}
			}
		})
	}
}

// TestDecodeMapping checks each field of one tuple of every kind.
func TestDecodeMapping(t *testing.T) {
	at := time.Date(2024, 2, 26, 20, 10, 15, 0, time.UTC)
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name  string
		parse func([]byte) (model.FlowRecord, bool)
		tuple string
		want  model.FlowRecord
	}{
		{"nsg v1 tcp allowed", parseNSGTuple, "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A",
			model.FlowRecord{Time: at, Src: addr("203.0.113.105"), Dst: addr("10.0.0.5"), SrcPort: 35370, DstPort: 443, Protocol: model.ProtocolTCP}},
		{"nsg v1 udp denied outbound", parseNSGTuple, "1708978215,10.0.0.5,198.51.100.1,5353,53,U,O,D",
			model.FlowRecord{Time: at, Src: addr("10.0.0.5"), Dst: addr("198.51.100.1"), SrcPort: 5353, DstPort: 53, Protocol: model.ProtocolUDP, Action: model.FlowDrop}},
		{"nsg v2 begin, no counts", parseNSGTuple, "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,B,,,,",
			model.FlowRecord{Time: at, Src: addr("203.0.113.105"), Dst: addr("10.0.0.5"), SrcPort: 35370, DstPort: 443, Protocol: model.ProtocolTCP}},
		{"nsg v2 continuing, both directions summed", parseNSGTuple, "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,1021,588096,8005,4610880",
			model.FlowRecord{Time: at, Src: addr("203.0.113.105"), Dst: addr("10.0.0.5"), SrcPort: 35370, DstPort: 443, Protocol: model.ProtocolTCP,
				Packets: 1021 + 8005, Bytes: 588096 + 4610880}},
		{"nsg v2 ipv6", parseNSGTuple, "1708978215,2001:db8::1,2001:db8::2,1,2,T,O,D,E,1,2,3,4",
			model.FlowRecord{Time: at, Src: addr("2001:db8::1"), Dst: addr("2001:db8::2"), SrcPort: 1, DstPort: 2, Protocol: model.ProtocolTCP,
				Action: model.FlowDrop, Packets: 4, Bytes: 6}},
		{"vnet milliseconds", parseVNetTuple, "1708978215123,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580",
			model.FlowRecord{Time: at.Add(123 * time.Millisecond), Src: addr("10.0.0.6"), Dst: addr("192.0.2.180"), SrcPort: 23956, DstPort: 443,
				Protocol: model.ProtocolTCP, Packets: 5, Bytes: 2347}},
		{"vnet seconds", parseVNetTuple, "1708978215,10.0.0.6,192.0.2.180,23956,53,17,O,B,X,0,0,0,0",
			model.FlowRecord{Time: at, Src: addr("10.0.0.6"), Dst: addr("192.0.2.180"), SrcPort: 23956, DstPort: 53, Protocol: model.ProtocolUDP}},
		{"vnet denied icmp", parseVNetTuple, "1708978215000,10.0.0.6,10.0.0.7,0,8,1,I,D,NX_NOT_ACCEPTED,1,84,,",
			model.FlowRecord{Time: at, Src: addr("10.0.0.6"), Dst: addr("10.0.0.7"), DstPort: 8, Protocol: model.ProtocolICMP,
				Action: model.FlowDrop, Packets: 1, Bytes: 84}},
	} {
		got, ok := tc.parse([]byte(tc.tuple))
		if !ok {
			t.Errorf("%s: %q did not parse", tc.name, tc.tuple)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s: %q (-want +got):\n%s", tc.name, tc.tuple, diff)
		}
	}
}

// TestDecodeMalformedTuples counts every tuple that is not one, in both formats.
func TestDecodeMalformedTuples(t *testing.T) {
	nsgBad := []string{
		"", ",,,,,,,", "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I", // 7 fields
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,B",           // 9 fields
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,B,1,2,3,4,5", // 14 fields
		"x708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A",
		"-1,203.0.113.105,10.0.0.5,35370,443,T,I,A",
		"1708978215,203.0.113.300,10.0.0.5,35370,443,T,I,A",
		"1708978215,fe80::1%eth0,10.0.0.5,35370,443,T,I,A",
		"1708978215,203.0.113.105,,35370,443,T,I,A",
		"1708978215,203.0.113.105,10.0.0.5,65536,443,T,I,A",
		"1708978215,203.0.113.105,10.0.0.5,35370,,T,I,A",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,6,I,A",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,t,I,A",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,X,A",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,allow",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,D,1,2,3,4",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,1,2,3,18446744073709551616",
		"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A,C,1,2, 3,4",
		"99999999999999999999,203.0.113.105,10.0.0.5,35370,443,T,I,A",
	}
	vnetBad := []string{
		"", "1708978215123,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2",
		"1708978215123,10.0.0.6,192.0.2.180,23956,443,256,O,E,NX,3,767,2,1580",
		"1708978215123,10.0.0.6,192.0.2.180,23956,443,,O,E,NX,3,767,2,1580",
		"1708978215123,10.0.0.6,192.0.2.180,23956,443,T,O,E,NX,3,767,2,1580",
		"1708978215123,10.0.0.6,192.0.2.180,23956,443,6,O,A,NX,3,767,2,1580",
		"1708978215123,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,x",
	}
	for _, tc := range []struct {
		parse func([]byte) (model.FlowRecord, bool)
		bad   []string
	}{{parseNSGTuple, nsgBad}, {parseVNetTuple, vnetBad}} {
		for _, s := range tc.bad {
			if rec, ok := tc.parse([]byte(s)); ok {
				t.Errorf("%q parsed as %+v", s, rec)
			}
		}
	}

	// Through a document: each bad tuple counted, the good ones read.
	good := "1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A"
	tuples, _ := json.Marshal(append([]string{good}, append(nsgBad, good)...))
	doc := `{"records":[{"resourceId":"nsg","properties":{"Version":1,"flows":[{"rule":"r","flows":[{"mac":"m","flowTuples":` + string(tuples) + `}]}]}}]}`
	recs, stats, err := decodeAll(t, DecodeNSGFlowLog, []byte(doc), time.Time{})
	if err != nil || len(recs) != 2 || stats != (FlowStats{Records: 2, Malformed: len(nsgBad)}) {
		t.Errorf("stats %+v, %d records, err %v; want 2 records and %d malformed", stats, len(recs), err, len(nsgBad))
	}
}

const (
	nsgTuple  = `"1708978215,203.0.113.105,10.0.0.5,35370,443,T,I,A"`
	vnetTuple = `"1708978215123,10.0.0.6,192.0.2.180,23956,443,6,O,E,NX,3,767,2,1580"`
)

func nsgRecord(tuples string) string {
	return `{"resourceId":"NSG-A","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"M","flowTuples":[` + tuples + `]}]}]}}`
}

// TestDecodeMalformedRecords: records and groups of the wrong shape are counted
// once each; the rest of the document is read.
func TestDecodeMalformedRecords(t *testing.T) {
	good := nsgRecord(nsgTuple)
	for _, tc := range []struct {
		name      string
		records   string
		recs      int
		malformed int
	}{
		{"record not an object", `5,"x",null,[1],` + good, 1, 4},
		{"no properties", `{"resourceId":"x"},` + good, 1, 1},
		{"properties not an object", `{"properties":[]},` + good, 1, 1},
		{"flows not an array", `{"properties":{"flows":{}}},` + good, 1, 1},
		{"rule not an object", `{"properties":{"flows":[1,{"flows":[{"flowTuples":[` + nsgTuple + `]}]}]}},` + good, 2, 1},
		{"nic flows not an array", `{"properties":{"flows":[{"flows":"x"}]}},` + good, 1, 1},
		{"nic not an object", `{"properties":{"flows":[{"flows":[true]}]}},` + good, 1, 1},
		{"flowTuples not an array", `{"properties":{"flows":[{"flows":[{"flowTuples":"` + strings.Trim(nsgTuple, `"`) + `"}]}]}},` + good, 1, 1},
		{"tuple not a string", nsgRecord(`1,{"a":[]},null,` + nsgTuple), 1, 3},
		{"no tuples", `{"properties":{"flows":[{"flows":[{"mac":"m"}]}]}},` + nsgRecord(""), 0, 0},
		{"members in any order, unknown ones skipped", `{"properties":{"x":[{"y":"]"}],"flows":[{"flows":[{"flowTuples":[` + nsgTuple + `],"mac":"M2","z":{}}],"rule":"r"}]},"resourceId":"NSG-B","extra":[1,"}"]}`, 1, 0},
		{"escapes", `{"resourceId":"NSG\u002dA","properties":{"flows":[{"flows":[{"flowTuples":["1708978215,203.0.113.105,10.0.0.5,35370,443,T,I\u002cA"]}]}]}}`, 1, 0},
	} {
		doc := `{"records":[` + tc.records + `]}`
		recs, stats, err := decodeAll(t, DecodeNSGFlowLog, []byte(doc), time.Time{})
		if err != nil || len(recs) != tc.recs || stats != (FlowStats{Records: tc.recs, Malformed: tc.malformed}) {
			t.Errorf("%s: stats %+v, %d records, err %v; want %d records, %d malformed", tc.name, stats, len(recs), err, tc.recs, tc.malformed)
			continue
		}
		for _, r := range recs {
			if r.Reporter != "NSG-A" && r.Reporter != "NSG-B" && r.Reporter != "" || r.Dst != netip.MustParseAddr("10.0.0.5") || r.Target != "fabrikam" {
				t.Errorf("%s: record %+v", tc.name, r)
			}
		}
	}
}

// TestDecodeReporter checks the fallbacks of Reporter and that it is interned:
// every record of one NSG shares one string.
func TestDecodeReporter(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		decode    providers.FlowDecoder
		want      string
	}{
		{"nsg resourceId", nsgRecord(nsgTuple + "," + nsgTuple), DecodeNSGFlowLog, "NSG-A"},
		{"nsg macAddress", `{"macAddress":"AA","properties":{"flows":[{"flows":[{"mac":"BB","flowTuples":[` + nsgTuple + `,` + nsgTuple + `]}]}]}}`, DecodeNSGFlowLog, "AA"},
		{"nsg group mac", `{"properties":{"flows":[{"flows":[{"flowTuples":[` + nsgTuple + `,` + nsgTuple + `],"mac":"BB"}]}]}}`, DecodeNSGFlowLog, "BB"},
		{"vnet macAddress", `{"targetResourceID":"vnet","macAddress":"112233445566","flowRecords":{"flows":[{"flowGroups":[{"flowTuples":[` + vnetTuple + `,` + vnetTuple + `]}]}]}}`, DecodeVNetFlowLog, "112233445566"},
		{"vnet target", `{"targetResourceID":"vnet","flowRecords":{"flows":[{"flowGroups":[{"flowTuples":[` + vnetTuple + `,` + vnetTuple + `]}]}]}}`, DecodeVNetFlowLog, "vnet"},
	} {
		recs, stats, err := decodeAll(t, tc.decode, []byte(`{"records":[`+tc.doc+`,`+tc.doc+`]}`), time.Time{})
		if err != nil || stats.Records != 4 {
			t.Errorf("%s: %+v, %v", tc.name, stats, err)
			continue
		}
		for _, r := range recs {
			if r.Reporter != tc.want || unsafe.StringData(r.Reporter) != unsafe.StringData(recs[0].Reporter) {
				t.Errorf("%s: reporter %q, want %q, one string for all", tc.name, r.Reporter, tc.want)
			}
		}
	}
}

// TestDecodeDocumentErrors: what is not a flow log document is an error saying
// what and where; an empty input is no records.
func TestDecodeDocumentErrors(t *testing.T) {
	good := nsgRecord(nsgTuple)
	for _, tc := range []struct {
		name, doc string
		recs      int
		want      string // in the error; "" for none
	}{
		{"empty", "", 0, ""},
		{"white space", " \n\t", 0, ""},
		{"two documents", `{"records":[` + good + `]}` + "\n" + `{"records":[` + good + `]}`, 2, ""},
		{"other members", `{"a":{"records":5},"records":[` + good + `],"b":[]}`, 1, ""},
		{"empty records", `{"records":[]}`, 0, ""},
		{"syntax error in a record", `{"records":[` + good + `,{"resourceId":"x",]}`, 1, fmt.Sprintf("at byte %d: invalid character ']'", 12+len(good)+1+18)},
		{"syntax error in the second record", `{"records":[` + good + `,` + good + `,{"resourceId":"x",]}`, 2, fmt.Sprintf("at byte %d: invalid character ']'", 12+2*len(good)+2+18)},
		{"syntax error between records", `{"records":[` + good + ` x]}`, 1, fmt.Sprintf("at byte %d: expected comma after array element", 12+len(good)+1)},
		{"syntax error in a key", `{"records":[` + good + "],\"\x01\":1}", 1, fmt.Sprintf("at byte %d: invalid character '\\x01' in string literal", 12+len(good)+3)},
		{"syntax error in a skipped member", `{"a":[1,2,}`, 0, "at byte 10: invalid character '}'"},
		{"cut short", `{"records":[` + good + `,{"resourceId":"x"`, 1, fmt.Sprintf("ends early, in the value at byte %d", 12+len(good)+1)},
		{"cut short after a record", `{"records":[` + good, 1, "ends early"},
		{"not an object", `[` + good + `]`, 0, "at byte 1: the document is not a JSON object"},
		{"records not an array", `{"records":{"a":1}}`, 0, "at byte 10: records is not an array"},
		{"no records", `{"value":[]}`, 0, "no records array"},
		{"not json", "PT1H.json", 0, "at byte 0: invalid character 'P'"},
		{"bad gzip", "\x1f\x8b\x08\x00garbage", 0, "gzip"},
		{"vnet records", `{"records":[{"flowRecords":{"flows":[]}}]}`, 0, "its 1 records are VNet flow log records"},
	} {
		recs, _, err := decodeAll(t, DecodeNSGFlowLog, []byte(tc.doc), time.Time{})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		case tc.want != "" && tc.name != "vnet records" && !errors.Is(err, ErrMalformedDocument):
			t.Errorf("%s: %v is not ErrMalformedDocument", tc.name, err)
		case len(recs) != tc.recs:
			t.Errorf("%s: %d records before the error, want %d", tc.name, len(recs), tc.recs)
		}
	}
	_, _, err := decodeAll(t, DecodeVNetFlowLog, []byte(`{"records":[`+good+`]}`), time.Time{})
	if !errors.Is(err, ErrWrongFormat) || !strings.Contains(err.Error(), `NSG flow log records ("properties"), not VNet ones`) {
		t.Errorf("NSG records read as VNet: %v", err)
	}
}

// failingReader fails after its bytes.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestDecodeStops: errors of fn, of the context and of the reader stop the
// document: fn's and the context's unchanged, the reader's not taken for a
// malformed document.
func TestDecodeStops(t *testing.T) {
	doc := []byte(`{"records":[` + nsgRecord(nsgTuple+","+nsgTuple) + "," + nsgRecord(nsgTuple) + `]}`)
	stop := errors.New("stop")
	var stats FlowStats
	n := 0
	err := DecodeNSGFlowLog(context.Background(), bytes.NewReader(doc), "", time.Time{}, &stats, func(model.FlowRecord) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 || stats.Records != 2 {
		t.Errorf("callback error: err = %v after %d calls (%+v), want it unchanged after 2", err, n, stats)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = DecodeNSGFlowLog(ctx, bytes.NewReader(doc), "", time.Time{}, &FlowStats{}, func(model.FlowRecord) error {
		n++
		cancel()
		return nil
	})
	if err != context.Canceled || n != 2 {
		t.Errorf("cancelled: err = %v after %d records, want context.Canceled after the first record's 2", err, n)
	}

	broken := errors.New("connection reset")
	err = DecodeNSGFlowLog(context.Background(), &failingReader{bytes.NewReader(doc[:100]), broken}, "", time.Time{}, &FlowStats{}, func(model.FlowRecord) error { return nil })
	if !errors.Is(err, broken) || errors.Is(err, ErrMalformedDocument) {
		t.Errorf("read error: %v", err)
	}
}

// TestDecodeSince: flows before since are left out, and not counted.
func TestDecodeSince(t *testing.T) {
	doc, tuples := nsgSampleDocument(t)
	since := time.Date(2017, 2, 16, 22, 1, 0, 0, time.UTC)
	recs, stats, err := decodeAll(t, DecodeNSGFlowLog, doc, since)
	if err != nil {
		t.Fatal(err)
	}
	// 1487282460 is 22:01:00: 5 of the v1 tuples are later, and the 3 v2 ones (2024).
	if len(recs) != 8 || stats != (FlowStats{Records: 8}) {
		t.Errorf("%d records (%+v) of %d from %v, want 10", len(recs), stats, tuples, since)
	}
	for _, r := range recs {
		if r.Time.Before(since) {
			t.Errorf("record of %v before %v", r.Time, since)
		}
	}
}

// genDocument generates a flow log document of records records of tuples tuples
// each, as it is read: nothing but the record being written is held.
type genDocument struct {
	vnet            bool
	records, tuples int
	start           time.Time
	next            int
	buf             []byte
	off             int
	size            int64
}

func (g *genDocument) Read(p []byte) (int, error) {
	for g.off == len(g.buf) {
		g.buf, g.off = g.buf[:0], 0
		switch {
		case g.next == 0:
			g.buf = append(g.buf, `{"records":[`...)
		case g.next <= g.records:
			if g.next > 1 {
				g.buf = append(g.buf, ',')
			}
			g.buf = g.record(g.buf, g.next-1)
		case g.next == g.records+1:
			g.buf = append(g.buf, "]}\n"...)
		default:
			return 0, io.EOF
		}
		g.next++
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	g.size += int64(n)
	return n, nil
}

func (g *genDocument) record(b []byte, i int) []byte {
	minute := g.start.Add(time.Duration(i) * time.Minute)
	nsg := fmt.Sprintf("NSG-%d", i%4)
	if g.vnet {
		b = append(b, `{"time":"`...)
		b = minute.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","flowLogVersion":4,"flowLogGUID":"66aa66aa-bb77-cc88-dd99-00ee00ee00ee","macAddress":"00224871C20`...)
		b = strconv.AppendInt(b, int64(i%4), 10)
		b = append(b, `","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/VNETFLOWLOG","targetResourceID":"/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourceGroups/rg-prod/providers/Microsoft.Network/virtualNetworks/prod-vnet","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00aa00aa-bb11-cc22-dd33-44ee44ee44ee","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":[`...)
	} else {
		b = append(b, `{"time":"`...)
		b = minute.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","systemId":"55ff55ff-aa66-bb77-cc88-99dd99dd99dd","macAddress":"000D3AF8801A","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/RESOURCEGROUPS/RG-PROD/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/`...)
		b = append(b, nsg...)
		b = append(b, `","operationName":"NetworkSecurityGroupFlowEvents","properties":{"Version":2,"flows":[{"rule":"UserRule_web-to-db","flows":[{"mac":"000D3AF8801A","flowTuples":[`...)
	}
	for k := range g.tuples {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		ts := minute.Unix() + int64(k%60)
		if g.vnet {
			ts = ts*1000 + int64(k%1000)
		}
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, ",10.10.0."...)
		b = strconv.AppendInt(b, int64(k%250+1), 10)
		b = append(b, ",10.20.0.11,"...)
		b = strconv.AppendInt(b, int64(32768+k), 10)
		if g.vnet {
			b = append(b, ",5432,6,O,C,NX,12,4120,10,8800\""...)
		} else {
			b = append(b, ",5432,T,O,A,C,12,4120,10,8800\""...)
		}
	}
	return append(b, "]}]}]}}"...)
}

// TestDecodeStreamsHugeBlob streams a 200 MB document (20 MB with -short), made as
// it is read, and checks that the heap stays flat: the decoder holds one record at a
// time, whatever the size of the blob.
func TestDecodeStreamsHugeBlob(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 20 << 20
	}
	for _, vnet := range []bool{false, true} {
		const tuples = 100
		perRecord := len((&genDocument{vnet: vnet, tuples: tuples}).record(nil, 0))
		g := &genDocument{vnet: vnet, tuples: tuples, records: int(size / int64(perRecord)), start: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
		decode := DecodeNSGFlowLog
		if vnet {
			decode = DecodeVNetFlowLog
		}
		var mem runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&mem)
		base, peak := mem.HeapInuse, uint64(0)
		var stats FlowStats
		n := 0
		started := time.Now()
		err := decode(context.Background(), g, "prod", time.Time{}, &stats, func(r model.FlowRecord) error {
			if n++; n%200_000 == 0 {
				runtime.ReadMemStats(&mem)
				peak = max(peak, mem.HeapInuse)
			}
			if r.Dst != netip.AddrFrom4([4]byte{10, 20, 0, 11}) || r.DstPort != 5432 || r.Bytes != 12920 {
				return fmt.Errorf("record %d: %+v", n, r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := g.records * tuples; stats != (FlowStats{Records: want}) {
			t.Fatalf("vnet=%v: %+v, want %d records", vnet, stats, want)
		}
		if peak < base || peak-base > 16<<20 {
			t.Errorf("vnet=%v: heap in use grew from %d to %d bytes while streaming %d bytes", vnet, base, peak, g.size)
		}
		el := time.Since(started)
		t.Logf("vnet=%v: %d MB, %d records in %v (%.0f MB/s); heap in use %d KiB before, at most %d KiB during",
			vnet, g.size>>20, n, el.Round(time.Millisecond), float64(g.size)/1e6/el.Seconds(), base>>10, peak>>10)
	}
}

// TestDecodeAllocs: decoding allocates nothing per tuple (a document of 10 times
// the tuples takes no more allocations).
func TestDecodeAllocs(t *testing.T) {
	for _, vnet := range []bool{false, true} {
		allocs := func(records int) float64 {
			doc, err := io.ReadAll(&genDocument{vnet: vnet, tuples: 100, records: records, start: time.Unix(1.7e9, 0)})
			if err != nil {
				t.Fatal(err)
			}
			var stats FlowStats
			d := newFlowDecoder(&nsgFormat, "prod", time.Time{}, &stats, func(model.FlowRecord) error { return nil })
			if vnet {
				d.format = &vnetFormat
			}
			var r bytes.Reader
			return testing.AllocsPerRun(5, func() {
				r.Reset(doc)
				if err := d.decode(context.Background(), &r); err != nil {
					t.Fatal(err)
				}
			})
		}
		small, large := allocs(20), allocs(200)
		// json.Decoder's own allocations per document, and its buffer's growth.
		if large > small+10 {
			t.Errorf("vnet=%v: %v allocations for 2,000 tuples, %v for 20,000", vnet, small, large)
		}
		t.Logf("vnet=%v: %v allocations for 2,000 tuples, %v for 20,000", vnet, small, large)
	}
}

// fuzzSeeds are the samples' documents and a few broken ones.
func fuzzSeeds(f *testing.F, doc []byte) {
	f.Add(doc)
	f.Add(gzipped(f, doc))
	f.Add([]byte(`{"records":[` + nsgRecord(nsgTuple) + `]}`))
	f.Add([]byte(`{"records":[{"macAddress":"x","flowRecords":{"flows":[{"flowGroups":[{"flowTuples":[` + vnetTuple + `]}]}]}}]}`))
	f.Add([]byte(`{"records":[{"properties":{"flows":[{"flows":[{"flowTuples":["1,::1,::2,1,2,T,I,A,B,,,,", 5]}]}]}}, null]}`))
	f.Add([]byte(`{"records":[{"a\"":"\u005c"}]`))
	f.Add([]byte(""))
}

// fuzzDecode checks that a decoder never panics, and that what it hands out is
// consistent with what it counts.
func fuzzDecode(t *testing.T, decode providers.FlowDecoder, data []byte) {
	var stats FlowStats
	n := 0
	err := decode(context.Background(), bytes.NewReader(data), "t", time.Time{}, &stats, func(r model.FlowRecord) error {
		n++
		if !r.Src.IsValid() || !r.Dst.IsValid() || r.Target != "t" || r.Action > model.FlowDrop {
			t.Fatalf("record %+v", r)
		}
		return nil
	})
	if n != stats.Records {
		t.Fatalf("%d records handed out, %d counted", n, stats.Records)
	}
	if err != nil && !errors.Is(err, ErrMalformedDocument) && !errors.Is(err, ErrWrongFormat) {
		t.Fatalf("error %v is neither malformed nor wrong format", err)
	}
}

func FuzzDecodeNSGFlowLog(f *testing.F) {
	doc, _ := nsgSampleDocument(f)
	fuzzSeeds(f, doc)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeNSGFlowLog, data) })
}

func FuzzDecodeVNetFlowLog(f *testing.F) {
	doc, _ := vnetSampleDocument(f)
	fuzzSeeds(f, doc)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, DecodeVNetFlowLog, data) })
}

// benchmarkDecode decodes a generated document of about 8 MB.
func benchmarkDecode(b *testing.B, vnet bool, decode providers.FlowDecoder) {
	const tuples = 100
	doc, err := io.ReadAll(&genDocument{vnet: vnet, tuples: tuples, records: 1000, start: time.Unix(1.7e9, 0)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		var stats FlowStats
		if err := decode(context.Background(), bytes.NewReader(doc), "prod", time.Time{}, &stats, func(model.FlowRecord) error { return nil }); err != nil {
			b.Fatal(err)
		}
		records += stats.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeNSGFlowLog(b *testing.B)  { benchmarkDecode(b, false, DecodeNSGFlowLog) }
func BenchmarkDecodeVNetFlowLog(b *testing.B) { benchmarkDecode(b, true, DecodeVNetFlowLog) }
