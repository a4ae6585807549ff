package test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestAuditClouds runs `microseg audit` as a user would against the three clouds'
// flow logs, each in its local emulator (S3 in gofakes3, blobs in Azurite, GCS in
// fake-gcs-server), through the embedded Temporal server: the worker's production
// SDK clients find the emulators by the clouds' own environment variables, read one
// realistic log object per source, and every flow gets its class. A second audit
// reads nothing twice; the report adds up what the audits stored; and the same
// objects audited offline as files (`audit -flows`) give the same classes.

// The three targets of testdata/audit/policy and where their flow logs live.
const (
	auditAWSTarget   = "prod-use1"
	auditAzureTarget = "prod-weu"
	auditGCPTarget   = "prod"

	auditS3Bucket  = "acme-flowlogs"
	auditS3Prefix  = "AWSLogs/123456789012/vpcflowlogs/us-east-1/"
	auditContainer = "insights-logs-flowlogflowevent"
	auditGCSBucket = "acme-flow-logs"
)

// auditClasses is the flows per verdict class `audit -json` prints for a run.
type auditClasses map[string]uint64

// auditExpect is what a target's logs hold (the tables in the testdata templates).
type auditExpect struct {
	records, noData int
	classes         auditClasses
	violation       string // the violation finding: "SRC -> DST PORT"
}

var auditExpected = map[string]auditExpect{
	auditAWSTarget: {records: 9, noData: 1, violation: "network.internet -> segment.web tcp/22", classes: auditClasses{
		"allowed": 4, "blocked": 1, "would-block": 2, "violation": 1, "wanted-but-blocked": 1, "unknown": 0}},
	auditAzureTarget: {records: 11, violation: "network.internet -> segment.app tcp/22", classes: auditClasses{
		"allowed": 5, "blocked": 1, "would-block": 2, "violation": 2, "wanted-but-blocked": 1, "unknown": 0}},
	auditGCPTarget: {records: 12, violation: "segment.batch -> segment.db tcp/22", classes: auditClasses{
		"allowed": 6, "blocked": 1, "would-block": 2, "violation": 2, "wanted-but-blocked": 1, "unknown": 0}},
}

// auditOutput is `microseg audit -json`'s output.
type auditOutput struct {
	Runs []struct {
		Target, Source     string
		Since, Until       time.Time
		Records, Malformed int
		NoData, SkipData   int
		Classes            auditClasses
		Findings           map[string][]struct{ Src, Dst, Port, Sample string }
	}
	Skipped []string
}

// auditLogs are the rendered flow-log objects, by testdata template name.
type auditLogs map[string][]byte

// renderAuditLogs fills in the templates of testdata/audit/flowlogs with times
// seconds after base: {{unix N}} (epoch seconds), {{millis N}} (epoch
// milliseconds), {{rfc N}} (RFC 3339 with nanoseconds).
func renderAuditLogs(t *testing.T, base time.Time) auditLogs {
	t.Helper()
	at := func(s int) time.Time { return base.Add(time.Duration(s)*time.Second + 123456789) }
	funcs := template.FuncMap{
		"unix":   func(s int) int64 { return base.Add(time.Duration(s) * time.Second).Unix() },
		"millis": func(s int) int64 { return at(s).UnixMilli() },
		"rfc":    func(s int) string { return at(s).Format(time.RFC3339Nano) },
	}
	names, err := filepath.Glob("testdata/audit/flowlogs/*.tmpl")
	if err != nil || len(names) != 5 {
		t.Fatalf("flow log templates: %v %v", names, err)
	}
	logs := auditLogs{}
	for _, name := range names {
		tmpl, err := template.New(filepath.Base(name)).Funcs(funcs).ParseFiles(name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, nil); err != nil {
			t.Fatal(err)
		}
		logs[strings.TrimSuffix(filepath.Base(name), ".tmpl")] = buf.Bytes()
	}
	return logs
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// startAuditS3 serves S3 from gofakes3 and uploads the AWS object, gzipped, under
// the key VPC gives a delivery of base's five minutes.
func startAuditS3(t *testing.T, base time.Time, logs auditLogs) (endpoint string) {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", "")})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(auditS3Bucket)}); err != nil {
		t.Fatal(err)
	}
	delivery := base.Truncate(5 * time.Minute).Add(5 * time.Minute)
	key := auditS3Prefix + base.Format("2006/01/02/") + "123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_" +
		delivery.Format("20060102T1504Z") + "_1a2b3c4d.log.gz"
	for k, body := range map[string][]byte{
		key: gzipped(t, logs["aws-vpc.log"]),
		// What AWS writes when the flow log is created: not a flow log, skipped.
		"AWSLogs/aws-logs-write-test": []byte("Permission Check Successful"),
	} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(auditS3Bucket), Key: aws.String(k),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			t.Fatalf("put s3://%s/%s: %v", auditS3Bucket, k, err)
		}
	}
	return srv.URL
}

