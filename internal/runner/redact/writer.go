package redact

import (
	"bytes"
	"io"
	"sync"
)

// maxHeld bounds how much of a line without a newline a Writer holds back.
const maxHeld = 64 << 10

// Writer passes what is written to it on to another writer with every known value replaced.
// It writes whole lines; a value split across two Write calls is still found. Call Flush when
// done to write the last, unterminated line. It is safe for concurrent use.
type Writer struct {
	r   *Redactor
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

// Writer returns a redacting writer to w.
func (r *Redactor) Writer(w io.Writer) *Writer {
	return &Writer{r: r, w: w}
}

// Write holds p until its line is complete, then writes the line redacted. It reports len(p)
// written unless the underlying writer fails.
func (x *Writer) Write(p []byte) (int, error) {
	if x.r.Empty() {
		return x.w.Write(p)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.buf = append(x.buf, p...)
	cut := bytes.LastIndexByte(x.buf, '\n') + 1
	if cut == 0 && len(x.buf) > maxHeld {
		// A very long line: write all but a tail that could be the start of a value, and never
		// through a value.
		cut = x.r.safeCut(x.buf, len(x.buf)-(x.r.MaxLen()-1))
	}
	if cut == 0 {
		return len(p), nil
	}
	if err := x.emit(cut); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes what is held back.
func (x *Writer) Flush() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.buf) == 0 {
		return nil
	}
	return x.emit(len(x.buf))
}

func (x *Writer) emit(n int) error {
	out := x.r.String(string(x.buf[:n]))
	x.buf = append(x.buf[:0], x.buf[n:]...)
	_, err := io.WriteString(x.w, out)
	return err
}

// safeCut moves cut left until no value occurring in b spans it.
func (r *Redactor) safeCut(b []byte, cut int) int {
	for moved := true; moved; {
		moved = false
		for _, n := range r.needles {
			from := max(0, cut-len(n)+1)
			to := min(len(b), cut+len(n)-1)
			if from >= to {
				continue
			}
			if i := bytes.Index(b[from:to], []byte(n)); i >= 0 && from+i < cut {
				cut, moved = from+i, true
			}
		}
	}
	return cut
}
