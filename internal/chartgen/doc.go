// Package chartgen generates the Helm chart charts/nbv from config/ and eventsources/, so the
// chart and `kubectl apply -k` install the same objects from one source of truth.
//
// Each manifest file becomes one template, its objects in their order and with their comments.
// Only the fields a platform team changes become values (rules.go): the images (ko://
// references), each function's scale settings, resources and extra environment, an OTLP
// endpoint, the build-image allowlists, and the namespaces to opt in (the per-namespace
// RoleBindings of config/rbac/opt-in/ and config/rbac/gitops/). values.yaml holds what
// config/ says, so rendering the chart with its defaults gives config/'s objects back
// (test/integration/chart_test.go checks this with helm and kubectl kustomize).
package chartgen