// azuriteKey is the well-known key of Azurite's development account devstoreaccount1
// (public, in Azurite's documentation).
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// startAuditAzurite runs Azurite's blob service (as `make deps` installs it) on a free
// loopback port and uploads the VNet flow log blobs; it returns the connection string,
// or "" and why when Azurite is not installed.
func startAuditAzurite(t *testing.T, base time.Time, logs auditLogs) (conn, skip string) {
	t.Helper()
	bin, err := filepath.Abs("../.cache/azurite/node_modules/.bin/azurite-blob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Sprintf("Azurite is not installed (%v): run `make deps`", err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", port,
		"--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Dies with the test, even when a timeout kills the test before its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := "127.0.0.1:" + port
	waitFor(t, "azurite listening on "+addr, time.Minute, func() bool {
		select {
		case <-exited:
			t.Fatalf("azurite exited: %s", out)
		default:
		}
		return dialable(addr)
	}, out.String)
	conn = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://%s/devstoreaccount1;", azuriteKey, addr)
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := client.CreateContainer(ctx, auditContainer, nil); err != nil {
		t.Fatalf("create container %s: %v", auditContainer, err)
	}
	for _, b := range []struct{ mac, log string }{{"00224871C201", "azure-vnet-app.json"}, {"00224871C202", "azure-vnet-jobs.json"}} {
		name := azureBlobName(base, b.mac)
		if _, err := client.UploadBuffer(ctx, auditContainer, name, logs[b.log], nil); err != nil {
			t.Fatalf("upload blob %s: %v", name, err)
		}
	}
	return conn, ""
}

// azureBlobName is the name Network Watcher gives a NIC's VNet flow log blob of
// base's hour.
func azureBlobName(base time.Time, mac string) string {
	return "flowLogResourceID=/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_PROD-VNET-FLOWLOG" +
		base.Format("/y=2006/m=01/d=02/h=15/m=00/") + "macAddress=" + mac + "/PT1H.json"
}

// startAuditGCS serves Cloud Storage from fake-gcs-server and puts the VPC flow log
// and firewall log objects where a Cloud Logging sink writes base's hour; it returns
// the server's host:port, as STORAGE_EMULATOR_HOST takes it.
func startAuditGCS(t *testing.T, base time.Time, logs auditLogs) string {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Host: "127.0.0.1", Scheme: "http", Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: auditGCSBucket})
	hour := base.Format("2006/01/02/15:00:00_15:59:59_S0.json")
	for name, log := range map[string]string{
		"compute.googleapis.com/vpc_flows/" + hour: "gcp-vpc-flows.json",
		"compute.googleapis.com/firewall/" + hour:  "gcp-firewall.json",
	} {
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: auditGCSBucket, Name: name,
			ContentType: "application/json"}, Content: logs[log]})
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// runSplit runs microseg with env, returning stdout and stderr apart (stdout is
// JSON), within limit.
func runSplit(t *testing.T, bin string, env []string, limit time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("microseg %s: not done within %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), limit, &out, &errOut)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("microseg %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

func parseAudit(t *testing.T, stdout, stderr string) auditOutput {
	t.Helper()
	var out auditOutput
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("audit -json output: %v\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	return out
}

func TestAuditClouds(t *testing.T) {
	temporal := temporalBin(t)
	began := time.Now()
	bin := buildMicroseg(t)
	t.Logf("built microseg in %v", time.Since(began).Round(time.Millisecond))

	// The flows happened 40 minutes ago, inside the audit's -since 2h.
	base := time.Now().UTC().Add(-40 * time.Minute).Truncate(time.Minute)
	logs := renderAuditLogs(t, base)
	s3URL := startAuditS3(t, base, logs)
	gcsHost := startAuditGCS(t, base, logs)
	azureConn, azureSkip := startAuditAzurite(t, base, logs)

	// The policy, with the Azure target's flow_logs block taken out when there is no
	// Azurite: its reader would otherwise go to the real storage account.
	dir := t.TempDir()
	files, err := filepath.Glob("testdata/audit/policy/*.hcl")
	if err != nil || len(files) == 0 {
		t.Fatalf("policy files: %v %v", files, err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if azureSkip != "" && filepath.Base(f) == "targets.hcl" {
			before := string(src)
			src = []byte(strings.Replace(before, `  flow_logs {
    storage_account = "devstoreaccount1"
    container       = "insights-logs-flowlogflowevent"
  }
`, "", 1))
			if string(src) == before {
				t.Fatal("targets.hcl: no azure flow_logs block to take out")
			}
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := maps.Clone(auditExpected)
	if azureSkip != "" {
		t.Logf("auditing AWS and GCP only: %s", azureSkip)
		delete(want, auditAzureTarget)
	}

	state := t.TempDir()
	port := freePort(t)
	env := []string{
		"MICROSEG_STATE=" + state,
		"MICROSEG_TEMPORAL_BIN=" + temporal,
		"MICROSEG_TEMPORAL_PORT=" + port,
		"TEMPORAL_ADDRESS=",
		"MICROSEG_RESULTS=", "MICROSEG_STORE=",
		// AWS: static fake credentials, no IMDS, no shared config; S3 at gofakes3.
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=not-a-secret", "AWS_SESSION_TOKEN=",
		"AWS_REGION=us-east-1", "AWS_PROFILE=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(state, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(state, "no-aws-credentials"),
		"AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=" + s3URL,
		// GCP: the emulator, host:port (the storage client adds http://).
		"STORAGE_EMULATOR_HOST=" + gcsHost,
		"AZURE_STORAGE_CONNECTION_STRING=" + azureConn,
	}
	e := engine{cli{t, bin}, env, port}
	began = time.Now()
	_, serverOut, _ := e.background("server")
	waitFor(t, "embedded server", time.Minute, func() bool { return dialable("127.0.0.1:" + port) }, serverOut.String)
	t.Logf("embedded server listening %v after start", time.Since(began).Round(time.Millisecond))
	fail := func(format string, args ...any) {
		t.Helper()
		t.Logf("server:\n%s", serverOut.String())
		t.Fatalf(format, args...)
	}

	// 1. The Audit workflow reads the three clouds' logs.
	began = time.Now()
	stdout, stderr, code := runSplit(t, bin, env, 5*time.Minute, "audit", "-since", "2h", "-settle", "0", "-json", "-detailed-exitcode", dir)
	t.Logf("first audit (%d sources, a fresh server) took %v", len(want), time.Since(began).Round(time.Millisecond))
	if code != 2 {
		fail("audit = %d, want 2 (violations found):\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	first := parseAudit(t, stdout, stderr)
	if len(first.Runs) != len(want) {
		fail("audit printed %d runs, want %d:\n%s\nstderr:\n%s", len(first.Runs), len(want), stdout, stderr)
	}
	wantSources := map[string]string{
		auditAWSTarget:   "s3://" + auditS3Bucket + "/" + auditS3Prefix,
		auditAzureTarget: "azure:devstoreaccount1/" + auditContainer,
		auditGCPTarget:   "gs://" + auditGCSBucket + "/",
	}
	sum := auditClasses{}
	records, noData := 0, 0
	seen := map[string]bool{}
	for _, run := range first.Runs {
		w, ok := want[run.Target]
		if !ok || seen[run.Target] {
			t.Errorf("unexpected run of target %q", run.Target)
			continue
		}
		seen[run.Target] = true
		if run.Source != wantSources[run.Target] {
			t.Errorf("%s: source %q, want %q", run.Target, run.Source, wantSources[run.Target])
		}
		if run.Records != w.records || run.NoData != w.noData || run.Malformed != 0 || run.SkipData != 0 {
			t.Errorf("%s: records %d, no data %d, malformed %d, skipped %d; want %d, %d, 0, 0",
				run.Target, run.Records, run.NoData, run.Malformed, run.SkipData, w.records, w.noData)
		}
		if !maps.Equal(run.Classes, w.classes) {
			t.Errorf("%s: classes %v, want %v", run.Target, run.Classes, w.classes)
		}
		var violations []string
		for _, f := range run.Findings["violation"] {
			violations = append(violations, f.Src+" -> "+f.Dst+" "+f.Port)
		}
		if len(violations) != 1 || violations[0] != w.violation {
			t.Errorf("%s: violations %q, want [%q]", run.Target, violations, w.violation)
		}
		if !run.Until.After(base) || run.Since.After(base) {
			t.Errorf("%s: window %v to %v does not hold the flows at %v", run.Target, run.Since, run.Until, base)
		}
		for c, n := range run.Classes {
			sum[c] += n
		}
		records += run.Records
		noData += run.NoData
	}
	wantSkipped := []string{}
	if azureSkip != "" {
		wantSkipped = append(wantSkipped, auditAzureTarget+": no flow_logs block")
	}
	if strings.Join(first.Skipped, "\n") != strings.Join(wantSkipped, "\n") {
		t.Errorf("skipped %q, want %q", first.Skipped, wantSkipped)
	}
	if t.Failed() {
		fail("first audit:\n%s\nstderr:\n%s", stdout, stderr)
	}
	recordHistories(t, temporal, port, "AuditWorkflow")

	// 2. Again: every source starts where the last audit ended, so nothing is
	// counted twice.
	began = time.Now()
	stdout, stderr, code = runSplit(t, bin, env, 5*time.Minute, "audit", "-since", "2h", "-settle", "0", "-json", "-detailed-exitcode", dir)
	t.Logf("second audit took %v", time.Since(began).Round(time.Millisecond))
	if code != 0 {
		fail("second audit = %d, want 0 (nothing new):\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	second := parseAudit(t, stdout, stderr)
	if len(second.Runs) != len(want) {
		fail("second audit printed %d runs, want %d:\n%s", len(second.Runs), len(want), stdout)
	}
	var lastUntil time.Time
	for _, run := range second.Runs {
		var n uint64
		for _, c := range run.Classes {
			n += c
		}
		if run.Records != 0 || n != 0 {
			t.Errorf("second audit of %s read %d records (%d classified), want 0: flows counted twice", run.Target, run.Records, n)
		}
		// Not asserted: NoData. The S3 reader lists by day, so the object is read
		// again, and its NODATA record, which is not filtered by time as flows are,
		// is counted again (1 here).
		noData += run.NoData
		if run.Until.After(lastUntil) {
			lastUntil = run.Until
		}
		for _, f := range first.Runs {
			if f.Target == run.Target && !run.Since.Equal(f.Until) {
				t.Errorf("second audit of %s starts at %v, not where the first ended (%v)", run.Target, run.Since, f.Until)
			}
		}
	}

	// 3. The report adds up what the audits stored. It ends at the current second
	// (truncated), and leaves out runs that began after that: wait for the second
	// audit's runs to be a whole second old.
	time.Sleep(time.Until(lastUntil.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	stdout, stderr, code = runSplit(t, bin, env, 2*time.Minute, "report", "-format", "json", "-since", "1d", dir)
	if code != 0 {
		t.Fatalf("report -format json = %d:\n%s", code, stderr)
	}
	var rep struct {
		Header struct {
			Totals      map[string]uint64 `json:"totals"`
			FlowsRead   int               `json:"flows_read"`
			NoData      int               `json:"no_data"`
			AuditRuns   []json.RawMessage `json:"audit_runs"`
			HasFlowData bool              `json:"has_flow_data"`
		} `json:"header"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, stdout)
	}
	wantTotals := map[string]uint64{}
	for c, n := range sum {
		wantTotals[strings.ReplaceAll(c, "-", "_")] = n
	}
	h := rep.Header
	if !maps.Equal(h.Totals, wantTotals) {
		t.Errorf("report totals %v, want the audits' sum %v", h.Totals, wantTotals)
	}
	if h.FlowsRead != records || h.NoData != noData || !h.HasFlowData || len(h.AuditRuns) != 2*len(want) {
		t.Errorf("report header: flows read %d, no data %d, has flow data %v, %d runs; want %d, %d, true, %d",
			h.FlowsRead, h.NoData, h.HasFlowData, len(h.AuditRuns), records, noData, 2*len(want))
	}
	html := filepath.Join(t.TempDir(), "report.html")
	if _, stderr, code := runSplit(t, bin, env, 2*time.Minute, "report", "-format", "html", "-since", "1d", "-o", html, dir); code != 0 {
		t.Fatalf("report -format html = %d:\n%s", code, stderr)
	}
	if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<html")) || !bytes.Contains(b, []byte("segment.web")) {
		t.Errorf("report -o %s: %d bytes, %v", html, len(b), err)
	}

	// 4. The same objects as exported files, audited offline, give the same classes.
	files2 := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(files2, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type offline struct{ path, format string }
	offlineRuns := map[string][]offline{
		auditAWSTarget: {{write("aws/vpcflowlogs.log.gz", gzipped(t, logs["aws-vpc.log"])), "aws"}},
		auditGCPTarget: {
			{write("gcp/vpc_flows_S0.json", logs["gcp-vpc-flows.json"]), "gcp-vpc"},
			{write("gcp/firewall_S0.json", logs["gcp-firewall.json"]), "gcp-firewall"},
		},
	}
	if azureSkip == "" {
		// A directory: the two NICs' blobs, read in path order.
		write("azure/"+azureBlobName(base, "00224871C201"), logs["azure-vnet-app.json"])
		write("azure/"+azureBlobName(base, "00224871C202"), logs["azure-vnet-jobs.json"])
		offlineRuns[auditAzureTarget] = []offline{{filepath.Join(files2, "azure"), "azure-vnet"}}
	}
	for _, run := range first.Runs {
		got := auditClasses{}
		records := 0
		for _, o := range offlineRuns[run.Target] {
			stdout, stderr, code := runSplit(t, bin, env, 2*time.Minute, "audit", "-flows", o.path, "-format", o.format, "-target", run.Target, "-json", dir)
			if code != 0 {
				t.Fatalf("audit -flows %s -format %s = %d:\n%s\nstderr:\n%s", o.path, o.format, code, stdout, stderr)
			}
			out := parseAudit(t, stdout, stderr)
			if len(out.Runs) != 1 || out.Runs[0].Target != run.Target {
				t.Fatalf("audit -flows %s printed runs %+v", o.path, out.Runs)
			}
			for c, n := range out.Runs[0].Classes {
				got[c] += n
			}
			records += out.Runs[0].Records
		}
		if !maps.Equal(got, run.Classes) || records != run.Records {
			t.Errorf("%s offline: %d records, classes %v; the workflow read %d, %v", run.Target, records, got, run.Records, run.Classes)
		}
	}
}
