# VRS Federation. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

BIN       := $(CURDIR)/.bin
BUF       := $(BIN)/buf
GOLANGCI  := $(BIN)/golangci-lint
GOLANGCI_VERSION := v2.15.0
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
test: ## Run every test with the race detector
	go test -race -count=1 -timeout 20m $(TEST_FLAGS) ./...

.PHONY: test-long
test-long: ## Run the long suites too (soak, load, full-size)
	VRS_LONG=1 go test -race -count=1 -timeout 80m $(TEST_FLAGS) ./...

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
lint: $(BUF) $(GOLANGCI) ## go vet, buf lint, buf format check, golangci-lint
	go vet ./...
	$(BUF) lint
	$(BUF) format --diff --exit-code proto
	$(GOLANGCI) run ./...

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
