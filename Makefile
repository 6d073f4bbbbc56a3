# Tally: build, run, test.
GO      ?= go
BIN     ?= bin
DATA    ?= .tally-dev
PKGS    := ./...
BINARIES := ./daemon/cmd/tallyd ./daemon/cmd/tallyctl ./daemon/cmd/tally-bench ./daemon/cmd/tally-vendor
# tally-agent runs on every device: built without cgo (no libc mapped) and
# without net/http's HTTP/2 (its local API is HTTP/1 on a socket), which
# takes 2 MiB off its idle RSS (docs/performance.md). Its idle RSS is mostly
# its own code mapped from the binary, so it is also built without inlining
# (-l) outside the runtime and crypto: 0.5 MB less code for CPU the agent
# spends on a request every half minute (docs/performance.md, agent footprint).
AGENT_TAGS    := nethttpomithttp2
AGENT_GCFLAGS := all=-l runtime/...= internal/...= crypto/...= vendor/golang.org/x/crypto/...= golang.org/x/crypto/...=
AGENT_FLAGS   := -tags $(AGENT_TAGS) $(foreach f,$(AGENT_GCFLAGS),-gcflags=$(f))
AGENT_BUILD   := CGO_ENABLED=0 $(GO) build $(AGENT_FLAGS)

.PHONY: all build dist packages lint-openapi run test test-short bench bench-micro bench-check bench-load lint fmt clean screenshots chaos

all: build

## build: compile tallyd, tallyctl, tally-bench, tally-vendor and tally-agent into bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(BINARIES)
	$(AGENT_BUILD) -o $(BIN)/ ./agent/cmd/tally-agent

