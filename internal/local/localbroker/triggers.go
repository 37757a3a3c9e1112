package localbroker

import (
	"fmt"
	"math"
	"time"

	"github.com/rickb777/date/period"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// LoadTriggers reads every Trigger from a multi-document YAML file; other kinds are skipped.
func LoadTriggers(path string) ([]eventingv1.Trigger, error) {
	docs, err := yamldocs.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("triggers: %w", err)
	}
	var out []eventingv1.Trigger
	for _, d := range docs {
		if d.Object.GetKind() != "Trigger" {
			continue
		}
		var t eventingv1.Trigger
		if err := yaml.UnmarshalStrict(d.Raw, &t); err != nil {
			return nil, fmt.Errorf("parse Trigger in %s document %d: %w", path, d.Index, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// deliveryPolicy turns a Trigger's delivery spec into attempts and a backoff. Knative counts
// retries after the first attempt; the default here is no retry, as in Knative.
func deliveryPolicy(t *eventingv1.Trigger) (int, func(int) time.Duration, error) {
	d := t.Spec.Delivery
	attempts, delay := 1, 100*time.Millisecond
	policy := eventingduckv1.BackoffPolicyExponential
	if d != nil {
		if d.Retry != nil {
			attempts += int(*d.Retry)
		}
		if d.BackoffDelay != nil {
			p, err := period.Parse(*d.BackoffDelay)
			if err != nil {
				return 0, nil, fmt.Errorf("delivery.backoffDelay %q is not an ISO-8601 duration: %w", *d.BackoffDelay, err)
			}
			delay = p.DurationApprox()
		}
		if d.BackoffPolicy != nil {
			policy = *d.BackoffPolicy
		}
	}
	backoff := func(attempt int) time.Duration {
		if policy == eventingduckv1.BackoffPolicyLinear {
			return delay * time.Duration(attempt)
		}
		return delay * time.Duration(math.Pow(2, float64(attempt-1)))
	}
	return attempts, backoff, nil
}
