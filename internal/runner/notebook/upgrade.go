package notebook

import (
	"encoding/json"
	"fmt"
	"strings"
)

// nbformat 3 notebooks (IPython 1-3: cells inside "worksheets") are read the way papermill,
// nbmake and nbclient read them, through nbformat's upgrade to version 4: worksheets
// flattened, "input" and "prompt_number" become "source" and "execution_count", heading cells
// become markdown "#" lines, pyout and pyerr outputs become execute_result and error, and
// output data move under "data" keyed by MIME type. The conversion works on the decoded JSON
// so that every field it does not know stays as written.

// CurrentMinor is the nbformat 4 minor version an upgraded notebook gets (cells with ids).
const CurrentMinor = 5

// v3MIME maps nbformat 3's short data keys to MIME types.
var v3MIME = map[string]string{
	"text": "text/plain", "html": "text/html", "svg": "image/svg+xml", "png": "image/png",
	"jpeg": "image/jpeg", "latex": "text/latex", "json": "application/json", "javascript": "application/javascript",
}

// isVersion reports whether a decoded nbformat field holds the version v.
func isVersion(field any, v int64) bool {
	n, ok := field.(json.Number)
	if !ok {
		return false
	}
	got, err := n.Int64()
	return err == nil && got == v
}

// upgradeV3 turns a decoded nbformat 3 document into nbformat 4 in place.
func upgradeV3(doc map[string]any) error {
	worksheets, ok := doc["worksheets"].([]any)
	if !ok {
		return fmt.Errorf("%w: nbformat 3 without a worksheets list", ErrNotANotebook)
	}
	meta, ok := doc["metadata"].(map[string]any)
	if !ok {
		if doc["metadata"] != nil {
			return fmt.Errorf("%w: metadata is not an object", ErrNotANotebook)
		}
		meta = map[string]any{}
	}
	meta["orig_nbformat"] = orDefault(doc["orig_nbformat"], json.Number("3"))
	meta["orig_nbformat_minor"] = orDefault(doc["orig_nbformat_minor"], json.Number("0"))
	delete(meta, "name")
	delete(meta, "signature")
	cells := []any{}
	for w, ws := range worksheets {
		sheet, ok := ws.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: worksheet %d is not an object", ErrNotANotebook, w)
		}
		list, ok := sheet["cells"].([]any)
		if !ok {
			return fmt.Errorf("%w: worksheet %d has no cells list", ErrNotANotebook, w)
		}
		for _, c := range list {
			cell, ok := c.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: cell %d is not an object", ErrNotANotebook, len(cells))
			}
			if err := upgradeV3Cell(cell); err != nil {
				return fmt.Errorf("%w: cell %d: %v", ErrNotANotebook, len(cells), err)
			}
			cells = append(cells, cell)
		}
	}
	delete(doc, "worksheets")
	delete(doc, "orig_nbformat")
	delete(doc, "orig_nbformat_minor")
	doc["metadata"] = meta
	doc["cells"] = cells
	doc["nbformat"] = json.Number("4")
	doc["nbformat_minor"] = json.Number(fmt.Sprint(CurrentMinor))
	return nil
}

func orDefault(v, def any) any {
	if v == nil {
		return def
	}
	return v
}

// joinText reads an nbformat multiline string (a string or a list of strings).
func joinText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []any:
		var b strings.Builder
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return "", false
			}
			b.WriteString(s)
		}
		return b.String(), true
	}
	return "", false
}

func upgradeV3Cell(cell map[string]any) error {
	meta, ok := cell["metadata"].(map[string]any)
	if !ok {
		meta = map[string]any{}
		cell["metadata"] = meta
	}
	cell["id"] = newCellID()
	switch cell["cell_type"] {
	case "code":
		delete(cell, "language")
		if c, ok := cell["collapsed"]; ok {
			meta["collapsed"] = c
			delete(cell, "collapsed")
		}
		cell["source"] = orDefault(cell["input"], "")
		delete(cell, "input")
		cell["execution_count"] = cell["prompt_number"]
		delete(cell, "prompt_number")
		outputs, ok := cell["outputs"].([]any)
		if !ok && cell["outputs"] != nil {
			return fmt.Errorf("outputs is not a list")
		}
		for i, o := range outputs {
			out, ok := o.(map[string]any)
			if !ok {
				return fmt.Errorf("output %d is not an object", i)
			}
			if err := upgradeV3Output(out); err != nil {
				return fmt.Errorf("output %d: %v", i, err)
			}
		}
		cell["outputs"] = orDefault(outputs, []any{})
	case "heading":
		level := int64(1)
		if n, ok := cell["level"].(json.Number); ok {
			if l, err := n.Int64(); err == nil {
				level = l
			}
		}
		delete(cell, "level")
		src, _ := joinText(cell["source"])
		// A heading is one line of markdown: its source lines joined by spaces.
		src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\r", "\n")
		lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
		cell["cell_type"] = "markdown"
		cell["source"] = strings.Repeat("#", int(max(0, min(level, 64)))) + " " + strings.Join(lines, " ")
	case "html":
		cell["cell_type"] = "markdown"
	}
	return nil
}

func upgradeV3Output(out map[string]any) error {
	switch out["output_type"] {
	case "pyout", "display_data":
		meta, ok := out["metadata"].(map[string]any)
		if !ok {
			meta = map[string]any{}
		}
		if out["output_type"] == "pyout" {
			out["output_type"] = "execute_result"
			out["execution_count"] = out["prompt_number"]
			delete(out, "prompt_number")
		}
		data := map[string]any{}
		for k, v := range out {
			if k == "output_type" || k == "execution_count" || k == "metadata" {
				continue
			}
			data[k] = v
			delete(out, k)
		}
		renameMIME(data)
		renameMIME(meta)
		if raw, ok := data["application/json"]; ok {
			if s, ok := joinText(raw); ok {
				dec := json.NewDecoder(strings.NewReader(s))
				dec.UseNumber() // numbers stay as written
				var v any
				if err := dec.Decode(&v); err != nil {
					return fmt.Errorf("application/json data is not JSON: %v", err)
				}
				data["application/json"] = v
			}
		}
		out["metadata"] = meta
		out["data"] = data
	case "pyerr":
		out["output_type"] = "error"
	case "stream":
		out["name"] = orDefault(out["stream"], "stdout")
		delete(out, "stream")
	}
	return nil
}

// renameMIME renames nbformat 3's short data keys to their MIME types.
func renameMIME(m map[string]any) {
	for short, mime := range v3MIME {
		if v, ok := m[short]; ok {
			m[mime] = v
			delete(m, short)
		}
	}
}
