package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/microseg/microseg/model"
)

func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg validate [DIR]\n\nLoads and compiles the policy in DIR (default .). Exit 0 when it is valid, 1 otherwise.")
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	p := loadPolicy(dir, stderr)
	if p == nil {
		return exitError
	}
	states, _ := model.Compile(p)
	rules := 0
	for _, s := range states {
		rules += len(s.Rules)
	}
	fmt.Fprintf(stdout, "%s: valid: %d targets, %d segments, %d networks, %d services, %d allows (%d rules)\n",
		dir, len(p.Targets), len(p.Segments), len(p.Networks), len(p.Services), len(p.Allows), rules)
	return exitOK
}
