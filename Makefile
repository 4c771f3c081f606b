# Every target builds .venv from the pinned lock on first use, so a fresh clone
# needs nothing but Python 3.10+ and the package registry.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test conformance soak lint typecheck bench local clean lock

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/asyncmcp demo

# Two test workers by default (most tests wait on brokers and child processes, not on a core);
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

test: lint typecheck
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The official MCP conformance suite against the SDK's own server and through the proxy (also part
# of `make test`); its first run installs the suite and Node.js 22 with npm (ASYNCMCP_CONFORMANCE_CACHE).
conformance: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/conformance

# The hostile-input probes at full size (minutes; `make test` runs them scaled down).
soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -p no:cacheprovider -m soak --timeout 900 tests/soak

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/pyright src benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks --output docs/benchmarks.md

local: $(STAMP)
	$(BIN)/asyncmcp local

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra local --extra dev --strip-extras -o requirements.lock pyproject.toml
	sed -i '/^--extra-index-url\|^--find-links/d' requirements.lock

clean:
	rm -rf $(VENV) build src/*.egg-info
