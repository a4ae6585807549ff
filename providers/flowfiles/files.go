// Package flowfiles reads flow logs from local files, in any vendor's format, as a
// flow source: what an auditor runs on logs exported from a cloud console or copied
// off a bucket, with no access to the cloud itself.
package flowfiles

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/microseg/microseg/model"
	"github.com/microseg/microseg/providers"
)

// Files is a file, or a directory tree of files, of one flow-log format. Files are
// read in the order of their paths, so a read can resume after a file.
type Files struct {
	Path   string
	Decode providers.FlowDecoder
	Target string // set as every record's Target
	Format string // the format's name, for messages
}

var _ providers.ResumableFlowSource = (*Files)(nil)

// Flows reads every file.
func (f *Files) Flows(ctx context.Context, since time.Time, fn func(model.FlowRecord) error) (providers.FlowStats, error) {
	return f.FlowsAfter(ctx, since, "", fn, nil)
}

// FlowsAfter reads the files whose paths (relative to Path) sort after after. Hidden
// files and directories (a leading dot) are skipped. A file the decoder cannot read
// is an error naming it.
func (f *Files) FlowsAfter(ctx context.Context, since time.Time, after string, fn func(model.FlowRecord) error, done func(string) error) (providers.FlowStats, error) {
	var stats providers.FlowStats
	names, err := f.list()
	if err != nil {
		return stats, err
	}
	for _, name := range names {
		if after != "" && name <= after {
			continue
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		path := f.Path
		if name != "." {
			path = filepath.Join(f.Path, name)
		}
		file, err := os.Open(path)
		if err != nil {
			return stats, err
		}
		var cbErr error
		err = f.Decode(ctx, file, f.Target, since, &stats, func(rec model.FlowRecord) error {
			if cbErr = fn(rec); cbErr != nil {
				return cbErr
			}
			return nil
		})
		file.Close()
		if err != nil {
			if cbErr != nil && err == cbErr {
				return stats, err
			}
			return stats, fmt.Errorf("%s: not a readable %s flow log: %w", path, f.Format, err)
		}
		stats.Objects++
		if done != nil {
			if err := done(name); err != nil {
				return stats, err
			}
		}
	}
	return stats, nil
}

// list returns the files to read: "." for Path itself when it is a file.
func (f *Files) list() ([]string, error) {
	info, err := os.Stat(f.Path)
	if err != nil {
		return nil, fmt.Errorf("flow logs: %w", err)
	}
	if !info.IsDir() {
		return []string{"."}, nil
	}
	var names []string
	err = filepath.WalkDir(f.Path, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != f.Path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(f.Path, path)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("flow logs: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("flow logs: no files in %s", f.Path)
	}
	slices.Sort(names)
	return names, nil
}
