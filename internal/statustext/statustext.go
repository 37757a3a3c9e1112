// Package statustext owns the cleaning and bounding of every text the functions write where
// people and programs read it: the job's status, its Kubernetes Events and the reply
// CloudEvents. Much of that text comes from places the job's owner (or anyone who can write
// to a notebook, an image or a CI system) controls: runner summaries, build logs, signed CI
// reports. Clean makes such text safe to store and print:
//
//   - ANSI/ECMA-48 escape sequences are removed whole: CSI (colours, cursor moves), OSC
//     (terminal titles, OSC-8 hyperlinks), DCS/SOS/PM/APC strings and two-byte escapes, in
//     their 7-bit (ESC-prefixed) and 8-bit (C1) forms;
//   - other control characters are removed (C0 but newline and tab, DEL, C1), as are the
//     Unicode bidirectional overrides and isolates that make text read differently than it is;
//   - invalid UTF-8 becomes U+FFFD, so the text is always valid JSON and valid for the API;
//   - text longer than its limit is cut on a rune boundary and ends with a visible marker,
//     "… [truncated N bytes]", the whole staying within the limit.
//
// The limits per field, in bytes of UTF-8, are the constants below. The transition executor
// (internal/transition) applies Status to every status it writes; Events and reply events
// are derived from that status, so they follow.
package statustext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits, in bytes.
const (
	// MaxMessage bounds status.message, buildStatus.message and so the reply event's message
	// (whose schema allows 32 KiB).
	MaxMessage = 4 << 10
	// MaxConditionMessage bounds status.conditions[].message (the API server allows 32 KiB).
	MaxConditionMessage = 4 << 10
	// MaxEventMessage bounds a Kubernetes Event's message; events.k8s.io allows 1 KiB.
	MaxEventMessage = 1 << 10
	// MaxReason bounds machine-readable reasons reported by others (buildStatus.reason, a
	// pod's or build's reason quoted in a message).
	MaxReason = 256
	// MaxCellText bounds status.results[].errorMessage and .output, and
	// status.comparisonResult.diffs[].expected, .actual and .diff, per cell.
	MaxCellText = 1 << 10
	// MaxResults bounds the number of status.results entries; the rest are dropped (the
	// message still counts every cell).
	MaxResults = 300
	// MaxDiffs bounds the number of status.comparisonResult.diffs entries.
	MaxDiffs = 50
)

// truncatedMarker ends text cut by Clean; %d is the number of bytes left out.
const truncatedMarker = "… [truncated %d bytes]"

// Clean returns s without escape sequences and control characters (newline and tab stay),
// with invalid UTF-8 replaced, and at most limit bytes long (no limit when limit <= 0). It is
// idempotent: cleaning its output again changes nothing.
func Clean(s string, limit int) string {
	out := strip(s)
	if limit <= 0 || len(out) <= limit {
		return out
	}
	return truncate(out, limit)
}

// strip removes what a terminal would interpret rather than print.
func strip(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
			i++
		case r == 0x1b:
			i += escapeLen(s[i:])
		case r == 0x9b: // C1 CSI
			i += size + csiLen(s[i+size:])
		case r == 0x90 || r == 0x98 || r == 0x9d || r == 0x9e || r == 0x9f: // C1 DCS, SOS, OSC, PM, APC
			i += size + stringLen(s[i+size:])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
			i += size
		case r < 0x20 || (r >= 0x7f && r <= 0x9f) || isBidiControl(r):
			i += size
		default:
			b.WriteString(s[i : i+size])
			i += size
		}
	}
	return b.String()
}

// isPlain reports whether s needs no stripping: printable ASCII, newline and tab only.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// escapeLen is the length of the escape sequence at the start of s (s[0] is ESC).
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiLen(s[2:])
	case ']', 'P', 'X', '^', '_':
		return 2 + stringLen(s[2:])
	}
	// nF/Fp/Fe/Fs escapes: intermediates 0x20-0x2F, then one final byte 0x30-0x7E.
	n := 1
	for n < len(s) && s[n] >= 0x20 && s[n] <= 0x2f {
		n++
	}
	if n < len(s) && s[n] >= 0x30 && s[n] <= 0x7e {
		n++
	}
	return n
}

// csiLen is the length of a control sequence's body after its introducer: parameter bytes
// 0x30-0x3F, intermediate bytes 0x20-0x2F, then one final byte 0x40-0x7E.
func csiLen(s string) int {
	n := 0
	for n < len(s) && s[n] >= 0x30 && s[n] <= 0x3f {
		n++
	}
	for n < len(s) && s[n] >= 0x20 && s[n] <= 0x2f {
		n++
	}
	if n < len(s) && s[n] >= 0x40 && s[n] <= 0x7e {
		n++
	}
	return n
}

// stringLen is the length of a control string's body after its introducer, terminator
// included: BEL, ESC \ or C1 ST end it. An unterminated string runs to the end of s, as a
// terminal would swallow it.
func stringLen(s string) int {
	for n := 0; n < len(s); n++ {
		switch {
		case s[n] == 0x07:
			return n + 1
		case s[n] == 0x1b && n+1 < len(s) && s[n+1] == '\\':
			return n + 2
		case s[n] == 0xc2 && n+1 < len(s) && s[n+1] == 0x9c: // U+009C ST
			return n + 2
		}
	}
	return len(s)
}

// isBidiControl reports the bidirectional embeddings, overrides and isolates (U+202A-U+202E,
// U+2066-U+2069) that reorder how text is displayed.
func isBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// truncate cuts s (valid UTF-8, longer than limit) to at most limit bytes with the marker.
func truncate(s string, limit int) string {
	// The marker is sized for the most bytes that could be left out, so it never outgrows
	// the room reserved for it.
	room := len(fmt.Sprintf(truncatedMarker, len(s)))
	if limit < room {
		return s[:runeStart(s, limit)]
	}
	cut := runeStart(s, limit-room)
	return s[:cut] + fmt.Sprintf(truncatedMarker, len(s)-cut)
}

// runeStart is the largest rune boundary of s at or before n.
func runeStart(s string, n int) int {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}
