# Makefile: the verbs a person uses. `make help` lists them; each target's `## ` comment is its help line.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Every recipe that runs tools sees the test tools' paths (LPBAKE_GETH, LPBAKE_TEST_FFMPEG, PATH, ...).
ENV := . tests/env/paths.sh &&

.PHONY: help deps fixtures build test vm-test bench lock fmt lint compose secrets up down down-volumes

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

deps: ## install the test tools (apt, compose plugin, geth, ffmpeg) and start dockerd + the loopback registry
	bash tests/env/deps.sh
	bash tests/env/services.sh start

fixtures: ## build the offline mirror target/fixtures/mirror and its lock target/fixtures/lpbake.lock (cached)
	bash tests/fixtures/build.sh

build: ## build every crate in release mode
	$(ENV) cargo build --release --locked --workspace

test: lint ## check formatting and lints, then run the test suite against the fixtures (needs `make deps fixtures`)
	@if [ ! -f target/fixtures/lpbake.lock ] || [ ! -d target/fixtures/mirror/blobs/sha256 ]; then \
		echo "make test: no fixtures in target/fixtures: run 'make deps fixtures' first" >&2; exit 1; fi
	$(ENV) cargo test --locked --workspace --profile ci

vm-test: ## boot the appliance disk under qemu (TCG, OVMF) and check it from inside and outside (part of `make test`)
	@if [ ! -f target/fixtures/lpbake.lock ]; then echo "make vm-test: no fixtures: run 'make deps fixtures' first" >&2; exit 1; fi
	$(ENV) cargo test --locked --workspace --profile ci --test vm

bench: ## build/load/push timings side by side with docker and skopeo, the disk build against mke2fs, boot times under qemu, lpwatch proxy overhead, `make up` cold and warm, share pushes through the collector vs straight to Prometheus (needs `make deps fixtures`)
	$(ENV) bash tests/bench/build.sh
	$(ENV) bash tests/bench/disk.sh
	$(ENV) bash tests/bench/compose.sh
	$(ENV) bash watch/bench/run.sh
	$(ENV) bash watch/bench/share.sh

# `make up` builds the images with these arguments; offline from the test fixtures:
#   make up UP_BUILD_ARGS="--offline --mirror target/fixtures/mirror --lock target/fixtures/lpbake.lock --locked"
UP_BUILD_ARGS ?= --locked
BIND := $${LPBAKE_BIND:-127.0.0.1}

compose: ## re-render compose.yaml, compose.arbitrum.yaml and compose/ from images/*.toml (`lpbake render --compose .`)
	$(ENV) cargo run --release --locked --quiet -p lpbake -- render --compose .

secrets: ## create the testnet's secret files in testnet/secrets/ (random orch-secret) unless they exist
	@mkdir -p testnet/secrets && chmod 0700 testnet/secrets
	@if [ ! -s testnet/secrets/orch-secret ]; then \
		head -c 32 /dev/urandom | base64 > testnet/secrets/.orch-secret.tmp && \
		chmod 0444 testnet/secrets/.orch-secret.tmp && mv testnet/secrets/.orch-secret.tmp testnet/secrets/orch-secret && \
		echo "secrets: wrote testnet/secrets/orch-secret"; fi

up: secrets ## build and load the images, check the open-file limit the Docker engine grants (scripts/nofile.sh), start the local testnet (docker compose up -d --wait) and print where to look
	$(ENV) cargo run --release --locked --quiet -p lpbake -- build $(UP_BUILD_ARGS) --target oci --load
	nofile=$$(bash scripts/nofile.sh) && LPBAKE_NOFILE=$$nofile docker compose up -d --wait --wait-timeout 300
	@echo "testnet up:"
	@echo "  orchestrator  https://$(BIND):8935   lpwatch http://$(BIND):7936/healthz  /metrics"
	@echo "  gateway       rtmp://$(BIND):1935/stream/NAME   http://$(BIND):9935"
	@echo "  prometheus    http://$(BIND):9090   alertmanager http://$(BIND):9093"
	@echo "  logs: docker compose logs -f    stop: make down    wipe: make down-volumes"

down: ## stop the local testnet (volumes kept)
	docker compose down

down-volumes: ## stop the local testnet and delete its volumes
	docker compose down -v

lock: ## regenerate lpbake.lock from images/*.toml (`lpbake lock`)
	$(ENV) cargo run --release --locked --quiet -p lpbake -- lock

fmt: ## format the Rust code
	cargo fmt --all

lint: ## check formatting and run clippy with warnings as errors
	cargo fmt --all -- --check
	$(ENV) cargo clippy --locked --workspace --all-targets -- -D warnings
