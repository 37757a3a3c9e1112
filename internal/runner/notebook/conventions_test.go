package notebook

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDirectivesFromMarkers(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		tags    []string
		skip    string
		compare bool
		raises  string
	}{
		{name: "no markers", source: "x = 1\n# a comment", compare: true},
		{name: "ignore comment", source: "# NBVAL_IGNORE_OUTPUT\nprint(1)", compare: false},
		{name: "ignore comment, spaced and doubled hashes", source: "  ##   NBVAL_IGNORE_OUTPUT  \nprint(1)", compare: false},
		{name: "legacy ignore comment", source: "#PYTEST_VALIDATE_IGNORE_OUTPUT", compare: false},
		{name: "marker must be the whole comment", source: "# NBVAL_IGNORE_OUTPUT please", compare: true},
		{name: "marker in a string is not a comment", source: "s = '# NBVAL_SKIP'", compare: true},
		{name: "ignore tag", tags: []string{"nbval-ignore-output"}, compare: false},
		{name: "skip comment", source: "# NBVAL_SKIP\nraise SystemExit(1)", skip: "# NBVAL_SKIP", compare: true},
		{name: "skip tag", tags: []string{"nbval-skip"}, skip: "tag nbval-skip", compare: true},
		{name: "nbclient skip tag", tags: []string{"skip-execution"}, skip: "tag skip-execution", compare: true},
		{name: "raises comment", source: "# NBVAL_RAISES_EXCEPTION\n1/0", raises: "# NBVAL_RAISES_EXCEPTION", compare: true},
		{name: "raises tag", tags: []string{"raises-exception"}, raises: "tag raises-exception", compare: true},
		{name: "nbval raises tag", tags: []string{"nbval-raises-exception"}, raises: "tag nbval-raises-exception", compare: true},
		// nbval: a comment overrides a tag setting the same option...
		{name: "check comment beats ignore tag", source: "# NBVAL_CHECK_OUTPUT", tags: []string{"nbval-ignore-output"}, compare: true},
		{name: "ignore comment beats check tag", source: "# NBVAL_IGNORE_OUTPUT", tags: []string{"nbval-check-output"}, compare: false},
		// ...and the last of several comments wins.
		{name: "last comment wins", source: "# NBVAL_IGNORE_OUTPUT\n# NBVAL_CHECK_OUTPUT", compare: true},
		{name: "unknown tags and markers", source: "# NBVAL_WHATEVER", tags: []string{"parameters", "nbval"}, compare: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Cell{CellType: "code", Source: Text(tc.source), Metadata: CellMeta{Tags: tc.tags}}
			d, err := c.Directives()
			if err != nil {
				t.Fatal(err)
			}
			if d.Skip != tc.skip || d.Compare != tc.compare || d.RaisesException != tc.raises {
				t.Errorf("got skip %q compare %v raises %q", d.Skip, d.Compare, d.RaisesException)
			}
			if !d.Compare && d.IgnoredBy == "" {
				t.Error("ignored without naming the marker")
			}
		})
	}
}

func TestDirectivesFromNBMakeMetadata(t *testing.T) {
	c := Cell{CellType: "code", Metadata: CellMeta{NBMake: json.RawMessage(
		`{"mock":{"epochs":2,"cfg":{"path":"/t/\"x\"","on":true,"n":null},"args.env":"test"},"post_cell_execute":["y = 3","z = x+y"]}`)}}
	d, err := c.Directives()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.After) != 2 || d.After[0].From != "nbmake.mock" || d.After[1].From != "nbmake.post_cell_execute" {
		t.Fatalf("after %+v", d.After)
	}
	wantMock := "args.env = \"test\"\ncfg = {\"n\": None, \"on\": True, \"path\": \"/t/\\\"x\\\"\"}\nepochs = 2\n"
	if d.After[0].Code != wantMock {
		t.Errorf("mock code %q, want %q", d.After[0].Code, wantMock)
	}
	if d.After[1].Code != "y = 3\nz = x+y" {
		t.Errorf("post_cell_execute code %q", d.After[1].Code)
	}
	for _, bad := range []string{
		`{"post_cell_execute":"y = 3"}`,
		`{"mock":[1]}`,
		`{"mock":{"x\nimport os":1}}`,
		`{"mock":{"a = b":1}}`,
		`"mock"`,
	} {
		c.Metadata.NBMake = json.RawMessage(bad)
		if _, err := c.Directives(); err == nil || !strings.Contains(err.Error(), "metadata.nbmake") {
			t.Errorf("nbmake %s: error %v", bad, err)
		}
	}
}

func TestExecutionSettings(t *testing.T) {
	tests := []struct {
		meta    string
		want    ExecutionSettings
		wantErr bool
	}{
		{meta: ``, want: ExecutionSettings{}},
		{meta: `{"timeout": 2.5, "allow_errors": true}`, want: ExecutionSettings{Timeout: 2500 * time.Millisecond, HasTimeout: true, AllowErrors: true}},
		{meta: `{"timeout": -1}`, want: ExecutionSettings{HasTimeout: true}},
		{meta: `{"timeout": null}`, want: ExecutionSettings{HasTimeout: true}},
		{meta: `{"allow_errors": false}`, want: ExecutionSettings{}},
		{meta: `{"timeout": "10"}`, wantErr: true},
		{meta: `{"allow_errors": "yes"}`, wantErr: true},
	}
	for _, tc := range tests {
		nb := &Notebook{Metadata: Metadata{Execution: json.RawMessage(tc.meta)}}
		got, err := nb.ExecutionSettings()
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("%s: got %+v, %v", tc.meta, got, err)
		}
	}
}
