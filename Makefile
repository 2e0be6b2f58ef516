# Chaat developer entry points (GNU make). `make run` on a fresh Debian 12
# machine installs what is missing, fetches the pinned htmx and starts the app.
# Plain `make` only builds.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# rustup installs cargo in ~/.cargo/bin, which is not always on PATH.
export PATH := $(PATH):$(HOME)/.cargo/bin
CARGO ?= cargo

DEMO_PASSWORD ?= chaat-demo-1
# Tests are I/O-bound (PostgreSQL, HTTP, browser), so more threads than cores helps.
TEST_THREADS ?= 4
PGDATA_DIR := $(CURDIR)/var/pgdata

.PHONY: deps assets build run demo test lint bench security-scan clean-db

deps:
	bash .ci/install-deps.sh

# npm ci only when node_modules is missing or older than the lock file; the
# stamp lives inside node_modules so deleting node_modules also resets it.
# `deps` is order-only: it must run first (for npm) but never forces a reinstall.
node_modules/.stamp: package.json package-lock.json | deps
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# htmx files are checked by build.rs; the test tools are checked here.
assets: node_modules/.stamp
	sha256sum -c --quiet .ci/assets.sha256

build: deps assets
	$(CARGO) build --release --bin chaat

run: deps assets
	$(CARGO) build --release --bin chaat
	@echo
	@echo "Chaat: open http://127.0.0.1:8080 (Ctrl-C stops it)"
	@echo
	./target/release/chaat serve

demo: deps assets
	$(CARGO) run --release --bin chaat -- demo --password "$(DEMO_PASSWORD)"

# The whole workspace: the server and the load generator (benches/load).
test: deps assets
	$(CARGO) test --locked --workspace --all-targets -- --test-threads=$(TEST_THREADS)

# Load benchmark (BENCHMARKS.md): release build, a private cluster and the app in
# /tmp, pgbench, then chaat-load's dm, pages and fanout scenarios; stops everything.
bench: deps assets
	bash .ci/bench.sh

# sqlmap (pinned by hash, in a venv under target/) against every form, parameter and
# path id of a release build on a private cluster in /tmp, logged in; fails on anything
# injectable. Minutes, so not part of `make test`. SECURITY.md has the last run.
security-scan: deps assets
	bash .ci/security-scan.sh

# clippy runs build.rs, which needs the assets.
lint: deps assets
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Stops the app's private cluster (if running) and deletes all local data.
# PostgreSQL refuses to run as root, so as root pg_ctl runs as `postgres`.
clean-db:
	if [ -f "$(PGDATA_DIR)/PG_VERSION" ]; then \
	    pg_ctl=/usr/lib/postgresql/$$(cat "$(PGDATA_DIR)/PG_VERSION")/bin/pg_ctl; \
	    [ -x "$$pg_ctl" ] || pg_ctl=pg_ctl; \
	    as=(); if [ "$$(id -u)" -eq 0 ]; then as=(runuser -u postgres --); fi; \
	    if "$${as[@]}" "$$pg_ctl" -D "$(PGDATA_DIR)" status >/dev/null 2>&1; then \
	        "$${as[@]}" "$$pg_ctl" -D "$(PGDATA_DIR)" stop -m fast; \
	    fi; \
	fi
	rm -rf var
