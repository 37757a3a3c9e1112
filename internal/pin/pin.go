// Package pin recognises the references that pin content: a full git commit and an image
// by digest. The checks are written out rather than regular expressions: a bounded
// repetition such as [0-9a-f]{64} compiles to 64 copies of its class, and compiling them at
// package initialisation cost ~1 ms of every function process's cold start.
package pin

import "strings"

// digestPrefix separates an image's name from its digest.
const digestPrefix = "@sha256:"

// Commit reports whether s is a full git commit: 40 (SHA-1) or 64 (SHA-256) hex digits, either case.
func Commit(s string) bool {
	return (len(s) == 40 || len(s) == 64) && hex(s, true)
}

// ImageDigest splits ref, an image pinned by digest (<name>@sha256:<64 lowercase hex>), into
// its name; ok is false when ref is not pinned so.
func ImageDigest(ref string) (name string, ok bool) {
	const digestLen = len(digestPrefix) + 64
	if len(ref) < digestLen || !strings.HasPrefix(ref[len(ref)-digestLen:], digestPrefix) || !hex(ref[len(ref)-64:], false) {
		return "", false
	}
	return ref[:len(ref)-digestLen], true
}

// hex reports whether s is only hex digits, lowercase unless upper is allowed.
func hex(s string, upper bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case upper && 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
