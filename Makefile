# edge-agent build, test and demo targets. Every target works offline except
# for the first download of Go modules, and of the Debian and npm packages that
# `make deps` (part of `make test`) installs when they are missing.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE      ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
PLATFORMS := linux/amd64 linux/arm64 linux/arm/7
# TAGS=noadmin leaves the operator commands out of edge-agent: about 8 MiB
# less resident memory on a device (see README).
TAGS      ?=

.PHONY: all build cross test deps unit lint integration demo bench deb clean

all: build

## build: the edge-agent and edge-sandbox binaries for this machine, in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN)/edge-agent ./cmd/edge-agent
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/edge-sandbox ./cmd/edge-sandbox
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/democlient ./scripts/democlient

## cross: static edge-agent binaries for amd64, arm64 and armv7 in bin/<os>-<arch>/
cross:
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		[ "$$arch" = arm ] && dir=$(BIN)/$$os-armv$$arm || dir=$(BIN)/$$os-$$arch; \
		echo "build $$dir/edge-agent"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$( [ "$$arch" = arm ] && echo $$arm ) \
			$(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $$dir/edge-agent ./cmd/edge-agent; \
	done

## test: install missing test tools, vet, staticcheck, unit tests with the race
## detector, then integration tests with real components
test: deps lint unit integration

## deps: the Debian and npm packages the integration tests use, when missing
deps:
	./scripts/install-test-deps.sh

lint:
	@out=$$(gofmt -l .); [ -z "$$out" ] || { echo "gofmt would change:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./test/...
	$(GO) vet -tags noadmin ./cmd/edge-agent
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags integration ./test/...

unit:
	$(GO) test -race -count=1 ./...

## integration: tests with real components (mosquitto, AWS CLI, boto3, JS SDK, systemd, dpkg)
integration:
	$(GO) test -race -count=1 -tags integration -timeout 20m ./test/...
	$(GO) test -count=1 -v -run TestFleetProvisionHoldsRateLimitsAndResumes ./internal/admin -fleet-devices=1000 | grep -E '^(---|ok|FAIL)|devices in'

## demo: the whole flow against the local sandbox
demo: build
	./scripts/demo.sh

## bench: benchmarks of the local endpoints
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/credserver/ ./internal/credprovider/

clean:
	rm -rf $(BIN) dist

## deb: .deb packages for amd64, arm64 and armhf in dist/, from the cross builds
deb: cross
	$(GO) run ./packaging/deb -version '$(VERSION)' -bin $(BIN) -out dist
