# VRS Federation. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# go.mod's toolchain line pins the Go release we build and test with (its
# standard library fixes are what `make vulncheck` checks); machines whose Go
# says GOTOOLCHAIN=local would ignore it, so every target switches to it
# through the Go module proxy (about 76 MB, once).
export GOTOOLCHAIN := auto

BIN       := $(CURDIR)/.bin
BUF       := $(BIN)/buf
GOLANGCI  := $(BIN)/golangci-lint
GOLANGCI_VERSION := v2.15.0
GOVULNCHECK := $(BIN)/govulncheck
INDEXDB   := $(BIN)/indexdb
VULNDB    := $(CURDIR)/.cache/vulndb
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/vrs-federation/vrs/internal/cli.Version=$(VERSION)
TEST_FLAGS ?=
BREAKING_AGAINST ?= .git\#branch=main

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: build
build: ## Build vrs-hub and vrs-node into .bin/ (static, no cgo)
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./hub/cmd/vrs-hub ./node/cmd/vrs-node

.PHONY: test
test: ## Run every test with the race detector; ends with the reliability suite's table
	go test -race -count=1 -timeout 20m -json $(TEST_FLAGS) ./... | go run ./internal/testsummary

.PHONY: test-long
test-long: ## Run the long suites too (soak, load, full-size)
	VRS_LONG=1 go test -race -count=1 -timeout 80m -json $(TEST_FLAGS) ./... | go run ./internal/testsummary

.PHONY: bench
bench: ## Run the benchmarks and print their tables
	VRS_BENCH_INCIDENTS=$${VRS_BENCH_INCIDENTS:-100000} go test -run '^$$' -bench . -benchtime 200ms -benchmem -timeout 60m ./...
	cd bench && go run . -n $${BENCH_N:-1000000} -out results/latest.md $${BENCH_FLAGS:-}

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s); seeds run in make test
	@for pkg in $$(grep -rl --include='*_test.go' '^func Fuzz' hub node internal | xargs -n1 dirname | sort -u); do \
		for target in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
			echo "== $$pkg $$target"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
		done; \
	done

.PHONY: lint
lint: $(BUF) $(GOLANGCI) vulncheck ## go vet, buf lint, buf format check, golangci-lint, govulncheck
	go vet ./...
	$(BUF) lint
	$(BUF) format --diff --exit-code proto
	$(GOLANGCI) run ./...

.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) $(VULNDB)/version ## govulncheck against the pinned offline vulnerability database
	$(GOVULNCHECK) -db 'file://$(VULNDB)' ./...

.PHONY: generate
generate: $(BUF) ## Regenerate Go from the protos
	$(BUF) generate

.PHONY: checkgenerate
checkgenerate: generate ## Fail if regenerating changes anything
	@if [[ -n "$$(git status --porcelain -- proto)" ]]; then \
		echo "generated code is stale: run make generate and commit" >&2; \
		git status --porcelain -- proto >&2; git diff --stat -- proto >&2; exit 1; fi

.PHONY: breaking
breaking: $(BUF) ## Check the protos for breaking changes against main
	$(BUF) breaking --against '$(BREAKING_AGAINST)'

.PHONY: demo
demo: build ## A hub and four nodes with data, the regional picture, the web UI
	./scripts/demo.sh

.PHONY: clean
clean: ## Remove build output and demo data
	rm -rf $(BIN)/vrs-hub $(BIN)/vrs-node demo-data

$(BUF): tools/buf/go.mod tools/buf/go.sum
	cd tools/buf && go build -o $(BUF) github.com/bufbuild/buf/cmd/buf

$(GOLANGCI):
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

$(GOVULNCHECK): tools/vuln/go.mod tools/vuln/go.sum
	cd tools/vuln && go build -o $(GOVULNCHECK) golang.org/x/vuln/cmd/govulncheck

$(INDEXDB): tools/vuln/go.mod tools/vuln/go.sum
	cd tools/vuln && go build -o $(INDEXDB) golang.org/x/vulndb/cmd/indexdb

# vuln.go.dev is not reachable from CI, so the database is built from the OSV
# files shipped in the golang.org/x/vulndb module pinned in tools/vuln/go.mod.
# The version file records which snapshot the database came from: the
# database is rebuilt only when it is missing or the pin has moved, not each
# time tools/vuln/go.mod is touched. It is written to a temporary directory
# first so that an interrupted build never leaves a half database behind.
$(VULNDB)/version: tools/vuln/go.mod $(INDEXDB)
	@want=$$(cd tools/vuln && go list -m -f '{{.Version}}' golang.org/x/vulndb); \
	if [[ -f $@ && "$$(cat $@)" == "$$want" ]]; then touch $@; exit 0; fi; \
	osv=$$(cd tools/vuln && go mod download golang.org/x/vulndb && go list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv; \
	echo "building vulnerability database from golang.org/x/vulndb@$$want"; \
	rm -rf $(VULNDB).tmp; \
	$(INDEXDB) -vulns "$$osv" -out $(VULNDB).tmp; \
	echo "$$want" > $(VULNDB).tmp/version; \
	rm -rf $(VULNDB); \
	mv $(VULNDB).tmp $(VULNDB)
