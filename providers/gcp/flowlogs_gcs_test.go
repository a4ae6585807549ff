package gcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"

	"github.com/microseg/microseg/model"
)

// fakeGCS is fake-gcs-server on loopback with a storage client built as production
// builds one (JSON reads, no authentication, the server as endpoint), and a log of
// the object reads.
type fakeGCS struct {
	srv    *fakestorage.Server
	client *storage.Client
	mu     sync.Mutex
	reads  []string // object names downloaded, in order
}

func newFakeGCS(t testing.TB, bucket string) *fakeGCS {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Host: "127.0.0.1", Scheme: "http", Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	f := &fakeGCS{srv: srv}
	client, err := storage.NewClient(context.Background(),
		option.WithEndpoint(srv.URL()+"/storage/v1/"),
		option.WithoutAuthentication(),
		option.WithHTTPClient(&http.Client{Transport: readLog{f, http.DefaultTransport}}),
		storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	f.client = client
	return f
}

// readLog records the objects downloaded through it (alt=media requests).
type readLog struct {
	f    *fakeGCS
	base http.RoundTripper
}

func (r readLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("alt") == "media" {
		path := req.URL.EscapedPath()
		if _, name, ok := strings.Cut(path, "/o/"); ok {
			if n, err := url.PathUnescape(name); err == nil {
				r.f.mu.Lock()
				r.f.reads = append(r.f.reads, n)
				r.f.mu.Unlock()
			}
		}
	}
	return r.base.RoundTrip(req)
}

func (f *fakeGCS) put(bucket, name string, content []byte) {
	f.srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: name}, Content: content})
}

func (f *fakeGCS) takeReads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reads
	f.reads = nil
	return r
}

// hourObject is a sink's object name for a log and an hour.
func hourObject(log string, t time.Time, shard string) string {
	return fmt.Sprintf("%s/%s/%s:00:00_%s:59:59_%s.json", log, t.Format("2006/01/02"), t.Format("15"), t.Format("15"), shard)
}

// flowsAt returns n VPC flow entries in the hour of t, one a minute from its start.
func flowsAt(t time.Time, n int, reporter string) []string {
	var out []string
	for i := range n {
		at := t.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano)
		out = append(out, fmt.Sprintf(`{"jsonPayload":{"bytes_sent":"%d","connection":{"dest_ip":"10.50.0.2","dest_port":443,"protocol":6,"src_ip":"10.10.0.%d","src_port":40000},"packets_sent":"1","reporter":"SRC","src_instance":{"vm_name":"%s"},"start_time":"%s"},"logName":"projects/p/logs/compute.googleapis.com%%2Fvpc_flows","timestamp":"%s"}`,
			100+i, i+1, reporter, at, at))
	}
	return out
}

// denialsAt returns n firewall entries in the hour of t.
func denialsAt(t time.Time, n int) []string {
	var out []string
	for i := range n {
		at := t.Add(time.Duration(i)*time.Minute + 30*time.Second).Format(time.RFC3339Nano)
		out = append(out, fmt.Sprintf(`{"jsonPayload":{"connection":{"dest_ip":"10.20.0.99","dest_port":22,"protocol":6,"src_ip":"198.51.100.%d","src_port":50000},"disposition":"DENIED","rule_details":{"action":"DENY","reference":"network:example-net/firewall:deny-ssh"}},"logName":"projects/p/logs/compute.googleapis.com%%2Ffirewall","timestamp":"%s"}`,
			i+1, at))
	}
	return out
}

const (
	vpcLog      = "compute.googleapis.com/vpc_flows"
	firewallLog = "compute.googleapis.com/firewall"
)

