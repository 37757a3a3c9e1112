package cisignature

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// memStore is an in-memory ReplayStore for these tests only: it would forget everything
// at scale-to-zero, which is why production uses LeaseStore.
type memStore struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memStore) Remember(_ context.Context, ns, source, id string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	k := ns + "\x00" + LeaseName(source, id)
	if m.seen[k] {
		return false, nil
	}
	m.seen[k] = true
	return true, nil
}

var (
	keyA = []byte("team-a-0123456789abcdef-secret")
	keyB = []byte("team-b-0123456789abcdef-secret")
	now  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	body = []byte(`{"specversion":"1.0","type":"dev.mlops.nbv.build.report","source":"ci/jenkins","id":"42","data":{"namespace":"team-a","job":"nb1","status":"succeeded","image":"q.io/a/b:1"}}`)
)

func input(sig string, b []byte, store ReplayStore) VerifyInput {
	return VerifyInput{Namespace: "team-a", Signature: sig, Body: b, Source: "ci/jenkins", ID: "42", Keys: StaticKey(keyA), Replay: store, Now: now}
}

func TestVerify(t *testing.T) {
	cases := []struct {
		name string
		in   func(*memStore) VerifyInput
		want error
	}{
		{"valid", func(s *memStore) VerifyInput { return input(Sign(body, keyA, now), body, s) }, nil},
		{"valid, 4 min old", func(s *memStore) VerifyInput { return input(Sign(body, keyA, now.Add(-4*time.Minute)), body, s) }, nil},
		{"valid, clock 30s ahead", func(s *memStore) VerifyInput { return input(Sign(body, keyA, now.Add(30*time.Second)), body, s) }, nil},
		{"bad signature", func(s *memStore) VerifyInput {
			return input("t="+fmt.Sprint(now.Unix())+",v1="+strings.Repeat("0", 64), body, s)
		}, ErrBadSignature},
		{"other namespace's key", func(s *memStore) VerifyInput { return input(Sign(body, keyB, now), body, s) }, ErrBadSignature},
		{"tampered body", func(s *memStore) VerifyInput {
			return input(Sign(body, keyA, now), bytes.Replace(body, []byte("q.io/a/b:1"), []byte("evil.io/x:1"), 1), s)
		}, ErrBadSignature},
		{"timestamp moved", func(s *memStore) VerifyInput {
			sig := Sign(body, keyA, now.Add(-time.Hour))
			return input(strings.Replace(sig, fmt.Sprint(now.Add(-time.Hour).Unix()), fmt.Sprint(now.Unix()), 1), body, s)
		}, ErrBadSignature},
		{"no signature", func(s *memStore) VerifyInput { return input("", body, s) }, ErrBadSignature},
		{"expired", func(s *memStore) VerifyInput { return input(Sign(body, keyA, now.Add(-6*time.Minute)), body, s) }, ErrExpired},
		{"future beyond skew", func(s *memStore) VerifyInput { return input(Sign(body, keyA, now.Add(2*time.Minute)), body, s) }, ErrExpired},
		{"oversized", func(s *memStore) VerifyInput {
			big := bytes.Repeat([]byte("x"), DefaultMaxBody+1)
			return input(Sign(big, keyA, now), big, s)
		}, ErrTooLarge},
		{"malformed header", func(s *memStore) VerifyInput { return input("sha256=abcdef", body, s) }, ErrMalformed},
		{"v1 not hex", func(s *memStore) VerifyInput { return input("t=1,v1=zz", body, s) }, ErrMalformed},
		{"missing id", func(s *memStore) VerifyInput {
			in := input(Sign(body, keyA, now), body, s)
			in.ID = ""
			return in
		}, ErrMalformed},
		{"no key", func(s *memStore) VerifyInput {
			in := input(Sign(body, keyA, now), body, s)
			in.Keys = StaticKey(nil)
			return in
		}, ErrNoKey},
	}
	for _, c := range cases {
		s := &memStore{}
		err := Verify(context.Background(), c.in(s))
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if c.want != nil && len(s.seen) != 0 {
			t.Errorf("%s: a rejected event consumed its (source, id)", c.name)
		}
	}
}

