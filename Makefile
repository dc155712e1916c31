# Spillway's build. CGO is required: plugins are Go .so files loaded with
# the plugin package, and the binary must be built the same way.
export CGO_ENABLED := 1

GO       ?= go
BIN      := bin/spillway
VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
EXAMPLES := $(wildcard pluginhost/examples/*)

.PHONY: all build run test deps vet plugins bench loadtest tlscompare fmt clean

all: build plugins

deps:
	$(GO) mod download

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/spillway

# plugins builds every example under pluginhost/examples into ./plugins.
# A plugin only loads into a binary built with the same toolchain, module
# versions and flags, which is why it is built from this module.
plugins: deps
	@mkdir -p plugins
	@set -e; for d in $(EXAMPLES); do \
		n=$$(basename $$d); echo "plugin $$n"; \
		$(GO) build -buildmode=plugin -o plugins/$$n.so ./$$d; \
	done

# run starts Spillway on its embedded demo configuration: two demo origins
# on loopback and the proxy on :8080, with the example plugins.
run: build plugins
	./$(BIN) -demo

vet: deps
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# test is the project's test command (CI runs exactly this).
test: vet plugins
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m ./adapter/... ./balancer/... ./fastproxy/... ./pluginhost/...

# bench runs the load benchmarks next to net/http + httputil.ReverseProxy
# and prints a benchstat table (under 10 minutes on 2 cores).
bench: deps plugins
	./bench/run.sh

# loadtest runs wrk against the built binary pinned to one core.
loadtest: build
	./bench/loadtest.sh

# tlscompare measures Spillway and nginx terminating TLS, one core each.
tlscompare:
	./bench/tlscompare.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin plugins