// bucketOfLogs fills a bucket with both logs over three days: hours 10 and 23 of
// 2026-11-21, hours 00, 10 (two shards and a late one) of 2026-11-22, hour 01 of
// 2026-11-23, and objects of other logs. It returns the flows per object.
func bucketOfLogs(t testing.TB, f *fakeGCS, bucket, prefix string) map[string]int {
	t.Helper()
	want := map[string]int{}
	add := func(log string, at time.Time, shard string, entries []string, gz bool) {
		name := prefix + hourObject(log, at, shard)
		content := ndjson(entries)
		if gz {
			content = gzipBytes(t, content)
		}
		f.put(bucket, name, content)
		want[name] = len(entries)
	}
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	add(vpcLog, day(21, 10), "S0", flowsAt(day(21, 10), 3, "vm-a"), false)
	add(vpcLog, day(21, 23), "S0", flowsAt(day(21, 23), 2, "vm-a"), false)
	add(vpcLog, day(22, 0), "S0", flowsAt(day(22, 0), 4, "vm-b"), true)
	add(vpcLog, day(22, 10), "S0", flowsAt(day(22, 10), 5, "vm-a"), false)
	add(vpcLog, day(22, 10), "S1", flowsAt(day(22, 10).Add(30*time.Minute), 3, "vm-b"), false)
	add(vpcLog, day(22, 10), "A0", flowsAt(day(22, 10).Add(50*time.Minute), 1, "vm-c"), false)
	add(vpcLog, day(23, 1), "S0", flowsAt(day(23, 1), 2, "vm-a"), false)
	add(firewallLog, day(21, 23), "S0", denialsAt(day(21, 23), 2), false)
	add(firewallLog, day(22, 10), "S0", denialsAt(day(22, 10), 6), false)
	add(firewallLog, day(23, 1), "S0", denialsAt(day(23, 1), 1), true)
	// Other logs of the same sink, and a stray object: not read.
	f.put(bucket, prefix+"cloudaudit.googleapis.com/activity/2026/11/22/10:00:00_10:59:59_S0.json", []byte(`{"logName":"x"}`+"\n"))
	f.put(bucket, prefix+"README.txt", []byte("flow logs of prod\n"))
	return want
}

