package bench

import (
	"encoding/json"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/statemachine"
)

// jobCalls are the API requests the functions made about one job (the job itself, its
// children, its Events), from the API server's audit log.
type jobCalls struct {
	Total  int
	ByCall map[string]int // "verb resource[/subresource]"
	// StatusWrites are the writes of the job's status; Changed those that changed it,
	// Conflicts those refused with 409 (or, written from an event's copy of the job, with 422:
	// the job was not that copy; controlplane.AuditEvent.CopyRefused), NoOp those that succeeded and changed nothing,
	// Unavailable those the API server could not take (429 or 5xx: nothing was stored, as
	// while it restarts; or 403 from a kube-apiserver just restarted, whose RBAC cache was
	// still filling), Other those refused otherwise (403, 422, ...: the function's fault).
	StatusWrites, Changed, Conflicts, NoOp, Unavailable, Other int
	// OtherCodes are the HTTP statuses of the Other writes.
	OtherCodes []int
}

// apiCalls is the audit log of a run, attributed.
type apiCalls struct {
	jobs map[string]*jobCalls
	// ByFunction counts every request of each function's ServiceAccount.
	ByFunction map[string]int
	// TransitionsByFunction counts each function's status writes that changed a job.
	TransitionsByFunction map[string]int
	// ConflictsByFunction counts each function's status writes refused as a conflict.
	ConflictsByFunction map[string]int
	// ServerTimeByFunction is, for each function, how long the API server took over each of
	// its requests (received to completed): the part of a function's handling time that is
	// the API server's and etcd's, not the function's.
	ServerTimeByFunction map[string][]time.Duration
	// Shared are the functions' requests about no single job (lists, the CI key Secret,
	// replay Leases), by call.
	Shared map[string]int
	// Sources counts the event sources' requests (their lists and watches), by call.
	Sources map[string]int
}

// attribute sorts the audit events of a run: functions maps each function's user name
// (system:serviceaccount:<ns>:<sa>) to its name; every other user of the audited group is an
// event source. jobs are the run's jobs by name with their UIDs, which name their children.
// restarting reports whether a time falls in a kube-apiserver restart's window (nil: there
// was none): a 403 then says the authorizer was not ready, not that the function may not.
func attribute(evs []controlplane.AuditEvent, functions map[string]string, jobs map[string]types.UID, restarting func(time.Time) bool) *apiCalls {
	a := &apiCalls{jobs: map[string]*jobCalls{}, ByFunction: map[string]int{}, TransitionsByFunction: map[string]int{},
		ConflictsByFunction: map[string]int{}, ServerTimeByFunction: map[string][]time.Duration{},
		Shared: map[string]int{}, Sources: map[string]int{}}
	owner := childOwners(jobs)
	for _, e := range evs {
		call := callName(e)
		fn, isFunction := functions[e.User.Username]
		if !isFunction {
			a.Sources[call]++
			continue
		}
		a.ByFunction[fn]++
		if !e.RequestReceivedTimestamp.IsZero() && !e.StageTimestamp.Before(e.RequestReceivedTimestamp) {
			a.ServerTimeByFunction[fn] = append(a.ServerTimeByFunction[fn], e.StageTimestamp.Sub(e.RequestReceivedTimestamp))
		}
		job := owner[aboutName(e)]
		if job == "" {
			a.Shared[call]++
			continue
		}
		jc := a.jobs[job]
		if jc == nil {
			jc = &jobCalls{ByCall: map[string]int{}}
			a.jobs[job] = jc
		}
		jc.Total++
		jc.ByCall[call]++
		if !isStatusWrite(e) {
			continue
		}
		jc.StatusWrites++
		code := 0
		if e.ResponseStatus != nil {
			code = e.ResponseStatus.Code
		}
		switch {
		case code == 409 || e.CopyRefused():
			jc.Conflicts++
			a.ConflictsByFunction[fn]++
		case code >= 200 && code < 300 && e.StatusWriteChanged():
			jc.Changed++
			a.TransitionsByFunction[fn]++
		case code >= 200 && code < 300:
			jc.NoOp++
		case code == 429 || code >= 500, code == 403 && restarting != nil && restarting(e.StageTimestamp):
			jc.Unavailable++
		default:
			jc.Other++
			jc.OtherCodes = append(jc.OtherCodes, code)
		}
	}
	return a
}

// job returns the calls about job (zero when there were none).
func (a *apiCalls) job(name string) jobCalls {
	if jc := a.jobs[name]; jc != nil {
		return *jc
	}
	return jobCalls{}
}

// childOwners maps the name of each job, and of every child it can have (its build and the
// pods of its first attempts), to the job's name.
func childOwners(jobs map[string]types.UID) map[string]string {
	out := map[string]string{}
	for name, uid := range jobs {
		j := &v1alpha1.NotebookValidationJob{}
		j.Name, j.UID = name, uid
		out[name] = name
		out[statemachine.BuildName(j)] = name
		for attempt := range 5 {
			out[statemachine.PodName(j, attempt)] = name
		}
	}
	return out
}

// callName is "verb resource" or "verb resource/subresource".
func callName(e controlplane.AuditEvent) string {
	if e.ObjectRef == nil {
		return e.Verb + " " + e.RequestURI
	}
	r := e.ObjectRef.Resource
	if e.ObjectRef.Subresource != "" {
		r += "/" + e.ObjectRef.Subresource
	}
	return e.Verb + " " + r
}

// aboutName is the name of the object a request is about: for an Event created, the object the
// Event is about (its regarding or involvedObject).
func aboutName(e controlplane.AuditEvent) string {
	if e.ObjectRef == nil {
		return ""
	}
	if e.ObjectRef.Resource == "events" {
		var ev struct {
			Regarding      struct{ Name string } `json:"regarding"`
			InvolvedObject struct{ Name string } `json:"involvedObject"`
		}
		if json.Unmarshal(e.RequestObject, &ev) == nil {
			if ev.Regarding.Name != "" {
				return ev.Regarding.Name
			}
			if ev.InvolvedObject.Name != "" {
				return ev.InvolvedObject.Name
			}
		}
		// An Event's name is "<object>.<unique suffix>".
		name, _, _ := strings.Cut(e.ObjectRef.Name, ".")
		return name
	}
	return e.ObjectRef.Name
}

func isStatusWrite(e controlplane.AuditEvent) bool {
	return e.ObjectRef != nil && e.ObjectRef.Resource == v1alpha1.Resource && e.ObjectRef.Subresource == "status" &&
		(e.Verb == "patch" || e.Verb == "update")
}
