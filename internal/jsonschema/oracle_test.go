package jsonschema_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	oracle "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mlops-dev/nbv/internal/jsonschema"
	"github.com/mlops-dev/nbv/schemas"
)

// The tests in this file hold the validator to the general-purpose library it replaced, kept
// as an oracle: both must give the same verdict on every document, and name the same places.

const schemaBase = "https://mlops.dev/nbv/schemas/"

// schemaPair is one embedded schema compiled by both validators.
type schemaPair struct {
	name   string // file name
	ours   *jsonschema.Schema
	oracle *oracle.Schema
}

// compilePairs compiles every embedded schema with a fresh Set and with the library, set up as
// internal/events used it: draft 2020-12, formats asserted.
func compilePairs(t testing.TB) []schemaPair {
	t.Helper()
	names, err := fs.Glob(schemas.FS, "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded schemas: %v %v", names, err)
	}
	c := oracle.NewCompiler()
	c.DefaultDraft(oracle.Draft2020)
	c.AssertFormat()
	for _, name := range names {
		b, _ := schemas.FS.ReadFile(name)
		doc, err := oracle.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	set := jsonschema.NewSet(schemas.FS, schemaBase)
	var pairs []schemaPair
	for _, name := range names {
		theirs, err := c.Compile(schemaBase + name)
		if err != nil {
			t.Fatalf("oracle: %v", err)
		}
		ours, err := set.Schema(name)
		if err != nil {
			t.Fatalf("ours: %v", err)
		}
		pairs = append(pairs, schemaPair{name, ours, theirs})
	}
	return pairs
}

// disagreement compares the two validators on one document and describes how they differ, or
// returns "". Documents that are not JSON must be refused by both decoders; documents the
// oracle cannot judge (see oracleCanJudge) are skipped.
func (p schemaPair) disagreement(doc []byte) string {
	inst, err := jsonschema.Decode(doc)
	_, oracleErr := oracle.UnmarshalJSON(bytes.NewReader(doc))
	if (err == nil) != (oracleErr == nil) {
		return fmt.Sprintf("decoders disagree: ours %v, oracle %v", err, oracleErr)
	}
	if err != nil || !oracleCanJudge(inst) {
		return ""
	}
	ourErr := p.ours.Validate(inst)
	theirErr := p.oracle.Validate(inst)
	switch {
	case ourErr == nil && theirErr == nil:
		return ""
	case ourErr == nil:
		return fmt.Sprintf("ours accepts, oracle refuses: %v", theirErr)
	case theirErr == nil:
		return fmt.Sprintf("ours refuses, oracle accepts: %v", ourErr)
	}
	ve, ok := ourErr.(*jsonschema.ValidationError)
	if !ok {
		return fmt.Sprintf("ours failed without a ValidationError: %v", ourErr)
	}
	var ourPlaces []string
	for _, v := range ve.Violations {
		ourPlaces = append(ourPlaces, "/"+strings.Join(v.Path, "/"))
	}
	ourPlaces = slices.Compact(slices.Sorted(slices.Values(ourPlaces)))
	theirPlaces := oraclePlaces(theirErr.(*oracle.ValidationError))
	if !slices.Equal(ourPlaces, theirPlaces) {
		return fmt.Sprintf("violations at %q, oracle at %q:\nours:   %v\noracle: %v", ourPlaces, theirPlaces, ourErr, theirErr)
	}
	return ""
}

// oraclePlaces lists the instance locations of the library's leaf errors, sorted and distinct.
func oraclePlaces(e *oracle.ValidationError) []string {
	var places []string
	var walk func(e *oracle.ValidationError)
	walk = func(e *oracle.ValidationError) {
		if len(e.Causes) == 0 {
			places = append(places, "/"+strings.Join(e.InstanceLocation, "/"))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	return slices.Compact(slices.Sorted(slices.Values(places)))
}

// oracleCanJudge reports whether every number in v can be read by math/big, which the library
// uses, in reasonable time. It gives up on exponents beyond a million (1e2000000 is "not an
// integer" to it), where ours still judges exactly, and needs tens of milliseconds for each
// number with an exponent near that, which would stall the fuzzer: those are left to the unit
// tests.
func oracleCanJudge(v any) bool {
	switch v := v.(type) {
	case json.Number:
		_, exp, found := strings.Cut(strings.ToLower(v.String()), "e")
		if e, err := strconv.ParseInt(exp, 10, 64); found && (err != nil || e > 10000 || e < -10000) {
			return false
		}
		_, ok := new(big.Rat).SetString(v.String())
		return ok
	case []any:
		return !slices.ContainsFunc(v, func(x any) bool { return !oracleCanJudge(x) })
	case map[string]any:
		for _, x := range v {
			if !oracleCanJudge(x) {
				return false
			}
		}
	}
	return true
}

// validInstances returns, per schema file, the documents known to be valid: the examples in
// schemas/examples (the apiserver ones are Kubernetes objects too), the schemas' own "examples",
// and the event data in the externalci fuzz corpus.
func validInstances(t testing.TB) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	files, _ := filepath.Glob(filepath.Join("..", "..", "schemas", "examples", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		out[name] = append(out[name], b)
		if strings.HasPrefix(name, "dev.knative.apiserver.resource.") {
			out["kubernetes-object.json"] = append(out["kubernetes-object.json"], b)
		}
	}
	names, _ := fs.Glob(schemas.FS, "*.json")
	for _, name := range names {
		b, _ := schemas.FS.ReadFile(name)
		var s struct{ Examples []json.RawMessage }
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Examples {
			out[name] = append(out[name], e)
		}
	}
	return out
}

// fixtureEvents returns the data of every structured CloudEvent in the fuzz corpora of other
// packages, by the schema file of its type: documents someone found worth keeping.
func fixtureEvents(t testing.TB) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	corpora, _ := filepath.Glob(filepath.Join("..", "*", "testdata", "fuzz", "*", "*"))
	for _, f := range corpora {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			quoted, ok := strings.CutPrefix(line, "[]byte(")
			if !ok {
				continue
			}
			raw, err := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
			if err != nil {
				continue
			}
			var ce struct {
				Type string
				Data json.RawMessage
			}
			if json.Unmarshal([]byte(raw), &ce) != nil || ce.Type == "" || ce.Data == nil {
				continue
			}
			if _, err := fs.Stat(schemas.FS, ce.Type+".json"); err == nil {
				out[ce.Type+".json"] = append(out[ce.Type+".json"], ce.Data)
			}
		}
	}
	return out
}