## dist: cross-compile tallyd, tallyctl and tally-agent for linux, darwin and windows on amd64 and arm64 into dist/
DIST      ?= dist
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
DIST_CMDS := tallyd=./daemon/cmd/tallyd tallyctl=./daemon/cmd/tallyctl tally-agent=./agent/cmd/tally-agent
# VERSION is stamped into the binaries (--version) and names the packages.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^v//' || echo devel)
LDFLAGS   := -s -w -X github.com/tally-licensing/tally/internal/buildinfo.version=$(VERSION)
dist:
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		for c in $(DIST_CMDS); do \
			name=$${c%%=*}; pkg=$${c#*=}; echo "$$name $$os/$$arch"; \
			flags=; [ $$name = tally-agent ] && flags='$(AGENT_FLAGS)'; \
			CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $$flags -trimpath -ldflags '$(LDFLAGS)' \
				-o $(DIST)/$$name-$$os-$$arch$$ext $$pkg; \
		done; \
	done

## packages: .deb and .rpm of tallyd (with tallyctl) and tally-agent for PKG_ARCHES into dist/, built with nfpm (go tool nfpm, pinned in go.mod)
PKG_ARCHES  ?= amd64 arm64
PKG_VERSION ?= $(shell scripts/pkg-version.sh)
packages:
	@mkdir -p $(DIST)
	@set -e; for arch in $(PKG_ARCHES); do \
		bin=packaging/.stage; rm -rf $$bin; mkdir -p $$bin; \
		for c in $(DIST_CMDS); do \
			flags=; [ $${c%%=*} = tally-agent ] && flags='$(AGENT_FLAGS)'; \
			CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $$flags -trimpath \
				-ldflags '-s -w -X github.com/tally-licensing/tally/internal/buildinfo.version=$(PKG_VERSION)' -o $$bin/$${c%%=*} $${c#*=}; \
		done; \
		for pkg in tallyd tally-agent; do for fmt in deb rpm; do \
			PKG_ARCH=$$arch PKG_VERSION='$(PKG_VERSION)' $(GO) tool nfpm package --config packaging/$$pkg/nfpm.yaml --packager $$fmt --target $(DIST)/; \
		done; done; \
	done

## run: a single-node cluster with a demo account and a local agent (Ctrl-C stops it)
##   ports: RUN_AGENT_PORT (agents, UDP), RUN_ADMIN_PORT (admin API and console, TCP), RUN_RAFT_PORT (TCP) on RUN_HOST;
##   e.g. make run RUN_AGENT_PORT=8443 RUN_ADMIN_PORT=8444 RUN_RAFT_PORT=8445 DATA=.tally-dev2
RUN_HOST       ?= 127.0.0.1
RUN_AGENT_PORT ?= 7443
RUN_ADMIN_PORT ?= 7444
RUN_RAFT_PORT  ?= 7445
run: build
	$(BIN)/tallyd dev --data $(DATA) --agent-addr $(RUN_HOST):$(RUN_AGENT_PORT) \
		--admin-addr $(RUN_HOST):$(RUN_ADMIN_PORT) --raft-addr $(RUN_HOST):$(RUN_RAFT_PORT)

## test: vet, then every test with the race detector (real QUIC, real Raft, real processes)
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-short: the same tests without the race detector, for a quick loop
test-short:
	$(GO) test -count=1 -timeout 10m $(PKGS)

## chaos: the long fault-injection runs (scripts/chaos.sh): time-based nemesis runs and disk faults in cluster/store,
##   CHAOS_SCHEDULES seeded in-process fault schedules, CHAOS_PROC_SCHEDULES seeded real-process schedules
##   (SIGKILL, SIGSTOP, clock offsets); prints schedules run, operations checked and violations.
##   Replay a failing schedule with the TALLY_CHAOS_SEED=n command it prints.
CHAOS_DURATION       ?= 60s
CHAOS_SCHEDULES      ?= 1000
CHAOS_PROC_SCHEDULES ?= 30
chaos:
	GO=$(GO) CHAOS_DURATION=$(CHAOS_DURATION) CHAOS_SCHEDULES=$(CHAOS_SCHEDULES) CHAOS_PROC_SCHEDULES=$(CHAOS_PROC_SCHEDULES) scripts/chaos.sh

## bench: the Go microbenchmarks, then the load harness (bench-load)
bench: bench-micro bench-load

## bench-micro: the Go microbenchmarks (token sign/verify, ledger apply, checkout, heartbeat) and the agent footprint (RSS, CPU with ten leases)
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s $(PKGS)

## bench-check: every benchmark once (-benchtime 1x), so that a benchmark broken by a change fails CI, not the next `make bench`
bench-check:
	$(GO) test -run '^$$' -bench . -benchtime 1x $(PKGS)

## bench-load: tally-bench, the floor then N devices against 1- and 3-node loopback clusters; JSON, SVG and Markdown into $(BENCH_OUT)
##   knobs: BENCH_DEVICES (default 1000), BENCH_NODES (1,3), BENCH_CONCURRENCY (128), BENCH_ROUNDS (3),
##   BENCH_PORT_BASE (17600: the bench's listeners use BASE..BASE+90), BENCH_FLAGS
BENCH_DEVICES     ?= 1000
BENCH_NODES       ?= 1,3
BENCH_CONCURRENCY ?= 128
BENCH_ROUNDS      ?= 3
BENCH_PORT_BASE   ?= 17600
BENCH_OUT         ?= bench-results
bench-load: build
	@mkdir -p $(BENCH_OUT)
	$(BIN)/tally-bench --devices $(BENCH_DEVICES) --nodes $(BENCH_NODES) --concurrency $(BENCH_CONCURRENCY) \
		--heartbeat-rounds $(BENCH_ROUNDS) --port-base $(BENCH_PORT_BASE) --pprof \
		--out $(BENCH_OUT)/bench.json --svg $(BENCH_OUT)/bench.svg --md $(BENCH_OUT)/bench.md $(BENCH_FLAGS)

## screenshots: re-take the README's console pictures with the browser test (needs chromium)
screenshots:
	TALLY_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run "TestConsoleInBrowser|TestConsoleMemberSession" ./daemon/e2e

## lint-openapi: lint the admin API's OpenAPI document with Redocly's CLI (pinned in tools/openapi/package-lock.json; needs node and npm)
lint-openapi:
	@mkdir -p $(BIN)
	$(GO) run ./tools/openapi > $(BIN)/openapi.json
	cd tools/openapi && npm ci --no-audit --no-fund --ignore-scripts --silent && npx --no-install redocly lint --config redocly.yaml $(CURDIR)/$(BIN)/openapi.json

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN) $(DATA) $(DIST) packaging/.stage
