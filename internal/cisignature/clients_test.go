package cisignature

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

// generatedLeases stands client-go's generated Lease client (here its fake) in for LeasesOver.
func generatedLeases(cs *fake.Clientset) func(string) LeaseClient {
	return func(namespace string) LeaseClient { return cs.CoordinationV1().Leases(namespace) }
}

// generatedSecrets stands client-go's generated Secret client in for SecretsOver.
func generatedSecrets(cs *fake.Clientset) func(string) SecretClient {
	return func(namespace string) SecretClient { return cs.CoreV1().Secrets(namespace) }
}

// The functions' dynamic clients behave as the generated ones the other tests use: a Lease
// remembered once is a replay the second time, expired ones are collected, a Secret's key is
// read.
func TestDynamicClientsServeTheStores(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: DefaultSecretName, Namespace: "team-a"},
		Data: map[string][]byte{DefaultSecretKey: []byte("0123456789abcdef0123")}}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(secret)
	if err != nil {
		t.Fatal(err)
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		leasesGVR: "LeaseList", secretsGVR: "SecretList"}, objectOf(u, "v1", "Secret"))
	ctx := context.Background()
	key, err := SecretKeys{Secrets: SecretsOver(dyn)}.SecretKey(ctx, "team-a")
	if err != nil || string(key) != "0123456789abcdef0123" {
		t.Errorf("key %q, %v", key, err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := LeaseStore{Leases: LeasesOver(dyn), Now: func() time.Time { return now }}
	for i, want := range []bool{true, false} {
		fresh, err := s.Remember(ctx, "team-a", "ci/jenkins", "42", now.Add(time.Minute))
		if err != nil || fresh != want {
			t.Errorf("remember #%d: fresh %v, %v; want %v", i+1, fresh, err, want)
		}
	}
	n, err := s.CollectExpired(ctx, "team-a", now.Add(time.Hour))
	if err != nil || n != 1 {
		t.Errorf("collected %d, %v; want the one expired Lease", n, err)
	}
	list, err := LeasesOver(dyn)("team-a").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("Leases left: %v %v", list, err)
	}
}

func objectOf(u map[string]any, apiVersion, kind string) runtime.Object {
	o := &unstructured.Unstructured{Object: u}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	return o
}
