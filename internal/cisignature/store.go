package cisignature

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReplayStore remembers accepted CloudEvents. Remember records (source, id) in namespace
// until expires and reports whether it was new; fresh=false means it was seen before.
type ReplayStore interface {
	Remember(ctx context.Context, namespace, source, id string, expires time.Time) (fresh bool, err error)
}

// Replay-guard Lease metadata.
const (
	// ReplayLabel marks the Leases of the replay guard, so they can be listed and swept.
	ReplayLabel = "mlops.mlops.dev/replay-guard"
	// ReplayExpiresAnnotation holds the RFC 3339 time after which the Lease may be deleted.
	ReplayExpiresAnnotation = "mlops.mlops.dev/replay-expires"
	// leasePrefix starts every replay-guard Lease name.
	leasePrefix = "nvj-ce-"
	holder      = "nbv-ci-replay-guard"
)

// LeaseName is the Lease recording (source, id): "nvj-ce-" and the first 20 hex digits of
// SHA-256 over the JSON array [source, id] (JSON, so no choice of strings can make two
// different pairs hash the same input).
func LeaseName(source, id string) string {
	b, _ := json.Marshal([2]string{source, id})
	sum := sha256.Sum256(b)
	return leasePrefix + hex.EncodeToString(sum[:])[:20]
}

// LeaseStore is the ReplayStore backed by coordination.k8s.io/v1 Leases in the event's
// namespace: a create that succeeds is a first sighting, AlreadyExists a replay. It keeps no
// state in the process, so it survives scale-to-zero and works across replicas; the create
// is atomic in the API server, so two concurrent deliveries cannot both be fresh. Expired
// Leases are deleted by the sweep (CollectExpired); until then they only prolong the refusal
// of a request the time window refuses anyway.
type LeaseStore struct {
	// Leases is the Lease client of a namespace (LeasesOver in the functions).
	Leases func(namespace string) LeaseClient
	// Now is the clock for the Lease's duration; nil means time.Now.
	Now func() time.Time
}

// Remember implements ReplayStore.
func (s LeaseStore) Remember(ctx context.Context, namespace, source, id string, expires time.Time) (bool, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	secs := int32(math.Min(math.Ceil(expires.Sub(now()).Seconds()), math.MaxInt32))
	if secs < 1 {
		secs = 1
	}
	h := holder
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:        LeaseName(source, id),
			Namespace:   namespace,
			Labels:      map[string]string{ReplayLabel: "true"},
			Annotations: map[string]string{ReplayExpiresAnnotation: expires.UTC().Format(time.RFC3339)},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &h, LeaseDurationSeconds: &secs},
	}
	_, err := s.Leases(namespace).Create(ctx, lease, metav1.CreateOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	}
	return false, fmt.Errorf("creating replay-guard Lease %s/%s: %w", namespace, lease.Name, err)
}

// Expired reports whether a replay-guard Lease may be deleted at now. A Lease without a
// readable expiry is not ours to judge and is kept.
func Expired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Labels[ReplayLabel] != "true" {
		return false
	}
	t, err := time.Parse(time.RFC3339, l.Annotations[ReplayExpiresAnnotation])
	return err == nil && now.After(t)
}

// maxCollect bounds the Leases one CollectExpired call deletes, so a sweep stays short; the
// next sweep continues.
const maxCollect = 500

// CollectExpired deletes the replay-guard Leases of namespace that expired before now, at most
// maxCollect per call, and returns how many it deleted. A Lease already gone counts as deleted.
func (s LeaseStore) CollectExpired(ctx context.Context, namespace string, now time.Time) (int, error) {
	list, err := s.Leases(namespace).List(ctx, metav1.ListOptions{LabelSelector: ReplayLabel + "=true", Limit: maxCollect})
	if err != nil {
		return 0, fmt.Errorf("listing replay-guard Leases in %s: %w", namespace, err)
	}
	deleted := 0
	for i := range list.Items {
		l := &list.Items[i]
		if !Expired(l, now) {
			continue
		}
		// The precondition keeps a Lease re-created since the list (a new event with the
		// same id after expiry) from being deleted by this stale judgement.
		err := s.Leases(namespace).Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &l.UID}})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			deleted++
		case apierrors.IsConflict(err):
		default:
			return deleted, fmt.Errorf("deleting replay-guard Lease %s/%s: %w", namespace, l.Name, err)
		}
	}
	return deleted, nil
}

// Signing-key Secret defaults.
const (
	DefaultSecretName = "nbv-ci-webhook"
	DefaultSecretKey  = "hmac-key"
	// MinKeyLength refuses keys too short to resist guessing (128 bits).
	MinKeyLength = 16
)

// SecretKeys reads each namespace's signing key from a Secret in that namespace. The
// function's RBAC grants "get" on that one Secret name only.
type SecretKeys struct {
	// Secrets is the Secret client of a namespace (SecretsOver in the functions).
	Secrets func(namespace string) SecretClient
	// Name and Key default to DefaultSecretName and DefaultSecretKey.
	Name, Key string
}

// SecretKey returns namespace's key. A missing or unreadable (forbidden) Secret, missing key or
// too short a key is ErrNoKey (the namespace is not set up for external CI); any other API
// failure is returned as is.
func (s SecretKeys) SecretKey(ctx context.Context, namespace string) ([]byte, error) {
	name, key := s.Name, s.Key
	if name == "" {
		name = DefaultSecretName
	}
	if key == "" {
		key = DefaultSecretKey
	}
	sec, err := s.Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: Secret %s/%s not found", ErrNoKey, namespace, name)
	case apierrors.IsForbidden(err):
		// The function may read the key only in namespaces opted in to nbv: any other
		// namespace has no key it can use. Not a server fault, and not to be told apart
		// from a missing key.
		return nil, fmt.Errorf("%w: Secret %s/%s cannot be read (namespace not opted in?): %v", ErrNoKey, namespace, name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	v := sec.Data[key]
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key %q", ErrNoKey, namespace, name, key)
	}
	if len(v) < MinKeyLength {
		return nil, fmt.Errorf("%w: Secret %s/%s key %q is shorter than %d bytes", ErrNoKey, namespace, name, key, MinKeyLength)
	}
	return v, nil
}
