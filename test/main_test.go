package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/microseg/microseg/test/armemu"
)

// TestMain makes this process and the microseg processes it starts trust the ARM
// emulator's TLS certificate as a user trusts a private cloud's: through
// SSL_CERT_FILE, which Go reads once per process, before any test runs.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "microseg-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := armemu.WriteCACert(ca); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SSL_CERT_FILE", ca)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
