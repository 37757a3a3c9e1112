package jsonschema_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/mlops-dev/nbv/internal/jsonschema"
	"github.com/mlops-dev/nbv/schemas"
)

// extraBases are valid documents that reach what the examples do not: optional properties,
// the other branch of if/then, nested arrays.
var extraBases = map[string][]string{
	"dev.mlops.notebookvalidationjob.build.v1.json": {
		`{"namespace":"team-a","job":"train","status":"failed","image":"","message":"","buildId":"b","timestamp":"2025-03-01T12:00:00Z"}`,
		`{"namespace":"a","job":"a.b","status":"succeeded","image":"registry.example.com:5000/team/img:v1@sha256:0123456789abcdef0123456789abcdef","digest":"sha256:0123456789abcdef0123456789abcdef","message":"ok","buildId":"ci-1","url":"https://ci.example.com/b/1","timestamp":"2025-03-01T12:00:00.5+01:00"}`,
	},
	"dev.mlops.notebookvalidationjob.transitioned.v1.json": {
		`{"namespace":"team-a","name":"job.a","uid":"u","previousPhase":"","phase":"Initializing","reason":"Created","message":"","observedGeneration":0,"resourceVersion":"12","time":"2025-03-01T12:00:00Z"}`,
	},
	"runner-summary.v1.json": {
		`{"v":1,"result":"failed","reason":"GoldenMismatch","message":"m","durationMs":3,"truncated":true,"cells":{"total":1,"passed":0,"failed":1,"skipped":0},"comparison":{"strategy":"exact","result":"failed","total":1,"matched":0,"mismatched":1,"diffs":[{"i":0,"cellType":"code","diffType":"output_mismatch","severity":"major","expected":"a","actual":"b"}]}}`,
	},
	"kubernetes-object.json": {
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u","resourceVersion":"1","generation":2,"labels":{"mlops.mlops.dev/notebookvalidationjob":"job","app":""},"annotations":{"a":"b"}},"spec":{},"status":{}}`,
	},
	"dev.knative.sources.ping.json": {`{}`, `null`, `{"a":[1]}`},
}

// replacementValues are put in place of every value of every valid document: each JSON type,
// numbers on the edges of "integer" and "minimum", strings on the edges of lengths, patterns and
// formats.
func replacementValues(t testing.TB) []any {
	t.Helper()
	texts := []string{
		`null`, `true`, `false`, `0`, `-0`, `-1`, `1`, `1.0`, `1.5`, `-0.5`, `1e2`, `1E+2`, `10e-1`, `0.1e1`, `-1.0e0`,
		`1e400`, `-1e400`, `1e-400`, `123456789012345678901234567890`, `-123456789012345678901234567890`,
		`9007199254740993`, `1.000000000000000000001`, `123456789012345678901234567890.0000`, `[]`, `[1,"a"]`, `{}`, `{"a":1}`,
		`{"i":0,"s":"Success"}`, `[{"i":0,"s":"Success"}]`, `[{"i":-1,"s":"Success"}]`,
	}
	var values []any
	for _, text := range texts {
		v, err := jsonschema.Decode([]byte(text))
		if err != nil {
			t.Fatal(text, err)
		}
		values = append(values, v)
	}
	strs := []string{
		"", "x", "A", "a/b", "../kube-system", "-a", "a-", "a.b", "a..b", "a_b", "Team_A", "%2e%2e", "a\n", "1abc",
		"R", "Reason_1:x,", "Reason_", "é", "日本",
		"registry.example.com/team/img:tag", "img@sha256:0123456789abcdef0123456789abcdef", "UPPER/x", "[::1]:5000/img",
		"sha256:0123456789abcdef0123456789abcdef", "sha256:short",
		"2025-03-01T12:00:00Z", "2025-03-01t12:00:00z", "2025-03-01T12:00:00.123+01:00", "2025-02-30T00:00:00Z",
		"2025-03-01T24:00:00Z", "2016-12-31T23:59:60Z", "2016-12-31T23:59:60+00:00", "2017-01-01T00:59:60+01:00",
		"2017-01-01T00:59:60-01:00", "2025-03-01T12:00:00", "2025-03-01 12:00:00Z", "2025-03-01T+1:00:00Z",
		"2025-03-01T12:00:00-00:00", "2025-03-01T12:00:00.Z", "2025-03-01T12:00:00+1:00", "2025-03-01T12:00:00+01:60",
		"2025-03-01T-0:00:00Z", "02025-03-01T12:00:00Z", "2025-3-01T12:00:00Z", "yesterday",
		"https://ci.example.com/builds/42", "ci.example.com/x", "http://[::1]:8080/", "http://::1/", "http://[fe80::1%25en0]/",
		"mailto:a@b", "%zz", "http://a b", "urn:x", "http://[::1/",
	}
	for _, n := range []int{62, 63, 64, 252, 253, 254, 255, 256, 257, 1000, 1001, 1024, 1025, 2048, 2049} {
		strs = append(strs, strings.Repeat("a", n), strings.Repeat("é", n))
	}
	strs = append(strs, strings.Repeat("a.", 126)+"a", strings.Repeat("a", 32768), strings.Repeat("a", 32769))
	strs = append(strs, schemaStrings(t)...)
	for _, s := range strs {
		values = append(values, s)
	}
	return values
}

