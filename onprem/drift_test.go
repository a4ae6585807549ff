package onprem

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microseg/microseg/internal/netlab"
	"github.com/microseg/microseg/model"
)

// planText renders what it would take to get from observed back to desired.
func planText(host string, desired, observed *Ruleset) string {
	var b strings.Builder
	model.Diff(host, desired.Objects(), observed.Objects()).Render(&b)
	return b.String()
}

// TestDriftIsObservedAndRepaired changes the live ruleset by hand in the ways an
// operator might, checks that Observe reports exactly that change, and that Apply
// restores the policy and the traffic it allows.
func TestDriftIsObservedAndRepaired(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	desired := applyLab(t, l, labPolicy(t, "testdata/lab"))
	e := enforcerFor(l, "app-01")
	// A table of someone else's: microseg must never touch it.
	l.Nft("app-01", "add", "table", "inet", "other")
	l.Nft("app-01", "add", "chain", "inet", "other", "c")
	l.Nft("app-01", "add", "rule", "inet", "other", "c", "counter")

	tests := []struct {
		name   string
		change []string
		want   []string // the plan's change lines
		full   bool     // whether repairing needs the whole table
	}{
		{"rule added by hand", []string{"insert rule inet microseg input tcp dport 9999 accept"},
			[]string{"- rule input manual: "}, true},
		{"element deleted by hand", []string{"delete element inet microseg in4_exact { 10.99.0.11 . tcp . 8080 }"},
			[]string{"+ rule element in4_exact 10.99.0.11 . tcp . 8080"}, false},
		{"element added by hand", []string{"add element inet microseg in4_range { 10.0.0.0/8 . tcp . 1-1024 }"},
			[]string{"- rule element in4_range 10.0.0.0/8 . tcp . 1-1024"}, false},
		{"chain policy changed", []string{"add chain inet microseg input { type filter hook input priority filter ; policy accept ; }"},
			[]string{`~ segment chain input  policy: "accept" -> "drop"`}, true},
		{"rule deleted by hand", []string{"flush chain inet microseg output"},
			[]string{"+ rule output ct-established", "+ rule output log"}, true},
		{"table flushed", []string{"flush table inet microseg"},
			[]string{"+ rule input ct-established", "+ rule output log"}, true},
		{"table deleted", []string{"delete table inet microseg"},
			[]string{"+ segment table inet microseg", "+ segment chain input", "+ rule element in4_exact 10.99.0.11 . tcp . 8080"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cmd := range tt.change {
				l.Nft("app-01", strings.Fields(cmd)...)
			}
			observed, err := e.Observe()
			if err != nil {
				t.Fatal(err)
			}
			plan := planText("app-01", desired["app-01"], observed)
			for _, want := range tt.want {
				if !strings.Contains(plan, "  "+want) {
					t.Errorf("plan does not contain %q:\n%s", want, plan)
				}
			}
			stats, err := e.Apply(desired["app-01"])
			if err != nil {
				t.Fatal(err)
			}
			if stats.Full != tt.full {
				t.Errorf("repair replaced the whole table = %v, want %v (%+v)", stats.Full, tt.full, stats)
			}
			if again, _ := e.Observe(); planText("app-01", desired["app-01"], again) != "target app-01: 0 to add, 0 to change, 0 to remove\n" {
				t.Errorf("after repair:\n%s", planText("app-01", desired["app-01"], again))
			}
			checkFlows(t, l, labChecks())
		})
	}
	if out := l.Nft("app-01", "list", "table", "inet", "other"); !strings.Contains(out, "counter") {
		t.Errorf("the foreign table was changed:\n%s", out)
	}
}

