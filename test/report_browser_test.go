//go:build linux

package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	hclload "github.com/microseg/microseg/hcl"
	"github.com/microseg/microseg/report"
	"github.com/microseg/microseg/report/reporttest"
)

// chromiumPath is Debian's chromium, which `make deps` installs.
const chromiumPath = "/usr/bin/chromium"

// screenshot renders the page at file headless into a PNG in dir and returns the
// PNG's path and what chromium wrote to stderr. Chromium runs in its own process
// group, killed whole on timeout and at the end of the test, so that no renderer
// or GPU process outlives it.
func screenshot(t *testing.T, dir, file string) (string, string) {
	t.Helper()
	png := filepath.Join(dir, "report.png")
	profile := filepath.Join(dir, "profile")
	if err := os.Mkdir(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--enable-logging=stderr", "--v=0",
		"--screenshot="+png, "--window-size=1280,4000", "file://"+file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) }) // leftovers of the group, if any
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("chromium did not finish within 90 s; stderr:\n%s", stderr.String())
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("chromium exited with %d; stderr:\n%s", exit.ExitCode(), stderr.String())
		}
		t.Fatalf("chromium: %v", err)
	}
	return png, stderr.String()
}

// consoleErrors picks the lines of chromium's log that report the page's console:
// with --enable-logging=stderr --v=0, every console message (console.error, an
// uncaught exception, a resource that failed to load) is logged as
// "[...:INFO:CONSOLE:N] "message", source: URL (N)". The report uses no script and
// loads nothing, so any such line is a failure.
func consoleErrors(stderr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if line := sc.Text(); strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			out = append(out, line)
		}
	}
	return out
}

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no %s (make deps installs Debian's chromium): %v", chromiumPath, err)
	}
}

// TestConsoleCheckCatchesErrors renders a page with a deliberate script error, so
// that TestReportRendersInChromium is known to catch one.
func TestConsoleCheckCatchesErrors(t *testing.T) {
	needChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "bad.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><p>x</p><script>undefinedFunction();</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr := screenshot(t, dir, page)
	if errs := consoleErrors(stderr); len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), "undefinedFunction is not defined") {
		t.Fatalf("the console check missed a deliberate error; chromium's stderr:\n%s", stderr)
	}
}

// TestReportRendersInChromium renders the three-tier report's HTML headless: it must
// load offline without a console error and give a screenshot with real content.
func TestReportRendersInChromium(t *testing.T) {
	needChromium(t)
	l, diags := hclload.LoadDir("../examples/three-tier")
	if diags.HasErrors() {
		t.Fatalf("load example: %v", diags)
	}
	r := report.Build(l.Policy, reporttest.ThreeTier())
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var html bytes.Buffer
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	// Self-contained: nothing to fetch (the SVG namespace is a name, not a fetch).
	if rest := strings.ReplaceAll(html.String(), `xmlns="http://www.w3.org/2000/svg"`, ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") || strings.Contains(rest, "<script") {
		t.Error("the HTML report refers to a URL or holds a script; it must be self-contained")
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot, stderr := screenshot(t, dir, page)
	if errs := consoleErrors(stderr); len(errs) > 0 {
		t.Errorf("console messages while rendering the report:\n%s", strings.Join(errs, "\n"))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	info, _ := f.Stat()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 4000 {
		t.Errorf("screenshot is %dx%d, want 1280x4000", b.Dx(), b.Dy())
	}
	if colours := distinctColours(img); info.Size() < 50_000 || colours < 50 {
		t.Errorf("screenshot looks empty: %d bytes, %d colours", info.Size(), colours)
	}
	if out := os.Getenv("MICROSEG_REPORT_SCREENSHOT"); out != "" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// distinctColours counts the colours on a grid of the image: a blank or one-colour
// page has a handful, a rendered report hundreds.
func distinctColours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}