func TestReplay(t *testing.T) {
	s := &memStore{}
	in := input(Sign(body, keyA, now), body, s)
	if err := Verify(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), in); !errors.Is(err, ErrReplayed) {
		t.Errorf("second delivery: %v", err)
	}
	// Re-signed later with the same (source, id): still a replay.
	in2 := input(Sign(body, keyA, now.Add(time.Minute)), body, s)
	in2.Now = now.Add(time.Minute)
	if err := Verify(context.Background(), in2); !errors.Is(err, ErrReplayed) {
		t.Errorf("re-signed: %v", err)
	}
	// A new id is a new event.
	in3 := input(Sign(body, keyA, now), body, s)
	in3.ID = "43"
	if err := Verify(context.Background(), in3); err != nil {
		t.Errorf("new id: %v", err)
	}
}

func TestSignatureRotation(t *testing.T) {
	sigNew := Sign(body, keyA, now)
	sigOld := Sign(body, keyB, now)
	v1old := sigOld[strings.Index(sigOld, "v1="):]
	if err := Verify(context.Background(), input(sigNew+","+v1old, body, &memStore{})); err != nil {
		t.Errorf("two v1 entries, one valid: %v", err)
	}
	many := "t=" + fmt.Sprint(now.Unix()) + strings.Repeat(","+v1old, 6)
	if err := Verify(context.Background(), input(many, body, &memStore{})); !errors.Is(err, ErrMalformed) {
		t.Errorf("six v1 entries: %v", err)
	}
}

func TestSignFormat(t *testing.T) {
	// Known answer: HMAC-SHA256("k", "1700000000.hi").
	got := Sign([]byte("hi"), []byte("k"), time.Unix(1700000000, 0))
	if !strings.HasPrefix(got, "t=1700000000,v1=") || len(got) != len("t=1700000000,v1=")+64 {
		t.Fatalf("Sign = %q", got)
	}
	if got != "t=1700000000,v1="+hexMAC("k", "1700000000.hi") {
		t.Errorf("Sign = %q", got)
	}
}

func TestHTTPStatus(t *testing.T) {
	for err, want := range map[error]int{
		nil: 200, fmt.Errorf("x: %w", ErrMalformed): 400, ErrBadSignature: 401, ErrNoKey: 401,
		ErrExpired: 401, ErrReplayed: 409, ErrTooLarge: 413, errors.New("apiserver down"): 500,
	} {
		if got := HTTPStatus(err); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", err, got, want)
		}
	}
}

// TestReadBodyOverHTTP drives ReadBody + Verify the way the function's handler does.
func TestReadBodyOverHTTP(t *testing.T) {
	store := &memStore{}
	var read int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := ReadBody(w, r, 0)
		read = len(b)
		if err == nil {
			err = Verify(r.Context(), VerifyInput{Namespace: "team-a", Signature: r.Header.Get(Header), Body: b,
				Source: "ci/jenkins", ID: r.Header.Get("Ce-Id"), Keys: StaticKey(keyA), Replay: store, Now: now})
		}
		w.WriteHeader(HTTPStatus(err))
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	post := func(b []byte, sig, id string, chunked bool) int {
		var r io.Reader = bytes.NewReader(b)
		if chunked {
			r = io.MultiReader(r) // hides the length: no Content-Length, chunked encoding
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL, r)
		req.Header.Set(Header, sig)
		req.Header.Set("Ce-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(body, Sign(body, keyA, now), "1", false); got != 200 {
		t.Errorf("valid: %d", got)
	}
	if got := post(body, Sign(body, keyA, now), "1", false); got != 409 {
		t.Errorf("replay: %d", got)
	}
	if got := post(body, Sign(body, keyB, now), "2", false); got != 401 {
		t.Errorf("wrong key: %d", got)
	}
	big := bytes.Repeat([]byte("a"), 1<<20)
	if got := post(big, Sign(big, keyA, now), "3", false); got != 413 {
		t.Errorf("oversized with Content-Length: %d", got)
	}
	if got := post(big, Sign(big, keyA, now), "4", true); got != 413 || read != 0 {
		t.Errorf("oversized chunked: %d (read %d)", got, read)
	}
}

func TestLeaseStore(t *testing.T) {
	cs := fake.NewClientset()
	clock := func() time.Time { return now }
	s := LeaseStore{Leases: generatedLeases(cs), Now: clock}
	exp := now.Add(5 * time.Minute)
	fresh, err := s.Remember(context.Background(), "team-a", "ci/jenkins", "42", exp)
	if err != nil || !fresh {
		t.Fatalf("first: %v %v", fresh, err)
	}
	fresh, err = s.Remember(context.Background(), "team-a", "ci/jenkins", "42", exp)
	if err != nil || fresh {
		t.Errorf("second: fresh=%v err=%v, want replay", fresh, err)
	}
	// Same pair in another namespace is another namespace's business.
	if fresh, _ := s.Remember(context.Background(), "team-b", "ci/jenkins", "42", exp); !fresh {
		t.Error("namespaces share replay state")
	}
	l, err := cs.CoordinationV1().Leases("team-a").Get(context.Background(), LeaseName("ci/jenkins", "42"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.Name, "nvj-ce-") || len(l.Name) != len("nvj-ce-")+20 {
		t.Errorf("name %q", l.Name)
	}
	if l.Labels[ReplayLabel] != "true" || l.Annotations[ReplayExpiresAnnotation] != "2026-11-25T12:05:00Z" || *l.Spec.LeaseDurationSeconds != 300 {
		t.Errorf("lease = %+v", l.ObjectMeta)
	}
	if Expired(l, now.Add(4*time.Minute)) || !Expired(l, now.Add(6*time.Minute)) {
		t.Error("Expired misjudges the annotation")
	}
	if Expired(&coordinationv1.Lease{}, now.Add(time.Hour)) {
		t.Error("Expired judged a foreign Lease")
	}

	// An API failure is neither fresh nor a replay: it is an error (5xx, retry).
	cs.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd down")
	})
	if _, err := s.Remember(context.Background(), "team-a", "x", "y", exp); err == nil || HTTPStatus(err) != 500 {
		t.Errorf("api failure: %v", err)
	}
}

