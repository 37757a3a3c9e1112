// Package jobaccess owns what a job may make the functions do on its author's behalf. The
// functions' ServiceAccounts may create pods and builds, mount any Secret and run as any
// ServiceAccount of an opted-in namespace; a job must not lend those rights to someone who
// may only create jobs. So before a child is created:
//
//   - PodNeeds and BuildNeeds list (pure, from the spec alone) what the child would use
//     beyond the plain case: each Secret, ConfigMap and PersistentVolumeClaim it names, a
//     ServiceAccount other than the namespace's default, a user Pipeline, and pod-level
//     powers (volume types Pod Security "restricted" refuses, tolerations). A plain job
//     (default account, no references) needs nothing.
//   - Checker.Check asks the API server, with SubjectAccessReviews, whether the job's spec
//     author may do each of those directly. The author is recorded on the job by the
//     MutatingAdmissionPolicy of config/admission/spec-author.yaml from the API server's own
//     request.userInfo, so no one can name another user; a job without it (the policy is
//     not installed) may use nothing beyond the plain case.
package jobaccess

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Permission is one request attribute a SubjectAccessReview checks in the job's namespace.
type Permission struct {
	Verb, Group, Resource, Name string
}

func (p Permission) String() string {
	what := p.Resource
	if p.Group != "" {
		what += "." + p.Group
	}
	if p.Name != "" {
		return fmt.Sprintf("%s %s %q", p.Verb, what, p.Name)
	}
	return p.Verb + " " + what
}

// Need is what one field of the spec makes the child use: any one of AnyOf suffices.
type Need struct {
	Field string
	AnyOf []Permission
}

// UseVerb is this project's verb for running a child as a ServiceAccount, as Pod Security
// Policies had "use": grant it with a Role rule on serviceaccounts (resourceNames to narrow).
const UseVerb = "use"

var createPods = Permission{Verb: "create", Resource: "pods"}

func getSecret(name string) Permission {
	return Permission{Verb: "get", Resource: "secrets", Name: name}
}
func getConfigMap(name string) Permission {
	return Permission{Verb: "get", Resource: "configmaps", Name: name}
}

// serviceAccount is the need of running a child as account, nil for the namespace's default.
func serviceAccount(field, account string) []Need {
	if account == "" || account == "default" {
		return nil
	}
	return []Need{{Field: field, AnyOf: []Permission{{Verb: UseVerb, Resource: "serviceaccounts", Name: account}, createPods}}}
}

func secretNeed(field, name string) []Need {
	if name == "" {
		return nil
	}
	return []Need{{Field: field, AnyOf: []Permission{getSecret(name)}}}
}

// PodNeeds is what the validation pod of job uses beyond the plain case.
func PodNeeds(job *v1alpha1.NotebookValidationJob) []Need {
	spec, pc := &job.Spec, &job.Spec.PodConfig
	var needs []Need
	needs = append(needs, secretNeed("spec.notebook.git.credentialsSecret", spec.Notebook.Git.CredentialsSecret)...)
	if g := spec.GoldenNotebook; g != nil {
		needs = append(needs, secretNeed("spec.goldenNotebook.git.credentialsSecret", g.Git.CredentialsSecret)...)
	}
	needs = append(needs, serviceAccount("spec.podConfig.serviceAccountName", pc.ServiceAccountName)...)
	for i, e := range pc.Env {
		field := fmt.Sprintf("spec.podConfig.env[%d].valueFrom", i)
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			needs = append(needs, Need{Field: field + ".secretKeyRef", AnyOf: []Permission{getSecret(r.Name)}})
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			needs = append(needs, Need{Field: field + ".configMapKeyRef", AnyOf: []Permission{getConfigMap(r.Name)}})
		}
	}
	for i, e := range pc.EnvFrom {
		field := fmt.Sprintf("spec.podConfig.envFrom[%d]", i)
		if r := e.SecretRef; r != nil {
			needs = append(needs, Need{Field: field + ".secretRef", AnyOf: []Permission{getSecret(r.Name)}})
		}
		if r := e.ConfigMapRef; r != nil {
			needs = append(needs, Need{Field: field + ".configMapRef", AnyOf: []Permission{getConfigMap(r.Name)}})
		}
	}
	for i, name := range pc.Credentials {
		needs = append(needs, Need{Field: fmt.Sprintf("spec.podConfig.credentials[%d]", i), AnyOf: []Permission{getSecret(name)}})
	}
	for i, v := range pc.Volumes {
		needs = append(needs, volumeNeeds(fmt.Sprintf("spec.podConfig.volumes[%d]", i), v)...)
	}
	if len(pc.Tolerations) > 0 {
		// Tolerations reach nodes kept apart by taints (control plane, dedicated nodes).
		needs = append(needs, Need{Field: "spec.podConfig.tolerations", AnyOf: []Permission{createPods}})
	}
	return needs
}

