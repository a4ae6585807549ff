package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/microseg/microseg/internal/peakrss"
	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/verdict"
	"github.com/microseg/microseg/providers"
	"github.com/microseg/microseg/providers/aws"
	"github.com/microseg/microseg/providers/azure"
	"github.com/microseg/microseg/providers/gcp"
	"github.com/microseg/microseg/test/policygen"
)

// Audit throughput, end to end on one core: decompress, parse, classify with the
// verdict engine and count into a summary, as the Audit workflow does per source.
// The policy is generated (1,000 segments, 10,000 allows); flows go between its
// segments' addresses, so every class occurs.

var (
	auditPolicy = policygen.Generate(policygen.Params{Segments: 1_000, Allows: 10_000, Seed: 2})
	// smallPolicy is the size of a typical application's policy (the three-tier
	// example has 6 segments and 7 allows), where parsing dominates.
	smallPolicy = policygen.Generate(policygen.Params{Segments: 12, Allows: 30, Seed: 2})
)

// segmentAddrs are addresses inside the generated segments.
func segmentAddrs() []netip.Addr {
	var out []netip.Addr
	for _, name := range model.SortedKeys(auditPolicy.Segments) {
		for _, c := range auditPolicy.Segments[name].CIDRs {
			out = append(out, c.Addr().Next())
		}
	}
	return out
}

const flowLines = 1_000_000

