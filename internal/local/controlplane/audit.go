package controlplane

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// auditPolicy is the kube-apiserver audit policy written when Options.AuditUserGroups is set:
// one entry per request (at ResponseComplete) of the users in those groups, at level
// RequestResponse for writes of a NotebookValidationJob's status (the patch's resourceVersion
// precondition and the stored object's resourceVersion tell a write that changed the job from
// one that changed nothing: see AuditEvent.StatusWriteChanged), Request for creates (so the
// created object's ownerReferences are visible: they imply a permission check by
// OwnerReferencesPermissionEnforcement) and Metadata for everything else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: RequestResponse
    verbs: [patch, update]
    resources: [{group: mlops.mlops.dev, resources: [notebookvalidationjobs/status]}]
    userGroups: %[1]s
  - level: Request
    verbs: [create]
    userGroups: %[1]s
  - level: Metadata
    userGroups: %[1]s
  - level: None
`

// auditFlags writes the audit policy into dir and returns the kube-apiserver flags that log
// the requests of users in groups, as JSON lines, to the returned log path.
func auditFlags(dir string, groups []string) (flags []string, logPath string, err error) {
	quoted, err := json.Marshal(groups)
	if err != nil {
		return nil, "", fmt.Errorf("encoding audit groups: %w", err)
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, fmt.Appendf(nil, auditPolicy, quoted), 0o600); err != nil {
		return nil, "", fmt.Errorf("writing audit policy: %w", err)
	}
	logPath = filepath.Join(dir, "audit.log")
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + logPath,
		"--audit-log-format=json",
		// Written before the response is sent: a caller that got its answer finds the entry.
		"--audit-log-mode=blocking",
		"--audit-log-maxsize=0",
	}, logPath, nil
}

// AuditEvent is one request of the audit log (the fields of audit.k8s.io/v1 Event this
// project reads).
type AuditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
	} `json:"objectRef"`
	RequestURI     string `json:"requestURI"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"responseStatus"`
	// RequestObject is the body of creates and of job status writes; nil otherwise.
	RequestObject json.RawMessage `json:"requestObject"`
	// ResponseObject is what a job status write answered (the stored job, or a Status); nil
	// for every other request.
	ResponseObject json.RawMessage   `json:"responseObject"`
	Annotations    map[string]string `json:"annotations"`
	// RequestReceivedTimestamp is when the API server received the request.
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
	// StageTimestamp is when the request completed.
	StageTimestamp time.Time `json:"stageTimestamp"`
}

// StatusWriteChanged reports, for a successful job status write, whether it changed the job:
// the stored object's resourceVersion differs from the one the write was guarded by (an
// unguarded write that succeeded counts as a change). A write the API server answered with
// the object unchanged moved nothing and cost a round trip.
func (e AuditEvent) StatusWriteChanged() bool {
	var req, resp struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if rv, ok := copyPatchVersion(e.RequestObject); ok {
		req.Metadata.ResourceVersion = rv
	} else if json.Unmarshal(e.RequestObject, &req) != nil {
		return true
	}
	if json.Unmarshal(e.ResponseObject, &resp) != nil {
		return true
	}
	return req.Metadata.ResourceVersion == "" || req.Metadata.ResourceVersion != resp.Metadata.ResourceVersion
}

// CopyRefused reports whether the request is a status write decided from an event's copy of
// the job (a JSON patch testing the copy, jobstore.Store.PatchStatusFromCopy) that the API
// server refused with 422: the job was not that copy (it had moved on, or the copy was never
// the API server's). Like a 409, nothing was stored, and the function reads the job and
// decides again.
func (e AuditEvent) CopyRefused() bool {
	_, isCopy := copyPatchVersion(e.RequestObject)
	return isCopy && e.ResponseStatus != nil && e.ResponseStatus.Code == http.StatusUnprocessableEntity
}

// copyPatchVersion is the resourceVersion a JSON patch tests, and whether body is such a patch.
func copyPatchVersion(body json.RawMessage) (string, bool) {
	var ops []struct {
		Op, Path string
		Value    any
	}
	if json.Unmarshal(body, &ops) != nil {
		return "", false
	}
	for _, o := range ops {
		if rv, ok := o.Value.(string); ok && o.Op == "test" && o.Path == "/metadata/resourceVersion" {
			return rv, true
		}
	}
	return "", false
}

// Forbidden reports whether the authorizer refused the request.
func (e AuditEvent) Forbidden() bool {
	return e.Annotations["authorization.k8s.io/decision"] == "forbid"
}

// AuditLogPath is the audit log's path, or "" when Options.AuditUserGroups was empty.
func (cp *ControlPlane) AuditLogPath() string { return cp.auditLog }

// AuditOffset is the audit log's current size: pass it to ReadAudit to read only what is
// logged from now on.
func (cp *ControlPlane) AuditOffset() (int64, error) {
	if cp.auditLog == "" {
		return 0, fmt.Errorf("controlplane: started without an audit log (Options.AuditUserGroups)")
	}
	fi, err := os.Stat(cp.auditLog)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("controlplane: audit log: %w", err)
	}
	return fi.Size(), nil
}

// ReadAudit returns the audit events logged after offset (see AuditOffset).
func (cp *ControlPlane) ReadAudit(offset int64) ([]AuditEvent, error) {
	if cp.auditLog == "" {
		return nil, fmt.Errorf("controlplane: started without an audit log (Options.AuditUserGroups)")
	}
	f, err := os.Open(cp.auditLog)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("controlplane: audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("controlplane: audit log: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("controlplane: reading audit log: %w", err)
	}
	return parseAudit(data)
}

// parseAudit decodes the complete lines of data; a last line without its newline is being
// written and is left for the next read.
func parseAudit(data []byte) ([]AuditEvent, error) {
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []AuditEvent
	for i, b := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var e AuditEvent
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("controlplane: audit log line %d: %w: %.200s", i+1, err, b)
		}
		out = append(out, e)
	}
	return out, nil
}
