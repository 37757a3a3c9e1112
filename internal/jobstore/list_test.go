package jobstore

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// listServer answers job lists from pages keyed by continue token and records each request.
type listServer struct {
	mu       sync.Mutex
	requests []*url.URL
	pages    map[string]v1alpha1.NotebookValidationJobList
}

func (l *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.requests = append(l.requests, r.URL)
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	page, ok := l.pages[r.URL.Query().Get("continue")]
	if !ok {
		w.WriteHeader(http.StatusGone)
		_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "continue token expired"})
		return
	}
	page.TypeMeta = metav1.TypeMeta{Kind: "NotebookValidationJobList", APIVersion: v1alpha1.SchemeGroupVersion.String()}
	_ = json.NewEncoder(w).Encode(page)
}

func listedJob(namespace, name, phase string) v1alpha1.NotebookValidationJob {
	return v1alpha1.NotebookValidationJob{
		TypeMeta:   metav1.TypeMeta{Kind: v1alpha1.Kind, APIVersion: v1alpha1.SchemeGroupVersion.String()},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: "7"},
		Status:     v1alpha1.NotebookValidationJobStatus{Phase: phase},
	}
}

func TestListPagesWithSelectorAndToken(t *testing.T) {
	first := v1alpha1.NotebookValidationJobList{Items: []v1alpha1.NotebookValidationJob{listedJob("a", "one", v1alpha1.PhaseBuilding)}}
	first.Continue = "tok-1"
	ls := &listServer{pages: map[string]v1alpha1.NotebookValidationJobList{
		"":      first,
		"tok-1": {Items: []v1alpha1.NotebookValidationJob{listedJob("b", "two", "")}},
	}}
	srv := httptest.NewServer(ls)
	defer srv.Close()
	s, err := New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	jobs, next, err := s.List(ctx, "", NotTerminal, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Name != "one" || jobs[0].Status.Phase != v1alpha1.PhaseBuilding || jobs[0].ResourceVersion != "7" || next != "tok-1" {
		t.Fatalf("first page = %+v, next %q", jobs, next)
	}
	jobs, next, err = s.List(ctx, "b", NotTerminal, 1, next)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Name != "two" || next != "" {
		t.Fatalf("last page = %+v, next %q", jobs, next)
	}

	want := []struct{ path, limit, cont string }{
		{"/apis/mlops.mlops.dev/v1alpha1/notebookvalidationjobs", "1", ""},
		{"/apis/mlops.mlops.dev/v1alpha1/namespaces/b/notebookvalidationjobs", "1", "tok-1"},
	}
	if len(ls.requests) != len(want) {
		t.Fatalf("requests = %v", ls.requests)
	}
	for i, w := range want {
		u := ls.requests[i]
		q := u.Query()
		if u.Path != w.path || q.Get("limit") != w.limit || q.Get("continue") != w.cont || q.Get("fieldSelector") != "status.phase!=Succeeded,status.phase!=Failed" {
			t.Errorf("request %d = %s, want path %s limit %s continue %q and the non-terminal selector", i, u, w.path, w.limit, w.cont)
		}
	}
	if s.Calls() != 2 {
		t.Errorf("calls = %d, want 2", s.Calls())
	}
}

func TestListOmitsEmptyParameters(t *testing.T) {
	ls := &listServer{pages: map[string]v1alpha1.NotebookValidationJobList{"": {}}}
	srv := httptest.NewServer(ls)
	defer srv.Close()
	s, err := New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	jobs, next, err := s.List(context.Background(), "", "", 0, "")
	if err != nil || len(jobs) != 0 || next != "" {
		t.Fatalf("List = %v, %q, %v", jobs, next, err)
	}
	if q := ls.requests[0].Query(); len(q) != 0 {
		t.Errorf("query = %v, want none: no selector, limit or token was asked for", q)
	}
}

func TestListExpiredTokenIsResourceExpired(t *testing.T) {
	ls := &listServer{pages: map[string]v1alpha1.NotebookValidationJobList{}}
	srv := httptest.NewServer(ls)
	defer srv.Close()
	s, err := New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.List(context.Background(), "team-a", NotTerminal, 10, "stale")
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("err = %v, want a 410 the caller can recognise", err)
	}
}
