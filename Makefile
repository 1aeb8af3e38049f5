# The README's commands: `make run`, `make test` and `make lint`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
AXE    := node_modules/axe-core/axe.min.js

.PHONY: run test lint install bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python examples/run_demo.py

# axe-core (npm) for the browser tests' accessibility checks; without npm those tests skip
# (and fail under REQUIRE_BROWSER=1, as in CI).
$(AXE): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --silent; \
	else echo "npm not found: the browser tests will be skipped"; fi

test: $(STAMP) $(AXE)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, format check and types; the settings are in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The offline benchmarks (bench/login_load.py needs `make run` in another terminal).
bench: $(STAMP)
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/preflight.py

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache .hypothesis .mypy_cache .ruff_cache
