package notebook

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzNotebook feeds the reader any file a user's repository can hold, and parameter
// injection any parameter. Every refusal must be ErrNotANotebook or a named parameter error,
// never a panic; an accepted notebook must survive a round trip through its own encoding with
// the same cells, and its conventions must be readable without a panic; injecting parameters
// must yield a notebook the reader accepts, with the new cell where it says, and injecting
// again must replace that cell rather than add a second one.
func FuzzNotebook(f *testing.F) {
	f.Add([]byte(`{"nbformat":4,"nbformat_minor":5,"metadata":{"kernelspec":{"name":"python3"}},"cells":[{"id":"a","cell_type":"code","source":["x = 1\n"],"metadata":{"tags":["parameters"]},"outputs":[],"execution_count":null}]}`), "x", []byte(`2`))
	f.Add([]byte(`{"nbformat":4,"cells":[{"cell_type":"code","source":"print(1)","metadata":{},"outputs":[{"output_type":"stream","name":"stdout","text":["1\n"]}]}]}`), "y", []byte(`"s"`))
	f.Add([]byte(`{"nbformat":4,"nbformat_minor":"5","cells":[]}`), "z", []byte(`[1,{"a":null}]`))
	f.Add([]byte(`{"nbformat":4,"cells":[{"cell_type":"markdown","source":"# NBVAL_SKIP","metadata":{"nbmake":{"timeout":-1}}}],"metadata":{"execution":{"timeout":1e308}}}`), "p", []byte(`1e999`))
	f.Add([]byte(`{"nbformat":3,"cells":[]}`), "x", []byte(`1`))
	f.Add([]byte(`{"nbformat":3,"nbformat_minor":0,"metadata":{"name":"n"},"worksheets":[{"cells":[{"cell_type":"heading","level":2,"source":["a\n","b"]},{"cell_type":"code","input":"1","prompt_number":1,"metadata":{"tags":["parameters"]},"outputs":[{"output_type":"pyout","text":"1","json":"{\"a\":1}"},{"output_type":"stream","stream":"stderr","text":"e"},{"output_type":"pyerr","ename":"E","evalue":"v"}]}]}]}`), "n", []byte(`2`))
	f.Add([]byte(`{"nbformat":4,"cells":[{"cell_type":"widget"}]}`), "x", []byte(`1`))
	f.Add([]byte("{\"nbformat\":4,\"cells\":[{\"cell_type\":\"code\",\"source\":\"\xff\x1b[31m\"}]}"), "x", []byte(`true`))
	f.Add([]byte(`[]`), "1bad", []byte(`1`))
	f.Add([]byte(`{"nbformat":4,"cells":[{"cell_type":"code","source":"","metadata":{"tags":["injected-parameters"]}}]}`), "x", []byte(`{}`))
	// Found by the fuzzer: keys that only case-fold to nbformat's (Jupyter reads them as unknown).
	f.Add([]byte(`{"nbformat":4,"cells":[{"cell_type":"code","metAdAtA":{"tAgs":["injected-parameters"]}}]}`), "A", []byte(`00`))
	f.Add([]byte(`{"nbformat":4,"cells":[{"Cell_tYpe":"code","metadata":{}}]}`), "A", []byte(`1`))
	f.Add([]byte(`{"nbformat":4,"cells":[]}]`), "x", []byte(`1`))

	f.Fuzz(func(t *testing.T, src []byte, param string, value []byte) {
		nb, err := Parse(src)
		if err != nil {
			if !errors.Is(err, ErrNotANotebook) {
				t.Fatalf("refusal is not ErrNotANotebook: %v", err)
			}
		} else {
			checkAccepted(t, nb)
		}

		out, at, err := InjectParameters(src, map[string]json.RawMessage{param: value})
		if err != nil || nb == nil {
			return
		}
		injected, err := Parse(out)
		if err != nil {
			t.Fatalf("notebook with parameters is not a notebook: %v", err)
		}
		if at < 0 || at >= len(injected.Cells) || !injected.Cells[at].HasTag(TagInjectedParameters) {
			t.Fatalf("injected cell not at %d of %d", at, len(injected.Cells))
		}
		want := 1
		for _, c := range nb.Cells {
			if !c.HasTag(TagInjectedParameters) {
				want++
			}
		}
		if len(injected.Cells) != want {
			t.Fatalf("%d cells after injection, want %d", len(injected.Cells), want)
		}
		again, _, err := InjectParameters(out, map[string]json.RawMessage{param: value})
		if err != nil {
			t.Fatalf("injecting into an injected notebook: %v", err)
		}
		twice, err := Parse(again)
		if err != nil || len(twice.Cells) != len(injected.Cells) {
			t.Fatalf("second injection: %v, %d cells, want %d", err, len(twice.Cells), len(injected.Cells))
		}
	})
}

// checkAccepted asserts what an accepted notebook promises: nbformat 4, known cell types,
// readable conventions, and the same cells after encoding and parsing it again.
func checkAccepted(t *testing.T, nb *Notebook) {
	t.Helper()
	if nb.NBFormat != 4 {
		t.Fatalf("accepted nbformat %d", nb.NBFormat)
	}
	for _, c := range nb.Cells {
		switch c.CellType {
		case "code", "markdown", "raw":
		default:
			t.Fatalf("accepted cell_type %q", c.CellType)
		}
		_, _ = c.Directives()
		_ = c.NeverRan()
	}
	_, _ = nb.ExecutionSettings()
	b, err := json.Marshal(nb)
	if err != nil {
		t.Fatalf("encode accepted notebook: %v", err)
	}
	back, err := Parse(b)
	if err != nil {
		t.Fatalf("accepted notebook does not parse after a round trip: %v", err)
	}
	if len(back.Cells) != len(nb.Cells) {
		t.Fatalf("round trip: %d cells, want %d", len(back.Cells), len(nb.Cells))
	}
	for i := range nb.Cells {
		a, z := nb.Cells[i], back.Cells[i]
		if a.CellType != z.CellType || a.Source != z.Source || len(a.Outputs) != len(z.Outputs) || len(a.Metadata.Tags) != len(z.Metadata.Tags) {
			t.Fatalf("round trip changed cell %d: %+v -> %+v", i, a, z)
		}
	}
}
