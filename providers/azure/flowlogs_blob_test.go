package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/microseg/microseg/model"
)

// azuriteAccountKey is the well-known key of Azurite's development account
// devstoreaccount1 (public, in Azurite's documentation).
const azuriteAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// azurite is the Azurite blob service the tests share (starting one takes seconds):
// started by the first test that needs it, stopped by TestMain.
var azurite struct {
	once   sync.Once
	client *azblob.Client
	skip   string // why the tests that need it skip
	err    error
	stop   func()
}

func TestMain(m *testing.M) {
	cleanup := trustEmulator()
	code := m.Run()
	cleanup()
	if azurite.stop != nil {
		azurite.stop()
	}
	os.Exit(code)
}

// startAzurite returns a client of Azurite's blob service, as `make deps` installs
// it, running on a free loopback port for this test process.
func startAzurite(t *testing.T) *azblob.Client {
	t.Helper()
	azurite.once.Do(func() { azurite.client, azurite.skip, azurite.err = runAzurite() })
	if azurite.skip != "" {
		t.Skip(azurite.skip)
	}
	if azurite.err != nil {
		t.Fatal(azurite.err)
	}
	return azurite.client
}

func runAzurite() (*azblob.Client, string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
	bin := filepath.Join(dir, ".cache", "azurite", "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Sprintf("Azurite is not installed (%v): run `make deps`", err), nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port),
		"--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--silent")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Dies with the test process, even when a timeout kills it before TestMain
	// stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start azurite: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	azurite.stop = func() {
		cmd.Process.Kill()
		<-exited
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return nil, "", fmt.Errorf("azurite exited: %s", out)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, "", fmt.Errorf("azurite does not listen on %s after 60 s: %s", addr, out)
		}
	}
	conn := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=%s;BlobEndpoint=http://%s/devstoreaccount1;", azuriteAccountKey, addr)
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	return client, "", err
}

const (
	testNSGID   = "/SUBSCRIPTIONS/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/RESOURCEGROUPS/RG-PROD/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/"
	testFlowLog = "/AAAA0A0A-BB1B-CC2C-DD3D-EEEEEE4E4E4E/NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_PROD-VNET-FLOWLOG"
)

// blobName is a flow log blob's name as Network Watcher makes it.
func blobName(vnet bool, resource string, hour time.Time, mac string) string {
	if vnet {
		return "flowLogResourceID=" + testFlowLog + hour.Format("/y=2006/m=01/d=02/h=15/m=00/") + "macAddress=" + mac + "/PT1H.json"
	}
	return "resourceId=" + testNSGID + resource + hour.Format("/y=2006/m=01/d=02/h=15/m=00/") + "macAddress=" + mac + "/PT1H.json"
}

// hourDocument is a blob's document: tuples tuples a minute for minutes minutes of
// hour, every tuple to destination port port.
func hourDocument(vnet bool, hour time.Time, minutes, tuples int) []byte {
	var buf bytes.Buffer
	g := &genDocument{vnet: vnet, records: minutes, tuples: tuples, start: hour}
	buf.ReadFrom(g)
	return buf.Bytes()
}

// checkpointOf is the checkpoint after names, in name order, were read.
func checkpointOf(names ...string) string {
	cp := blobCheckpoint{}
	for _, name := range names {
		resource, rest := splitBlobName(name)
		cp[resource] = rest
	}
	return cp.encode()
}

func upload(t *testing.T, c *azblob.Client, container string, blobs map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, container, nil); err != nil {
		t.Fatalf("create container %s: %v", container, err)
	}
	for name, body := range blobs {
		if _, err := c.UploadBuffer(ctx, container, name, body, nil); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
}