// collect runs FlowsAfter and returns the flows per object (by their done call) and
// the stats.
func collect(t testing.TB, g *GCSFlowLogs, since time.Time, after string) (map[string]int, []string, FlowStats) {
	t.Helper()
	perObject := map[string]int{}
	var order []string
	pending := 0
	stats, err := g.FlowsAfter(context.Background(), since, after, func(r model.FlowRecord) error {
		if r.Target != g.Target {
			t.Errorf("target %q", r.Target)
		}
		if !since.IsZero() && r.Time.Before(since) {
			t.Errorf("record at %s before since %s", r.Time, since)
		}
		pending++
		return nil
	}, func(name string) error {
		perObject[name] = pending
		order = append(order, name)
		pending = 0
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d flows handed out after the last done", pending)
	}
	return perObject, order, stats
}

func TestGCSFlowLogs(t *testing.T) {
	const bucket = "acme-logs"
	f := newFakeGCS(t, bucket)
	want := bucketOfLogs(t, f, bucket, "")
	g := &GCSFlowLogs{Client: f.client, Bucket: bucket, Target: "gcp.prod"}

	got, order, stats := collect(t, g, time.Time{}, "")
	if diff := mapDiff(want, got); diff != "" {
		t.Errorf("flows per object:\n%s", diff)
	}
	if !slices.IsSorted(order) || len(order) != len(want) {
		t.Errorf("objects read in order %q", order)
	}
	total := 0
	for _, n := range want {
		total += n
	}
	if stats != (FlowStats{Records: total, Objects: len(want)}) {
		t.Errorf("stats = %+v, want %d records in %d objects", stats, total, len(want))
	}
	if reads := f.takeReads(); len(reads) != len(want) {
		t.Errorf("read %d objects, want %d: %q", len(reads), len(want), reads)
	}

	// Flows keeps the decoders' mapping: a firewall object gives drops from the rule.
	var drops, accepts int
	if _, err := g.Flows(context.Background(), time.Time{}, func(r model.FlowRecord) error {
		switch {
		case r.Action == model.FlowDrop && r.Reporter == "network:example-net/firewall:deny-ssh":
			drops++
		case r.Action == model.FlowAccept && strings.HasSuffix(r.Reporter, ":SRC"):
			accepts++
		default:
			t.Errorf("unexpected record %+v", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if drops != 9 || accepts != total-9 {
		t.Errorf("%d drops and %d accepts", drops, accepts)
	}
}

// TestGCSFlowLogsSince: objects whose hour ended before since are not downloaded;
// the flows of the hour since falls in are filtered one by one.
func TestGCSFlowLogsSince(t *testing.T) {
	const bucket = "acme-logs"
	f := newFakeGCS(t, bucket)
	want := bucketOfLogs(t, f, bucket, "logs/")
	since := time.Date(2026, 11, 22, 10, 32, 0, 0, time.UTC)
	for _, prefix := range []string{"", "logs/", "logs/" + vpcLog + "/"} {
		g := &GCSFlowLogs{Client: f.client, Bucket: bucket, Prefix: prefix, Target: "gcp.prod"}
		got, _, stats := collect(t, g, since, "")
		reads := f.takeReads()
		for _, name := range reads {
			if hour, ok := objectHour(name); !ok || hour.Add(time.Hour).Before(since) || hour.Add(time.Hour).Equal(since) {
				t.Errorf("prefix %q: read %s, whose hour ended before since", prefix, name)
			}
		}
		// Hour 10 of the 22nd: S0 has minutes 0-4 (none kept), S1 minutes 30-32
		// (31 and 32... only those at or after 10:32), A0 minute 50; then the 23rd.
		wantFlows := map[string]int{
			"logs/" + hourObject(vpcLog, since, "S0"):                                         0,
			"logs/" + hourObject(vpcLog, since, "S1"):                                         1,
			"logs/" + hourObject(vpcLog, since, "A0"):                                         1,
			"logs/" + hourObject(vpcLog, time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), "S0"): 2,
		}
		if prefix != "logs/"+vpcLog+"/" {
			wantFlows["logs/"+hourObject(firewallLog, since, "S0")] = 0 // minutes 0:30 to 5:30
			wantFlows["logs/"+hourObject(firewallLog, time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), "S0")] = 1
		}
		if diff := mapDiff(wantFlows, got); diff != "" {
			t.Errorf("prefix %q: flows per object since %s:\n%s", prefix, since, diff)
		}
		if stats.Objects != len(wantFlows) || len(reads) != len(wantFlows) {
			t.Errorf("prefix %q: %d objects counted, %d read, want %d", prefix, stats.Objects, len(reads), len(wantFlows))
		}
	}
	if len(want) != 10 {
		t.Errorf("%d objects in the bucket", len(want))
	}
}

// TestGCSFlowLogsResume: a reader stopped by its callback, resumed from its last
// checkpoint, reads every flow exactly once, and never downloads an object it
// finished.
func TestGCSFlowLogsResume(t *testing.T) {
	const bucket = "acme-logs"
	f := newFakeGCS(t, bucket)
	want := bucketOfLogs(t, f, bucket, "")
	total := 0
	for _, n := range want {
		total += n
	}
	g := &GCSFlowLogs{Client: f.client, Bucket: bucket, Target: "gcp.prod"}
	stop := errors.New("worker stopped")
	type key struct {
		src   string
		t     time.Time
		bytes uint64
	}
	seen := map[key]int{}
	checkpoint := ""
	finished := map[string]bool{}
	var delivered []model.FlowRecord // since the last checkpoint
	for run, budget := 0, 7; ; run++ {
		if run > 20 {
			t.Fatal("no end after 20 runs")
		}
		n := 0
		delivered = delivered[:0]
		resumedAfter := checkpoint
		_, err := g.FlowsAfter(context.Background(), time.Time{}, checkpoint, func(r model.FlowRecord) error {
			if n++; n > budget {
				return stop
			}
			delivered = append(delivered, r)
			return nil
		}, func(name string) error {
			for _, r := range delivered {
				seen[key{r.Src.String(), r.Time, r.Bytes}]++
			}
			delivered = delivered[:0]
			checkpoint = name
			finished[name] = true
			return nil
		})
		for _, name := range f.takeReads() {
			if name <= resumedAfter {
				// Reading a finished object again is what resuming must avoid.
				t.Errorf("run %d: read %s again after finishing it", run, name)
			}
		}
		if err == nil {
			break
		}
		if err != stop {
			t.Fatalf("run %d: err = %v, want the callback's own error", run, err)
		}
	}
	if len(seen) != total {
		t.Errorf("%d distinct flows, want %d", len(seen), total)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("flow %v read %d times", k, n)
		}
	}
	if len(finished) != len(want) {
		t.Errorf("%d objects finished, want %d", len(finished), len(want))
	}

	// Resuming after the last object reads nothing.
	_, _, stats := collect(t, g, time.Time{}, checkpoint)
	if stats != (FlowStats{}) || len(f.takeReads()) != 0 {
		t.Errorf("after the last checkpoint: %+v", stats)
	}
	// An error from done is returned as it is, after that object's flows.
	doneErr := errors.New("checkpoint store down")
	_, err := g.FlowsAfter(context.Background(), time.Time{}, "", func(model.FlowRecord) error { return nil }, func(string) error { return doneErr })
	if err != doneErr {
		t.Errorf("done's error came back as %v", err)
	}
}

// TestGCSFlowLogsMalformedObject: an object of garbage, one with a few bad entries
// and one with corrupt gzip data are counted, and the objects after them read.
func TestGCSFlowLogsMalformedObject(t *testing.T) {
	const bucket = "acme-logs"
	f := newFakeGCS(t, bucket)
	h := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	corrupt := gzipBytes(t, ndjson(flowsAt(h, 50, "vm-z")))
	corrupt[len(corrupt)-12] ^= 0xff // in the deflate data's end or its checksum
	f.put(bucket, hourObject(vpcLog, h, "S0"), []byte("\x00\x01 not a log at all\n{{{\n"))
	f.put(bucket, hourObject(vpcLog, h, "S1"), ndjson(append(flowsAt(h, 2, "vm-a"), `{"jsonPayload":{"connection":{"src_ip":"x"`, `[]`)))
	f.put(bucket, hourObject(vpcLog, h, "S2"), corrupt)
	f.put(bucket, hourObject(vpcLog, h.Add(time.Hour), "S0"), ndjson(flowsAt(h.Add(time.Hour), 4, "vm-a")))
	g := &GCSFlowLogs{Client: f.client, Bucket: bucket, Target: "gcp.prod"}
	got, _, stats := collect(t, g, time.Time{}, "")
	if stats.Objects != 4 || stats.Malformed < 5 || got[hourObject(vpcLog, h.Add(time.Hour), "S0")] != 4 || got[hourObject(vpcLog, h, "S1")] != 2 {
		t.Errorf("stats = %+v, flows per object %v", stats, got)
	}
}

func TestGCSFlowLogsErrors(t *testing.T) {
	const bucket = "acme-logs"
	f := newFakeGCS(t, bucket)
	f.put(bucket, hourObject(vpcLog, time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), "S0"), ndjson(flowsAt(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), 3, "vm-a")))
	fn := func(model.FlowRecord) error { return nil }

	if _, err := (&GCSFlowLogs{Bucket: bucket}).Flows(context.Background(), time.Time{}, fn); err == nil {
		t.Error("no client: no error")
	}
	_, err := (&GCSFlowLogs{Client: f.client, Bucket: "no-such-bucket"}).Flows(context.Background(), time.Time{}, fn)
	if err == nil || !strings.Contains(err.Error(), "gs://no-such-bucket/") {
		t.Errorf("missing bucket: err = %v", err)
	}
	stop := errors.New("stop")
	_, err = (&GCSFlowLogs{Client: f.client, Bucket: bucket}).Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return stop })
	if err != stop {
		t.Errorf("callback error came back as %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&GCSFlowLogs{Client: f.client, Bucket: bucket}).Flows(ctx, time.Time{}, fn); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestObjectNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind logKind
		hour string
	}{
		{"compute.googleapis.com/vpc_flows/2026/11/22/10:00:00_10:59:59_S0.json", kindVPCFlows, "2026-11-22T10:00:00Z"},
		{"logs/compute.googleapis.com/vpc_flows/2026/01/02/00:00:00_00:59:59_A12.json", kindVPCFlows, "2026-01-02T00:00:00Z"},
		{"networkmanagement.googleapis.com/vpc_flows/2026/11/22/23:00:00_23:59:59_S3.json", kindVPCFlows, "2026-11-22T23:00:00Z"},
		{"compute.googleapis.com/firewall/2026/11/22/10:00:00_10:59:59_S0.json.gz", kindFirewall, "2026-11-22T10:00:00Z"},
		{"compute.googleapis.com/firewall/2026/11/22/flows.json", kindFirewall, ""},
		{"compute.googleapis.com/vpc_flows/2026/11/22/10:00:00_11:59:59_S0.json", kindVPCFlows, ""},
		{"compute.googleapis.com/vpc_flows/2026/13/22/10:00:00_10:59:59_S0.json", kindVPCFlows, ""},
		{"mycompute.googleapis.com/firewall/2026/11/22/10:00:00_10:59:59_S0.json", 0, "2026-11-22T10:00:00Z"},
		{"cloudaudit.googleapis.com/activity/2026/11/22/10:00:00_10:59:59_S0.json", 0, "2026-11-22T10:00:00Z"},
		{"vpc_flows.json", 0, ""},
	} {
		if got := objectLog(tc.name); got != tc.kind {
			t.Errorf("objectLog(%q) = %v, want %v", tc.name, got, tc.kind)
		}
		hour, ok := objectHour(tc.name)
		if got := map[bool]string{true: hour.Format(time.RFC3339), false: ""}[ok]; got != tc.hour {
			t.Errorf("objectHour(%q) = %q, want %q", tc.name, got, tc.hour)
		}
	}
}

