package pin

import (
	"strings"
	"testing"
)

func TestCommit(t *testing.T) {
	sha1, sha256 := strings.Repeat("a1", 20), strings.Repeat("B2", 32)
	for s, want := range map[string]bool{
		sha1: true, sha256: true, strings.ToUpper(sha1): true,
		sha1[:39]: false, sha1 + "a": false, sha256 + "0": false, "": false, "main": false,
		sha1[:39] + "g": false, sha1[:39] + "\n": false, " " + sha1[1:]: false,
	} {
		if got := Commit(s); got != want {
			t.Errorf("Commit(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestImageDigest(t *testing.T) {
	hex64 := strings.Repeat("0f", 32)
	for _, c := range []struct {
		ref, name string
		ok        bool
	}{
		{"registry.example.com/ns/img@sha256:" + hex64, "registry.example.com/ns/img", true},
		{"@sha256:" + hex64, "", true}, // the name is the caller's to check
		{"img@sha256:" + strings.ToUpper(hex64), "", false},
		{"img@sha256:" + hex64[:63], "", false},
		{"img@sha256:" + hex64 + "0", "", false},
		{"img@sha512:" + hex64, "", false},
		{"img:" + hex64, "", false},
		{"img@sha256:" + hex64[:63] + "g", "", false},
		{"img@sha256:" + hex64 + "\n", "", false},
		{"", "", false},
	} {
		name, ok := ImageDigest(c.ref)
		if name != c.name || ok != c.ok {
			t.Errorf("ImageDigest(%q) = %q, %v; want %q, %v", c.ref, name, ok, c.name, c.ok)
		}
	}
}
