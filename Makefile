# kubedesk: desktop sessions for JupyterHub on Kubernetes.
# `make help` lists the targets; each delegates to a script or to go.

SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
# The first build of the dev cluster's control plane takes ~11 minutes.
GO_TEST_TIMEOUT ?= 45m

.DEFAULT_GOAL := help

##@ Main

.PHONY: demo
demo: ## Install what is missing, then run JupyterHub on http://127.0.0.1:8000 with real desktops on the dev cluster
	hack/demo.sh

.PHONY: test
test: deps ## Run every test: make verify first, then Go unit, integration and end-to-end tests, a short fuzzing run, the Python shim on JupyterHub 4, 5 and 6, the JupyterLab extension, the desktop image
	$(MAKE) --no-print-directory verify
	$(GO) test -count=1 -timeout $(GO_TEST_TIMEOUT) ./...
	FUZZTIME=10s hack/fuzz.sh
	hack/test-python.sh
	hack/test-jupyterlab-ext.sh
	.cache/venv-desktop/bin/python -m pytest -q -p no:cacheprovider images/desktop

# Each target runs FUZZTIME (go test -fuzz, one target at a time); FUZZ=regexp
# picks targets, e.g. make fuzz FUZZ=FuzzRequests FUZZTIME=30m.
FUZZTIME ?= 5m
FUZZ ?= .

.PHONY: fuzz
fuzz: ## Fuzz the REST request decoding and the catalog and profile parsers, FUZZTIME (5m) per target
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh '$(FUZZ)'

.PHONY: test-short
test-short: ## Run the unit tests only (no cluster, no JupyterHub)
	$(GO) test -short ./...

##@ Build

.PHONY: build
build: ## Build the service binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

.PHONY: jupyterlab-ext
jupyterlab-ext: ## Build the JupyterLab extension's wheel (labextension, server extension, notebook client) into _output/jupyterlab-ext/
	hack/jupyterlab-ext.sh

.PHONY: deps
deps: ## Install what the tests need: dev cluster binaries, helm, Python environments, the desktop's packages and Chromium, the linters, the real node's Debian packages (cached)
	hack/cluster-tools.sh
	hack/helm.sh
	hack/python-env.sh
	hack/desktop-env.sh
	hack/lint-tools.sh
	hack/real-node.sh packages

# The images copy these in (images/*/Dockerfile); they cannot be built here.
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_BIN := _output/bin

.PHONY: image-binaries
image-binaries: $(addprefix image-binaries-,$(subst /,_,$(IMAGE_PLATFORMS))) ## Build the static binaries the images copy, for linux/amd64 and linux/arm64, into _output/bin/<os>_<arch>/

image-binaries-%:
	CGO_ENABLED=0 GOOS=$(word 1,$(subst _, ,$*)) GOARCH=$(word 2,$(subst _, ,$*)) \
		$(GO) build -trimpath -ldflags="-s -w" -o $(IMAGE_BIN)/$*/ ./cmd/...

.PHONY: images
images: ## Build every image of images/ with buildah, no Docker engine, from bases made here (storage and layer cache: /var/lib/kubedesk-images, KUBEDESK_IMAGES_ROOT)
	hack/images.sh

.PHONY: helm
helm: ## Build helm from its Go module into .cache/bin (cached)
	hack/helm.sh

##@ Dev cluster

.PHONY: cluster-up
cluster-up: ## Start (or reuse) the kwok dev cluster; then: eval "$(hack/dev-cluster.sh env)"
	hack/dev-cluster.sh up

.PHONY: cluster-up-fast
cluster-up-fast: ## Start the dev cluster without client QPS limits, for benchmarks
	KUBEDESK_CLUSTER_FAST=1 hack/dev-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Delete the dev cluster
	hack/dev-cluster.sh down

.PHONY: real-node
real-node: ## Join a real node (kubelet, containerd, runc, kube-proxy, kube-router; own network namespace) to the dev cluster and import the built images
	hack/dev-cluster.sh up
	hack/real-node.sh up

.PHONY: real-node-down
real-node-down: ## Stop the real node; the host is left as it was before
	hack/real-node.sh down

##@ Benchmarks (not part of the tests)

# Benchmarks run on their own dev cluster without client QPS limits, so the
# control plane's defaults (kube-controller-manager binds 20 claims/s) do not
# hide what the spawner costs.
BENCH_CLUSTER := KUBEDESK_CLUSTER=kubedesk-bench KUBEDESK_CLUSTER_FAST=1

