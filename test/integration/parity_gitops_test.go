package integration

import (
	"path/filepath"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/gitops"
	"github.com/mlops-dev/nbv/internal/local/serverapply"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// TestNotificationEventsOncePerJob: every event delivered five times, concurrently; each
// finished job still gets exactly one notification Event, with the existing operator's reason
// and the label Argo CD notification rules select on.
func TestNotificationEventsOncePerJob(t *testing.T) {
	f := newFixture(t, 5)
	ok, bad := f.validatingPair("ok", "bad")
	f.completePod(ok.Status.ValidationPodName, 0, passedSummary())
	f.completePod(bad.Status.ValidationPodName, 1, failedSummary())
	ok = f.waitJob("ok", "Succeeded", phaseIs(v1alpha1.PhaseSucceeded))
	bad = f.waitJob("bad", "Failed", phaseIs(v1alpha1.PhaseFailed))
	time.Sleep(time.Second) // let the duplicates of the last events arrive

	want := map[string]struct{ reason, label, eventType string }{
		"ok":  {gitops.ReasonSucceeded, gitops.NotificationSuccess, "Normal"},
		"bad": {gitops.ReasonFailed, gitops.NotificationFailure, "Warning"},
	}
	for _, job := range []*v1alpha1.NotebookValidationJob{ok, bad} {
		w := want[job.Name]
		list, err := f.kube.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{LabelSelector: gitops.LabelNotificationType})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range list.Items {
			if e.InvolvedObject.UID != job.UID {
				continue
			}
			n++
			if e.Reason != w.reason || e.Labels[gitops.LabelNotificationType] != w.label || e.Type != w.eventType {
				t.Errorf("%s: notification %s %s label %q, want %s %s label %q", job.Name, e.Type, e.Reason, e.Labels[gitops.LabelNotificationType], w.eventType, w.reason, w.label)
			}
		}
		if n != 1 {
			t.Errorf("%s: %d notification Events, want exactly 1", job.Name, n)
		}
	}
}

// healthKey is the argocd-cm key of the NotebookValidationJob health check.
const healthKey = "resource.customizations.health.mlops.mlops.dev_NotebookValidationJob"

// TestArgoCDHealthCheckPatch: config/argocd/argocd-cm-health.yaml, applied server-side as its
// comment says, adds the health check to an existing argocd-cm and keeps the user's keys; the
// Lua it adds, run by the Lua VM Argo CD embeds (gopher-lua), maps Succeeded to Healthy,
// Failed to Degraded and everything else to Progressing.
func TestArgoCDHealthCheckPatch(t *testing.T) {
	f := newBareFixture(t)
	if _, err := f.kube.CoreV1().ConfigMaps(f.ns).Create(f.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm"},
		Data: map[string]string{"url": "https://argocd.example.com", "resource.customizations.health.apps_Deployment": "return {status = \"Healthy\"}"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	docs, err := yamldocs.ReadFile(filepath.Join(repoRoot, "config", "argocd", "argocd-cm-health.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := serverapply.Objects(f.ctx, f.cp.RESTConfig(), docObjects(docs), serverapply.Options{FieldManager: "nbv", DefaultNamespace: f.ns}); err != nil {
		t.Fatal(err)
	}
	cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(f.ctx, "argocd-cm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["url"] != "https://argocd.example.com" || cm.Data["resource.customizations.health.apps_Deployment"] == "" {
		t.Errorf("the user's keys were replaced: %v", cm.Data)
	}
	script := cm.Data[healthKey]
	if script == "" {
		t.Fatalf("argocd-cm has no %s", healthKey)
	}
	cases := []struct {
		status     map[string]any
		want, text string
	}{
		{nil, "Progressing", "waiting for the validation to start"},
		{map[string]any{"phase": "ValidationRunning", "message": "validating"}, "Progressing", "validating"},
		{map[string]any{"phase": "Building"}, "Progressing", "Building"},
		{map[string]any{"phase": "Succeeded", "message": "notebook passed"}, "Healthy", "notebook passed"},
		{map[string]any{"phase": "Failed", "message": "cell 3 failed"}, "Degraded", "cell 3 failed"},
	}
	for _, c := range cases {
		obj := map[string]any{"apiVersion": "mlops.mlops.dev/v1alpha1", "kind": "NotebookValidationJob"}
		if c.status != nil {
			obj["status"] = c.status
		}
		status, message := runHealthCheck(t, script, obj)
		if status != c.want || message != c.text {
			t.Errorf("status %v: health %s %q, want %s %q", c.status, status, message, c.want, c.text)
		}
	}
}

// runHealthCheck runs an Argo CD health script with obj as the global obj, as Argo CD does.
func runHealthCheck(t *testing.T, script string, obj map[string]any) (string, string) {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", luaValue(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health script: %v", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %v, want a table", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func luaValue(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, luaValue(L, e))
		}
		return tbl
	case string:
		return lua.LString(v)
	}
	return lua.LNil
}
