package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/onprem"
)

// stdin is where host apply -confirm reads the operator's answer; tests replace it.
var stdin io.Reader = os.Stdin

func runHost(args []string, stdout, stderr io.Writer) int {
	sub := map[string]func([]string, io.Writer, io.Writer) int{
		"show": runHostShow, "apply": runHostApply, "drift": runHostDrift, "logs": runHostLogs,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: microseg host show|apply|drift|logs -target NAME -host NAME [flags] [DIR]\n\n"+
			"  show   print the ruleset the host must have (table inet microseg)\n"+
			"  apply  make the host's ruleset what the policy says, in one atomic transaction\n"+
			"  drift  compare the host's live ruleset with the policy\n"+
			"  logs   print the host's dropped and would-drop flows as they happen\n\n"+
			"Run on the host itself (as root), or give -netns to work inside a network namespace.")
		return exitError
	}
	return sub[args[0]](args[1:], stdout, stderr)
}

// hostFlags are the flags every host command takes.
type hostFlags struct {
	target, host, netns string
}

func (h *hostFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.target, "target", "", "the hosts target (required)")
	fs.StringVar(&h.host, "host", "", "the host, as the target names it (required)")
	fs.StringVar(&h.netns, "netns", "", "work in this network namespace (ip netns) instead of the host's own")
}

// hostPolicy loads the policy and derives the host's share of it.
func (h *hostFlags) hostPolicy(dir string, stderr io.Writer) (*onprem.HostPolicy, bool) {
	if h.target == "" || h.host == "" {
		fmt.Fprintln(stderr, "microseg host: -target and -host are required")
		return nil, false
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return nil, false
	}
	states, err := model.Compile(p)
	if err != nil {
		fmt.Fprintln(stderr, "microseg host:", err)
		return nil, false
	}
	st, ok := states[h.target]
	if !ok {
		fmt.Fprintf(stderr, "microseg host: no target %q; the policy has %s\n", h.target, strings.Join(model.SortedKeys(states), ", "))
		return nil, false
	}
	hp, err := onprem.ForHost(st, h.host)
	if err != nil {
		fmt.Fprintln(stderr, "microseg host:", err)
		return nil, false
	}
	return hp, true
}

// livePlan derives the host's ruleset from the policy, reads the live one, and
// returns the enforcer (for the caller to close), the desired ruleset and the plan
// between them, reporting failures as host NAME.
func (h *hostFlags) livePlan(name, dir string, stderr io.Writer) (*onprem.Enforcer, *onprem.Ruleset, *model.Plan, bool) {
	hp, ok := h.hostPolicy(dir, stderr)
	if !ok {
		return nil, nil, nil, false
	}
	e := onprem.NewEnforcer(h.netns)
	desired := onprem.Build(hp)
	live, err := e.Observe()
	if err != nil {
		e.Close()
		fmt.Fprintf(stderr, "microseg host %s: %v\n", name, err)
		return nil, nil, nil, false
	}
	return e, desired, model.Diff(h.host, desired.Objects(), live.Objects()), true
}

func hostUsage(fs *flag.FlagSet, stderr io.Writer, usage string) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage+"\n\nflags:")
		fs.PrintDefaults()
	}
}

func runHostShow(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host show", flag.ContinueOnError)
	var h hostFlags
	h.register(fs)
	hostUsage(fs, stderr, "usage: microseg host show -target NAME -host NAME [DIR]\n\nPrints the ruleset the host must have, as the plan that creates it.")
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	hp, ok := h.hostPolicy(dir, stderr)
	if !ok {
		return exitError
	}
	if err := model.Diff(h.host, onprem.Build(hp).Objects(), nil).Render(stdout); err != nil {
		fmt.Fprintln(stderr, "microseg host show:", err)
		return exitError
	}
	return exitOK
}

