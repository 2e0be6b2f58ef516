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

.PHONY: deps deps-run deps-test deps-security-scan deps-bench assets assets-run assets-test \
	build run demo test lint bench bench-search security-scan clean-db

# System packages, per purpose (.ci/install-deps.sh prints each set with --print-all):
# running needs PostgreSQL, libpq, a C linker and npm; the tests add Chromium, its
# driver and a JRE; the security scan adds python3-venv and curl; the benchmark curl.
deps-run deps-test deps-security-scan deps-bench: deps-%:
	bash .ci/install-deps.sh $*
deps: deps-test

# npm packages, per purpose: running needs only htmx (package.json `dependencies`,
# checked by build.rs); the tests also need axe-core and vnu-jar (`devDependencies`).
# npm ci runs only when node_modules lacks that set or is older than the lock file.
# The stamps live inside node_modules, so deleting node_modules resets them, and npm ci
# empties node_modules, so each install writes the stamps of what it installed: a full
# install satisfies both, so `make run` after `make test` keeps the dev packages.
# deps-* is order-only: it must run first (for npm) but never forces a reinstall.
node_modules/.stamp-run: package.json package-lock.json | deps-run
	npm ci --omit=dev --ignore-scripts --no-audit --no-fund
	rm -f node_modules/.stamp-test
	touch $@

node_modules/.stamp-test: package.json package-lock.json | deps-test
	npm ci --ignore-scripts --no-audit --no-fund
	touch node_modules/.stamp-run $@

# htmx files are checked by build.rs; the test tools are checked here.
assets-run: node_modules/.stamp-run
assets-test: node_modules/.stamp-test
	sha256sum -c --quiet .ci/assets.sha256
assets: assets-test

build: deps-run assets-run
	$(CARGO) build --release --bin chaat

run: deps-run assets-run
	$(CARGO) build --release --bin chaat
	@echo
	@echo "Chaat: open http://127.0.0.1:8080 (Ctrl-C stops it)"
	@echo
	./target/release/chaat serve

demo: deps-run assets-run
	$(CARGO) run --release --bin chaat -- demo --password "$(DEMO_PASSWORD)"

# The whole workspace: the server and the load generator (benches/load).
test: deps-test assets-test
	$(CARGO) test --locked --workspace --all-targets -- --test-threads=$(TEST_THREADS)

# Load benchmark (BENCHMARKS.md): release build, a private cluster and the app in
# /tmp, pgbench, then chaat-load's dm, mixed, pages, fanout and files scenarios, then
# the search benchmark below on the same build (BENCH_SEARCH=0 leaves it out); stops
# everything.
bench: deps-bench assets-run
	bash .ci/bench.sh
	[ "$${BENCH_SEARCH:-1}" = 0 ] || BENCH_NO_BUILD=1 bash .ci/bench-search.sh

# Search benchmark (BENCHMARKS.md, issue 16): release build, a private cluster and the
# app in /tmp, 1,000,000 messages in 200 chats of one person seeded in SQL, then
# searches over HTTP (p50/p95/p99 per kind), EXPLAIN, the index's cost to an insert.
bench-search: deps-bench assets-run
	bash .ci/bench-search.sh

# sqlmap (pinned by hash, in a venv under target/) against every form, parameter and
# path id of a release build on a private cluster in /tmp, logged in; fails on anything
# injectable. Minutes, so not part of `make test`. SECURITY.md has the last run.
security-scan: deps-security-scan assets-run
	bash .ci/security-scan.sh

# clippy runs build.rs, which needs the assets.
lint: deps-test assets-test
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
