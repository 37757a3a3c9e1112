package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestCRDRefusesInvalidMaskPattern checks that comparisonConfig.maskPatterns is checked by
// the API server: a pattern that is not a regular expression is refused with a message naming
// the field, before any pod could fail on it; a valid one is accepted.
func TestCRDRefusesInvalidMaskPattern(t *testing.T) {
	cp := requireControlPlane(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := newNamespace(t, ctx, cp)
	ri := jobs(t, cp, ns)

	withMasks := func(name string, masks ...map[string]any) *unstructured.Unstructured {
		job := sampleJob(t, name, ns)
		list := make([]any, len(masks))
		for i, m := range masks {
			list[i] = m
		}
		if err := unstructured.SetNestedSlice(job.Object, list, "spec", "comparisonConfig", "maskPatterns"); err != nil {
			t.Fatal(err)
		}
		return job
	}
	good := map[string]any{"pattern": `run-(\d+)`, "replacement": "run-$1"}
	for _, tc := range []struct{ name, pattern string }{
		{"unclosed-group", `id=(\d+`},
		{"bad-repeat", `*x`},
		{"perl-lookahead", `a(?=b)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ri.Create(ctx, withMasks(tc.name, good, map[string]any{"pattern": tc.pattern}), metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("pattern %q: want 422 Invalid, got %v", tc.pattern, err)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), "spec.comparisonConfig.maskPatterns[1].pattern") {
				t.Errorf("error does not name the field: %v", err)
			}
		})
	}
	if _, err := ri.Create(ctx, withMasks("valid", good, map[string]any{"pattern": `0x[0-9a-f]+`}), metav1.CreateOptions{}); err != nil {
		t.Fatalf("valid mask patterns refused: %v", err)
	}
}
