# Two commands matter on a fresh Debian 12 machine with Go:
#   make run   runs the server (a private PostgreSQL unless DATABASE_URL is set)
#   make test  runs every test against a real PostgreSQL and Redis
# Both install the missing Debian packages first when run as root (run:
# postgresql; test: postgresql, redis-server, and curl and jq for the
# README walkthrough's test).

SHELL := /bin/bash
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
OGEN_VERSION := v1.24.0

.PHONY: deps deps-run deps-test run build test lint clients ogen-check bench bench-smoke

# deps-run makes sure the PostgreSQL server binaries exist (all `make run`
# needs); deps-test adds redis-server, which only the tests use. Debian
# keeps initdb/pg_ctl off PATH in /usr/lib/postgresql/VERSION/bin;
# internal/localpg looks there too. Installing `postgresql` may start a
# system cluster on port 5432: harmless, the project never uses it.
define install_missing
	@missing=""; \
	for pkg in $(1); do \
		case $$pkg in \
		postgresql) if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing="$$missing postgresql"; fi ;; \
		redis-server) if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then missing="$$missing redis-server"; fi ;; \
		*) if ! command -v $$pkg >/dev/null 2>&1; then missing="$$missing $$pkg"; fi ;; \
		esac; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages:$$missing; install them with: sudo apt-get install$$missing" >&2; \
		exit 1; \
	fi; \
	echo "installing$$missing"; \
	apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing
endef

deps-run:
	$(call install_missing,postgresql)

# The README's "First requests" walkthrough, which a test runs verbatim,
# uses curl and jq.
deps-test:
	$(call install_missing,postgresql redis-server curl jq)

deps: deps-test

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

# run builds bin/crm and execs it (no `go run` in between), so Ctrl-C
# reaches crm itself: it drains, logs "crm stopped" with what it drained
# and exits 0.
run: deps-run build
	exec ./bin/crm serve

# build makes the same static binary as the Dockerfile.
build:
	CGO_ENABLED=0 go build -trimpath -ldflags="$(LDFLAGS)" -o bin/crm ./cmd/crm

# test prints a header before each step. go test prints a line per
# package, in list order (a slow package holds back the lines of the ones
# after it), so a heartbeat line every minute says it is still at work.
# ≈ 3–4 min on a quiet 2-core machine; much longer when the cores are busy.
test: deps-test
	@echo "== go vet ./..."
	go vet ./...
	@echo "== go test -race ./... ($$(go list ./... | wc -l) packages; a line per package, in order)"
	@start=$$(date +%s); \
	( while sleep 60 >/dev/null; do echo "   … go test still running, $$(( ($$(date +%s) - start) / 60 )) min so far"; done ) & tick=$$!; \
	go test -race -count=1 -timeout 20m ./...; rc=$$?; \
	kill $$tick 2>/dev/null; wait $$tick 2>/dev/null; \
	echo "== go test: exit status $$rc after $$(( $$(date +%s) - start )) s"; exit $$rc
	@echo "== bench-smoke"
	$(MAKE) --no-print-directory bench-smoke
	@echo "== ogen-check (a second client generator accepts the OpenAPI document)"
	$(MAKE) --no-print-directory ogen-check
	@echo "== make test: all green"

lint:
	go run $(STATICCHECK) ./...

# clients regenerates the Go client in internal/apiclient (oapi-codegen,
# the version in go.mod) from httpapi/openapi/openapi.json, and checks that
# ogen accepts the document and generates a client that compiles (in a
# temporary module, not kept: ogen is not a dependency). Run it after
# changing the document; the apiclient tests in `make test` fail until the
# committed client is regenerated. Needs the Go module proxy for ogen.
clients:
	go generate ./internal/apiclient
	$(MAKE) ogen-check

# ogen-check runs ogen on the OpenAPI document in a throwaway module and
# compiles the result: part of make test, so a schema or operation name
# that breaks a generator fails CI (the oapi-codegen client is checked by
# internal/apiclient's tests). It fetches ogen through the module proxy.
ogen-check:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	if ! go run github.com/ogen-go/ogen/cmd/ogen@$(OGEN_VERSION) --target "$$dir/api" --package api --clean \
		"$(CURDIR)/httpapi/openapi/openapi.json" >"$$dir/ogen.log" 2>&1; then \
		grep -v -e '\bWARN\b' -e '\bINFO\b' "$$dir/ogen.log" >&2; echo "ogen $(OGEN_VERSION) refuses the document" >&2; exit 1; \
	fi && \
	cd "$$dir" && printf 'module ogencheck\n\ngo 1.26\n' >go.mod && \
	go get github.com/ogen-go/ogen@$(OGEN_VERSION) >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 && \
	go vet ./... && echo "ogen $(OGEN_VERSION): the document generates a client that compiles"

# bench runs the benchmark program of BENCHMARKS.md (limits + W1–W7 on a
# private durable PostgreSQL) and writes docs/benchmarks.md and .json.
# BENCH_FLAGS adjusts it, e.g. BENCH_FLAGS="-scale 0.2 -duration 5s".
bench: deps-run
	go run ./cmd/crmbench $(BENCH_FLAGS)

# bench-smoke is a tiny end-to-end run (no timing assertions): it checks
# that the program runs and writes valid JSON with every key.
bench-smoke: deps-run
	go run ./cmd/crmbench -smoke
