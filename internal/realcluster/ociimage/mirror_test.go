package ociimage

import "testing"

func TestOneLineMirror(t *testing.T) {
	text := `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://other.example/debian bullseye main
deb [ arch=amd64 ] http://mirror.example/debian bookworm main contrib
deb http://later.example/debian bookworm main
`
	if got := oneLineMirror(text, "bookworm"); got != "http://mirror.example/debian" {
		t.Errorf("got %q", got)
	}
	if got := oneLineMirror(text, "trixie"); got != "" {
		t.Errorf("no trixie source, got %q", got)
	}
}

func TestDeb822Mirror(t *testing.T) {
	text := `Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://deb.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
`
	if got := deb822Mirror(text, "bookworm"); got != "http://deb.example/debian" {
		t.Errorf("got %q", got)
	}
	if got := deb822Mirror(text, "bookworm-security"); got != "http://security.example/debian-security" {
		t.Errorf("security: got %q", got)
	}
}