func TestLeaseNameUnambiguous(t *testing.T) {
	if LeaseName("ab", "c") == LeaseName("a", "bc") {
		t.Error("(ab, c) and (a, bc) share a Lease")
	}
	if LeaseName("s", "1") != LeaseName("s", "1") {
		t.Error("not deterministic")
	}
}

func TestSecretKeys(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nbv-ci-webhook", Namespace: "team-a"}, Data: map[string][]byte{"hmac-key": keyA}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nbv-ci-webhook", Namespace: "team-b"}, Data: map[string][]byte{"other": keyB}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nbv-ci-webhook", Namespace: "team-c"}, Data: map[string][]byte{"hmac-key": []byte("short")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ci", Namespace: "team-d"}, Data: map[string][]byte{"k": keyB}},
	)
	ks := SecretKeys{Secrets: generatedSecrets(cs)}
	if k, err := ks.SecretKey(context.Background(), "team-a"); err != nil || !bytes.Equal(k, keyA) {
		t.Errorf("team-a: %q %v", k, err)
	}
	for _, ns := range []string{"team-b", "team-c", "nowhere"} {
		if _, err := ks.SecretKey(context.Background(), ns); !errors.Is(err, ErrNoKey) {
			t.Errorf("%s: %v, want ErrNoKey", ns, err)
		}
	}
	custom := SecretKeys{Secrets: generatedSecrets(cs), Name: "ci", Key: "k"}
	if k, err := custom.SecretKey(context.Background(), "team-d"); err != nil || !bytes.Equal(k, keyB) {
		t.Errorf("custom name: %q %v", k, err)
	}
	// Functions may read Secrets only in namespaces opted in to nbv: elsewhere the namespace
	// has no key the route can use, which is the caller's problem (401), not the server's.
	cs.PrependReactor("get", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "not-opted-in" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "nbv-ci-webhook", errors.New("rbac"))
		}
		return true, nil, apierrors.NewServiceUnavailable("etcd down")
	})
	if _, err := ks.SecretKey(context.Background(), "not-opted-in"); !errors.Is(err, ErrNoKey) || HTTPStatus(err) != http.StatusUnauthorized {
		t.Errorf("forbidden: %v, want ErrNoKey", err)
	}
	if _, err := ks.SecretKey(context.Background(), "team-a"); err == nil || errors.Is(err, ErrNoKey) || HTTPStatus(err) != http.StatusInternalServerError {
		t.Errorf("an unavailable API server must be a server-side error, got %v", err)
	}
}

