package compare

import (
	"strings"

	"github.com/mlops-dev/nbv/internal/runner/notebook"
)

// CoalesceStreams merges every stream output of a cell into one output per stream name, at the
// position of that stream's first chunk, and then applies the terminal's \b and \r: how a
// kernel splits and interleaves stdout and stderr varies between runs, the text per stream
// does not. This is nbval's coalescing.
func CoalesceStreams(outputs []notebook.Output) []notebook.Output {
	out := make([]notebook.Output, 0, len(outputs))
	at := map[string]int{}
	for _, o := range outputs {
		if o.OutputType != "stream" {
			out = append(out, o)
			continue
		}
		if i, ok := at[o.Name]; ok {
			out[i].Text += o.Text
			continue
		}
		at[o.Name] = len(out)
		out = append(out, o)
	}
	for _, i := range at {
		out[i].Text = notebook.Text(carriageReturns(backspaces(string(out[i].Text))))
	}
	return out
}

// backspaces lets each \b erase the character before it on the same line.
func backspaces(s string) string {
	if !strings.Contains(s, "\b") {
		return s
	}
	var kept []rune
	for _, r := range s {
		if r == '\b' && len(kept) > 0 && kept[len(kept)-1] != '\n' {
			kept = kept[:len(kept)-1]
			continue
		}
		kept = append(kept, r)
	}
	return string(kept)
}

// carriageReturns keeps, on each line, only what follows its last \r that is not the line's
// end: a progress bar redrawn in place compares as its final state.
func carriageReturns(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(strings.TrimSuffix(l, "\r"), '\r'); j >= 0 {
			lines[i] = l[j+1:]
		}
	}
	return strings.Join(lines, "\n")
}
