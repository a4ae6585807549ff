package hclload

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFormat(t *testing.T) {
	messy := []byte("segment \"web\" {\ntarget=target.aws.prod\n  members { tags = { tier = \"web\" } }\n    cidrs  =   [\"10.0.0.0/24\"]\n}\n")
	want := "segment \"web\" {\n  target = target.aws.prod\n  members { tags = { tier = \"web\" } }\n  cidrs = [\"10.0.0.0/24\"]\n}\n"
	got, diags := Format("messy.hcl", messy)
	if diags.HasErrors() || string(got) != want {
		t.Fatalf("Format = %q, %v\nwant %q", got, diags, want)
	}
	again, _ := Format("messy.hcl", got)
	if string(again) != string(got) {
		t.Errorf("Format is not idempotent: %q", again)
	}
	broken := []byte("segment \"web\" {\n")
	out, diags := Format("broken.hcl", broken)
	if !diags.HasErrors() || string(out) != string(broken) {
		t.Errorf("a file that does not parse must come back unchanged with diagnostics: %q, %v", out, diags)
	}
}

func TestFormatDir(t *testing.T) {
	dir := t.TempDir()
	clean := []byte("network \"n\" {\n  cidrs = [\"10.0.0.0/8\"]\n}\n")
	messy := []byte("network \"m\" {\ncidrs=[\"10.0.0.0/8\"]\n}\n")
	os.WriteFile(filepath.Join(dir, "clean.hcl"), clean, 0o644)
	os.WriteFile(filepath.Join(dir, "messy.hcl"), messy, 0o600)
	changed, _, diags, err := FormatDir(dir, false)
	if err != nil || diags.HasErrors() || len(changed) != 1 || filepath.Base(changed[0]) != "messy.hcl" {
		t.Fatalf("check: changed=%v diags=%v err=%v", changed, diags, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "messy.hcl")); string(got) != string(messy) {
		t.Fatal("check mode rewrote a file")
	}
	if _, _, _, err := FormatDir(dir, true); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "messy.hcl"))
	if string(got) != "network \"m\" {\n  cidrs = [\"10.0.0.0/8\"]\n}\n" {
		t.Errorf("rewritten = %q", got)
	}
	if info, _ := os.Stat(filepath.Join(dir, "messy.hcl")); info.Mode().Perm() != 0o600 {
		t.Errorf("mode changed to %v", info.Mode())
	}
	if changed, _, _, _ := FormatDir(dir, false); len(changed) != 0 {
		t.Errorf("after fmt, still unformatted: %v", changed)
	}
}

// FuzzFormat checks that formatting never fails on input that parses, is idempotent,
// and leaves input that does not parse alone.
func FuzzFormat(f *testing.F) {
	if src, err := os.ReadFile("testdata/design/design.hcl"); err == nil {
		f.Add(src)
	}
	f.Add([]byte("a {\nb=1\n}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, diags := Format("f.hcl", src)
		if diags.HasErrors() {
			if string(out) != string(src) {
				t.Fatal("changed a file that does not parse")
			}
			return
		}
		again, diags := Format("f.hcl", out)
		if diags.HasErrors() {
			t.Fatalf("formatted output does not parse: %v\n%q", diags, out)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}