// schemaStrings returns every string const and enum value in the schemas, so that each field
// also gets the values other fields allow.
func schemaStrings(t testing.TB) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "enum" || k == "const" {
					list, _ := x.([]any)
					for _, e := range append(list, x) {
						if s, ok := e.(string); ok {
							out = append(out, s)
						}
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	eachSchemaDoc(t, func(_ string, doc any) { walk(doc) })
	slices.Sort(out)
	return slices.Compact(out)
}

// propertyNames returns every name a "properties" keyword of the schemas declares.
func propertyNames(t testing.TB) []string {
	names := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name := range props {
					names[name] = true
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	eachSchemaDoc(t, func(_ string, doc any) { walk(doc) })
	return slices.Sorted(maps.Keys(names))
}

func eachSchemaDoc(t testing.TB, fn func(name string, doc any)) {
	t.Helper()
	names, _ := fs.Glob(schemas.FS, "*.json")
	for _, name := range names {
		b, _ := schemas.FS.ReadFile(name)
		doc, err := jsonschema.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		fn(name, doc)
	}
}

// mutations returns documents that each differ from base in one place: a value replaced (by
// every replacement value and, for strings, by variations of itself), a member dropped, or a
// member added.
func mutations(base any, values []any, names []string) []any {
	var out []any
	added := []any{nil, "x", json.Number("1"), "2025-03-01T12:00:00Z", "https://a.example", map[string]any{}, []any{}}
	var walk func(path []string, v any)
	walk = func(path []string, v any) {
		replace := func(x any) { out = append(out, setAt(base, path, x, false)) }
		for _, x := range values {
			replace(x)
		}
		switch v := v.(type) {
		case string:
			for _, x := range []string{v + "/", "-" + v, strings.ToUpper(v), v + strings.Repeat("a", 300), v + "é", v[:len(v)/2]} {
				replace(x)
			}
		case map[string]any:
			for k, x := range v {
				out = append(out, setAt(base, append(slices.Clone(path), k), nil, true))
				walk(append(slices.Clone(path), k), x)
			}
			for _, name := range append(names, "zzExtra") {
				if _, ok := v[name]; ok {
					continue
				}
				for _, x := range added {
					out = append(out, setAt(base, append(slices.Clone(path), name), x, false))
				}
			}
		case []any:
			for i, x := range v {
				walk(append(slices.Clone(path), indexKey(i)), x)
			}
		}
	}
	walk(nil, base)
	return out
}

// indexKey marks an array index in a mutation path (member names are never this).
func indexKey(i int) string { return "\x00" + string(rune('0'+i)) }

// setAt returns a deep copy of doc with the value at path replaced by x, or removed.
func setAt(doc any, path []string, x any, remove bool) any {
	if len(path) == 0 {
		return x
	}
	switch d := doc.(type) {
	case map[string]any:
		c := maps.Clone(d)
		if len(path) == 1 && remove {
			delete(c, path[0])
			return c
		}
		c[path[0]] = setAt(d[path[0]], path[1:], x, remove)
		return c
	case []any:
		c := slices.Clone(d)
		i := int([]rune(path[0])[1] - '0')
		c[i] = setAt(d[i], path[1:], x, remove)
		return c
	}
	return x
}

func TestAgreesWithOracle(t *testing.T) {
	pairs := compilePairs(t)
	valid := validInstances(t)
	for name, docs := range fixtureEvents(t) {
		valid[name] = append(valid[name], docs...)
	}
	for name, docs := range extraBases {
		for _, d := range docs {
			valid[name] = append(valid[name], []byte(d))
		}
	}
	values := replacementValues(t)
	names := propertyNames(t)
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			if len(valid[p.name]) == 0 {
				t.Fatalf("no valid document of %s to mutate", p.name)
			}
			var checked, refused int
			for _, doc := range valid[p.name] {
				base, err := jsonschema.Decode(doc)
				if err != nil {
					t.Fatalf("%s: %v", doc, err)
				}
				for _, m := range append([]any{base}, mutations(base, values, names)...) {
					b, err := json.Marshal(m)
					if err != nil {
						t.Fatal(err)
					}
					if d := p.disagreement(b); d != "" {
						t.Errorf("%s\n%s", b, d)
					}
					checked++
					if p.ours.Validate(m) != nil {
						refused++
					}
				}
			}
			t.Logf("%d documents, %d refused by both", checked, refused)
			if refused == 0 || refused == checked {
				t.Errorf("mutations of %s do not reach both verdicts (%d of %d refused)", p.name, refused, checked)
			}
		})
	}
}

// FuzzAgreesWithOracle checks the two validators agree on whatever bytes the fuzzer makes of
// the valid documents, for the schema its first argument picks.
func FuzzAgreesWithOracle(f *testing.F) {
	pairs := compilePairs(f)
	valid := validInstances(f)
	for name, docs := range extraBases {
		for _, d := range docs {
			valid[name] = append(valid[name], []byte(d))
		}
	}
	for i, p := range pairs {
		for _, doc := range valid[p.name] {
			f.Add(uint8(i), doc)
		}
	}
	f.Add(uint8(0), []byte(`{"metadata":{"generation":1e999999999}}`))
	f.Add(uint8(0), []byte(`{"apiVersion":"v1","kind":"P","metadata":{"name":"a","namespace":"b","generation":1.0}} x`))
	f.Fuzz(func(t *testing.T, which uint8, doc []byte) {
		p := pairs[int(which)%len(pairs)]
		if d := p.disagreement(doc); d != "" {
			t.Errorf("%s: %s\n%s", p.name, doc, d)
		}
	})
}
