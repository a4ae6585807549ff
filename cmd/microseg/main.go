// Command microseg reconciles one segmentation model, written in HCL, against cloud
// security groups, firewall rules and Linux hosts. This file dispatches the
// subcommands; each lives in a file of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes, as Terraform's: 0 success and nothing to report, 1 an error, 2 the
// command worked and found something (lint findings, a denied flow, unformatted files,
// reachability changes).
const (
	exitOK       = 0
	exitError    = 1
	exitFindings = 2
)

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"validate":     {"check that a policy loads and compiles", runValidate},
	"lint":         {"report risky, dead or expiring parts of a policy", runLint},
	"check":        {"say whether a flow is allowed, by which allow, or why not", runCheck},
	"blast-radius": {"list what a compromised segment can reach, transitively", runBlastRadius},
	"diff-policy":  {"compare the reachability of two policy versions", runDiffPolicy},
	"compile":      {"print what each target must enforce", runCompile},
	"host":         {"show, apply, check drift of or watch the logs of one Linux host", runHost},
	"plan":         {"observe every host and cloud target and show what applying would change", runPlan},
	"apply":        {"apply a plan (approval for removals, commit-confirmed, verified)", runApply},
	"approve":      {"let a waiting apply that removes something go ahead", runApprove},
	"drift":        {"report the hosts and cloud targets whose live state differs from the policy", runDrift},
	"worker":       {"run the microseg worker against Temporal", runWorker},
	"reconcile":    {"start, stop, inspect or schedule a target's drift reconciliation", runReconcile},
	"breakglass":   {"switch a target to audit mode in an emergency, and back", runBreakglass},
	"agent":        {"run the agent of one host", runAgent},
	"server":       {"run the embedded Temporal server", runServer},
	"fmt":          {"rewrite policy files in canonical layout", runFmt},
	"audit":        {"judge observed flows against the policy (targets' flow logs, or exported files)", runAudit},
	"report":       {"write the compliance report (html, json, csv, md) from the results history", runReport},
	"graph":        {"draw the segment graph with observed flows (svg, dot)", runGraph},
	"discover":     {"propose segments and allows, as HCL, from observed flows", runDiscover},
	"version":      {"print the version", runVersion},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "microseg: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitError
	}
	return cmd.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: microseg COMMAND [flags] [args]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-13s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'microseg COMMAND -h' for a command's flags.")
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "microseg", version)
	return exitOK
}

// parseArgs parses flags that may come before or after the positional arguments
// ("microseg lint examples -json" and "microseg lint -json examples" mean the same).
// It returns the positionals, or an exit code when parsing ended the command.
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(stderr)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitError, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, 0, true
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// policyArgs parses the flags of a command whose one optional argument is the policy
// directory, and returns the directory; ok is false when the command should end with
// code.
func policyArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (dir string, code int, ok bool) {
	positional, code, ok := parseArgs(fs, args, stderr)
	if !ok {
		return "", code, false
	}
	if dir, ok = policyDir(positional, stderr, fs.Name()); !ok {
		return "", exitError, false
	}
	return dir, 0, true
}

// policyDir returns the single optional directory argument, "." by default.
func policyDir(positional []string, stderr io.Writer, name string) (string, bool) {
	switch len(positional) {
	case 0:
		return ".", true
	case 1:
		return positional[0], true
	default:
		fmt.Fprintf(stderr, "microseg %s: want at most one policy directory, got %d arguments\n", name, len(positional))
		return "", false
	}
}
