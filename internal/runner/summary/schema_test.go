package summary_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mlops-dev/nbv/internal/runner/summary"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("../../../schemas/runner-summary.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://mlops.dev/nbv/schemas/runner-summary.v1.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

func validate(s *jsonschema.Schema, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func TestEncodeOutputMatchesSchema(t *testing.T) {
	sch := compileSchema(t)
	long := strings.Repeat("Traceback line é ", 400)
	var results []summary.Cell
	var diffs []summary.Diff
	for i := range 200 {
		results = append(results, summary.Cell{Index: i, Status: summary.CellSuccess, DurationMs: 3, Error: long})
		diffs = append(diffs, summary.Diff{Index: i, CellType: "code", DiffType: "output_mismatch", Severity: "major", Expected: long, Actual: "x"})
	}
	cases := map[string]summary.Summary{
		"passed": {Result: summary.ResultPassed, Reason: summary.ReasonPassed, Message: "3 code cells passed",
			Cells: summary.Counts{Total: 3, Passed: 3}, Results: results[:3]},
		"error": {Result: summary.ResultError, Reason: summary.ReasonCloneAuthFailed, Message: "auth failed", Runner: "v0.1.0-3-g0123abc-dirty"},
		"truncated": {Result: summary.ResultFailed, Reason: summary.ReasonGoldenMismatch, Message: long, DurationMs: 9,
			Cells:        summary.Counts{Total: 200, Passed: 199, Failed: 1},
			FirstFailure: &summary.Cell{Index: 7, Status: summary.CellFailure, Error: long}, Results: results,
			Comparison: &summary.Comparison{Strategy: "normalized", Result: "failed", Total: 200, Mismatched: 200, Diffs: diffs}},
	}
	for name, s := range cases {
		b, err := summary.Encode(s, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(b) > summary.MaxBytes {
			t.Errorf("%s: %d bytes", name, len(b))
		}
		if err := validate(sch, b); err != nil {
			t.Errorf("%s: Encode output fails the schema: %v\n%s", name, err, b)
		}
	}
}

func TestSchemaRejectsBadDocuments(t *testing.T) {
	sch := compileSchema(t)
	good := map[string]any{"v": 1, "result": "passed", "reason": "Passed", "message": "ok",
		"cells": map[string]any{"total": 1, "passed": 1, "failed": 0, "skipped": 0}}
	b, _ := json.Marshal(good)
	if err := validate(sch, b); err != nil {
		t.Fatalf("minimal document rejected: %v", err)
	}
	bad := map[string]func(m map[string]any){
		"wrong version":  func(m map[string]any) { m["v"] = 2 },
		"unknown result": func(m map[string]any) { m["result"] = "ok" },
		"unknown reason": func(m map[string]any) { m["reason"] = "Whatever" },
		"no cells":       func(m map[string]any) { delete(m, "cells") },
		"extra field":    func(m map[string]any) { m["podName"] = "x" },
		"negative count": func(m map[string]any) {
			m["cells"] = map[string]any{"total": -1, "passed": 0, "failed": 0, "skipped": 0}
		},
		"bad cell status": func(m map[string]any) { m["results"] = []any{map[string]any{"i": 0, "s": "Done"}} },
		"bad diff type": func(m map[string]any) {
			m["comparison"] = map[string]any{"strategy": "exact", "result": "failed", "total": 1, "matched": 0, "mismatched": 1,
				"diffs": []any{map[string]any{"i": 0, "cellType": "code", "diffType": "different", "severity": "major"}}}
		},
	}
	for name, mutate := range bad {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		mutate(m)
		b, _ := json.Marshal(m)
		if err := validate(sch, b); err == nil {
			t.Errorf("%s: accepted %s", name, b)
		}
	}
}
