package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/model/analysis"
)

func runLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lint", flag.ContinueOnError)
	severity := fs.String("severity", "error", "exit 2 when a finding is at or above this severity: error, warning or info")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	asSARIF := fs.Bool("sarif", false, "print findings as SARIF 2.1.0, for code-scanning UIs")
	now := fs.String("now", "", "judge expiry as of this date (YYYY-MM-DD) instead of today")
	window := fs.Duration("expiry-window", 30*24*time.Hour, "warn about allows that expire within this time")
	publicPorts := fs.String("pci-public-ports", "tcp/443", "comma-separated ports that segments labelled scope = \"pci\" may open to the internet")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg lint [flags] [DIR]\n\nReports shadowed and duplicate allows, overlapping services, broad sources, expired and\nexpiring allows and unused segments, services and networks.\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	threshold, err := analysis.ParseSeverity(*severity)
	if err != nil {
		fmt.Fprintln(stderr, "microseg lint: -severity:", err)
		return exitError
	}
	if *asJSON && *asSARIF {
		fmt.Fprintln(stderr, "microseg lint: -json and -sarif are exclusive")
		return exitError
	}
	opts := analysis.LintOptions{ExpiryWindow: *window}
	if *now != "" {
		if opts.Now, err = time.Parse(time.DateOnly, *now); err != nil {
			fmt.Fprintf(stderr, "microseg lint: -now %q is not a date (YYYY-MM-DD)\n", *now)
			return exitError
		}
	}
	for _, spec := range strings.Split(*publicPorts, ",") {
		if spec = strings.TrimSpace(spec); spec == "" {
			continue
		}
		port, err := model.ParsePort(spec)
		if err != nil {
			fmt.Fprintf(stderr, "microseg lint: -pci-public-ports: %q: %v\n", spec, err)
			return exitError
		}
		opts.PCIPublicPorts = append(opts.PCIPublicPorts, port)
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return exitError
	}
	findings := analysis.Lint(p, opts)
	switch {
	case *asJSON:
		err = analysis.WriteJSON(stdout, findings)
	case *asSARIF:
		err = analysis.WriteSARIF(stdout, findings, version)
	default:
		err = analysis.WriteText(stdout, findings)
	}
	if err != nil {
		fmt.Fprintln(stderr, "microseg lint:", err)
		return exitError
	}
	for _, f := range findings {
		if f.Severity >= threshold {
			return exitFindings
		}
	}
	return exitOK
}

// parsePeer reads segment.NAME or network.NAME.
func parsePeer(text string) (model.PeerRef, error) {
	kind, name, ok := strings.Cut(text, ".")
	switch {
	case !ok || name == "":
	case kind == "segment":
		return model.PeerRef{Kind: model.PeerSegment, Name: name}, nil
	case kind == "network":
		return model.PeerRef{Kind: model.PeerNetwork, Name: name}, nil
	}
	return model.PeerRef{}, fmt.Errorf("%q is not segment.NAME or network.NAME", text)
}

func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	from := fs.String("from", "", "source: segment.NAME or network.NAME (required)")
	to := fs.String("to", "", "destination: segment.NAME or network.NAME (required)")
	portSpec := fs.String("port", "", "protocol and port, like tcp/5432, udp/53 or icmp (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg check -from segment.A -to segment.B -port tcp/5432 [DIR]\n\nSays whether the policy allows the flow and by which allow, or why not.\nExit 0 when allowed, 2 when denied, 1 on error.\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if *from == "" || *to == "" || *portSpec == "" {
		fmt.Fprintln(stderr, "microseg check: -from, -to and -port are required")
		fs.Usage()
		return exitError
	}
	src, err := parsePeer(*from)
	if err != nil {
		fmt.Fprintln(stderr, "microseg check: -from:", err)
		return exitError
	}
	dst, err := parsePeer(*to)
	if err != nil {
		fmt.Fprintln(stderr, "microseg check: -to:", err)
		return exitError
	}
	port, err := model.ParsePort(*portSpec)
	if err != nil {
		fmt.Fprintf(stderr, "microseg check: -port %q: %v\n", *portSpec, err)
		return exitError
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return exitError
	}
	result, err := analysis.Check(p, src, dst, port)
	if err != nil {
		fmt.Fprintln(stderr, "microseg check:", err)
		return exitError
	}
	if err := result.WriteText(stdout); err != nil {
		fmt.Fprintln(stderr, "microseg check:", err)
		return exitError
	}
	if !result.Allowed {
		return exitFindings
	}
	return exitOK
}

func runBlastRadius(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("blast-radius", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg blast-radius segment.NAME [DIR]\n\nLists every segment and network a compromised member of the segment can reach,\ntransitively through allows, with the shortest path to each. Networks are reached but\nnot gone through: they are peers, not workloads microseg controls.")
	}
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if len(positional) == 0 {
		fmt.Fprintln(stderr, "microseg blast-radius: name the segment, like segment.web")
		return exitError
	}
	start, err := parsePeer(positional[0])
	if err != nil {
		fmt.Fprintln(stderr, "microseg blast-radius:", err)
		return exitError
	}
	dir, ok := policyDir(positional[1:], stderr, "blast-radius")
	if !ok {
		return exitError
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return exitError
	}
	reaches, err := analysis.BlastRadius(p, start)
	if err != nil {
		fmt.Fprintln(stderr, "microseg blast-radius:", err)
		return exitError
	}
	if err := analysis.WriteBlastRadius(stdout, start, reaches); err != nil {
		fmt.Fprintln(stderr, "microseg blast-radius:", err)
		return exitError
	}
	return exitOK
}

func runDiffPolicy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff-policy", flag.ContinueOnError)
	detailed := fs.Bool("detailed-exitcode", false, "exit 2 when reachability changed")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg diff-policy [-detailed-exitcode] OLD_DIR NEW_DIR\n\nLists the flows (peer pairs and ports) the new policy allows and the old did not (+),\nand the other way round (-).\n\nflags:")
		fs.PrintDefaults()
	}
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return code
	}
	if len(positional) != 2 {
		fmt.Fprintln(stderr, "microseg diff-policy: want two policy directories, OLD and NEW")
		return exitError
	}
	old := loadPolicy(positional[0], stderr)
	next := loadPolicy(positional[1], stderr)
	if old == nil || next == nil {
		return exitError
	}
	delta := analysis.DiffReachability(old, next)
	if err := delta.WriteText(stdout); err != nil {
		fmt.Fprintln(stderr, "microseg diff-policy:", err)
		return exitError
	}
	if *detailed && !delta.Empty() {
		return exitFindings
	}
	return exitOK
}

func runCompile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	target := fs.String("target", "", "show only this target")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg compile [-target NAME] [DIR]\n\nPrints what each target must enforce: its segments, rules and (for hosts) members,\nas the plan that would create them on an empty target.\n\nflags:")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return exitError
	}
	states, err := model.Compile(p)
	if err != nil {
		fmt.Fprintln(stderr, "microseg compile:", err)
		return exitError
	}
	if *target != "" {
		if _, ok := states[*target]; !ok {
			fmt.Fprintf(stderr, "microseg compile: no target %q; the policy has %s\n", *target, strings.Join(model.SortedKeys(states), ", "))
			return exitError
		}
	}
	for _, name := range model.SortedKeys(states) {
		if *target != "" && name != *target {
			continue
		}
		st := states[name]
		label := fmt.Sprintf("%s.%s", st.Target.Kind, name)
		if err := model.Diff(label, st.Objects(), nil).Render(stdout); err != nil {
			fmt.Fprintln(stderr, "microseg compile:", err)
			return exitError
		}
	}
	return exitOK
}