// TestBlobFlowLogs uploads NSG and VNet flow log blobs over several hours and days,
// with realistic names, to Azurite, and reads them back through the SDK.
func TestBlobFlowLogs(t *testing.T) {
	client := startAzurite(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return day.Add(72 * time.Hour) }
	hours := []time.Time{day.Add(9 * time.Hour), day.Add(10 * time.Hour), day.Add(33 * time.Hour), day.Add(47 * time.Hour)}
	const minutes, tuples = 3, 5

	for _, vnet := range []bool{false, true} {
		t.Run(map[bool]string{false: "nsg", true: "vnet"}[vnet], func(t *testing.T) {
			container := NSGFlowLogContainer
			if vnet {
				container = VNetFlowLogContainer
			}
			blobs := map[string][]byte{}
			var names []string
			for _, h := range hours {
				for _, mac := range []string{"000D3AF8801A", "000D3AF8801B"} {
					name := blobName(vnet, "WEB-NSG", h, mac)
					blobs[name] = hourDocument(vnet, h, minutes, tuples)
					names = append(names, name)
				}
			}
			// Not flow logs: skipped.
			blobs["resourceId="+testNSGID+"WEB-NSG/readme.txt"] = []byte("not a flow log")
			upload(t, client, container, blobs)
			slices.Sort(names)
			perBlob := minutes * tuples

			src := &BlobFlowLogs{Client: client, Container: container, Target: "prod", Now: now, ListPageSize: 3}
			var got []model.FlowRecord
			var doneNames []string
			stats, err := src.FlowsAfter(ctx, time.Time{}, "", func(r model.FlowRecord) error {
				got = append(got, r)
				return nil
			}, func(name string) error {
				doneNames = append(doneNames, name)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := (FlowStats{Records: len(names) * perBlob, Objects: len(names)}); stats != want || len(got) != want.Records {
				t.Fatalf("stats %+v, %d records; want %+v", stats, len(got), want)
			}
			var want []string
			for _, name := range names {
				want = append(want, checkpointOf(name))
			}
			if !slices.Equal(doneNames, want) {
				t.Errorf("done with %q, want the checkpoint of every blob in name order %q", doneNames, want)
			}
			for _, r := range got {
				if r.Target != "prod" || r.Reporter == "" || r.DstPort != 5432 {
					t.Fatalf("record %+v", r)
				}
			}

			// since: the blobs of hours ending by since are not read; records
			// before since in the blob of its hour are left out.
			since := hours[2].Add(time.Minute)
			var n int
			stats, err = src.Flows(ctx, since, func(r model.FlowRecord) error {
				if r.Time.Before(since) {
					t.Errorf("record of %v, before %v", r.Time, since)
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := (FlowStats{Records: 2*perBlob + 2*(minutes-1)*tuples, Objects: 4}); stats != want || n != want.Records {
				t.Errorf("since %v: %+v, want %+v", since, stats, want)
			}

			// Resume: stop in the middle, then go on from the last checkpoint;
			// every record is read exactly once.
			stop := errors.New("stop")
			var first []model.FlowRecord
			var checkpoint string
			_, err = src.FlowsAfter(ctx, time.Time{}, "", func(r model.FlowRecord) error {
				if len(first) == 3*perBlob+2 {
					return stop
				}
				first = append(first, r)
				return nil
			}, func(name string) error { checkpoint = name; return nil })
			if err != stop {
				t.Fatalf("err = %v, want the callback's own", err)
			}
			if want := checkpointOf(names[2]); checkpoint != want {
				t.Fatalf("checkpoint %q, want %q", checkpoint, want)
			}
			first = first[:3*perBlob] // what the checkpoint covers
			var rest []model.FlowRecord
			stats, err = src.FlowsAfter(ctx, time.Time{}, checkpoint, func(r model.FlowRecord) error {
				rest = append(rest, r)
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if stats.Objects != len(names)-3 || !slices.EqualFunc(append(first, rest...), got, func(a, b model.FlowRecord) bool { return a == b }) {
				t.Errorf("resumed after %q: %+v; records before and after the checkpoint are not the records, once each", checkpoint, stats)
			}
		})
	}
}

// TestBlobFlowLogsFaults: a malformed blob is counted and the others read; a
// growing blob holds the checkpoint back; a blob of the other format, a missing
// container and a done error stop the stream.
func TestBlobFlowLogsFaults(t *testing.T) {
	client := startAzurite(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	h := func(i int) time.Time { return day.Add(time.Duration(i) * time.Hour) }
	good := hourDocument(false, h(1), 2, 4)
	cut := hourDocument(false, h(2), 2, 4)
	cut = cut[:len(cut)-40]
	names := []string{
		blobName(false, "APP-NSG", h(1), "000D3AF8801A"),
		blobName(false, "APP-NSG", h(2), "000D3AF8801A"), // cut short
		blobName(false, "APP-NSG", h(3), "000D3AF8801A"), // not JSON
		blobName(false, "APP-NSG", h(4), "000D3AF8801A"),
		blobName(false, "APP-NSG", h(5), "000D3AF8801A"),  // gzipped
		blobName(false, "APP-NSG", h(23), "000D3AF8801A"), // still growing
		blobName(false, "DB-NSG", h(1), "000D3AF8801C"),
	}
	const container = "nsg-faults"
	upload(t, client, container, map[string][]byte{
		names[0]: good, names[1]: cut, names[2]: []byte("<Error>not json</Error>"), names[3]: good,
		names[4]: gzipped(t, good), names[5]: good, names[6]: good,
	})
	var malformed []string
	src := &BlobFlowLogs{
		Client: client, Container: container, Format: FormatNSG, Target: "prod",
		Now:             func() time.Time { return h(24).Add(10 * time.Minute) }, // h(23) ended 10 minutes ago
		OnMalformedBlob: func(name string, err error) { malformed = append(malformed, name+": "+err.Error()) },
	}
	var done []string
	stats, err := src.FlowsAfter(ctx, time.Time{}, "", func(model.FlowRecord) error { return nil }, func(name string) error {
		done = append(done, name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The cut blob's first record (before the cut) is read; the cut one is not.
	if want := (FlowStats{Records: 5*8 + 4, Malformed: 2, Objects: 5}); stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	want := []string{checkpointOf(names[0]), checkpointOf(names[1]), checkpointOf(names[2]), checkpointOf(names[3]), checkpointOf(names[4]),
		checkpointOf(names[4], names[6])}
	if !slices.Equal(done, want) {
		t.Errorf("done %q, want %q (not the growing blob, and DB-NSG's blob despite it)", done, want)
	}
	if len(malformed) != 2 || !strings.Contains(malformed[0], "ends early") || !strings.Contains(malformed[1], "at byte 0: invalid character '<'") {
		t.Errorf("malformed blobs: %q", malformed)
	}

	// Once settled, the checkpoint goes on; resuming from names[4] (a plain name,
	// as earlier versions checkpointed) reads the rest.
	src.Now = func() time.Time { return h(24).Add(DefaultSettle) }
	done = nil
	stats, err = src.FlowsAfter(ctx, time.Time{}, names[4], func(model.FlowRecord) error { return nil }, func(name string) error {
		done = append(done, name)
		return nil
	})
	if err != nil || stats != (FlowStats{Records: 16, Objects: 2}) || !slices.Equal(done, []string{checkpointOf(names[5]), checkpointOf(names[5], names[6])}) {
		t.Errorf("after %q: %+v, %v, done %q", names[4], stats, err, done)
	}

	// A done error is returned as it is.
	stop := errors.New("checkpoint store down")
	_, err = src.FlowsAfter(ctx, time.Time{}, "", func(model.FlowRecord) error { return nil }, func(string) error { return stop })
	if err != stop {
		t.Errorf("done error: %v", err)
	}

	// NSG blobs read as VNet flow logs: an error naming the blob.
	wrong := &BlobFlowLogs{Client: client, Container: container, Format: FormatVNet}
	_, err = wrong.Flows(ctx, time.Time{}, func(model.FlowRecord) error { return nil })
	if !errors.Is(err, ErrWrongFormat) || !strings.Contains(err.Error(), names[0]) {
		t.Errorf("wrong format: %v", err)
	}

	// A container of no known format, and one that does not exist.
	_, err = (&BlobFlowLogs{Client: client, Container: "flowlogs"}).Flows(ctx, time.Time{}, func(model.FlowRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "set the format") {
		t.Errorf("unknown container: %v", err)
	}
	_, err = (&BlobFlowLogs{Client: client, Container: "missing", Format: FormatNSG}).Flows(ctx, time.Time{}, func(model.FlowRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "list blobs missing/") {
		t.Errorf("missing container: %v", err)
	}
}

func TestBlobHour(t *testing.T) {
	for name, want := range map[string]string{
		"resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG/y=2026/m=11/d=22/h=10/m=00/macAddress=000D3AF8801A/PT1H.json": "2026-11-22T10:00:00Z",
		"flowLogResourceID=/S/NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_FL/y=2024/m=02/d=29/h=23/m=00/macAddress=112233445566/PT1H.json":                                  "2024-02-29T23:00:00Z",
		"resourceId=/X/y=2026/m=13/d=22/h=10/m=00/PT1H.json": "",
		"resourceId=/X/y=2026/m=11/d=22/PT1H.json":           "",
		"PT1H.json": "",
	} {
		got, ok := BlobHour(name)
		if s := got.Format(time.RFC3339); ok != (want != "") || ok && s != want {
			t.Errorf("BlobHour(%q) = %v, %v; want %q", name, s, ok, want)
		}
	}
}

// blobSet is a test container's flow log blobs, with the flows of each.
type blobSet struct {
	t         *testing.T
	client    *azblob.Client
	container string
	flows     map[string][]model.FlowRecord
}

func newBlobSet(t *testing.T, client *azblob.Client, container string) *blobSet {
	t.Helper()
	upload(t, client, container, nil)
	return &blobSet{t: t, client: client, container: container, flows: map[string][]model.FlowRecord{}}
}

// put uploads (or replaces) an NSG flow log blob.
func (s *blobSet) put(name string, body []byte) {
	s.t.Helper()
	if _, err := s.client.UploadBuffer(context.Background(), s.container, name, body, nil); err != nil {
		s.t.Fatalf("upload %s: %v", name, err)
	}
	var flows []model.FlowRecord
	var stats FlowStats
	if err := DecodeNSGFlowLog(context.Background(), bytes.NewReader(body), "prod", time.Time{}, &stats, func(r model.FlowRecord) error {
		flows = append(flows, r)
		return nil
	}); err != nil {
		s.t.Fatalf("decode %s: %v", name, err)
	}
	s.flows[name] = flows
}

// all counts the flows of every blob.
func (s *blobSet) all() map[model.FlowRecord]int {
	n := map[model.FlowRecord]int{}
	for _, flows := range s.flows {
		for _, r := range flows {
			n[r]++
		}
	}
	return n
}

// covered counts the flows of the blobs a checkpoint covers.
func (s *blobSet) covered(checkpoint string) int {
	s.t.Helper()
	cp, floor, err := parseBlobCheckpoint(checkpoint, "")
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for name, flows := range s.flows {
		resource, rest := splitBlobName(name)
		if last, ok := cp[resource]; ok && rest <= last || floor != "" && name <= floor {
			n += len(flows)
		}
	}
	return n
}

// read runs FlowsAfter from after. At every call of done it checks that the flows
// handed to fn so far are exactly those of the blobs the new checkpoint covers and
// after did not: what an audit stores with the checkpoint is what a resumed
// attempt skips.
func (s *blobSet) read(src *BlobFlowLogs, after string, fn func(model.FlowRecord) error) (flows []model.FlowRecord, checkpoints []string, stats FlowStats, err error) {
	s.t.Helper()
	before := s.covered(after)
	stats, err = src.FlowsAfter(context.Background(), time.Time{}, after, func(r model.FlowRecord) error {
		if fn != nil {
			if err := fn(r); err != nil {
				return err
			}
		}
		flows = append(flows, r)
		return nil
	}, func(checkpoint string) error {
		if got, want := len(flows), s.covered(checkpoint)-before; got != want {
			s.t.Errorf("checkpoint %q after %d flows; it covers %d", checkpoint, got, want)
		}
		checkpoints = append(checkpoints, checkpoint)
		return nil
	})
	return flows, checkpoints, stats, err
}

// counts counts flows.
func counts(flows ...[]model.FlowRecord) map[model.FlowRecord]int {
	n := map[model.FlowRecord]int{}
	for _, fs := range flows {
		for _, r := range fs {
			n[r]++
		}
	}
	return n
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// TestBlobFlowLogsResources reads two NSGs whose hours interleave, through one
// reader: a checkpoint taken in the second NSG does not hide the first one's new
// hours, which sort before it.
func TestBlobFlowLogsResources(t *testing.T) {
	client := startAzurite(t)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	h := func(i int) time.Time { return day.Add(time.Duration(i) * time.Hour) }
	app := func(i int, mac string) string { return blobName(false, "APP-NSG", h(i), mac) }
	web := func(i int) string { return blobName(false, "WEB-NSG", h(i), "000D3AF8801B") }
	set := newBlobSet(t, client, "nsg-resources")
	set.put(app(1, "000D3AF8801A"), hourDocument(false, h(1), 2, 3))
	set.put(app(1, "000D3AF8801C"), hourDocument(false, h(1), 3, 3))
	set.put(app(3, "000D3AF8801A"), hourDocument(false, h(3), 2, 3))
	set.put(app(5, "000D3AF8801A"), hourDocument(false, h(5), 2, 3))
	set.put(web(2), hourDocument(false, h(2), 2, 4))
	set.put(web(4), hourDocument(false, h(4), 2, 4))
	set.put(web(6), hourDocument(false, h(6), 2, 4))
	src := &BlobFlowLogs{Client: client, Container: "nsg-resources", Format: FormatNSG, Target: "prod",
		Now: func() time.Time { return h(30) }, ListPageSize: 2}

	flows, checkpoints, stats, err := set.read(src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Objects != 7 || !maps.Equal(counts(flows), set.all()) {
		t.Errorf("read everything: %+v, flows are not every blob's once", stats)
	}
	if got, want := last(checkpoints), checkpointOf(app(5, "000D3AF8801A"), web(6)); len(checkpoints) != 7 || got != want {
		t.Errorf("%d checkpoints, the last %q; want 7, the last %q", len(checkpoints), got, want)
	}

	// Stop in WEB-NSG's hour 4.
	stop := errors.New("stop")
	stopAt := 0
	for _, name := range []string{app(1, "000D3AF8801A"), app(1, "000D3AF8801C"), app(3, "000D3AF8801A"), app(5, "000D3AF8801A"), web(2)} {
		stopAt += len(set.flows[name])
	}
	first, checkpoints, _, err := set.read(src, "", func(model.FlowRecord) error {
		if stopAt == -2 {
			return stop
		}
		stopAt--
		return nil
	})
	if err != stop {
		t.Fatalf("err = %v, want the callback's own", err)
	}
	mid := last(checkpoints)
	if want := checkpointOf(app(5, "000D3AF8801A"), web(2)); mid != want {
		t.Fatalf("checkpoint %q, want %q", mid, want)
	}
	first = first[:set.covered(mid)] // what an audit stored with the checkpoint

	// A plain name, as earlier versions checkpointed: the blobs up to it are
	// skipped, and the checkpoints given to done hold APP-NSG's place too.
	_, plainCheckpoints, stats, err := set.read(src, web(2), nil)
	if err != nil || stats.Objects != 2 || last(plainCheckpoints) != checkpointOf(app(5, "000D3AF8801A"), web(6)) {
		t.Errorf("after the plain name %q: %+v, %v, checkpoints %q", web(2), stats, err, plainCheckpoints)
	}

	// New hours of both, APP-NSG's sorting before WEB-NSG's checkpoint.
	set.put(app(7, "000D3AF8801A"), hourDocument(false, h(7), 2, 3))
	set.put(web(8), hourDocument(false, h(8), 2, 4))
	rest, checkpoints, stats, err := set.read(src, mid, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Objects != 4 || !maps.Equal(counts(first, rest), set.all()) {
		t.Errorf("resumed after %q: %+v; the flows before and after the checkpoint are not every blob's once", mid, stats)
	}
	if got, want := last(checkpoints), checkpointOf(app(7, "000D3AF8801A"), web(8)); got != want {
		t.Errorf("last checkpoint %q, want %q", got, want)
	}

	// From the checkpoint the plain name turned into: only the new hours.
	_, _, stats, err = set.read(src, last(plainCheckpoints), nil)
	if err != nil || stats.Objects != 2 {
		t.Errorf("after %q: %+v, %v; want the 2 new hours", last(plainCheckpoints), stats, err)
	}
}

// TestBlobFlowLogsGrowing: the blob of an hour still growing in one NSG is read
// last, and holds back that NSG's checkpoint only; once it has grown and settled, a
// resumed read reads it whole, and nothing else.
func TestBlobFlowLogsGrowing(t *testing.T) {
	client := startAzurite(t)
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	h := func(i int) time.Time { return day.Add(time.Duration(i) * time.Hour) }
	app := func(i int) string { return blobName(false, "APP-NSG", h(i), "000D3AF8801A") }
	web := func(i int) string { return blobName(false, "WEB-NSG", h(i), "000D3AF8801B") }
	set := newBlobSet(t, client, "nsg-growing")
	set.put(app(1), hourDocument(false, h(1), 2, 3))
	set.put(app(23), hourDocument(false, h(23), 2, 3)) // growing
	set.put(web(2), hourDocument(false, h(2), 2, 4))
	set.put(web(22), hourDocument(false, h(22), 2, 4)) // ended 30 minutes ago
	now := h(23).Add(30 * time.Minute)
	src := &BlobFlowLogs{Client: client, Container: "nsg-growing", Format: FormatNSG, Target: "prod",
		Now: func() time.Time { return now }}

	flows, checkpoints, stats, err := set.read(src, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Objects != 4 || !maps.Equal(counts(flows), set.all()) {
		t.Errorf("%+v; the flows are not every blob's once", stats)
	}
	want := []string{checkpointOf(app(1)), checkpointOf(app(1), web(2)), checkpointOf(app(1), web(22))}
	if !slices.Equal(checkpoints, want) {
		t.Errorf("checkpoints %q, want %q", checkpoints, want)
	}
	stored := flows[:set.covered(last(checkpoints))]

	// Still growing: the resumed read reads it again and checkpoints nothing.
	set.put(app(23), hourDocument(false, h(23), 4, 3))
	_, checkpoints, stats, err = set.read(src, want[2], nil)
	if err != nil || stats != (FlowStats{Records: 12, Objects: 1}) || checkpoints != nil {
		t.Errorf("still growing: %+v, %v, checkpoints %q", stats, err, checkpoints)
	}

	// Grown and settled: read whole, and the checkpoint moves past it.
	set.put(app(23), hourDocument(false, h(23), 6, 3))
	now = h(24).Add(DefaultSettle)
	rest, checkpoints, stats, err := set.read(src, want[2], nil)
	if err != nil || stats != (FlowStats{Records: 18, Objects: 1}) || !slices.Equal(checkpoints, []string{checkpointOf(app(23), web(22))}) {
		t.Errorf("settled: %+v, %v, checkpoints %q", stats, err, checkpoints)
	}
	if !maps.Equal(counts(stored, rest), set.all()) {
		t.Error("the flows stored with the checkpoint and read after it are not every blob's once")
	}

	// A checkpoint of no known form is an error, and nothing is read.
	var n int
	_, err = src.FlowsAfter(context.Background(), time.Time{}, "APP-NSG hour 23", func(model.FlowRecord) error { n++; return nil }, nil)
	if err == nil || n != 0 || !strings.Contains(err.Error(), `checkpoint "APP-NSG hour 23"`) {
		t.Errorf("garbage checkpoint: %v, %d flows", err, n)
	}
}

func TestBlobCheckpoint(t *testing.T) {
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	names := []string{
		blobName(false, "APP-NSG", day, "000D3AF8801A"),
		blobName(false, "R&D<NSG>", day.Add(time.Hour), "000D3AF8801A"),
		blobName(true, "", day, "00224871C205"),
		"exports/2026-11.json.gz", // no hour folders
		"/y=2026/m=11/d=22/h=10/m=00/PT1H.json",
	}
	s := checkpointOf(names...)
	cp, floor, err := parseBlobCheckpoint(s, "")
	if err != nil || floor != "" || len(cp) != len(names) || cp.encode() != s {
		t.Fatalf("parse(%q) = %q, %q, %v", s, cp, floor, err)
	}
	for _, name := range names {
		resource, rest := splitBlobName(name)
		if cp[resource] != rest || resource+rest != name {
			t.Errorf("%q: resource %q, rest %q, in the checkpoint %q", name, resource, rest, cp[resource])
		}
	}
	if cp, floor, err := parseBlobCheckpoint(names[0], "resourceId="); err != nil || floor != names[0] || len(cp) != 0 {
		t.Errorf("plain name: %q, %q, %v", cp, floor, err)
	}

	for _, tc := range []struct{ after, prefix, err string }{
		{"garbage", "", `checkpoint "garbage": neither`},
		{"resourceId=/A/y=2026/m=11/d=22/h=10/m=00/readme.txt", "", "neither"},
		{names[0], "flowLogResourceID=", "not under prefix"},
		{s, "resourceId=", "not under prefix"},
		{"{", "", "unexpected EOF"},
		{`{"azureFlowLogCheckpoint":2,"after":{}}`, "", "version 2, want 1"},
		{`{"azureFlowLogCheckpoint":1,"after":{},"since":3}`, "", "unknown field"},
		{`{"azureFlowLogCheckpoint":1,"after":{"resourceId=/A/":"PT1H.json"}}`, "", `resource "resourceId=/A/": "PT1H.json" is not`},
		{`{"azureFlowLogCheckpoint":1,"after":{"resourceId=/A/":"y=2026/m=11/d=22/h=10/m=00/a.txt"}}`, "", "is not the rest"},
		{`{"azureFlowLogCheckpoint":1, "after":{}}`, "", "not as this reader writes"},
		{`{"azureFlowLogCheckpoint":1,"after":{}}{}`, "", "not as this reader writes"},
	} {
		cp, floor, err := parseBlobCheckpoint(tc.after, tc.prefix)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "checkpoint") || cp != nil || floor != "" {
			t.Errorf("parse(%q, %q) = %q, %q, %v; want an error with %q", tc.after, tc.prefix, cp, floor, err, tc.err)
		}
	}
}

// FuzzBlobCheckpoint: a checkpoint parses only if it is a blob name or exactly what
// encode writes for what it parses to.
func FuzzBlobCheckpoint(f *testing.F) {
	day := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	a, b := blobName(false, "APP-NSG", day, "000D3AF8801A"), blobName(true, "", day, "00224871C205")
	for _, s := range []string{"", a, checkpointOf(a), checkpointOf(a, b, "x.json"), "{}", `{"azureFlowLogCheckpoint":1,"after":{"":"y.json"}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cp, floor, err := parseBlobCheckpoint(s, "")
		switch {
		case err != nil:
			if cp != nil || floor != "" {
				t.Fatalf("error %v with %q, %q", err, cp, floor)
			}
		case floor != "":
			if floor != s || !isFlowLogBlob(s) || len(cp) != 0 {
				t.Fatalf("plain name %q: %q, %q", s, cp, floor)
			}
		case s == "":
			if len(cp) != 0 {
				t.Fatalf("empty: %q", cp)
			}
		default:
			if got := cp.encode(); got != s {
				t.Fatalf("parsed %q, encoded again %q", s, got)
			}
			for resource, rest := range cp {
				if r, s := splitBlobName(resource + rest); r != resource || s != rest {
					t.Fatalf("%q %q splits into %q %q", resource, rest, r, s)
				}
			}
		}
	})
}