// TestMakeBeforeBreak keeps opening connections on an allowed flow while the policy
// changes around it, by set elements only and by a whole-table replace; none may fail.
func TestMakeBeforeBreak(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	state := labPolicy(t, "testdata/lab")
	applyLab(t, l, state)
	wider := labPolicy(t, "testdata/lab-wider")

	ctx, cancel := context.WithCancel(context.Background())
	var attempts, failures atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			attempts.Add(1)
			if err := l.Probe("web-01", "tcp", "10.99.0.12:8080"); err != nil {
				failures.Add(1)
				t.Logf("connection failed during the change: %v", err)
			}
		}
	}()
	e := enforcerFor(l, "app-01")
	for i := range 20 {
		next := state
		if i%2 == 0 {
			next = wider
		}
		hp, err := ForHost(next, "app-01")
		if err != nil {
			t.Fatal(err)
		}
		rs := Build(hp)
		if i%4 == 0 { // now and then force a whole-table replace
			l.Nft("app-01", "insert", "rule", "inet", "microseg", "input", "tcp", "dport", "9", "accept")
		}
		if _, err := e.Apply(rs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if failures.Load() > 0 || attempts.Load() < 10 {
		t.Errorf("%d of %d connections failed across 20 policy changes", failures.Load(), attempts.Load())
	}
	t.Logf("%d connections, none failed", attempts.Load())
}

func TestCommitConfirmed(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	applyLab(t, l, labPolicy(t, "testdata/lab"))
	// db's side of the wider policy goes in for good; app's side is the change tested.
	widerState := labPolicy(t, "testdata/lab-wider")
	dbPolicy, _ := ForHost(widerState, "db-01")
	if _, err := enforcerFor(l, "db-01").Apply(Build(dbPolicy)); err != nil {
		t.Fatal(err)
	}
	e := enforcerFor(l, "app-01")
	before, _ := e.Observe()
	hp, _ := ForHost(widerState, "app-01")
	wider := Build(hp)

	// Unconfirmed: back to the previous ruleset within the timeout.
	p, _, err := e.ApplyConfirmed(wider, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Probe("db-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Fatalf("the change is not in force: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("no rollback within 5 s")
	}
	if err := p.RollbackErr(); err != nil {
		t.Fatal(err)
	}
	if err := p.Confirm(); err == nil {
		t.Error("Confirm after the rollback succeeded")
	}
	after, _ := e.Observe()
	if plan := planText("app-01", before, after); !strings.HasPrefix(plan, "target app-01: 0 to add, 0 to change, 0 to remove") {
		t.Errorf("rolled back ruleset differs from the one before:\n%s", plan)
	}
	if err := l.Probe("db-01", "tcp", "10.99.0.12:8080"); err == nil {
		t.Error("after the rollback db still reaches app")
	}

	// Confirmed: stays.
	p, _, err = e.ApplyConfirmed(wider, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Confirm(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if err := l.Probe("db-01", "tcp", "10.99.0.12:8080"); err != nil {
		t.Errorf("a confirmed change did not stay: %v", err)
	}
}

// TestAuditModeLogsWouldDrop checks that in audit mode denied traffic flows and the
// host's NFLOG group yields would-drop records for it.
func TestAuditModeLogsWouldDrop(t *testing.T) {
	l := netlab.New(t, "web-01", "app-01", "db-01")
	serveLab(l)
	applyLab(t, l, labPolicy(t, "testdata/lab-audit"))
	r, err := OpenFlowLog(FlowLogConfig{Group: 42, NetNS: l.Hosts["db-01"].NS, Target: "lab", Host: "db-01"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	records := make(chan model.FlowRecord, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go r.Run(ctx, func(rec model.FlowRecord) { records <- rec })

	// web -> db is not allowed; in audit mode it passes all the same.
	if err := l.Probe("web-01", "tcp", "10.99.0.13:5432"); err != nil {
		t.Fatalf("audit mode blocked a flow: %v", err)
	}
	if err := l.Probe("app-01", "tcp", "10.99.0.13:5432"); err != nil {
		t.Fatalf("allowed flow failed: %v", err)
	}
	for {
		select {
		case rec := <-records:
			if rec.Src.String() == "10.99.0.12" {
				t.Errorf("the allowed flow was logged: %+v", rec)
			}
			if rec.Src.String() == "10.99.0.11" && rec.Dst.String() == "10.99.0.13" && rec.DstPort == 5432 &&
				rec.Protocol == model.ProtocolTCP && rec.Action == model.FlowWouldDrop && rec.Reporter == "db-01" {
				return
			}
		case <-ctx.Done():
			t.Fatal("no would-drop record for web -> db within 10 s")
		}
	}
}