func runHostApply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host apply", flag.ContinueOnError)
	var h hostFlags
	h.register(fs)
	confirm := fs.Duration("confirm", 0, "commit-confirmed: roll the change back unless you confirm within this time (e.g. 60s)")
	hostUsage(fs, stderr, "usage: microseg host apply -target NAME -host NAME [-confirm 60s] [DIR]\n\nMakes the host's table inet microseg what the policy says, in one atomic transaction.")
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	e, desired, plan, ok := h.livePlan("apply", dir, stderr)
	if !ok {
		return exitError
	}
	defer e.Close()
	plan.Render(stdout)
	if plan.Empty() {
		return exitOK
	}
	if *confirm <= 0 {
		stats, err := e.Apply(desired)
		if err != nil {
			fmt.Fprintln(stderr, "microseg host apply:", err)
			return exitError
		}
		fmt.Fprintf(stdout, "applied: %s\n", describeStats(stats))
		return exitOK
	}
	pending, stats, err := e.ApplyConfirmed(desired, *confirm)
	if err != nil {
		fmt.Fprintln(stderr, "microseg host apply:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "applied: %s\nType yes within %s to keep the change; anything else, or nothing, rolls it back: ", describeStats(stats), *confirm)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		answer <- strings.TrimSpace(line)
	}()
	select {
	case a := <-answer:
		if a == "yes" {
			if err := pending.Confirm(); err != nil {
				fmt.Fprintln(stderr, "\nmicroseg host apply:", err)
				return exitError
			}
			fmt.Fprintln(stdout, "confirmed")
			return exitOK
		}
		pending.Cancel()
	case <-pending.Done():
	}
	<-pending.Done()
	if err := pending.RollbackErr(); err != nil {
		fmt.Fprintln(stderr, "\nmicroseg host apply:", err)
		return exitError
	}
	fmt.Fprintln(stdout, "\nnot confirmed: the previous ruleset is back")
	return exitFindings
}

func describeStats(s onprem.ApplyStats) string {
	if s.Full {
		return fmt.Sprintf("table written whole, %d elements", s.ElementsAdded)
	}
	return fmt.Sprintf("%d elements added, %d removed", s.ElementsAdded, s.ElementsRemoved)
}

func runHostDrift(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host drift", flag.ContinueOnError)
	var h hostFlags
	h.register(fs)
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when the host drifted")
	hostUsage(fs, stderr, "usage: microseg host drift -target NAME -host NAME [-detailed-exitcode] [DIR]\n\nReads the host's live ruleset and prints what it would take to make it the policy again.")
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	e, _, plan, ok := h.livePlan("drift", dir, stderr)
	if !ok {
		return exitError
	}
	defer e.Close()
	plan.Render(stdout)
	if *detailed && !plan.Empty() {
		return exitFindings
	}
	return exitOK
}

func runHostLogs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("host logs", flag.ContinueOnError)
	var h hostFlags
	h.register(fs)
	group := fs.Uint("group", onprem.DefaultLogGroup, "the NFLOG group (the target's flow_logs { nflog_group } when it sets one)")
	duration := fs.Duration("for", 0, "stop after this long (default: until interrupted)")
	hostUsage(fs, stderr, "usage: microseg host logs -target NAME -host NAME [-group N] [-for 30s]\n\nPrints the host's dropped and would-drop packets, one line each, as NFLOG delivers them.")
	if _, code, ok := parseArgs(fs, args, stderr); !ok {
		return code
	}
	if h.target == "" || h.host == "" || *group > 65535 {
		fmt.Fprintln(stderr, "microseg host logs: -target and -host are required, -group is 0-65535")
		return exitError
	}
	r, err := onprem.OpenFlowLog(onprem.FlowLogConfig{Group: uint16(*group), NetNS: h.netns, Target: h.target, Host: h.host})
	if err != nil {
		fmt.Fprintln(stderr, "microseg host logs:", err)
		return exitError
	}
	defer r.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	err = r.Run(ctx, func(rec model.FlowRecord) {
		fmt.Fprintf(stdout, "%s %s %s %s:%d -> %s:%d %d bytes\n", rec.Time.UTC().Format(time.RFC3339), rec.Action, rec.Protocol,
			rec.Src, rec.SrcPort, rec.Dst, rec.DstPort, rec.Bytes)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "microseg host logs:", err)
		return exitError
	}
	return exitOK
}
