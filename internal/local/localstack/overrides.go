package localstack

import (
	"strconv"

	"github.com/mlops-dev/nbv/internal/local/knservice"
)

// Override is one difference between a function process's environment and the container
// environment its Knative Service gives it on a cluster. Every difference is in the table
// below; Stack.Overrides lists those applied and Start logs them.
type Override struct {
	Function string
	Name     string
	// Manifest is the Service's value ("" when the manifest does not set the variable).
	Manifest string
	Local    string
	Why      string
}

// envRule is one row of the table. A rule that replaces applies only when the manifest sets
// the variable (a variable missing from a manifest stays missing); a rule that adds stands in
// for what a cluster supplies outside the container spec.
type envRule struct {
	name     string
	function string // "" for every function
	replaces bool
	why      string
	value    func(o Options, fn knservice.Function, kubeconfig string) (string, bool)
}

var envRules = []envRule{
	{name: "NBV_RUNNER_IMAGE", replaces: true,
		why: "a ko:// reference only `ko resolve` turns into an image; local validation pods run the host's nbv-runner",
		value: func(o Options, _ knservice.Function, _ string) (string, bool) {
			return o.Pod.RunnerImage, o.Pod.RunnerImage != ""
		}},
	{name: "NBV_POD_FSGROUP",
		why: "the stack's validation pod options (set only when the caller sets Pod.FSGroup)",
		value: func(o Options, _ knservice.Function, _ string) (string, bool) {
			if o.Pod.FSGroup == nil {
				return "", false
			}
			return strconv.FormatInt(*o.Pod.FSGroup, 10), true
		}},
	{name: "NBV_SWEEP_NAMESPACE", function: "sweep",
		why:   "the local sources watch one namespace instead of every opted-in one; the sweep is confined to it the same way",
		value: func(o Options, _ knservice.Function, _ string) (string, bool) { return o.Namespace, true }},
	{name: "OTEL_EXPORTER_OTLP_ENDPOINT",
		why: "the stack's OTLP endpoint (Options.OTLPEndpoint), as an installer sets it (Helm otlp.endpoint)",
		value: func(o Options, _ knservice.Function, _ string) (string, bool) {
			return o.OTLPEndpoint, o.OTLPEndpoint != ""
		}},
	{name: "NBV_POD_OTLP_ENDPOINT",
		why: "the stack's OTLP endpoint for the validation pods' runners (Options.OTLPEndpoint): local pods run on the host, where it is reachable",
		value: func(o Options, _ knservice.Function, _ string) (string, bool) {
			return o.OTLPEndpoint, o.OTLPEndpoint != ""
		}},
	{name: "KUBECONFIG",
		why:   "stands in for the pod's projected ServiceAccount token: a kubeconfig whose token file holds a TokenRequest token of the Service's serviceAccountName, renewed before expiry",
		value: func(_ Options, _ knservice.Function, kubeconfig string) (string, bool) { return kubeconfig, true }},
	{name: "K_SERVICE",
		why:   "set by Knative Serving in every revision's container",
		value: func(_ Options, fn knservice.Function, _ string) (string, bool) { return fn.Name, true }},
	{name: "K_CONFIGURATION",
		why:   "set by Knative Serving in every revision's container",
		value: func(_ Options, fn knservice.Function, _ string) (string, bool) { return fn.Name, true }},
	{name: "K_REVISION",
		why:   "set by Knative Serving in every revision's container",
		value: func(_ Options, fn knservice.Function, _ string) (string, bool) { return fn.Name + "-00001", true }},
	// PORT and LISTEN_FDS=1 are set per instance (instance.go): Knative sets PORT; the socket
	// on that port is bound to loopback by the stack and inherited, so nothing listens on
	// other interfaces.
}

// functionEnv is the environment of fn's processes: the manifest's container env with the
// table's rules applied, and nothing inherited from this process.
func functionEnv(o Options, fn knservice.Function, kubeconfig string) ([]string, []Override) {
	var env []string
	var applied []Override
	set := map[string]int{}
	for _, e := range fn.Env {
		set[e.Name] = len(env)
		env = append(env, e.Name+"="+e.Value)
	}
	for _, r := range envRules {
		if r.function != "" && r.function != fn.Name {
			continue
		}
		i, inManifest := set[r.name]
		if r.replaces && !inManifest {
			continue
		}
		v, ok := r.value(o, fn, kubeconfig)
		if !ok {
			continue
		}
		ov := Override{Function: fn.Name, Name: r.name, Local: v, Why: r.why}
		if inManifest {
			ov.Manifest = fn.Env[i].Value // env mirrors fn.Env up to here
			env[i] = r.name + "=" + v
		} else {
			env = append(env, r.name+"="+v)
		}
		applied = append(applied, ov)
	}
	return env, applied
}
