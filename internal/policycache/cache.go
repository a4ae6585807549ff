// Package policycache keeps loaded policies on disk, content-addressed, so that a
// command run again on an unchanged policy skips parsing it: on a policy of
// 100,000 allows, reading an entry takes a fraction of the seconds parsing does.
//
// An entry's key is the SHA-256 of the binary's version and of every policy file's
// name and bytes: any change to any file, or another build of microseg, is another
// key. An entry is written whole to a temporary file and renamed into place, so a
// reader never sees half of one and two processes filling the same entry at once
// both succeed. It carries the SHA-256 of its payload, checked on every read: an
// entry that is corrupt, truncated or of another format is ignored (and rebuilt by
// the caller), never trusted.
package policycache

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"

	"github.com/microseg/microseg/model"
)

// magic starts every entry, with the format's version.
const magic = "microseg-policy-cache 1\n"

// Cache is a directory of entries.
type Cache struct {
	Dir     string
	Version string // the binary's identity (BinaryVersion), part of every key
}

// Key is the key of a policy's files (by path) for this cache's binary.
func (c *Cache) Key(sources map[string][]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", c.Version, len(sources))
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(sources[name]))
		h.Write(sources[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) path(key string) string { return filepath.Join(c.Dir, key+".gob") }

// Get returns the policy stored under key, or false when there is none or the entry
// does not verify.
func (c *Cache) Get(key string) (*model.Policy, bool) {
	raw, err := os.ReadFile(c.path(key))
	if err != nil || len(raw) < len(magic)+sha256.Size || string(raw[:len(magic)]) != magic {
		return nil, false
	}
	sum, payload := raw[len(magic):len(magic)+sha256.Size], raw[len(magic)+sha256.Size:]
	if got := sha256.Sum256(payload); !bytes.Equal(got[:], sum) {
		return nil, false
	}
	var p model.Policy
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(&p); err != nil {
		return nil, false
	}
	return &p, true
}

// Put stores p under key.
func (c *Cache) Put(key string, p *model.Policy) error {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(p); err != nil {
		return fmt.Errorf("encode the policy for the cache: %w", err)
	}
	sum := sha256.Sum256(payload.Bytes())
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.Dir, key+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(append([]byte(magic), sum[:]...), payload.Bytes()...))
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), c.path(key))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write the policy cache entry: %w", err)
	}
	return nil
}

// BinaryVersion identifies the running binary: its module version and VCS
// revision, and the executable's size and modification time, so that a rebuild
// from a changed tree (same revision) is another binary too.
func BinaryVersion() string {
	v := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.GoVersion + " " + bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" || s.Key == "vcs.time" {
				v += " " + s.Value
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		if fi, err := os.Stat(exe); err == nil {
			v += " " + strconv.FormatInt(fi.Size(), 10) + " " + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
		}
	}
	return v
}
