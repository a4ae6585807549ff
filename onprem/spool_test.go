package onprem

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

func spoolRecord(t time.Time, i int, action model.FlowAction) model.FlowRecord {
	return model.FlowRecord{
		Time: t, Src: netip.MustParseAddr("10.0.1.5"), Dst: netip.MustParseAddr(fmt.Sprintf("fd00::%x", i+1)),
		SrcPort: uint16(40000 + i), DstPort: 443, Protocol: model.ProtocolTCP, Bytes: uint64(60 + i), Packets: 1, Action: action,
	}
}

// TestFlowSpoolRoundTrip writes records over three hours and reads them back exactly,
// with since, and resumed from a checkpoint without reading anything twice.
func TestFlowSpoolRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenFlowSpool(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	var want []model.FlowRecord
	actions := []model.FlowAction{model.FlowDrop, model.FlowWouldDrop, model.FlowAccept}
	for i := range 30 {
		rec := spoolRecord(base.Add(time.Duration(i)*5*time.Minute), i, actions[i%3])
		if err := sp.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Target, rec.Reporter = "dc1", "web-1"
		want = append(want, rec)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := spoolFiles(dir)
	if !slices.Equal(names, []string{"20261122T09.flows", "20261122T10.flows", "20261122T11.flows"}) {
		t.Fatalf("spool files %v", names)
	}
	now := base.Add(2 * time.Hour) // 11:30: the 11 o'clock file is current
	src := &SpoolFlows{Dir: dir, Target: "dc1", Host: "web-1", Now: func() time.Time { return now }}
	read := func(since time.Time, after string) ([]model.FlowRecord, []string, providers.FlowStats) {
		var got []model.FlowRecord
		var done []string
		stats, err := src.FlowsAfter(context.Background(), since, after,
			func(r model.FlowRecord) error { got = append(got, r); return nil },
			func(name string) error { done = append(done, name); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return got, done, stats
	}
	got, done, stats := read(time.Time{}, "")
	if !slices.Equal(got, want) {
		t.Fatalf("read back\n%v\nwant\n%v", got, want)
	}
	if stats.Records != 30 || stats.Objects != 3 || stats.Malformed != 0 {
		t.Errorf("stats %+v", stats)
	}
	if !slices.Equal(done, []string{"20261122T09.flows", "20261122T10.flows"}) {
		t.Errorf("checkpoints %v: only hours that are over", done)
	}
	got, _, _ = read(base.Add(time.Hour), "")
	if !slices.Equal(got, want[12:]) {
		t.Errorf("since 10:30 read %d records, want %d", len(got), len(want[12:]))
	}
	got, _, _ = read(time.Time{}, done[len(done)-1])
	if !slices.Equal(got, want[18:]) {
		t.Errorf("resumed after %s read %d records, want %d", done[len(done)-1], len(got), len(want[18:]))
	}
}

// TestFlowSpoolDamage: a damaged line is counted and skipped; a last line without
// its newline (being written) is left for the next read.
func TestFlowSpoolDamage(t *testing.T) {
	dir := t.TempDir()
	good := "1795338000000000000 drop 6 10.0.0.1 5000 10.0.0.2 22 60 1\n"
	body := good + "garbage line\n" + "1795338000000000000 explode 6 10.0.0.1 5000 10.0.0.2 22 60 1\n" + good + "1795338000000000000 drop 6 10.0"
	if err := os.WriteFile(filepath.Join(dir, "20261122T09.flows"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	stats, err := (&SpoolFlows{Dir: dir}).Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || stats.Records != 2 || stats.Malformed != 2 {
		t.Errorf("read %d, stats %+v; want 2 records and 2 malformed", n, stats)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(good + good))
	zw.Close()
	var zstats providers.FlowStats
	if err := DecodeSpool(context.Background(), &zipped, "t", time.Time{}, &zstats, func(model.FlowRecord) error { return nil }); err != nil || zstats.Records != 2 {
		t.Errorf("gzipped spool: %+v, %v", zstats, err)
	}
	stop := fmt.Errorf("enough")
	if _, err := (&SpoolFlows{Dir: dir}).Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return stop }); err != stop {
		t.Errorf("callback error came back as %v", err)
	}
	if _, err := (&SpoolFlows{Dir: filepath.Join(dir, "none")}).Flows(context.Background(), time.Time{}, func(model.FlowRecord) error { return nil }); err != nil {
		t.Errorf("a spool the agent has not written yet: %v", err)
	}
}

func FuzzDecodeSpool(f *testing.F) {
	f.Add([]byte("1795338000000000000 drop 6 10.0.0.1 5000 10.0.0.2 22 60 1\n"))
	f.Add([]byte("1 would-drop 58 fd00::1 0 fd00::2 128 104 1\n1 accept 17 1.2.3.4 53 5.6.7.8 53 1 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var stats providers.FlowStats
		_ = DecodeSpool(context.Background(), bytesReader(data), "t", time.Time{}, &stats, func(rec model.FlowRecord) error {
			if !rec.Src.IsValid() || !rec.Dst.IsValid() {
				t.Fatalf("invalid address in %+v", rec)
			}
			return nil
		})
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
