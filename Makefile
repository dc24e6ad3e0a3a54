# Two commands matter on a fresh Debian 12 machine with Go:
#   make run   runs the server (a private PostgreSQL unless DATABASE_URL is set)
#   make test  runs every test against a real PostgreSQL and Redis
# Both install the missing Debian packages first when run as root.

SHELL := /bin/bash
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
OGEN_VERSION := v1.24.0

.PHONY: deps run build test lint clients bench bench-smoke

# deps makes sure the PostgreSQL server binaries and redis-server exist.
# Debian keeps initdb/pg_ctl off PATH in /usr/lib/postgresql/VERSION/bin;
# internal/localpg looks there too. Installing `postgresql` may start a
# system cluster on port 5432: harmless, the project never uses it.
deps:
	@missing=""; \
	if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		missing="$$missing postgresql"; \
	fi; \
	if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then \
		missing="$$missing redis-server"; \
	fi; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing Debian packages:$$missing; install them with: sudo apt-get install$$missing" >&2; \
		exit 1; \
	fi; \
	echo "installing$$missing"; \
	apt-get update && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

run: deps
	go run ./cmd/crm serve

build:
	go build -o bin/crm ./cmd/crm

test: deps
	go vet ./...
	go test -race -count=1 -timeout 20m ./...
	$(MAKE) bench-smoke

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
bench: deps
	go run ./cmd/crmbench $(BENCH_FLAGS)

# bench-smoke is a tiny end-to-end run (no timing assertions): it checks
# that the program runs and writes valid JSON with every key.
bench-smoke: deps
	go run ./cmd/crmbench -smoke
