package flowfiles

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers/aws"
)

const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"

func record(i int, action string) string {
	return "2 123456789010 eni-1235b8ca123456789 10.0.1.5 10.0.2.7 4900" + string(rune('0'+i)) + " 443 6 20 4249 1795338000 1795338060 " + action + " OK\n"
}

func writeGzip(t *testing.T, path, body string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(body))
	zw.Close()
	f.Close()
}

// TestFilesTree reads a tree of plain and gzipped AWS logs in path order, skips
// hidden files, and resumes after a file without reading anything twice.
func TestFilesTree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "2026", "11", "22"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	writeGzip(t, filepath.Join(dir, "2026", "11", "22", "a.log.gz"), header+record(1, "ACCEPT")+record(2, "REJECT"))
	os.WriteFile(filepath.Join(dir, "2026", "11", "22", "b.log"), []byte(header+record(3, "ACCEPT")+"broken line\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".git", "junk"), []byte("not a flow log"), 0o644)
	src := &Files{Path: dir, Decode: aws.DecodeFlowLog, Target: "prod", Format: "aws"}
	var got []string
	var done []string
	stats, err := src.FlowsAfter(context.Background(), time.Time{}, "", func(r model.FlowRecord) error {
		got = append(got, r.Target+" "+r.Action.String()+" "+r.Src.String())
		return nil
	}, func(name string) error { done = append(done, name); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "prod accept 10.0.1.5,prod drop 10.0.1.5,prod accept 10.0.1.5" {
		t.Errorf("records %q", got)
	}
	if stats.Records != 3 || stats.Malformed != 1 || stats.Objects != 2 {
		t.Errorf("stats %+v", stats)
	}
	if strings.Join(done, ",") != "2026/11/22/a.log.gz,2026/11/22/b.log" {
		t.Errorf("done %q", done)
	}
	n := 0
	if _, err := src.FlowsAfter(context.Background(), time.Time{}, done[0], func(model.FlowRecord) error { n++; return nil }, nil); err != nil || n != 1 {
		t.Errorf("resumed after %s: %d records, %v; want 1", done[0], n, err)
	}
}

// TestFilesErrors: a missing path, an empty directory, a file of the wrong format
// and a callback error each come back clearly.
func TestFilesErrors(t *testing.T) {
	dir := t.TempDir()
	noop := func(model.FlowRecord) error { return nil }
	if _, err := (&Files{Path: filepath.Join(dir, "nope"), Decode: aws.DecodeFlowLog}).Flows(context.Background(), time.Time{}, noop); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := (&Files{Path: dir, Decode: aws.DecodeFlowLog}).Flows(context.Background(), time.Time{}, noop); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("empty dir: %v", err)
	}
	bad := filepath.Join(dir, "nsg.json")
	os.WriteFile(bad, []byte(`{"records":[]}`), 0o644)
	_, err := (&Files{Path: bad, Decode: aws.DecodeFlowLog, Format: "aws"}).Flows(context.Background(), time.Time{}, noop)
	if err == nil || !strings.Contains(err.Error(), "nsg.json: not a readable aws flow log") {
		t.Errorf("wrong format: %v", err)
	}
	good := filepath.Join(dir, "x.log")
	os.WriteFile(good, []byte(header+record(1, "ACCEPT")), 0o644)
	stop := errors.New("stop")
	if _, err := (&Files{Path: good, Decode: aws.DecodeFlowLog}).Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return stop }); err != stop {
		t.Errorf("callback error came back as %v", err)
	}
}
