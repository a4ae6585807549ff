package main

import (
	"flag"
	"fmt"
	"io"

	hclload "github.com/microseg/microseg/hcl"
)

func runFmt(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fmt", flag.ContinueOnError)
	check := fs.Bool("check", false, "change no file; list the files that are not formatted and exit 2 if any")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: microseg fmt [-check] [DIR]\n\nRewrites the *.hcl files of DIR (default .) in canonical layout and lists the files it changed.")
		fs.PrintDefaults()
	}
	dir, code, ok := policyArgs(fs, args, stderr)
	if !ok {
		return code
	}
	changed, files, diags, err := hclload.FormatDir(dir, !*check)
	for _, name := range changed {
		fmt.Fprintln(stdout, name)
	}
	if len(diags) > 0 {
		hclload.WriteDiagnostics(stderr, files, diags)
	}
	switch {
	case err != nil:
		fmt.Fprintln(stderr, "microseg fmt:", err)
		return exitError
	case diags.HasErrors():
		return exitError
	case *check && len(changed) > 0:
		return exitFindings
	}
	return exitOK
}
