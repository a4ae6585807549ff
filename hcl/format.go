package hclload

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical HCL layout. A file that does not parse is returned
// unchanged with its diagnostics: formatting must never turn a syntax error into a
// different program.
func Format(name string, src []byte) ([]byte, hcl.Diagnostics) {
	if _, diags := parse(name, src); diags.HasErrors() {
		return src, diags
	}
	return hclwrite.Format(src), nil
}

// FormatDir formats every *.hcl file of dir. With write it rewrites the files that
// change; either way it returns their names, sorted.
func FormatDir(dir string, write bool) ([]string, map[string]*hcl.File, hcl.Diagnostics, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list policy files in %s: %w", dir, err)
	}
	sort.Strings(names)
	var changed []string
	var diags hcl.Diagnostics
	files := map[string]*hcl.File{}
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
		out, d := Format(name, src)
		if d.HasErrors() {
			files[name] = &hcl.File{Bytes: src}
			diags = append(diags, d...)
			continue
		}
		if bytes.Equal(out, src) {
			continue
		}
		changed = append(changed, name)
		if write {
			if err := writeFileAtomic(name, out); err != nil {
				return changed, files, diags, err
			}
		}
	}
	return changed, files, diags, nil
}

// writeFileAtomic replaces a file through a temporary file and a rename, so that an
// interrupted fmt never leaves a policy file half written.
func writeFileAtomic(name string, data []byte) error {
	info, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".fmt-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("replace %s: %w", name, err)
	}
	return nil
}
