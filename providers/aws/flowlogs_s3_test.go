package aws

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/test/ec2emu"
)

// fakeS3 is a gofakes3 server with a real S3 client, and a log of the requests.
type fakeS3 struct {
	client *s3.Client
	mu     sync.Mutex
	reqs   []*http.Request
	// bodyRead counts the bytes read so far from GetObject response bodies.
	bodyRead atomic.Int64
}

func newFakeS3(t testing.TB, bucket string) *fakeS3 {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	fs := &fakeS3{}
	fs.client = s3.New(s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: recorder{fs, ec2emu.HTTPClient().Transport}},
	})
	if _, err := fs.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return fs
}

type recorder struct {
	fs   *fakeS3
	base http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.fs.mu.Lock()
	r.fs.reqs = append(r.fs.reqs, req)
	r.fs.mu.Unlock()
	resp, err := r.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && !req.URL.Query().Has("list-type") {
		resp.Body = countingBody{resp.Body, &r.fs.bodyRead}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// requests returns the requests made so far whose query has key.
func (fs *fakeS3) requests(key string) []*http.Request {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []*http.Request
	for _, r := range fs.reqs {
		if r.URL.Query().Has(key) {
			out = append(out, r)
		}
	}
	return out
}

func (fs *fakeS3) put(t testing.TB, bucket, key string, body []byte) {
	t.Helper()
	_, err := fs.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func gzipped(t testing.TB, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, text); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	v2Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	v5Header = "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status\n"
)

// v2At is a default-format record starting at t.
func v2At(eni, src, dst string, dport int, action string, t time.Time) string {
	return fmt.Sprintf("2 123456789012 %s %s %s 40000 %d 6 10 840 %d %d %s OK\n", eni, src, dst, dport, t.Unix(), t.Unix()+60, action)
}

// v5At is a v5 record starting at t, seen behind a NAT: pkt-srcaddr is the origin.
func v5At(eni, src, pktSrc, dst string, dport int, t time.Time) string {
	return fmt.Sprintf("5 %s %s 40000 %d 6 %d %d IPv4 7 471 123456789012 vpc-1 subnet-1 i-1 %s us-east-1 use1-az1 - - ACCEPT 3 %s %s - - 8 egress OK\n",
		src, dst, dport, t.Unix(), t.Unix()+60, eni, pktSrc, dst)
}

func TestS3FlowLogs(t *testing.T) {
	const bucket = "flow-logs"
	fs := newFakeS3(t, bucket)
	day1 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	day2 := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
	day3 := time.Date(2024, 5, 3, 10, 0, 0, 0, time.UTC)
	since := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	east := "AWSLogs/123456789012/vpcflowlogs/us-east-1/"
	west := "AWSLogs/123456789012/vpcflowlogs/us-west-2/"

	// Day 1: before since, never read with it.
	fs.put(t, bucket, east+"2024/05/01/123456789012_vpcflowlogs_us-east-1_fl-1_20240501T1000Z_aaa.log.gz", gzipped(t, v2Header+
		v2At("eni-a", "10.0.0.1", "10.0.0.2", 22, "ACCEPT", day1)+
		v2At("eni-a", "10.0.0.1", "10.0.0.3", 22, "REJECT", day1)+
		v2At("eni-a", "10.0.0.1", "10.0.0.4", 22, "ACCEPT", day1)))
	// Day 2, default format: 3 flows, a NODATA, a malformed record, and a flow that
	// started before since (delivered in the next day's folder), which is dropped.
	fs.put(t, bucket, east+"2024/05/02/123456789012_vpcflowlogs_us-east-1_fl-1_20240502T1000Z_bbb.log.gz", gzipped(t, v2Header+
		v2At("eni-a", "10.0.0.1", "10.0.0.2", 443, "ACCEPT", day2)+
		"2 123456789012 eni-a - - - - - - - 1714644000 1714644060 - NODATA\n"+
		v2At("eni-a", "10.0.0.1", "10.0.0.9", 443, "REJECT", day2)+
		"2 123456789012 eni-a 10.0.0.1 10.0.0.2 40000\n"+
		"\n"+
		v2At("eni-a", "10.0.0.1", "10.0.0.8", 443, "ACCEPT", since.Add(-2*time.Minute))+
		v2At("eni-b", "10.0.1.1", "10.0.0.2", 5432, "ACCEPT", day2)))
	// Day 2, custom v5 format, another flow log: 2 flows and a SKIPDATA.
	fs.put(t, bucket, east+"2024/05/02/123456789012_vpcflowlogs_us-east-1_fl-2_20240502T1100Z_ccc.log.gz", gzipped(t, v5Header+
		v5At("eni-c", "10.0.2.1", "172.16.0.1", "52.95.128.179", 443, day2.Add(time.Hour))+
		"5 - - - - - 1714647600 1714647660 - - - 123456789012 vpc-1 subnet-1 i-1 eni-c us-east-1 use1-az1 - - - - - - - - - - SKIPDATA\n"+
		v5At("eni-c", "10.0.2.1", "-", "52.95.128.180", 80, day2.Add(time.Hour))))
	// Day 3 in another region, plain text, with Windows line ends.
	fs.put(t, bucket, west+"2024/05/03/123456789012_vpcflowlogs_us-west-2_fl-3_20240503T1000Z_ddd.log", []byte(strings.ReplaceAll(v2Header+
		v2At("eni-d", "10.9.0.1", "10.9.0.2", 3306, "REJECT", day3)+
		v2At("eni-d", "10.9.0.1", "10.9.0.3", 3306, "REJECT", day3), "\n", "\r\n")))
	// What else AWS and people leave in a log bucket.
	fs.put(t, bucket, "AWSLogs/aws-logs-write-test", []byte("Permission Check Successful"))
	fs.put(t, bucket, east+"2024/05/02/", nil)
	fs.put(t, bucket, "README.md", []byte("# flow logs\n"))

	src := &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: "AWSLogs/", Target: "prod", ListPageSize: 2}
	var got []model.FlowRecord
	stats, err := src.Flows(context.Background(), since, func(r model.FlowRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (FlowStats{Records: 7, NoData: 1, SkipData: 1, Malformed: 1, Objects: 3}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	type flow struct {
		reporter, src, dst string
		dport              uint16
		action             model.FlowAction
	}
	var flows []flow
	for _, r := range got {
		if r.Target != "prod" || r.Time.Before(since) || r.Protocol != model.ProtocolTCP {
			t.Errorf("record %+v", r)
		}
		flows = append(flows, flow{r.Reporter, r.Src.String(), r.Dst.String(), r.DstPort, r.Action})
	}
	want := []flow{
		{"eni-a", "10.0.0.1", "10.0.0.2", 443, model.FlowAccept},
		{"eni-a", "10.0.0.1", "10.0.0.9", 443, model.FlowDrop},
		{"eni-b", "10.0.1.1", "10.0.0.2", 5432, model.FlowAccept},
		{"eni-c", "172.16.0.1", "52.95.128.179", 443, model.FlowAccept},
		{"eni-c", "10.0.2.1", "52.95.128.180", 80, model.FlowAccept},
		{"eni-d", "10.9.0.1", "10.9.0.2", 3306, model.FlowDrop},
		{"eni-d", "10.9.0.1", "10.9.0.3", 3306, model.FlowDrop},
	}
	if !slices.Equal(flows, want) {
		t.Errorf("flows:\n got %v\nwant %v", flows, want)
	}
	// Day 1 was listed but not fetched, and the listing took several pages.
	for _, r := range fs.requests("x-id") {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/2024/05/01/") {
			t.Errorf("fetched %s, before since", r.URL.Path)
		}
	}
	if n := len(fs.requests("list-type")); n < 4 {
		t.Errorf("%d ListObjectsV2 calls for 8 keys by 2, want 4 or more", n)
	}

	// Without since, everything.
	stats, err = src.Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := (FlowStats{Records: 11, NoData: 1, SkipData: 1, Malformed: 1, Objects: 4}); stats != want {
		t.Errorf("stats without since = %+v, want %+v", stats, want)
	}

	// A prefix of one account and region starts the listing at since's day.
	before := len(fs.requests("list-type"))
	src = &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: east}
	stats, err = src.Flows(context.Background(), since.Add(3*time.Hour), func(model.FlowRecord) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if want := (FlowStats{Records: 5, NoData: 1, SkipData: 1, Malformed: 1, Objects: 2}); stats != want {
		t.Errorf("stats of us-east-1 = %+v, want %+v", stats, want)
	}
	lists := fs.requests("list-type")[before:]
	if len(lists) != 1 || lists[0].URL.Query().Get("start-after") != east+"2024/05/02" {
		t.Errorf("ListObjectsV2 calls %v, want one starting after %s2024/05/02", lists, east)
	}

	// The callback's error stops the stream and comes back as it is.
	stop := errors.New("enough")
	n := 0
	src = &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: "AWSLogs/"}
	stats, err = src.Flows(context.Background(), since, func(model.FlowRecord) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || stats.Records != 2 {
		t.Errorf("Flows stopped by its callback = %+v, %v; want 2 records, %v", stats, err, stop)
	}
}

func TestS3FlowLogsErrors(t *testing.T) {
	const bucket = "flow-logs"
	fs := newFakeS3(t, bucket)
	day := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/"
	nop := func(model.FlowRecord) error { return nil }
	for _, tc := range []struct {
		name, key string
		body      []byte
		wantErr   string
	}{
		{"no header", day + "a.log.gz", gzipped(t, v2At("eni-a", "10.0.0.1", "10.0.0.2", 22, "ACCEPT", time.Now())),
			day + "a.log.gz: header line: "},
		{"corrupt gzip", day + "b.log.gz", append(gzipped(t, v2Header+strings.Repeat(v2At("eni-a", "10.0.0.1", "10.0.0.2", 22, "ACCEPT", time.Now()), 100))[:60], 0, 0, 0),
			day + "b.log.gz: unexpected EOF"},
		{"parquet", day + "c.log.parquet", []byte("PAR1...."), day + "c.log.parquet: parquet flow logs are not supported"},
		{"parquet bytes", day + "d.log", []byte("PAR1...."), "parquet flow logs are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "case-" + strings.ReplaceAll(tc.name, " ", "-") + "/"
			fs.put(t, bucket, prefix+tc.key, tc.body)
			src := &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: prefix}
			_, err := src.Flows(context.Background(), time.Time{}, nop)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}

	src := &S3FlowLogs{Client: fs.client, Bucket: "no-such-bucket"}
	if _, err := src.Flows(context.Background(), time.Time{}, nop); err == nil || !strings.Contains(err.Error(), "list s3://no-such-bucket/") {
		t.Errorf("missing bucket: err = %v", err)
	}
	if _, err := (&S3FlowLogs{}).Flows(context.Background(), time.Time{}, nop); err == nil {
		t.Error("no client: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src = &S3FlowLogs{Client: fs.client, Bucket: bucket}
	if _, err := src.Flows(ctx, time.Time{}, nop); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestKeyDayAndStartAfter(t *testing.T) {
	d := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		key  string
		want time.Time
		ok   bool
	}{
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/123456789012_vpcflowlogs_us-east-1_fl-1_20240502T1000Z_h.log.gz", d, true},
		{"x/2023/01/01/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/f.log.gz", d, true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/10/f.log.gz", d, true},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=02/hour=10/f.log.gz", d, true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/13/02/f.log.gz", time.Time{}, false},
		{"logs/f.log.gz", time.Time{}, false},
	} {
		got, ok := keyDay(tc.key)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("keyDay(%q) = %v, %v; want %v, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct{ prefix, want string }{
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/", "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02"},
		{"p/AWSLogs/123456789012/vpcflowlogs/eu-west-3/", "p/AWSLogs/123456789012/vpcflowlogs/eu-west-3/2024/05/02"},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/",
			"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=02"},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1", ""},
		{"AWSLogs/123456789012/vpcflowlogs/", ""},
		{"AWSLogs/", ""},
		{"", ""},
	} {
		if got := startAfter(tc.prefix, d); got != tc.want {
			t.Errorf("startAfter(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestParseS3URI(t *testing.T) {
	for _, tc := range []struct{ uri, bucket, prefix, wantErr string }{
		{"s3://flow-logs/", "flow-logs", "", ""},
		{"s3://flow-logs", "flow-logs", "", ""},
		{"s3://flow-logs/vpc/prod/", "flow-logs", "vpc/prod/", ""},
		{"S3://my.bucket-1/AWSLogs/123456789012/", "my.bucket-1", "AWSLogs/123456789012/", ""},
		{"https://flow-logs.s3.amazonaws.com/x", "", "", "not an s3:// URI"},
		{"flow-logs/x", "", "", "not an s3:// URI"},
		{"s3://", "", "", "not an S3 bucket name"},
		{"s3:///prefix", "", "", "not an S3 bucket name"},
		{"s3://ab/x", "", "", "not an S3 bucket name"},
		{"s3://bad bucket/x", "", "", "not an S3 bucket name"},
		{"s3://flow-logs/a\nb", "", "", "bad key prefix"},
	} {
		bucket, prefix, err := ParseS3URI(tc.uri)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseS3URI(%q) = %q, %q, %v; want error %q", tc.uri, bucket, prefix, err, tc.wantErr)
			}
			continue
		}
		if err != nil || bucket != tc.bucket || prefix != tc.prefix {
			t.Errorf("ParseS3URI(%q) = %q, %q, %v; want %q, %q", tc.uri, bucket, prefix, err, tc.bucket, tc.prefix)
		}
	}
}

// flowLogText returns a flow log file of n generated default-format records from
// 50 interfaces, every tenth rejected, from start on.
func flowLogText(n int, start time.Time) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(n * 110)
	b.WriteString(v2Header)
	for i := range n {
		action := "ACCEPT"
		if i%10 == 0 {
			action = "REJECT"
		}
		t := start.Unix() + int64(i/100)
		fmt.Fprintf(&b, "2 123456789012 eni-%017x 10.%d.%d.%d 10.%d.%d.%d %d %d 6 %d %d %d %d %s OK\n",
			rng.IntN(50), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256), rng.IntN(256),
			1024+rng.IntN(60000), i%65536, 1+rng.IntN(100), 40+rng.IntN(100000), t, t+60, action)
	}
	return b.Bytes()
}

func gzipBytes(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestS3FlowLogsStreams reads 200,000 records from one gzipped object and checks
// that they are handed over as they are read: at every record, the reader has taken
// from the object no more than that record's share of it plus its fixed buffers, and
// the live heap does not grow with the records read. Holding them all would take
// over 20 MB.
func TestS3FlowLogsStreams(t *testing.T) {
	const (
		bucket  = "flow-logs"
		records = 200_000
	)
	fs := newFakeS3(t, bucket)
	start := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	obj := gzipBytes(t, flowLogText(records, start))
	fs.put(t, bucket, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/big.log.gz", obj)
	t.Logf("%d records: %d bytes gzipped", records, len(obj))

	var mem runtime.MemStats
	heap := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&mem)
		return mem.HeapAlloc
	}
	var base, peak uint64
	// Slack: the reader's buffers (32 KiB of the object, 64 KiB of text, gzip's
	// window) and the HTTP client's, as a number of records' worth of the object.
	const slackRecords = 3_000
	n := 0
	// Records kept past their callback, with their reporters as they were then: the
	// reader parses lines in place, and must not hand out strings into its buffer.
	var kept []model.FlowRecord
	var keptReporters []string
	src := &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: "AWSLogs/", Target: "prod"}
	stats, err := src.Flows(context.Background(), time.Time{}, func(r model.FlowRecord) error {
		n++
		if n%20_000 == 1 {
			kept = append(kept, r)
			keptReporters = append(keptReporters, string([]byte(r.Reporter)))
		}
		if want := uint16((n - 1) % 65536); r.DstPort != want || r.Target != "prod" {
			return fmt.Errorf("record %d: %+v, want port %d", n, r, want)
		}
		if read, share := fs.bodyRead.Load(), int64(len(obj))*int64(n+slackRecords)/records+64<<10; read > share {
			return fmt.Errorf("at record %d the reader had read %d bytes of the object, more than %d", n, read, share)
		}
		switch n {
		case 1000:
			base = heap()
		case 50_000, 100_000, 150_000, records:
			peak = max(peak, heap())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats != (FlowStats{Records: records, Objects: 1}) || n != records {
		t.Fatalf("stats = %+v after %d callbacks, want %d records", stats, n, records)
	}
	if read := fs.bodyRead.Load(); read != int64(len(obj)) {
		t.Errorf("read %d bytes of the object, want all %d", read, len(obj))
	}
	for i, r := range kept {
		if r.Reporter != keptReporters[i] || !strings.HasPrefix(r.Reporter, "eni-") {
			t.Errorf("record %d: reporter %q, was %q when handed over", i*20_000+1, r.Reporter, keptReporters[i])
		}
	}
	if grew := int64(peak) - int64(base); grew > 4<<20 {
		t.Errorf("live heap grew by %d bytes while streaming (from %d to %d)", grew, base, peak)
	}
	t.Logf("live heap %d bytes at record 1,000, at most %d after", base, peak)
}

// TestFlowReaderAllocs checks that reading records allocates nothing per record:
// past what gunzipping the object allocates (compress/flate makes Huffman tables for
// every deflate block), a read of 20,000 records allocates what one of 2,000 does.
func TestFlowReaderAllocs(t *testing.T) {
	start := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	overhead := func(n int) (reader, gunzip float64) {
		obj := gzipBytes(t, flowLogText(n, start))
		var stats FlowStats
		r := newFlowReader("prod", time.Time{}, &stats, func(model.FlowRecord) error { return nil })
		var body bytes.Reader
		reader = testing.AllocsPerRun(5, func() {
			body.Reset(obj)
			if err := r.read(&body); err != nil {
				t.Fatal(err)
			}
		})
		zr := new(gzip.Reader)
		gunzip = testing.AllocsPerRun(5, func() {
			body.Reset(obj)
			if err := zr.Reset(&body); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, zr); err != nil {
				t.Fatal(err)
			}
		})
		return reader, gunzip
	}
	smallR, smallZ := overhead(2_000)
	largeR, largeZ := overhead(20_000)
	if largeR-largeZ > smallR-smallZ+2 {
		t.Errorf("allocations reading 2,000 records: %v (gunzip alone %v); 20,000 records: %v (gunzip alone %v)", smallR, smallZ, largeR, largeZ)
	}
	t.Logf("allocations reading 2,000 records: %v (gunzip alone %v); 20,000 records: %v (gunzip alone %v)", smallR, smallZ, largeR, largeZ)
}

func TestFlowReaderLongLine(t *testing.T) {
	start := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	text := v2Header + v2At("eni-a", "10.0.0.1", "10.0.0.2", 22, "ACCEPT", start) +
		"2 123456789012 eni-a " + strings.Repeat("1", 200_000) + "\n" +
		v2At("eni-a", "10.0.0.1", "10.0.0.3", 22, "ACCEPT", start) +
		v2At("eni-a", "10.0.0.1", "10.0.0.4", 22, "ACCEPT", start) // no final newline
	var stats FlowStats
	var dsts []string
	r := newFlowReader("", time.Time{}, &stats, func(rec model.FlowRecord) error {
		dsts = append(dsts, rec.Dst.String())
		return nil
	})
	for _, body := range [][]byte{[]byte(strings.TrimSuffix(text, "\n")), gzipped(t, text)} {
		stats, dsts = FlowStats{}, nil
		if err := r.read(bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4"}; stats != (FlowStats{Records: 3, Malformed: 1}) || !slices.Equal(dsts, want) {
			t.Errorf("stats %+v, flows to %q; want 3 records and 1 malformed, flows to %q", stats, dsts, want)
		}
	}
	err := r.read(strings.NewReader(strings.Repeat("x", 100_000) + "\n"))
	if err == nil || !strings.Contains(err.Error(), "header line too long") {
		t.Errorf("long header: err = %v", err)
	}
}

// BenchmarkS3FlowLogs streams one gzipped object of 1,000 to 100,000 records from
// gofakes3: B/op and allocs/op stay the same whatever the number of records.
func BenchmarkS3FlowLogs(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			const bucket = "flow-logs"
			fs := newFakeS3(b, bucket)
			obj := gzipBytes(b, flowLogText(n, time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)))
			fs.put(b, bucket, "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/02/big.log.gz", obj)
			src := &S3FlowLogs{Client: fs.client, Bucket: bucket, Prefix: "AWSLogs/"}
			b.ReportAllocs()
			b.SetBytes(int64(len(obj)))
			for b.Loop() {
				stats, err := src.Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return nil })
				if err != nil || stats.Records != n {
					b.Fatalf("%+v, %v", stats, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}
