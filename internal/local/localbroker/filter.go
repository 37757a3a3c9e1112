package localbroker

import (
	"context"
	"errors"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.uber.org/zap"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/eventfilter"
	"knative.dev/eventing/pkg/eventfilter/subscriptionsapi"
)

// predicate is a compiled Trigger filter.
type predicate func(ctx context.Context, e cloudevents.Event) bool

// compileFilters turns a Trigger's spec.filters into one predicate. Leaf dialects (exact,
// prefix, suffix, cesql) are Knative's own filters. all/any/not are combined here:
// Knative's all/any filters reorder their children from background goroutines that race
// with concurrent Filter calls (the race detector reports it), and their order does not
// change the result.
func compileFilters(filters []eventingv1.SubscriptionsAPIFilter) (predicate, error) {
	return compileAll(filters)
}

func compileAll(filters []eventingv1.SubscriptionsAPIFilter) (predicate, error) {
	ps, err := compileList(filters)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, e cloudevents.Event) bool {
		for _, p := range ps {
			if !p(ctx, e) {
				return false
			}
		}
		return true
	}, nil
}

func compileList(filters []eventingv1.SubscriptionsAPIFilter) ([]predicate, error) {
	ps := make([]predicate, 0, len(filters))
	for i, f := range filters {
		p, err := compile(f)
		if err != nil {
			return nil, fmt.Errorf("filter %d: %w", i, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func compile(f eventingv1.SubscriptionsAPIFilter) (predicate, error) {
	switch {
	case len(f.All) > 0:
		return compileAll(f.All)
	case len(f.Any) > 0:
		ps, err := compileList(f.Any)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, e cloudevents.Event) bool {
			for _, p := range ps {
				if p(ctx, e) {
					return true
				}
			}
			return false
		}, nil
	case f.Not != nil:
		p, err := compile(*f.Not)
		if err != nil {
			return nil, fmt.Errorf("not: %w", err)
		}
		return func(ctx context.Context, e cloudevents.Event) bool { return !p(ctx, e) }, nil
	}
	leaf := subscriptionsapi.MaterializeSubscriptionsAPIFilter(zap.NewNop(), f)
	if leaf == nil {
		return nil, errors.New("not a valid exact, prefix, suffix, cesql, all, any or not filter")
	}
	return func(ctx context.Context, e cloudevents.Event) bool {
		return leaf.Filter(ctx, e) != eventfilter.FailFilter
	}, nil
}
