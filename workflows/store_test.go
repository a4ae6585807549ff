package workflows

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestDirStore(t *testing.T) {
	s := DirStore{Dir: t.TempDir()}
	ctx := context.Background()
	hash, err := s.Put(ctx, "things", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Put(ctx, "things", []byte("hello")); again != hash {
		t.Errorf("same content, other hash: %s, %s", hash, again)
	}
	got, err := s.Get(ctx, "things", hash)
	if err != nil || string(got) != "hello" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := s.Get(ctx, "things", "../../etc/passwd"); err == nil {
		t.Error("a path was accepted as a hash")
	}
	os.WriteFile(filepath.Join(s.Dir, "things", hash), []byte("tampered"), 0o644)
	if _, err := s.Get(ctx, "things", hash); err == nil {
		t.Error("content that no longer matches its hash was returned")
	}
}
