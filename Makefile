# nodeallow: keep firewalls outside Kubernetes in step with the cluster's nodes, through Salt.

# Image URL to use all building/pushing image targets
IMAGE_REPO ?= ghcr.io/nodeallow/nodeallow
IMG ?= $(IMAGE_REPO):$(VERSION)
# VERSION is the one version of the controller (stamped into the binary and the image), the chart and the
# saltext; the top-level VERSION file holds it (the chart's appVersion repeats it: test/release/version_test.go).
# `make release VERSION=x.y.z` builds all three at x.y.z.
VERSION ?= $(shell cat VERSION)
# RELEASE_DIR is where `make release` puts the image archive, chart, wheel, sdist and SHA256SUMS.
RELEASE_DIR ?= dist/$(VERSION)
# YEAR defines the year value used for substituting the YEAR placeholder in the boilerplate header.
YEAR ?= 2026

# Expensive build outputs (control plane, tools, virtualenv) live in a cache
# outside the repository, keyed by version, so every clone finds them.
NODEALLOW_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nodeallow
export NODEALLOW_CACHE

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects from markers.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	cp config/crd/bases/*.yaml charts/nodeallow/crds/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt",year=$(YEAR) paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: test
test: system-packages control-plane helm python-env python-env-3006 golangci-lint manifests generate fmt vet ## Install what is missing, then run every test (Go with a real API server, Salt 3008 and 3006, firewalls in namespaces, the image built and run as the chart runs it), independent suites side by side (hack/test-all.sh).
	bash hack/test-all.sh

.PHONY: lint
lint: golangci-lint python-env ## Run the linters (golangci-lint, ruff) and the license header check; all stay clean.
	bash hack/check-headers.sh
	"$(GOLANGCI_LINT)" run --allow-serial-runners ./...
	bin/venv/bin/ruff check --config saltext-nodeallow/pyproject.toml saltext-nodeallow test/e2e

.PHONY: test-go
test-go: control-plane helm manifests generate fmt vet ## Run the Go tests only.
	go test ./... -count=1

.PHONY: test-python
test-python: python-env ## Run the Salt extension's tests only.
	bash hack/test-python.sh

.PHONY: test-python-3006
test-python-3006: ## Run the Salt master and integration tests with Salt 3006 (bin/venv-3006), as make test does.
	bash hack/python-env.sh 3006
	NODEALLOW_TEST_LANES=salt3006 bash hack/test-all.sh

.PHONY: test-e2e
test-e2e: control-plane python-env python-env-3006 ## Run the end-to-end tests only (controller binary, real API server, real Salt, minion firewalls in namespaces), as make test does.
	NODEALLOW_TEST_LANES=e2e bash hack/test-all.sh

BENCH_COUNT ?= 6
# SCALE_RUNS is how many controller processes the scale benchmark runs per Node count (it reports their medians).
SCALE_RUNS ?= 5
.PHONY: bench
bench: control-plane ## Run the benchmarks (medians and commands go into docs/benchmarks.md).
	go test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./api/protocol ./controllers/
	go test -run '^$$' -bench ControllerScale -benchtime $(SCALE_RUNS)x -timeout 60m -v ./test/scale
	NODEALLOW_BENCH=1 bash hack/test-python.sh saltext-nodeallow/tests/master/test_bench_ingest.py saltext-nodeallow/tests/master/test_bench_burst.py -s
	NODEALLOW_BENCH=1 bash hack/test-python.sh saltext-nodeallow/tests/master/test_bench_subscribers.py -s
	NODEALLOW_E2E_LATENCY_TRIALS=20 bash hack/test-python.sh test/e2e/test_latency.py -s
	NODEALLOW_BENCH=1 bash hack/test-python.sh saltext-nodeallow/tests/integration/test_bench_firewall.py saltext-nodeallow/tests/unit/test_bench_pillar.py -s
	NODEALLOW_BENCH=1 bash hack/test-python.sh saltext-nodeallow/tests/integration/test_bench_watch.py -s

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when regenerating would change a tracked file.
	@git diff --exit-code -- api config controllers cmd charts/nodeallow/crds || { echo "run 'make manifests generate' and commit the result" >&2; exit 1; }

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary (static, CGO off, as the Dockerfile does).
	CGO_ENABLED=0 go build -ldflags "-X main.version=$(VERSION)" -o bin/manager ./cmd

.PHONY: dist
dist: ## Build the Salt extension's wheel and sdist into dist/ (VERSION=x.y.z overrides the VERSION file).
	VERSION="$(VERSION)" bash hack/dist.sh dist

.PHONY: run
# Flags for `make run`, e.g. RUN_ARGS="--cluster-name=dev --zap-log-level=debug" (docs/install.md).
RUN_ARGS ?=
run: manifests generate fmt vet ## Run a controller from your host against $KUBECONFIG's cluster (RUN_ARGS: its flags).
	go run ./cmd $(RUN_ARGS)

.PHONY: demo
demo: ## Build what is missing, start a local control plane and Salt, and show nodeallow at work.
	bash hack/demo.sh

.PHONY: image
image: ## Build the controller image from the Dockerfile with podman, no registry needed (localhost/nodeallow:$(VERSION); cached).
	bash hack/image.sh $(VERSION)

.PHONY: release
release: system-packages helm python-env ## Build one release into $(RELEASE_DIR): image (OCI archive), chart, saltext wheel and sdist, SHA256SUMS, all at $(VERSION).
	bash hack/release.sh $(VERSION) $(RELEASE_DIR) $(IMAGE_REPO)

.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build --build-arg VERSION=$(VERSION) -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

##@ Dependencies

.PHONY: system-packages
system-packages: ## Install the Debian packages the tests need (nftables, iptables, ipset, iproute2, podman, runc; firewalld and ufw, never started on the host).
	bash hack/install-system-packages.sh

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl into the cache and link bin/k8s (no-op when present).
	bash hack/build-control-plane.sh

.PHONY: helm
helm: ## Build helm into the cache and link bin/helm (no-op when present).
	bash hack/helm.sh

.PHONY: python-env
python-env: ## Create the Salt test virtualenv in the cache and link bin/venv (no-op when present).
	bash hack/python-env.sh

.PHONY: python-env-3006
python-env-3006: ## Create the Salt 3006 test virtualenv in the cache and link bin/venv-3006 (no-op when present).
	bash hack/python-env.sh 3006

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

## Tool Binaries
KUBECTL ?= $(LOCALBIN)/k8s/kubectl
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

## Tool Versions
CONTROLLER_TOOLS_VERSION ?= v0.22.0
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: controller-gen
controller-gen: $(LOCALBIN) ## Build controller-gen into the cache if necessary.
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(LOCALBIN) ## Build golangci-lint into the cache if necessary.
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool builds a Go tool at a pinned version into the cache outside the repository (once per
# version) and links it into bin/ (hack/go-tool.sh, shared with the other hack/ builds).
# $1 - link path in bin/
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@bash hack/go-tool.sh "$(1)" "$(2)" "$(3)"
endef