.PHONY: bench-spawn
bench-spawn: ## Start N sessions at once through the service (KUBEDESK_BENCH_N=100,500,1000) and compare with bare pod waves
	$(BENCH_CLUSTER) $(GO) test ./spawner/ -run '^$$' -bench SpawnWave -benchtime 1x -timeout 60m

# JupyterHub (latest 5.x and 6.x) with kubedesk vs with KubeSpawner, on the
# benchmark cluster; results in .cache/benchhub/results, report in
# docs/bench/kubespawner.md (test/benchhub/doc.go lists the BENCH_* knobs).
BENCH_HUB := $(BENCH_CLUSTER) KUBEDESK_BENCHHUB=1 $(GO) test ./test/benchhub/ -run TestHubBench -v -count=1 -timeout 0

.PHONY: bench-hub
bench-hub: bench-hub-env ## kubedesk vs KubeSpawner through a real JupyterHub 5 and 6: waves of 100-2000 users, hub restart, service kill, steady polling (~2 h on 2 cores)
	BENCH_SCENARIOS=$${BENCH_SCENARIOS:-wave,restart-hub,kill-service,steady,profile} $(BENCH_HUB)
	$(MAKE) bench-hub-report

.PHONY: bench-hub-quick
bench-hub-quick: bench-hub-env ## One wave of 100 users per spawner on JupyterHub 5 (~2 min)
	BENCH_HUBS=jh5 BENCH_N=100 BENCH_SCENARIOS=wave $(BENCH_HUB)

.PHONY: bench-chaos
bench-chaos: ## 300 users through a real JupyterHub while the service is SIGKILLed 5 times and the API server restarted once, after the same wave without chaos (issue 19)
	KUBEDESK_CHAOS_N=300 KUBEDESK_CHAOS_KILLS=5 KUBEDESK_CHAOS_APISERVER_RESTARTS=1 KUBEDESK_CHAOS_BASELINE=1 \
		$(GO) test ./test/benchhub/ -run TestHubChaos -v -count=1 -timeout 30m

.PHONY: bench-failover
bench-failover: ## Two replicas with leader election: leader SIGKILL, then SIGTERM → first 2xx through a readiness-routed forwarder, median of 5 and each (issue 17)
	KUBEDESK_FAILOVER_RUNS=$${KUBEDESK_FAILOVER_RUNS:-5} $(GO) test ./spawner/ -run '^$$' -bench '^BenchmarkFailover$$' -benchtime 1x -count=1 -timeout 20m

.PHONY: bench-hub-env
bench-hub-env: ## Install the hub benchmark's Python environments (.cache/venv-bench-jh5, -jh6) and the proxy
	hack/bench-env.sh

.PHONY: bench-hub-report
bench-hub-report: ## Rewrite docs/bench/kubespawner.md's tables and plots from .cache/benchhub/results
	.cache/venv-bench-jh5/bin/python test/benchhub/report.py

.PHONY: bench-desktop
bench-desktop: ## Start clicked → JupyterLab loaded through a real JupyterHub, median of 5, with its breakdown
	KUBEDESK_E2E_RUNS=5 $(GO) test ./test/e2e -run TestDesktopStartupTimes -v -count=1

.PHONY: bench-demo
bench-demo: ## The demo as a new user meets it (hack/demo.sh, Chromium): click → window for each demo app, median of 3
	KUBEDESK_E2E_RUNS=3 $(GO) test ./test/e2e -run '^TestDemo$$' -v -count=1 -timeout 30m

.PHONY: bench-launch
bench-launch: ## Menu click → app window mapped on the desktop, 10 launches through a real JupyterHub session: median, p95, breakdown
	KUBEDESK_E2E_RUNS=10 $(GO) test ./test/e2e -run '^TestLaunchFromDesktop$$' -v -count=1 -timeout 20m

##@ Housekeeping

.PHONY: verify
verify: ## Lint (gofmt, go vet, golangci-lint, ruff, shellcheck, ESLint/Prettier/stylelint), check package docs, and that generated files are up to date
	hack/verify.sh

.PHONY: update
update: helm ## Regenerate every golden file: rendered objects, the profile form, the desktop menu, the chart's renders
	hack/update.sh

.PHONY: update-helm
update-helm: helm ## Regenerate only the Helm chart's golden renders (helm/testdata)
	hack/update.sh helm

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)
