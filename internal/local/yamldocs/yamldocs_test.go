package yamldocs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.yaml")
	manifest := "# only a comment\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	docs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[0].Object.GetKind() != "ServiceAccount" || docs[1].Object.GetName() != "b" {
		t.Fatalf("docs = %+v, want the ServiceAccount and the ConfigMap", docs)
	}
	if docs[1].Index != 2 || !strings.Contains(string(docs[1].Raw), "kind: ConfigMap") {
		t.Errorf("second doc index %d raw %q: want index 2 (the comment-only document counted) and its own bytes", docs[1].Index, docs[1].Raw)
	}
}

func TestReadFileNamesTheBadDocument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("kind: A\n---\n- a list\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "document 1") {
		t.Errorf("err = %v, want one naming document 1", err)
	}
}
