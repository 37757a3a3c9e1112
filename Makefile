# Two commands matter to a newcomer: `make run` and `make test`. Both set up what they need.
SHELL := /usr/bin/env bash
GO ?= go
NBV_CACHE ?= $(HOME)/.cache/nbv
export NBV_CACHE

CONTROLLER_GEN := $(GO) tool controller-gen
CRD_DIR := config/crd

.PHONY: all build run test unit integration bench soak gobench lint manifests verify-manifests controlplane registry python-deps fuzz fuzz-smoke release release-test e2e node-binaries e2e-deps fresh helm chart chart-lint promtool monitoring-test

all: build

## VERSION: the release version every binary reports (nbv version, the functions' startup log, the runner's summary); default: git describe.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
VERSION_LDFLAGS := -X github.com/mlops-dev/nbv/internal/version.Version=$(VERSION)

## build: compile every binary (functions, nbv, nbv-runner) into ./bin, stamped with VERSION; static (CGO_ENABLED=0), as the release images hold them.
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(VERSION_LDFLAGS)" -o bin/ ./cmd/... ./functions/...

## run: start the local embedded stack (real control plane, Knative adapters, functions) and validate the sample notebook end to end.
run: controlplane registry python-deps build
	bin/nbv run --runner bin/nbv-runner

## test: everything CI runs: set-up, generated files up to date, lint, the alert rules' unit tests, a short fuzzing pass, unit + integration tests.
test: controlplane helm promtool registry python-deps verify-manifests lint chart-lint monitoring-test fuzz-smoke
	NBV_REQUIRE_PROMTOOL=1 $(GO) test -race -count=1 -timeout 30m ./...

## e2e: a real single-node cluster on this machine (kubelet + containerd in a network namespace, kube-scheduler, kube-proxy, CoreDNS, Knative Eventing and Serving v0.50.0 from their modules, Traefik as the ingress, Tekton Pipelines v1.13.1 with kaniko and a Distribution registry in the cluster, Prometheus (OTLP receiver, config/monitoring's alerts) and Jaeger v2 receiving every function's, pod's and Tekton's telemetry, the functions as the Knative Services of config/functions, images built ko-style and imported, the notebook image pushed to that registry) and the end-to-end tests on it; prints the bring-up time; tears it down. Root only. NBV_E2E_KEEP=1 keeps the cluster up after the tests until interrupted.
e2e: controlplane node-binaries e2e-deps promtool
	$(GO) test -tags e2e -count=1 -v -timeout 60m ./test/e2e/

## fresh: the fresh-machine check: a clean clone of HEAD in a temp dir, make run and make test with empty GOMODCACHE, GOCACHE and NBV_CACHE; prints each one's time and exit code; removes what it made. FRESH_E2E=1 adds make e2e.
fresh:
	bash hack/fresh.sh

## node-binaries: build kubelet, kube-scheduler, kube-proxy (v1.37.2) and CoreDNS into $(NBV_CACHE)/bin (cached).
node-binaries:
	bash test/controlplane/build.sh node

## e2e-deps: Debian's containerd, runc, CNI plugins, iptables, conntrack, debootstrap.
e2e-deps:
	bash hack/install-e2e-deps.sh

## unit: tests that need no control plane.
unit:
	NBV_SKIP_INTEGRATION=1 $(GO) test -race -count=1 ./...

