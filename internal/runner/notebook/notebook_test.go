package notebook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseMultilineAndOutputs(t *testing.T) {
	src := `{"nbformat":4,"nbformat_minor":4,"metadata":{"kernelspec":{"name":"python3"}},"cells":[
	 {"cell_type":"code","source":["a = 1\n","a"],"metadata":{"tags":["parameters"]},"execution_count":3,
	  "outputs":[{"output_type":"execute_result","execution_count":3,"metadata":{},
	   "data":{"text/plain":["1"],"application/json":{"a":1}}},
	   {"output_type":"stream","name":"stderr","text":"w\n"}]}]}`
	nb, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c := nb.Cells[0]
	if c.Source != "a = 1\na" || !c.HasTag("parameters") || nb.Metadata.KernelSpec.Name != "python3" {
		t.Errorf("cell %+v", c)
	}
	if c.Outputs[0].Data["text/plain"] != "1" || c.Outputs[0].Data["application/json"] != `{"a":1}` || c.Outputs[1].Text != "w\n" {
		t.Errorf("outputs %+v", c.Outputs)
	}
	for _, bad := range []string{`[]`, `{"hello":1}`, `{"nbformat":3,"cells":[]}`, `not json`, `{"nbformat":4,"cells":[{"cell_type":"widget"}]}`} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrNotANotebook) {
			t.Errorf("Parse(%s) = %v, want ErrNotANotebook", bad, err)
		}
	}
}

func TestInjectParameters(t *testing.T) {
	src := `{"nbformat":4,"nbformat_minor":5,"metadata":{"big":12345678901234567890},"cells":[
	 {"id":"a","cell_type":"markdown","source":"x","metadata":{}},
	 {"id":"b","cell_type":"code","source":"n = 1","metadata":{"tags":["parameters"]},"outputs":[],"execution_count":null},
	 {"id":"old","cell_type":"code","source":"n = 9","metadata":{"tags":["injected-parameters"]},"outputs":[],"execution_count":null},
	 {"id":"c","cell_type":"code","source":"n","metadata":{},"outputs":[],"execution_count":null}]}`
	out, at, err := InjectParameters([]byte(src), map[string]json.RawMessage{
		"n": json.RawMessage(`2`), "s": json.RawMessage(`"a\"b\n\u0001é"`), "o": json.RawMessage(`{"k":[true,null,1.5e3]}`)})
	if err != nil {
		t.Fatal(err)
	}
	nb, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if at != 2 || len(nb.Cells) != 4 || !nb.Cells[2].HasTag(TagInjectedParameters) || nb.Cells[2].ID == "" || nb.Cells[3].ID != "c" {
		t.Fatalf("at %d cells %+v", at, nb.Cells)
	}
	want := "# Parameters\nn = 2\no = {\"k\": [True, None, 1.5e3]}\ns = \"a\\\"b\\n\\u0001é\"\n"
	if string(nb.Cells[2].Source) != want {
		t.Errorf("source %q, want %q", nb.Cells[2].Source, want)
	}
	if !strings.Contains(string(out), "12345678901234567890") {
		t.Error("a large number in metadata lost precision")
	}
	// No parameters cell: the injected cell goes first.
	out, at, _ = InjectParameters([]byte(`{"nbformat":4,"nbformat_minor":4,"cells":[{"cell_type":"code","source":"1","metadata":{}}]}`),
		map[string]json.RawMessage{"n": json.RawMessage("1")})
	if nb, _ := Parse(out); at != 0 || !nb.Cells[0].HasTag(TagInjectedParameters) || nb.Cells[0].ID != "" {
		t.Errorf("no parameters cell: at %d %s", at, out)
	}
	if _, _, err := InjectParameters([]byte(src), map[string]json.RawMessage{"1x": json.RawMessage("1")}); err == nil {
		t.Error("accepted a parameter name that is not an identifier")
	}
}

// Jupyter's keys are case-sensitive: a key that only case-folds to one the reader knows is an
// unknown key, as Jupyter and InjectParameters read it, not that field.
func TestParseKeysAreCaseSensitive(t *testing.T) {
	nb, err := Parse([]byte(`{"nbformat":4,"cells":[{"cell_type":"code","source":"x","metadata":{"Tags":["parameters"]},"Outputs":[{"output_type":"stream","text":"1"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := nb.Cells[0]
	if c.HasTag(TagParameters) || len(c.Outputs) != 0 || string(c.Source) != "x" {
		t.Errorf("cell %+v: wrong-case keys were read as tags/outputs", c)
	}
	if _, err := Parse([]byte(`{"nbformat":4,"cells":[{"Cell_Type":"code"}]}`)); !errors.Is(err, ErrNotANotebook) {
		t.Errorf("a cell whose only type key is Cell_Type: %v, want ErrNotANotebook", err)
	}
	if _, err := Parse([]byte(`{"nbformat":4,"cells":[]}}`)); !errors.Is(err, ErrNotANotebook) {
		t.Errorf("trailing data: %v, want ErrNotANotebook", err)
	}
}