// volumeNeeds is what volume v uses: the objects it names, or, for a volume type Pod Security
// "restricted" refuses (hostPath and the like) or one that reaches outside the namespace's
// objects (an inline CSI volume, a ServiceAccount token for another audience), the right to
// create pods.
func volumeNeeds(field string, v corev1.Volume) []Need {
	switch s := v.VolumeSource; {
	case s.Secret != nil:
		return []Need{{Field: field + ".secret", AnyOf: []Permission{getSecret(s.Secret.SecretName)}}}
	case s.ConfigMap != nil:
		return []Need{{Field: field + ".configMap", AnyOf: []Permission{getConfigMap(s.ConfigMap.Name)}}}
	case s.PersistentVolumeClaim != nil:
		return []Need{{Field: field + ".persistentVolumeClaim", AnyOf: []Permission{{Verb: "get", Resource: "persistentvolumeclaims", Name: s.PersistentVolumeClaim.ClaimName}}}}
	case s.Projected != nil:
		var needs []Need
		for j, src := range s.Projected.Sources {
			f := fmt.Sprintf("%s.projected.sources[%d]", field, j)
			switch {
			case src.Secret != nil:
				needs = append(needs, Need{Field: f + ".secret", AnyOf: []Permission{getSecret(src.Secret.Name)}})
			case src.ConfigMap != nil:
				needs = append(needs, Need{Field: f + ".configMap", AnyOf: []Permission{getConfigMap(src.ConfigMap.Name)}})
			case src.DownwardAPI != nil:
			default:
				needs = append(needs, Need{Field: f, AnyOf: []Permission{createPods}})
			}
		}
		return needs
	case s.EmptyDir != nil, s.DownwardAPI != nil, s.Ephemeral != nil:
		return nil
	}
	return []Need{{Field: field, AnyOf: []Permission{createPods}}}
}

// BuildNeeds is what the build child of job uses beyond the plain case: the git credentials
// it binds, the ServiceAccount it runs as, and a user Pipeline it runs (tekton), whose
// strategyConfig keys are the builders' (internal/build/tekton, internal/build/s2i).
func BuildNeeds(job *v1alpha1.NotebookValidationJob) []Need {
	bc := job.Spec.PodConfig.BuildConfig
	if bc == nil {
		return nil
	}
	cfg := func(key string) (string, string) {
		return "spec.podConfig.buildConfig.strategyConfig." + key, bc.StrategyConfig[key]
	}
	needs := secretNeed("spec.notebook.git.credentialsSecret", job.Spec.Notebook.Git.CredentialsSecret)
	switch bc.Strategy {
	case v1alpha1.BuildStrategyTekton:
		needs = append(needs, serviceAccount(cfg("serviceAccountName"))...)
		if field, ref := cfg("pipelineRef"); ref != "" {
			needs = append(needs, Need{Field: field, AnyOf: []Permission{{Verb: "create", Group: "tekton.dev", Resource: "pipelineruns"}}})
		}
	case v1alpha1.BuildStrategyS2I:
		needs = append(needs, serviceAccount(cfg("serviceAccount"))...)
	}
	return needs
}