## bench: jobs through the local stack, the harness playing the kubelet, Tekton, OpenShift and CI: latency per hop, API requests per job, status writes and conflicts, CPU per transition, cold starts (process start -> ready and -> first answer, and the function's own handling of that first event, per function), binary sizes. Without BENCH_FLAGS, four runs, a table each: 40 jobs paced one a second with the functions warm at the start (bench/paced-warm.json), the same from zero, every function scaled to zero between two jobs' events (bench/paced-zero.json), a burst of 200 warm (bench/burst-warm.json) and a burst of 200 from zero drawn into bench/burst-hops.png (bench/burst-zero.json); then their summary side by side and bench/results.json, the four keyed by run name. With BENCH_FLAGS, one run of `nbv bench` with those flags (e.g. -n 1000, -interval 200ms, -mix nobuild=1, -warm), its Result in bench/results.json.
BENCH_FLAGS ?=
BENCH_RUNS := paced-warm paced-zero burst-warm burst-zero
bench: controlplane build
ifeq ($(strip $(BENCH_FLAGS)),)
	@# A broken invariant in one run still lets the others run and the summary print; make fails at the end.
	@status=0; \
	bin/nbv bench -n 40 -interval 1s -warm -out bench/paced-warm.json || status=1; \
	bin/nbv bench -n 40 -interval 1s -idle 300ms -out bench/paced-zero.json || status=1; \
	bin/nbv bench -n 200 -warm -out bench/burst-warm.json || status=1; \
	bin/nbv bench -n 200 -chart bench/burst-hops.png -out bench/burst-zero.json || status=1; \
	bin/nbv bench summary -out bench/results.json $(BENCH_RUNS:%=bench/%.json) || status=1; \
	exit $$status
else
	bin/nbv bench $(BENCH_FLAGS)
endif

## soak: the chaos run, long: 1000 jobs with every fault (SIGKILLed functions, duplicated and reordered deliveries, 10% of source events dropped, kube-apiserver restarted); fails when an invariant breaks. Short version: TestChaosHoldsInvariants in make test.
SOAK_JOBS ?= 1000
soak: controlplane build
	bin/nbv bench -n $(SOAK_JOBS) -chaos all -timeout 60m -out bench/soak.json $(BENCH_FLAGS)

## gobench: the Go benchmarks (go test -bench), e.g. the functions' cold starts.
gobench: python-deps
	$(GO) test -run '^$$' -bench . -benchtime 5x ./...

## fuzz: run every fuzz target (func FuzzXxx in any package) for FUZZTIME each, one after another.
FUZZTIME ?= 1m
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash hack/fuzz.sh

## fuzz-smoke: every fuzz target for a few seconds (what CI runs, inside make test).
fuzz-smoke:
	FUZZTIME=$(or $(FUZZ_SMOKE_TIME),3s) GO=$(GO) bash hack/fuzz.sh

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## manifests: regenerate deepcopy and the CRD from api/.
manifests:
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/... crd:crdVersions=v1 output:crd:artifacts:config=$(CRD_DIR)

## verify-manifests: fail when the generated files are stale (generates into a temp dir, changes nothing).
verify-manifests:
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/... output:object:dir=$$tmp && \
	$(CONTROLLER_GEN) crd:crdVersions=v1 paths=./api/... output:crd:artifacts:config=$$tmp/crd && \
	cmp -s $$tmp/zz_generated.deepcopy.go api/v1alpha1/zz_generated.deepcopy.go || { echo "api/v1alpha1/zz_generated.deepcopy.go is stale: run make manifests"; exit 1; }; \
	diff -ru $(CRD_DIR) $$tmp/crd || { echo "config/crd is stale: run make manifests"; exit 1; }

## controlplane: build etcd, kube-apiserver, kube-controller-manager, kubectl into $(NBV_CACHE)/bin (cached).
controlplane:
	bash test/controlplane/build.sh

## registry: build the CNCF Distribution registry v3.1.2 (hack/tools/registry) into $(NBV_CACHE)/bin (cached): the local stack's registry for run records.
registry:
	bash test/controlplane/build.sh registry

## helm: build helm (v4.3.2, hack/tools/helm) into $(NBV_CACHE)/bin (cached).
helm:
	bash test/controlplane/build.sh helm

## chart: regenerate charts/nbv's values.yaml, crds/ and templates/config, templates/eventsources from config/ and eventsources/ (TestChartIsUpToDate fails when they are stale).
chart:
	$(GO) run ./hack/chartgen

