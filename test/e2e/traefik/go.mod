// Pins Traefik, the ingress of Knative Serving on the e2e node (its Knative provider
// implements Knative's networking layer). Its command is built from its own module directory,
// where its go.mod's replace directives apply: see internal/realcluster.
module github.com/mlops-dev/nbv/test/e2e/traefik

go 1.26.0

require github.com/traefik/traefik/v3 v3.6.12
