package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/local/optin"
	"github.com/mlops-dev/nbv/internal/local/yamldocs"
)

// This file is the pure half of the RBAC-equals-use test: what config/rbac/ grants each
// function's ServiceAccount, what the audit log says each one did, and the difference.

const (
	scopeNamespace = "namespace"
	scopeCluster   = "cluster"
)

// access is one kind of request a ServiceAccount makes or may make. Name is set only where a
// rule restricts resourceNames (and then for the requests it must cover).
type access struct {
	SA, Verb, Group, Resource, Subresource, Scope, Name string
}

func (a access) String() string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Name != "" {
		res += " named " + a.Name
	}
	return fmt.Sprintf("%s: %s %s (%s scope)", a.SA, a.Verb, res, a.Scope)
}

// grant is one (role rule, binding) pair: the rule's verbs on its resources, at the binding's
// scope (a RoleBinding grants in its namespace; a ClusterRoleBinding everywhere).
type grant struct {
	SA     string
	Rule   rbacv1.PolicyRule
	Scope  string
	Source string // file and role, for messages
}

// rbacGrants reads the ClusterRoles of config/rbac/functions.yaml and who is bound to them:
// ClusterRoleBindings there (cluster scope) and RoleBindings in config/rbac/opt-in/ (namespace
// scope). Only ServiceAccounts of optin.SystemNamespace count.
func rbacGrants(repoRoot string) ([]grant, error) {
	roles := map[string]rbacv1.ClusterRole{}
	type binding struct {
		role, scope, file string
		subjects          []rbacv1.Subject
	}
	var bindings []binding
	files := []string{filepath.Join(repoRoot, "config", "rbac", "functions.yaml")}
	optIn, err := filepath.Glob(filepath.Join(repoRoot, "config", "rbac", "opt-in", "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range append(files, optIn...) {
		docs, err := yamldocs.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(repoRoot, f)
		for _, d := range docs {
			switch d.Object.GetKind() {
			case "ClusterRole":
				var r rbacv1.ClusterRole
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object.Object, &r); err != nil {
					return nil, fmt.Errorf("%s document %d: %w", rel, d.Index, err)
				}
				roles[r.Name] = r
			case "Role":
				return nil, fmt.Errorf("%s document %d: a Role; functions get ClusterRoles bound per namespace", rel, d.Index)
			case "ClusterRoleBinding", "RoleBinding":
				var b rbacv1.RoleBinding // same fields as a ClusterRoleBinding
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object.Object, &b); err != nil {
					return nil, fmt.Errorf("%s document %d: %w", rel, d.Index, err)
				}
				scope := scopeCluster
				if d.Object.GetKind() == "RoleBinding" {
					scope = scopeNamespace
				}
				if b.RoleRef.Kind != "ClusterRole" {
					return nil, fmt.Errorf("%s %s refers to a %s", rel, b.Name, b.RoleRef.Kind)
				}
				bindings = append(bindings, binding{role: b.RoleRef.Name, scope: scope, file: rel, subjects: b.Subjects})
			}
		}
	}
	var out []grant
	for _, b := range bindings {
		role, ok := roles[b.role]
		if !ok {
			return nil, fmt.Errorf("%s binds ClusterRole %s, which config/rbac/functions.yaml does not define", b.file, b.role)
		}
		for _, s := range b.subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Namespace != optin.SystemNamespace {
				continue
			}
			for _, r := range role.Rules {
				out = append(out, grant{SA: s.Name, Rule: r, Scope: b.scope, Source: b.file + " ClusterRole " + role.Name})
			}
		}
	}
	return out, nil
}

// atoms expands a grant into the accesses it allows, one per verb, group, resource and name.
func (g grant) atoms() []access {
	var out []access
	names := g.Rule.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, verb := range g.Rule.Verbs {
		for _, group := range g.Rule.APIGroups {
			for _, res := range g.Rule.Resources {
				r, sub, _ := strings.Cut(res, "/")
				for _, n := range names {
					out = append(out, access{SA: g.SA, Verb: verb, Group: group, Resource: r, Subresource: sub, Scope: g.Scope, Name: n})
				}
			}
		}
	}
	return out
}

// allows reports whether atom a (from a grant) covers request u. A cluster-scope grant covers
// namespaced requests too; a namespace-scope grant only namespaced ones.
func (a access) allows(u access) bool {
	return a.SA == u.SA && a.Verb == u.Verb && a.Group == u.Group && a.Resource == u.Resource &&
		a.Subresource == u.Subresource && (a.Name == "" || a.Name == u.Name) &&
		(a.Scope == scopeCluster || u.Scope == scopeNamespace)
}

// usedBy reports whether grant atom a is needed by request u: it allows u at a's own scope.
func (a access) usedBy(u access) bool {
	return a.allows(u) && a.Scope == u.Scope
}

// saPrefix is how the API server names a ServiceAccount of optin.SystemNamespace.
const saPrefix = "system:serviceaccount:" + optin.SystemNamespace + ":"