## chart-lint: helm lint --strict of charts/nbv with the values of charts/nbv/ci/ (rendering is tested in test/integration/chart_test.go).
chart-lint: helm
	"$(NBV_CACHE)/bin/helm" lint --strict charts/nbv -f charts/nbv/ci/lint-values.yaml

## promtool: build promtool and nbv-promql (Prometheus v3.16.0, module v0.316.0: hack/tools/prometheus) into $(NBV_CACHE)/bin (cached).
promtool:
	bash test/controlplane/build.sh promtool

## monitoring-test: promtool check rules and promtool test rules of config/monitoring: the PrometheusRule's spec is written to a temp dir next to a copy of config/monitoring/tests (every alert firing and not firing). The dashboard's and the rules' PromQL is parsed and checked against the instruments by TestMonitoringQueriesParseAndNameOurMetrics (internal/metrics).
monitoring-test: promtool
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	"$(NBV_CACHE)/bin/nbv-promql" rules config/monitoring/prometheusrule.yaml >$$tmp/rules.yaml && \
	cp -r config/monitoring/tests $$tmp/tests && \
	"$(NBV_CACHE)/bin/promtool" check rules $$tmp/rules.yaml && \
	"$(NBV_CACHE)/bin/promtool" test rules $$tmp/tests/*.yaml

## python-deps: the Debian nbclient stack for /usr/bin/python3.
python-deps:
	bash hack/install-python-deps.sh

KUBECTL ?= $(shell command -v kubectl || echo $(NBV_CACHE)/bin/kubectl)
RELEASE_REPO ?= registry.invalid/nbv
RELEASE_CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt

## release: an offline, reproducible release of VERSION (hack/release, package internal/release): every ko:// image of config/ and eventsources/ built ko-style without pulling a base (CA bundle RELEASE_CA_CERTS), for linux/amd64 and linux/arm64, one OCI image index each. With KO_DOCKER_REPO they are pushed there; without, written as OCI layouts _output/oci/<name> for crane/skopeo/oras, referenced as RELEASE_REPO/<name>@sha256:... Writes _output/release.yaml, _output/helm-values.yaml, _output/opt-in.yaml and the gitops RoleBindings. Needs no network, registry or ko.
release:
	@test -x "$(KUBECTL)" || { echo "make release needs kubectl (for kubectl kustomize): on PATH, or run make controlplane"; exit 1; }
	$(GO) run ./hack/release -version "$(VERSION)" -out _output -kubectl "$(KUBECTL)" -ca-certs "$(RELEASE_CA_CERTS)" \
		$(if $(KO_DOCKER_REPO),-push -repo "$(KO_DOCKER_REPO)",-repo "$(RELEASE_REPO)")
	cp config/rbac/opt-in/rolebindings.yaml _output/opt-in.yaml
	cp config/rbac/gitops/wave.yaml _output/gitops-wave.yaml
	cp config/rbac/gitops/triggers.yaml _output/gitops-triggers.yaml
	@echo "wrote _output/release.yaml (kubectl apply -f), _output/helm-values.yaml (helm install -f), _output/opt-in.yaml (kubectl apply -n <namespace> -f, per opted-in namespace) and _output/gitops-wave.yaml, _output/gitops-triggers.yaml (the same, only where jobs use sync-wave or on-success-trigger annotations)"

## release-test: build the release twice into temp dirs, no network, and load it: every image index opens from its OCI layout with amd64 and arm64 images whose blobs verify, each binary carries the version, every reference of release.yaml and helm-values.yaml resolves, the digests repeat (3-8 min on 2 cores; not in make test).
release-test:
	NBV_RELEASE_TEST=1 $(GO) test -race -count=1 -timeout 30m -run TestReleaseIsCompleteOfflineAndReproducible -v ./internal/release/