// hexMAC is an independent HMAC-SHA256 computation for the known-answer test.
func hexMAC(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

func TestCollectExpired(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	lease := func(name string, replay bool, expires time.Time) *coordinationv1.Lease {
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a",
			Annotations: map[string]string{ReplayExpiresAnnotation: expires.Format(time.RFC3339)}}}
		if replay {
			l.Labels = map[string]string{ReplayLabel: "true"}
		}
		return l
	}
	cs := fake.NewClientset(
		lease("old-1", true, now.Add(-time.Hour)),
		lease("old-2", true, now.Add(-time.Second)),
		lease("fresh", true, now.Add(time.Minute)),
		lease("someone-elses", false, now.Add(-time.Hour)),
	)
	s := LeaseStore{Leases: generatedLeases(cs)}
	n, err := s.CollectExpired(context.Background(), "team-a", now)
	if err != nil || n != 2 {
		t.Fatalf("collected %d, %v; want the 2 expired replay-guard Leases", n, err)
	}
	left, err := cs.CoordinationV1().Leases("team-a").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range left.Items {
		names = append(names, l.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"fresh", "someone-elses"}) {
		t.Errorf("left %v, want the unexpired Lease and the one that is not a replay guard", names)
	}
}

// signAt signs body with key under a timestamp given as text, as a sender could write any.
func signAt(body, key []byte, ts string) string {
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

// TestTimestampWindowDoesNotOverflow: a correctly signed but absurd timestamp is refused as
// outside the window, on the side it is on, whatever its size.
func TestTimestampWindowDoesNotOverflow(t *testing.T) {
	cases := map[string]string{
		"9223372036854775807":        "signed more than 292 years in the future (t=9223372036854775807)",
		"9223372036":                 "in the future (t=9223372036)",
		"1":                          "signed 498779h59m59s ago (t=1)",
		fmt.Sprint(now.Unix() - 301): "signed 5m1s ago",
		fmt.Sprint(now.Unix() + 61):  "signed 1m1s in the future",
	}
	for ts, want := range cases {
		err := Verify(context.Background(), input(signAt(body, keyA, ts), body, &memStore{}))
		if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), want) {
			t.Errorf("t=%s: got %v, want ErrExpired saying %q", ts, err, want)
		}
	}
	for _, ts := range []string{fmt.Sprint(now.Unix() - 300), fmt.Sprint(now.Unix() + 60)} {
		if err := Verify(context.Background(), input(signAt(body, keyA, ts), body, &memStore{})); err != nil {
			t.Errorf("t=%s at the edge of the window: %v", ts, err)
		}
	}
	if got := spanOf(math.MaxInt64, math.MinInt64); got != "more than 292 years" {
		t.Errorf("spanOf(max, min) = %q", got)
	}
}

// TestOneAnswerWhateverTheSignatureProblem: no header, no key, the wrong key and a tampered
// body are told the same text; the detail stays in the error for the log.
func TestOneAnswerWhateverTheSignatureProblem(t *testing.T) {
	ins := map[string]VerifyInput{
		"no header":     input("", body, &memStore{}),
		"wrong key":     input(Sign(body, keyB, now), body, &memStore{}),
		"tampered body": input(Sign(body, keyA, now), append([]byte(" "), body...), &memStore{}),
	}
	noKey := input("", body, &memStore{})
	noKey.Keys = StaticKey(nil)
	ins["no header, no key"] = noKey
	noKey.Signature = Sign(body, keyA, now)
	ins["no key"] = noKey
	for name, in := range ins {
		err := Verify(context.Background(), in)
		if HTTPStatus(err) != http.StatusUnauthorized || PublicMessage(err) != Unauthorized {
			t.Errorf("%s: %d %q (error %v), want 401 %q", name, HTTPStatus(err), PublicMessage(err), err, Unauthorized)
		}
	}
	// A malformed header is refused before the key is looked up: the same 400 with or without a key.
	for _, keys := range []KeySource{StaticKey(keyA), StaticKey(nil)} {
		in := input("t=abc,v1=00", body, &memStore{})
		in.Keys = keys
		if err := Verify(context.Background(), in); !errors.Is(err, ErrMalformed) || !strings.Contains(PublicMessage(err), `t="abc" is not unix seconds`) {
			t.Errorf("malformed header with keys %v: %v", keys, err)
		}
	}
	expired := Verify(context.Background(), input(Sign(body, keyA, now.Add(-time.Hour)), body, &memStore{}))
	if PublicMessage(expired) != expired.Error() {
		t.Errorf("an expired but verified request is told the detail: %q", PublicMessage(expired))
	}
}
