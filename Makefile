# microseg: the two commands are `make run` and `make test`; both set up what they need.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)
GO ?= go
BIN := bin/microseg
# How long each fuzz target runs: briefly in `make test`, longer in `make fuzz`. Counts
# of inputs rather than durations: Go 1.26's fuzzer can fail a time-bounded run with a
# bare "context deadline exceeded" (golang/go#75804), which must never fail CI.
# Every fuzz target, as package:Name:inputs-in-make-test (about 5 s each here).
FUZZ_TARGETS := ./model:FuzzParsePort:300000x ./model:FuzzParsePrefix:300000x \
	./hcl:FuzzLoad:10000x ./hcl:FuzzFormat:20000x ./onprem:FuzzParseLoggedPacket:100000x \
	./providers/aws:FuzzParseFlowLogLine:100000x ./providers/aws:FuzzDecodeFlowLog:5000x ./onprem:FuzzDecodeSpool:50000x \
	./onprem:FuzzDecodeConntrack:30000x ./model/verdict:FuzzClassify:20000x \
	./providers/azure:FuzzDecodeNSGFlowLog:100000x ./providers/azure:FuzzDecodeVNetFlowLog:100000x \
	./providers/azure:FuzzBlobCheckpoint:80000x \
	./providers/gcp:FuzzDecodeVPCFlowLog:20000x ./providers/gcp:FuzzDecodeFirewallLog:20000x \
	./providers/gcp:FuzzScanEntryMatchesJSON:15000x ./providers/gcp:FuzzArrayElement:20000x \
	./workflows/results:FuzzParseDSN:100000x ./test:FuzzDiscoverRoundTrip:6000x
# Inputs per target in `make fuzz`; empty means the counts above.
FUZZTIME ?=
FUZZ_LONG ?= 3000000x

.PHONY: all build run test deps deps-run unit fuzz-brief fuzz bench lint clean FORCE

all: build

build: $(BIN) bin/temporal

$(BIN): FORCE
	$(GO) build -o $(BIN) ./cmd/microseg

# Temporal's own CLI, whose dev server is the embedded Temporal, built from the
# nested module tools/temporal (about 5 minutes from a cold cache, seconds after).
bin/temporal: tools/temporal/go.mod tools/temporal/go.sum
	cd tools/temporal && $(GO) build -o ../../bin/temporal github.com/temporalio/cli/cmd/temporal

FORCE:

# The main job on the embedded defaults: the policy tool chain on the example policy,
# then the engine on network-namespace hosts. It installs what the engine needs (as
# root), as make test does, and fails, naming what is missing, rather than skip it.
run: deps-run build
	./scripts/run-examples.sh $(BIN)

test: deps lint bin/temporal unit fuzz-brief

# What the tests need, each installed only when missing (as root; otherwise the tests
# that need it skip, saying why):
# - nft (to change rulesets by hand, as an operator would, and to compare with) and ip
#   (network namespaces), for the kernel tests;
# - chromium, to render the HTML report headless;
# - PostgreSQL's server, for the results store on PostgreSQL;
# - Azurite (npm, into .cache/azurite), Azure's blob storage emulator, for Azure flow logs.
APT_NEEDS := nft:nftables ip:iproute2 chromium:chromium npm:npm \
	/usr/lib/postgresql/15/bin/initdb:postgresql
AZURITE_VERSION := 3.35.0
# apt_install installs the Debian packages of the commands in $(1) (command:package)
# that are missing, when root; otherwise it says which, and $(2) says what follows.
define apt_install
	@missing=""; for need in $(1); do \
		cmd=$${need%%:*}; pkg=$${need#*:}; \
		command -v $$cmd >/dev/null 2>&1 || [ -x "$$cmd" ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing$$missing"; \
			(apt-get install -y -q $$missing >/dev/null 2>&1 || \
			 (apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null)) || exit 1; \
		else \
			echo "missing and not root:$$missing; $(2)"; \
		fi; \
	fi
endef

# What make run's engine needs: nft and ip for the network-namespace hosts.
deps-run:
	$(call apt_install,nft:nftables ip:iproute2,install them (apt-get install nftables iproute2) and run make run as root)

deps:
	$(call apt_install,$(APT_NEEDS),the tests that need them will be skipped)
	@if [ ! -x .cache/azurite/node_modules/.bin/azurite-blob ] && command -v npm >/dev/null; then \
		echo "installing azurite $(AZURITE_VERSION)"; \
		mkdir -p .cache/azurite && npm install --prefix .cache/azurite --no-audit --no-fund \
			--loglevel=error azurite@$(AZURITE_VERSION) >/dev/null || exit 1; \
	fi

unit:
	$(GO) test -count=1 ./...

fuzz-brief:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; count=$${rest#*:}; \
		count=$(if $(FUZZTIME),$(FUZZTIME),$$count); \
		echo "fuzz $$pkg $$name for $$count"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$$count $$pkg || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-brief FUZZTIME=$(FUZZ_LONG)

# Benchmarks: load, compile and diff of a generated policy with 10,000 segments and
# 100,000 allows; on hosts (root), a 100,000-tuple ruleset applied whole, next to
# nft -f, changed by one allow, read back, and connections/s through 10 and 100,000
# allows. Peak RSS is reported per benchmark as peak-RSS-MiB.
bench: deps
	$(GO) test -run='^$$' -bench='Load|Compile|Diff' -benchmem -benchtime=3x ./test/bench/
	$(GO) test -run='^$$' -bench='AuditAWS|AuditAzure|AuditGCP' -benchmem -benchtime=3x ./test/bench/
	$(GO) test -run='^$$' -bench='Audit10GB' -benchtime=1x ./test/bench/
	$(GO) test -run='^$$' -bench='Classify|SummaryAdd' -benchmem ./model/verdict/
	$(GO) test -run='^$$' -bench='Apply|NftFile|Observe' -benchmem -benchtime=5x ./onprem/
	$(GO) test -run='^$$' -bench='PacketPath' -benchtime=3000x -count=3 ./onprem/

# gofmt, go vet, and Temporal's workflowcheck: workflow code must be deterministic.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./workflows/...

clean:
	rm -rf bin
