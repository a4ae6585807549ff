package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Store keeps content by its hash, so that large things (a host's compiled policy, a
// plan's text) never travel as workflow payloads, which Temporal limits to a few MB:
// workflows pass hashes, and the worker, the agents and the CLI read and write the
// content here. It is an interface so that deployments can put it where all of them
// reach it.
type Store interface {
	Put(ctx context.Context, kind string, data []byte) (string, error)
	Get(ctx context.Context, kind, hash string) ([]byte, error)
}

// DirStore is a Store in a directory: <Dir>/<kind>/<hash>. The embedded setup keeps
// it in the state directory; hosts on other machines need it on shared storage.
type DirStore struct{ Dir string }

var validHash = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Put writes data under its SHA-256 and returns the hash; writing it again is a no-op.
func (s DirStore) Put(_ context.Context, kind string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	dir := filepath.Join(s.Dir, kind)
	path := filepath.Join(dir, hash)
	if _, err := os.Stat(path); err == nil {
		return hash, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	return hash, nil
}

// Get reads what Put stored, checking that it still has the hash it was stored under.
func (s DirStore) Get(_ context.Context, kind, hash string) ([]byte, error) {
	if !validHash.MatchString(hash) {
		return nil, fmt.Errorf("read %s: %q is not a content hash", kind, hash)
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, kind, hash))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", kind, hash[:12], err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != hash {
		return nil, fmt.Errorf("read %s %s: content does not match its hash", kind, hash[:12])
	}
	return data, nil
}

// putJSON and getJSON store values as JSON.
func putJSON(ctx context.Context, s Store, kind string, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store %s: %w", kind, err)
	}
	return s.Put(ctx, kind, data)
}

func getJSON(ctx context.Context, s Store, kind, hash string, v any) error {
	data, err := s.Get(ctx, kind, hash)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s %s: %w", kind, hash[:12], err)
	}
	return nil
}

// Kinds of stored content.
const (
	KindBundle      = "bundles"
	KindHostPolicy  = "host-policies"
	KindTargetState = "target-states"
	KindPlanText    = "plan-texts"
)
