package controlplane

import "testing"

func TestStatusWriteChanged(t *testing.T) {
	cases := []struct {
		name      string
		req, resp string
		want      bool
	}{
		{"new resourceVersion", `{"metadata":{"resourceVersion":"10"},"status":{"phase":"Initializing"}}`, `{"metadata":{"resourceVersion":"11"}}`, true},
		{"same resourceVersion: nothing changed", `{"metadata":{"resourceVersion":"10"},"status":{}}`, `{"metadata":{"resourceVersion":"10"}}`, false},
		{"unguarded write", `{"status":{"phase":"Failed"}}`, `{"metadata":{"resourceVersion":"10"}}`, true},
		{"JSON patch (a list) counts as a change", `[{"op":"replace","path":"/status/phase","value":"Failed"}]`, `{"metadata":{"resourceVersion":"10"}}`, true},
	}
	for _, c := range cases {
		e := AuditEvent{RequestObject: []byte(c.req), ResponseObject: []byte(c.resp)}
		if got := e.StatusWriteChanged(); got != c.want {
			t.Errorf("%s: StatusWriteChanged() = %v, want %v", c.name, got, c.want)
		}
	}
}
