package embedded

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestSuperviseServesAndStops runs the real dev server (bin/temporal, which make
// test builds first) under Supervise: it answers on loopback, keeps its state in
// the state directory, and is gone once the context ends.
func TestSuperviseServesAndStops(t *testing.T) {
	bin, err := filepath.Abs("../../bin/temporal")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skip("no bin/temporal: `make bin/temporal` builds it")
	}
	s := Server{Port: freePort(t), StateDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Supervise(ctx, bin, false, io.Discard, io.Discard) }()
	deadline := time.Now().Add(time.Minute)
	for !s.Listening() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("the supervised server did not listen within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(s.StateDir, "temporal.db")); err != nil {
		t.Errorf("no state in the state directory: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Supervise = %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Supervise did not return after cancel")
	}
	for i := 0; s.Listening(); i++ {
		if i > 100 {
			t.Fatal("the server still listens after Supervise returned")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFindTemporal(t *testing.T) {
	if got, err := FindTemporal("/opt/temporal", ""); err != nil || got != "/opt/temporal" {
		t.Errorf("override: %q, %v", got, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "temporal"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindTemporal("", filepath.Join(dir, "microseg")); err != nil || got != filepath.Join(dir, "temporal") {
		t.Errorf("beside the binary: %q, %v", got, err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := FindTemporal("", filepath.Join(t.TempDir(), "microseg")); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("nowhere: %v, want an error saying how to get one", err)
	}
}
