# Makefile: the verbs a person uses. `make help` lists them; each target's `## ` comment is its help line.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Every recipe that runs tools sees the test tools' paths (LPBAKE_GETH, LPBAKE_TEST_FFMPEG, PATH, ...).
ENV := . tests/env/paths.sh &&

.PHONY: help deps fixtures build test vm-test bench lock fmt lint

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

deps: ## install the test tools (apt, compose plugin, geth, ffmpeg) and start dockerd + the loopback registry
	bash tests/env/deps.sh
	bash tests/env/services.sh start

fixtures: ## build the offline mirror target/fixtures/mirror and its lock target/fixtures/lpbake.lock (cached)
	bash tests/fixtures/build.sh

build: ## build every crate in release mode
	$(ENV) cargo build --release --workspace

test: lint ## check formatting and lints, then run the test suite against the fixtures (needs `make deps fixtures`)
	@if [ ! -f target/fixtures/lpbake.lock ] || [ ! -d target/fixtures/mirror/blobs/sha256 ]; then \
		echo "make test: no fixtures in target/fixtures: run 'make deps fixtures' first" >&2; exit 1; fi
	$(ENV) cargo test --workspace --profile ci

vm-test: ## boot the appliance disk under qemu (TCG, OVMF) and check it from inside and outside (part of `make test`)
	@if [ ! -f target/fixtures/lpbake.lock ]; then echo "make vm-test: no fixtures: run 'make deps fixtures' first" >&2; exit 1; fi
	$(ENV) cargo test --workspace --profile ci --test vm

bench: ## build/load/push timings side by side with docker and skopeo, the disk build against mke2fs, boot times under qemu, lpwatch proxy overhead (needs `make deps fixtures`)
	$(ENV) bash tests/bench/build.sh
	$(ENV) bash tests/bench/disk.sh
	$(ENV) bash watch/bench/run.sh

lock: ## regenerate lpbake.lock from images/*.toml (`lpbake lock`)
	$(ENV) cargo run --release --quiet -p lpbake -- lock

fmt: ## format the Rust code
	cargo fmt --all

lint: ## check formatting and run clippy with warnings as errors
	cargo fmt --all -- --check
	$(ENV) cargo clippy --workspace --all-targets -- -D warnings