// usedAccesses turns audit events into the accesses of each function's ServiceAccount:
// the requests themselves, and the permission OwnerReferencesPermissionEnforcement checks when
// a created object's ownerReference sets blockOwnerDeletion (update on the owner's finalizers).
// Only the ServiceAccounts in sas count. resourceOf maps an owner's group and kind to its
// resource. denied lists requests refused with 403.
func usedAccesses(events []controlplane.AuditEvent, sas map[string]bool, resourceOf func(schema.GroupKind) (string, error)) (used []access, denied []string, err error) {
	seen := map[access]bool{}
	deniedCount, deniedFirst := map[access]int{}, map[access]string{}
	var deniedOrder []access
	defer func() {
		for _, k := range deniedOrder {
			denied = append(denied, fmt.Sprintf("%d times %s", deniedCount[k], deniedFirst[k]))
		}
	}()
	add := func(a access) {
		if !seen[a] {
			seen[a] = true
			used = append(used, a)
		}
	}
	for _, e := range events {
		sa, ok := strings.CutPrefix(e.User.Username, saPrefix)
		if !ok || !sas[sa] || e.ObjectRef == nil {
			continue
		}
		ref := e.ObjectRef
		scope := scopeCluster
		if ref.Namespace != "" {
			scope = scopeNamespace
		}
		a := access{SA: sa, Verb: e.Verb, Group: ref.APIGroup, Resource: ref.Resource, Subresource: ref.Subresource, Scope: scope, Name: ref.Name}
		add(a)
		// Refused by the authorizer, or by admission (OwnerReferencesPermissionEnforcement):
		// reported once per kind of request, with how often and the first refusal.
		if e.Forbidden() || (e.ResponseStatus != nil && e.ResponseStatus.Code == 403) {
			kind := a
			kind.Name = ""
			if deniedCount[kind]++; deniedCount[kind] == 1 {
				deniedFirst[kind] = fmt.Sprintf("%s (first: %s): %s", kind, e.RequestURI, statusMessage(e))
				deniedOrder = append(deniedOrder, kind)
			}
		}
		if e.Verb != "create" || len(e.RequestObject) == 0 {
			continue
		}
		var obj struct {
			Metadata struct {
				OwnerReferences []struct {
					APIVersion, Kind, Name string
					BlockOwnerDeletion     *bool `json:"blockOwnerDeletion"`
				} `json:"ownerReferences"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(e.RequestObject, &obj); err != nil {
			return nil, nil, fmt.Errorf("audit: request object of %s: %w", e.RequestURI, err)
		}
		for _, o := range obj.Metadata.OwnerReferences {
			if o.BlockOwnerDeletion == nil || !*o.BlockOwnerDeletion {
				continue
			}
			gv, err := schema.ParseGroupVersion(o.APIVersion)
			if err != nil {
				return nil, nil, fmt.Errorf("audit: ownerReference of %s: %w", e.RequestURI, err)
			}
			res, err := resourceOf(gv.WithKind(o.Kind).GroupKind())
			if err != nil {
				return nil, nil, err
			}
			add(access{SA: sa, Verb: "update", Group: gv.Group, Resource: res, Subresource: "finalizers", Scope: scopeNamespace, Name: o.Name})
		}
	}
	return used, denied, nil
}

func statusMessage(e controlplane.AuditEvent) string {
	if e.ResponseStatus == nil {
		return "no status"
	}
	return fmt.Sprintf("%d %s", e.ResponseStatus.Code, e.ResponseStatus.Message)
}

// rbacMismatch compares grants with use: every used access must be allowed by a grant, and
// every grant atom must be needed by some used access. It returns one line per mismatch.
func rbacMismatch(grants []grant, used []access) []string {
	var atoms []access
	source := map[access]string{}
	for _, g := range grants {
		for _, a := range g.atoms() {
			atoms = append(atoms, a)
			source[a] = g.Source
		}
	}
	var out []string
	for _, u := range used {
		if !slices.ContainsFunc(atoms, func(a access) bool { return a.allows(u) }) {
			out = append(out, fmt.Sprintf("used but not granted by config/rbac: %s", withoutName(atoms, u)))
		}
	}
	for _, a := range atoms {
		if !slices.ContainsFunc(used, a.usedBy) {
			out = append(out, fmt.Sprintf("granted but never used: %s, granted by %s", a, source[a]))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// withoutName is u without its object name unless some rule for that request restricts
// resourceNames: one line per kind of request, but the name of any Secret it read.
func withoutName(atoms []access, u access) access {
	named := slices.ContainsFunc(atoms, func(a access) bool {
		return a.Name != "" && a.SA == u.SA && a.Verb == u.Verb && a.Group == u.Group && a.Resource == u.Resource && a.Subresource == u.Subresource
	})
	if !named && u.Resource != "secrets" {
		u.Name = ""
	}
	return u
}
