# dutlab: `sudo make demo` runs the main job, `sudo make test` runs the tests.
# Both install what is missing first (Debian/Ubuntu, apt, idempotent).

GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN := bin
# Debian packages dutlab needs: clang/llvm/libbpf-dev to regenerate the BPF
# objects, DPDK 22.11 for the dpdk engine and forwarder, nftables for the
# kernel datapath, bpftool/iproute2 to inspect labs, netsniff-ng (trafgen) and
# linux-perf as peers and profilers.
APT_PKGS := clang llvm libbpf-dev linux-libc-dev pkg-config gcc make git \
	dpdk dpdk-dev libdpdk-dev nftables bpftool iproute2 ethtool netsniff-ng linux-perf

.PHONY: all deps build generate check-generate vet test test-short demo docs clean

all: build

deps:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@test -x "$(GO)" || { echo "Go 1.26 is needed (not found in PATH or /usr/local/go/bin)"; exit 1; }
	@$(GO) mod download

# The version, commit and build date go into `dutlab version` and every Result manifest.
COMMIT := $(shell git rev-parse HEAD 2>/dev/null)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
BUILD_DATE := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X github.com/dutlab/dutlab/internal/buildinfo.Version=$(VERSION) -X github.com/dutlab/dutlab/internal/buildinfo.Commit=$(COMMIT) -X github.com/dutlab/dutlab/internal/buildinfo.Date=$(BUILD_DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/dutlab ./cmd/dutlab
	@if [ -d cmd/dutlab-dpdk ]; then $(GO) build -tags dpdk -ldflags "$(LDFLAGS)" -o $(BIN)/dutlab-dpdk ./cmd/dutlab-dpdk; fi

# Regenerates the bpf2go output (needs clang); the results are committed.
generate:
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" $(GO) generate ./dut/... ./generator/...

# CI: regenerate and fail if the committed BPF objects differ.
check-generate: generate
	@git diff --exit-code --stat -- '*.o' '*_bpfel.go' || { echo "generated BPF files differ from the committed ones: run make generate and commit"; exit 1; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags dpdk ./...

test: deps build vet
	$(GO) test -tags dpdk -count=1 ./...

demo: deps build
	./$(BIN)/dutlab compare

# Renders docs/architecture.svg from its Graphviz source (needs graphviz; the SVG is committed).
docs: docs/architecture.svg

docs/architecture.svg: docs/architecture.dot
	dot -Tsvg $< -o $@

clean:
	rm -rf $(BIN)