func TestParseGCSURI(t *testing.T) {
	for _, tc := range []struct{ uri, bucket, prefix string }{
		{"gs://acme-logs/", "acme-logs", ""},
		{"gs://acme-logs", "acme-logs", ""},
		{"GS://acme_logs.example.com/org/compute.googleapis.com/vpc_flows/", "acme_logs.example.com", "org/compute.googleapis.com/vpc_flows/"},
	} {
		b, p, err := ParseGCSURI(tc.uri)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseGCSURI(%q) = %q, %q, %v", tc.uri, b, p, err)
		}
	}
	for _, tc := range []struct{ uri, wantErr string }{
		{"s3://acme-logs/", "is not a gs:// URI"},
		{"acme-logs", "is not a gs:// URI"},
		{"gs://", "names no bucket"},
		{"gs:///logs", "names no bucket"},
		{"gs://ab/", "shorter than 3"},
		{"gs://Acme-Logs/", "upper-case"},
		{"gs://acme logs/", `character ' ' is not allowed`},
		{"gs://-acme/", "start and end"},
		{"gs://" + strings.Repeat("a", 64) + "/", "too long"},
		{"gs://acme-logs/a\nb", "line break"},
	} {
		if _, _, err := ParseGCSURI(tc.uri); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParseGCSURI(%q) = %v, want %q", tc.uri, err, tc.wantErr)
		}
	}
}

// mapDiff lists the keys whose values differ.
func mapDiff(want, got map[string]int) string {
	var b strings.Builder
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok && !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		if w != g || wok != gok {
			fmt.Fprintf(&b, "  %s: want %d (%v), got %d (%v)\n", k, w, wok, g, gok)
		}
	}
	return b.String()
}
