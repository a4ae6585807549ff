package test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microseg/microseg/internal/netlab"
)

// buildMicroseg builds the binary once per test run.
func buildMicroseg(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "microseg")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/microseg").CombinedOutput(); err != nil {
		t.Fatalf("build microseg: %v\n%s", err, out)
	}
	return bin
}

type cli struct {
	t   *testing.T
	bin string
}

// run runs microseg with args (and stdin), returning its output and exit code.
func (c cli) run(stdin string, args ...string) (string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("microseg %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), code
}

// TestHostCommandsEndToEnd drives `microseg host` as an operator would, on three
// hosts in network namespaces: apply the policy, see traffic follow it, change the
// ruleset by hand, see the drift, repair it, and try a commit-confirmed change that
// is not confirmed.
func TestHostCommandsEndToEnd(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	l.Serve("app-01", 8080)
	l.Serve("db-01", 5432)
	c := cli{t, buildMicroseg(t)}
	policy := "../onprem/testdata/lab"
	host := func(sub, name string, extra ...string) []string {
		return append([]string{"host", sub, "-target", "lab", "-host", name, "-netns", l.Hosts[name].NS}, extra...)
	}

	out, code := c.run("", append(host("drift", "app-01", "-detailed-exitcode"), policy)...)
	if code != 2 || !strings.Contains(out, "+ segment table inet microseg") {
		t.Fatalf("drift before apply = %d:\n%s", code, out)
	}
	for _, name := range []string{"web-01", "app-01", "db-01"} {
		if out, code := c.run("", append(host("apply", name), policy)...); code != 0 || !strings.Contains(out, "applied: table written whole") {
			t.Fatalf("apply %s = %d:\n%s", name, code, out)
		}
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Errorf("web -> app after apply: %v", err)
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err == nil {
		t.Error("web -> db passes after apply")
	}
	if out, code := c.run("", append(host("drift", "app-01", "-detailed-exitcode"), policy)...); code != 0 {
		t.Fatalf("drift right after apply = %d:\n%s", code, out)
	}

	l.Nft("app-01", "delete", "element", "inet", "microseg", "in4_exact", "{ 10.99.0.11 . tcp . 8080 }")
	out, code = c.run("", append(host("drift", "app-01", "-detailed-exitcode"), policy)...)
	if code != 2 || !strings.Contains(out, "+ rule element in4_exact 10.99.0.11 . tcp . 8080") {
		t.Fatalf("drift after a hand change = %d:\n%s", code, out)
	}
	if out, code := c.run("", append(host("apply", "app-01"), policy)...); code != 0 || !strings.Contains(out, "1 elements added, 0 removed") {
		t.Fatalf("repair = %d:\n%s", code, out)
	}
	if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Errorf("web -> app after repair: %v", err)
	}

	// A commit-confirmed change to the audit policy, answered "no": rolled back.
	out, code = c.run("no\n", append(host("apply", "db-01", "-confirm", "30s"), "../onprem/testdata/lab-audit")...)
	if code != 2 || !strings.Contains(out, "not confirmed: the previous ruleset is back") {
		t.Fatalf("unconfirmed apply = %d:\n%s", code, out)
	}
	if out, code := c.run("", append(host("drift", "db-01", "-detailed-exitcode"), policy)...); code != 0 {
		t.Fatalf("after the rollback db drifted from the policy = %d:\n%s", code, out)
	}
	// Confirmed: db goes to audit mode, and logs what it would drop.
	if out, code := c.run("yes\n", append(host("apply", "db-01", "-confirm", "30s"), "../onprem/testdata/lab-audit")...); code != 0 || !strings.Contains(out, "confirmed") {
		t.Fatalf("confirmed apply = %d:\n%s", code, out)
	}
	// web enforces too, and drops its own flow to db: audit mode is per host.
	if out, code := c.run("", append(host("apply", "web-01"), "../onprem/testdata/lab-audit")...); code != 0 {
		t.Fatalf("apply audit policy on web = %d:\n%s", code, out)
	}
	logs := exec.Command(c.bin, host("logs", "db-01", "-group", "42", "-for", "4s")...)
	var logOut bytes.Buffer
	logs.Stdout, logs.Stderr = &logOut, &logOut
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err != nil {
		t.Errorf("web -> db in audit mode: %v", err)
	}
	logs.Wait()
	if !strings.Contains(logOut.String(), "would-drop tcp 10.99.0.11:") || !strings.Contains(logOut.String(), "-> 10.99.0.13:5432") {
		t.Errorf("host logs printed:\n%s", logOut.String())
	}
}
