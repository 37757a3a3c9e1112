package summary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// reasonResults maps every Reason to the one Result the runner writes it with.
var reasonResults = map[string]string{
	ReasonPassed:           ResultPassed,
	ReasonCellFailed:       ResultFailed,
	ReasonCellTimeout:      ResultFailed,
	ReasonCheckFailed:      ResultFailed,
	ReasonGoldenMismatch:   ResultFailed,
	ReasonCloneAuthFailed:  ResultError,
	ReasonRefNotFound:      ResultError,
	ReasonRepoNotFound:     ResultError,
	ReasonNotebookNotFound: ResultError,
	ReasonNotANotebook:     ResultError,
	ReasonNotebookTooLarge: ResultError,
	ReasonKernelMissing:    ResultError,
	ReasonPythonMissing:    ResultError,
	ReasonRunnerError:      ResultError,
}

// Check reports the first way s contradicts itself, or nil. A summary the runner wrote always
// passes; anything else came from somewhere else (the notebook, the image) and must not decide
// the job. The rules:
//   - v is SchemaVersion; result and reason are known, and reason belongs to result
//     (Passed only with passed, a cell/check/golden reason only with failed, the rest with error);
//   - every count, index and duration is >= 0, and cells.total = passed + failed + skipped;
//   - passed means no failed cell, no first failure and no failed golden comparison;
//   - CellFailed and CellTimeout name a first failure with status Failure and count it as failed;
//     GoldenMismatch carries a failed comparison;
//   - only firstFailure, with status Failure, carries a traceback, of at most MaxTraceback bytes;
//   - the per-cell results never hold more cells of a status than the counts say (Encode may
//     drop results from the end, never add), and name each cell once;
//   - a comparison matches at most its total, lists at most its mismatches as diffs, and
//     "matched" means no mismatch.
func (s *Summary) Check() error {
	if s.V != SchemaVersion {
		return fmt.Errorf("schema version is %d, want %d", s.V, SchemaVersion)
	}
	want, ok := reasonResults[s.Reason]
	switch {
	case s.Result != ResultPassed && s.Result != ResultFailed && s.Result != ResultError:
		return fmt.Errorf("result %q is not one of passed, failed, error", s.Result)
	case !ok:
		return fmt.Errorf("reason %q is not a reason the runner writes", s.Reason)
	case want != s.Result:
		return fmt.Errorf("reason %s goes with result %s, not %s", s.Reason, want, s.Result)
	}
	if err := s.checkCounts(); err != nil {
		return err
	}
	if err := s.checkCells(); err != nil {
		return err
	}
	return s.checkComparison()
}

func (s *Summary) checkCounts() error {
	c := s.Cells
	if c.Total < 0 || c.Passed < 0 || c.Failed < 0 || c.Skipped < 0 || s.DurationMs < 0 {
		return fmt.Errorf("negative count or duration (cells %+v, durationMs %d)", c, s.DurationMs)
	}
	// Compared in int64 so that huge counts cannot wrap around into a match.
	if int64(c.Total) != int64(c.Passed)+int64(c.Failed)+int64(c.Skipped) {
		return fmt.Errorf("cells.total %d is not passed %d + failed %d + skipped %d", c.Total, c.Passed, c.Failed, c.Skipped)
	}
	switch s.Reason {
	case ReasonPassed:
		if c.Failed != 0 || s.FirstFailure != nil {
			return fmt.Errorf("result is passed but %d code cells failed", max(c.Failed, 1))
		}
	case ReasonCellFailed, ReasonCellTimeout:
		if s.FirstFailure == nil || s.FirstFailure.Status != CellFailure || c.Failed == 0 {
			return fmt.Errorf("reason %s needs a failed cell: firstFailure with status %s and cells.failed > 0", s.Reason, CellFailure)
		}
	case ReasonGoldenMismatch:
		if s.Comparison == nil || s.Comparison.Result != "failed" {
			return errors.New("reason GoldenMismatch needs a comparison whose result is failed")
		}
	}
	return nil
}

func (s *Summary) checkCells() error {
	if ff := s.FirstFailure; ff != nil {
		if err := ff.check("firstFailure"); err != nil {
			return err
		}
	}
	seen := make(map[int]bool, len(s.Results))
	byStatus := map[string]int{}
	for i, c := range s.Results {
		if err := c.check(fmt.Sprintf("results[%d]", i)); err != nil {
			return err
		}
		if seen[c.Index] {
			return fmt.Errorf("results name cell %d twice", c.Index)
		}
		seen[c.Index] = true
		byStatus[c.Status]++
	}
	for status, counted := range map[string]int{CellSuccess: s.Cells.Passed, CellFailure: s.Cells.Failed, CellSkipped: s.Cells.Skipped} {
		if byStatus[status] > counted {
			return fmt.Errorf("results hold %d cells with status %s but the counts say %d", byStatus[status], status, counted)
		}
	}
	return nil
}

func (c Cell) check(where string) error {
	switch {
	case c.Index < 0 || c.DurationMs < 0:
		return fmt.Errorf("%s: negative index or duration", where)
	case c.Status != CellSuccess && c.Status != CellFailure && c.Status != CellSkipped:
		return fmt.Errorf("%s: status %q is not one of %s, %s, %s", where, c.Status, CellSuccess, CellFailure, CellSkipped)
	case c.Traceback != "" && (where != "firstFailure" || c.Status != CellFailure):
		return fmt.Errorf("%s: only a firstFailure with status %s carries a traceback", where, CellFailure)
	case len(c.Traceback) > MaxTraceback:
		return fmt.Errorf("%s: traceback is %d bytes, more than %d", where, len(c.Traceback), MaxTraceback)
	}
	return nil
}

func (s *Summary) checkComparison() error {
	c := s.Comparison
	if c == nil {
		return nil
	}
	switch {
	case c.Total < 0 || c.Matched < 0 || c.Mismatched < 0:
		return fmt.Errorf("comparison has a negative count (total %d, matched %d, mismatched %d)", c.Total, c.Matched, c.Mismatched)
	case c.Matched > c.Total:
		return fmt.Errorf("comparison matched %d of only %d cells", c.Matched, c.Total)
	case len(c.Diffs) > c.Mismatched:
		return fmt.Errorf("comparison lists %d diffs for %d mismatched cells", len(c.Diffs), c.Mismatched)
	case c.Result == "matched" && c.Mismatched != 0:
		return fmt.Errorf("comparison result is matched with %d mismatched cells", c.Mismatched)
	case s.Result == ResultPassed && c.Result == "failed":
		return errors.New("result is passed but the golden comparison failed")
	}
	return nil
}

// checkDuplicateKeys walks the JSON tokens of b and refuses an object that names a key twice:
// encoding/json keeps the last value silently, so {"result":"failed","result":"passed"} would
// read differently here than in another decoder (or a human's eyes).
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	// Each open container: its keys so far (nil for an array) and whether a key comes next.
	type frame struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.keys != nil && top.expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key, _ := tok.(string)
			if top.keys[key] {
				return fmt.Errorf("key %q appears twice in one object", key)
			}
			top.keys[key] = true
			top.expectKey = false
			continue
		}
		if top != nil && top.keys != nil {
			top.expectKey = true // this token is a value; the next one is a key or '}'
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{keys: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
