package notebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// v3Notebook is an nbformat 3 notebook as IPython 2 saved them: two worksheets, multiline
// fields as lists, every output type nbformat 3 has, and each cell type.
const v3Notebook = `{
 "metadata": {"name": "analysis", "signature": "sha256:00ff", "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
 "nbformat": 3, "nbformat_minor": 0,
 "worksheets": [
  {"metadata": {}, "cells": [
   {"cell_type": "heading", "level": 2, "metadata": {}, "source": ["Results\n", "of the run"]},
   {"cell_type": "code", "collapsed": false, "input": ["import sys\n", "print('out')\n", "sys.stderr.write('err\\n')\n", "40 + 2"],
    "language": "python", "metadata": {"tags": ["keep"]}, "prompt_number": 3,
    "outputs": [
     {"output_type": "stream", "stream": "stdout", "text": ["out\n"]},
     {"output_type": "stream", "stream": "stderr", "text": "err\n"},
     {"output_type": "pyout", "prompt_number": 3, "metadata": {"png": {"width": 10}}, "text": ["42"],
      "png": "iVBORw0KGgo=", "json": "{\"answer\": 42, \"pi\": 3.14159265358979}"}
    ]},
   {"cell_type": "markdown", "metadata": {}, "source": "Some *text*"}
  ]},
  {"metadata": {}, "cells": [
   {"cell_type": "code", "input": "display(HTML('<b>x</b>'))\n1/0", "language": "python", "metadata": {}, "prompt_number": 4,
    "outputs": [
     {"output_type": "display_data", "metadata": {}, "html": ["<b>x</b>"], "text": "<IPython.core.display.HTML object>",
      "latex": "$x$", "svg": "<svg/>", "javascript": "alert(1)"},
     {"output_type": "pyerr", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": ["Traceback", "ZeroDivisionError"]}
    ]},
   {"cell_type": "code", "input": "", "language": "python", "metadata": {}, "outputs": []},
   {"cell_type": "raw", "metadata": {}, "source": "raw text"},
   {"cell_type": "html", "metadata": {}, "source": "<i>old</i>"}
  ]}
 ]
}`

// comparable drops cell ids (random on both sides) and joins lists of strings, which either
// side may keep split into lines.
func comparableDoc(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if k != "id" {
				out[k] = comparableDoc(e)
			}
		}
		return out
	case []any:
		if s, ok := joinText(v); ok && len(v) > 0 {
			return s
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = comparableDoc(e)
		}
		return out
	case json.Number:
		return v.String()
	}
	return v
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// The upgrade gives what nbformat's own conversion gives (nbformat.read(..., as_version=4)),
// field for field apart from the random cell ids.
func TestUpgradeV3MatchesNbformat(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import nbformat").Run(); err != nil {
		t.Skipf("%s lacks nbformat (make python-deps): %v", python, err)
	}
	path := filepath.Join(t.TempDir(), "v3.ipynb")
	if err := os.WriteFile(path, []byte(v3Notebook), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", "import json, sys, nbformat; print(json.dumps(nbformat.read(sys.argv[1], as_version=4)))", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("nbformat: %v: %s", err, stderr.String())
	}
	doc := decodeDoc(t, []byte(v3Notebook))
	if err := upgradeV3(doc); err != nil {
		t.Fatal(err)
	}
	got, wantDoc := comparableDoc(doc), comparableDoc(decodeDoc(t, want))
	if !reflect.DeepEqual(got, wantDoc) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(wantDoc, "", " ")
		t.Errorf("upgrade differs from nbformat's:\n%s\nnbformat:\n%s", g, w)
	}
	for _, c := range doc["cells"].([]any) {
		if id, _ := c.(map[string]any)["id"].(string); id == "" {
			t.Errorf("upgraded cell without an id: %v", c)
		}
	}
}

func TestParseReadsNbformat3(t *testing.T) {
	nb, err := Parse([]byte(v3Notebook))
	if err != nil {
		t.Fatal(err)
	}
	if nb.NBFormat != 4 || len(nb.Cells) != 7 || nb.Cells[0].Source != "## Results of the run" || nb.Cells[6].CellType != "markdown" {
		t.Fatalf("notebook %+v", nb)
	}
	c := nb.Cells[1]
	if c.Source != "import sys\nprint('out')\nsys.stderr.write('err\\n')\n40 + 2" || c.ExecutionCount == nil || *c.ExecutionCount != 3 || !c.HasTag("keep") {
		t.Errorf("code cell %+v", c)
	}
	if o := c.Outputs[2]; o.OutputType != "execute_result" || o.Data["text/plain"] != "42" || o.Data["image/png"] != "iVBORw0KGgo=" || o.Data["application/json"] != `{"answer":42,"pi":3.14159265358979}` {
		t.Errorf("pyout %+v", o)
	}
	if o := c.Outputs[1]; o.OutputType != "stream" || o.Name != "stderr" {
		t.Errorf("stream %+v", o)
	}
	if o := nb.Cells[3].Outputs[1]; o.OutputType != "error" || o.EName != "ZeroDivisionError" {
		t.Errorf("pyerr %+v", o)
	}
	// Parameters are injected into the upgraded notebook.
	out, at, err := InjectParameters([]byte(v3Notebook), map[string]json.RawMessage{"n": json.RawMessage("2")})
	if err != nil || at != 0 {
		t.Fatalf("InjectParameters: %d %v", at, err)
	}
	if nb, err := Parse(out); err != nil || len(nb.Cells) != 8 || !nb.Cells[0].HasTag(TagInjectedParameters) || nb.Cells[0].ID == "" {
		t.Fatalf("with parameters: %v %+v", err, nb)
	}
}

// What is not an nbformat 3 notebook is still not a notebook, and says what is wrong.
func TestNbformat3WithoutWorksheetsIsNotANotebook(t *testing.T) {
	for bad, want := range map[string]string{
		`{"nbformat": 3, "cells": []}`:                                                       "nbformat 3 without a worksheets list",
		`{"nbformat": 3, "worksheets": {}}`:                                                  "nbformat 3 without a worksheets list",
		`{"nbformat": 3, "worksheets": [[]]}`:                                                "worksheet 0 is not an object",
		`{"nbformat": 3, "worksheets": [{}]}`:                                                "worksheet 0 has no cells list",
		`{"nbformat": 3, "worksheets": [{"cells": [1]}]}`:                                    "cell 0 is not an object",
		`{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "outputs": {}}]}]}`: "cell 0: outputs is not a list",
		`{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "outputs": [{"output_type": "pyout", "json": "{"}]}]}]}`: "application/json data is not JSON",
		`{"nbformat": 3, "metadata": [], "worksheets": []}`:                                                                       "metadata is not an object",
		`{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "widget"}]}]}`:                                                   `cell 0 has cell_type "widget"`,
		`{"nbformat": 2, "worksheets": []}`:                                                                                       "no \"cells\" field",
		`{"nbformat": 2, "cells": []}`:                                                                                            "nbformat 2 (nbformat 3 and 4 are read)",
	} {
		_, err := Parse([]byte(bad))
		if !errors.Is(err, ErrNotANotebook) || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", bad, err, want)
		}
	}
}