func awsLog(n int) []byte {
	addrs := segmentAddrs()
	var b bytes.Buffer
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	start := time.Now().Add(-time.Hour).Unix()
	for i := range n {
		action := "ACCEPT"
		if i%7 == 0 {
			action = "REJECT"
		}
		fmt.Fprintf(&b, "2 123456789010 eni-%08x %s %s %d %d 6 %d %d %d %d %s OK\n", i%5000,
			addrs[i%len(addrs)], addrs[(i*7+3)%len(addrs)], 32768+i%28000, []int{443, 5432, 8080, 22, 53}[i%5], 1+i%20, 60+i%9000, start+int64(i%3600), start+int64(i%3600)+60, action)
	}
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func azureVNetLog(n int) []byte {
	addrs := segmentAddrs()
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	ms := time.Now().Add(-time.Hour).UnixMilli()
	const perGroup = 1000
	for g := 0; g*perGroup < n; g++ {
		if g > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"time":"%s","flowLogVersion":4,"flowLogGUID":"66aa66aa-bb77-cc88-dd99-00ee00ee00ee","macAddress":"112233445566","category":"FlowLogFlowEvent","flowLogResourceID":"/SUBSCRIPTIONS/0/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NW/FLOWLOGS/FL","targetResourceID":"/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"00000000-1234-abcd-ef00-c1c2c3c4c5c6","flowGroups":[{"rule":"DefaultRule_AllowInternetOutBound","flowTuples":[`,
			time.UnixMilli(ms).UTC().Format(time.RFC3339Nano))
		for i := g * perGroup; i < n && i < (g+1)*perGroup; i++ {
			if i > g*perGroup {
				b.WriteByte(',')
			}
			state := "E"
			if i%7 == 0 {
				state = "D"
			}
			fmt.Fprintf(&b, `"%d,%s,%s,%d,%d,6,O,%s,NX,%d,%d,%d,%d"`, ms+int64(i), addrs[i%len(addrs)], addrs[(i*7+3)%len(addrs)], 32768+i%28000, []int{443, 5432, 8080, 22, 53}[i%5], state, 1+i%20, 60+i%9000, i%20, i%9000)
		}
		b.WriteString(`]}]}]}}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func gcpVPCLog(n int) []byte {
	addrs := segmentAddrs()
	var b bytes.Buffer
	start := time.Now().Add(-time.Hour)
	for i := range n {
		t := start.Add(time.Duration(i) * time.Millisecond).UTC().Format(time.RFC3339Nano)
		fmt.Fprintf(&b, `{"insertId":"%x","jsonPayload":{"bytes_sent":"%d","connection":{"dest_ip":"%s","dest_port":%d,"protocol":6,"src_ip":"%s","src_port":%d},"end_time":"%s","packets_sent":"%d","reporter":"SRC","start_time":"%s","src_instance":{"project_id":"p","region":"us-east1","vm_name":"vm-%d","zone":"us-east1-b"}},"logName":"projects/p/logs/compute.googleapis.com%%2Fvpc_flows","receiveTimestamp":"%s","resource":{"labels":{"location":"us-east1-b","project_id":"p","subnetwork_id":"1","subnetwork_name":"default"},"type":"gce_subnetwork"},"timestamp":"%s"}`+"\n",
			i, 60+i%9000, addrs[(i*7+3)%len(addrs)], []int{443, 5432, 8080, 22, 53}[i%5], addrs[i%len(addrs)], 32768+i%28000, t, 1+i%20, t, i%500, t, t)
	}
	return b.Bytes()
}

// benchDecode runs decode over data b.N times, classifying every record, against the
// 1,000-segment policy and against a small one.
func benchDecode(b *testing.B, data []byte, decode providers.FlowDecoder, wantRecords int) {
	b.Run("policy=1000-segments", func(b *testing.B) { benchDecodeWith(b, auditPolicy, data, decode, wantRecords) })
	b.Run("policy=12-segments", func(b *testing.B) { benchDecodeWith(b, smallPolicy, data, decode, wantRecords) })
}

func benchDecodeWith(b *testing.B, p *model.Policy, data []byte, decode providers.FlowDecoder, wantRecords int) {
	engine := verdict.New(p)
	b.SetBytes(int64(len(data)))
	peakrss.Reset()
	var total int
	b.ResetTimer()
	for b.Loop() {
		sum := verdict.NewSummary(20000)
		classifier := engine.NewClassifier() // one per source, as the audit does
		var stats providers.FlowStats
		err := decode(context.Background(), bytes.NewReader(data), "t", time.Time{}, &stats, func(r model.FlowRecord) error {
			sum.Add(&r, classifier.Classify(&r))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if stats.Records != wantRecords {
			b.Fatalf("%d records, want %d (stats %+v)", stats.Records, wantRecords, stats)
		}
		total += stats.Records
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	peakrss.Report(b)
}

func BenchmarkAuditAWSPlain(b *testing.B) {
	runtime.GOMAXPROCS(1)
	benchDecode(b, awsLog(flowLines), aws.DecodeFlowLog, flowLines)
}

func BenchmarkAuditAWSGzip(b *testing.B) {
	runtime.GOMAXPROCS(1)
	benchDecode(b, gzipped(awsLog(flowLines)), aws.DecodeFlowLog, flowLines)
}

func BenchmarkAuditAzureVNet(b *testing.B) {
	runtime.GOMAXPROCS(1)
	// Denied tuples ("D") and ended ones ("E") are flows each.
	benchDecode(b, azureVNetLog(flowLines), azure.DecodeVNetFlowLog, flowLines)
}

func BenchmarkAuditGCPVPC(b *testing.B) {
	runtime.GOMAXPROCS(1)
	benchDecode(b, gcpVPCLog(flowLines/4), gcp.DecodeVPCFlowLog, flowLines/4)
}

// repeatReader yields a block over and over up to a size: a log of any volume
// without the disk, so memory can be watched while it streams.
type repeatReader struct {
	block []byte
	off   int
	left  int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, r.block[r.off:])
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.off = (r.off + n) % len(r.block)
	r.left -= int64(n)
	return n, nil
}

// BenchmarkAudit10GB streams MICROSEG_BENCH_GB (default 10) gigabytes of plain AWS
// flow logs through the audit: peak RSS must stay flat whatever the volume.
func BenchmarkAudit10GB(b *testing.B) {
	runtime.GOMAXPROCS(1)
	gb := int64(10)
	if s := os.Getenv("MICROSEG_BENCH_GB"); s != "" {
		gb, _ = strconv.ParseInt(s, 10, 64)
	}
	log := awsLog(100_000)
	header, body, _ := bytes.Cut(log, []byte("\n"))
	engine := verdict.New(auditPolicy)
	peakrss.Reset()
	var total int
	b.SetBytes(gb << 30)
	b.ResetTimer()
	for b.Loop() {
		sum := verdict.NewSummary(20000)
		classifier := engine.NewClassifier()
		var stats providers.FlowStats
		in := io.MultiReader(bytes.NewReader(append(header, '\n')), &repeatReader{block: body, left: gb << 30})
		err := aws.DecodeFlowLog(context.Background(), in, "t", time.Time{}, &stats, func(r model.FlowRecord) error {
			sum.Add(&r, classifier.Classify(&r))
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		total += stats.Records
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
	peakrss.Report(b)
}
