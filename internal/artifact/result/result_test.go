package result

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, c := range []struct {
		msg, err string
	}{
		{`{"reference":"127.0.0.1:5000/nbv/team-a@` + d + `","files":["report.html"]}`, ""},
		{`{"reference":"registry.example.com/a/b/c@` + d + `"}`, ""},
		{`{"message":"push failed"}`, ""},
		{`{"reference":"registry.example.com/a:tag"}`, "not <registry>"},
		{`{}`, "neither"},
		{`{"other":1}`, "unknown field"},
		{``, "EOF"},
	} {
		_, err := Decode(c.msg)
		if (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.msg, err, c.err)
		}
	}
	long := Result{Message: strings.Repeat("x", 10000)}.Encode()
	if len(long) > maxBytes {
		t.Errorf("encoded %d bytes", len(long))
	}
	if _, err := Decode(string(long)); err != nil {
		t.Error(err)
	}
}
