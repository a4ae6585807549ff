package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	code := m.Run()
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
			if !slices.Equal(doneNames, names) {
				t.Errorf("done with %q, want every blob in name order %q", doneNames, names)
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
			if checkpoint != names[2] {
				t.Fatalf("checkpoint %q, want %q", checkpoint, names[2])
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
	if want := names[:5]; !slices.Equal(done, want) {
		t.Errorf("done %q, want %q (not the growing blob, nor any after it)", done, want)
	}
	if len(malformed) != 2 || !strings.Contains(malformed[0], "ends early") || !strings.Contains(malformed[1], "at byte 0: invalid character '<'") {
		t.Errorf("malformed blobs: %q", malformed)
	}

	// Once settled, the checkpoint goes on; resuming from it reads only DB-NSG.
	src.Now = func() time.Time { return h(24).Add(DefaultSettle) }
	done = nil
	stats, err = src.FlowsAfter(ctx, time.Time{}, names[4], func(model.FlowRecord) error { return nil }, func(name string) error {
		done = append(done, name)
		return nil
	})
	if err != nil || stats != (FlowStats{Records: 16, Objects: 2}) || !slices.Equal(done, names[5:]) {
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
