# The nodeallow controller image: a static Go binary on distroless, run as non-root.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ghcr.io/nodeallow/nodeallow:dev .
# (`make docker-build` passes VERSION.) test/packaging checks that the build command
# below stays the one `make build` runs.

# Override BASE_IMAGE (the Go builder) and RUNTIME_IMAGE (what the binary runs on) to build from another
# registry, e.g. --build-arg BASE_IMAGE=docker.io/library/golang:1.26; hack/image.sh makes both locally.
ARG BASE_IMAGE=golang:1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static:nonroot
FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS builder
ARG TARGETOS
ARG TARGETARCH
# VERSION is stamped into the binary; the controller logs it and reports it as its User-Agent.
ARG VERSION=dev

WORKDIR /workspace
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

# Only Go sources are copied (see .dockerignore).
COPY . .

# Static (CGO off), so that it runs on distroless/static; cross-compiled for the target platform.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -ldflags "-X main.version=${VERSION}" -o manager ./cmd

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="nodeallow" \
      org.opencontainers.image.description="Keeps firewalls outside Kubernetes in step with the cluster's nodes, through Salt." \
      org.opencontainers.image.source="https://github.com/nodeallow/nodeallow" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /
COPY --from=builder /workspace/manager /manager
# distroless' nonroot user; the chart's podSecurityContext uses the same ids.
USER 65532:65532

ENTRYPOINT ["/manager"]
