# The README's commands: `make run`, `make test` and `make lint`. Everything else is a helper for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
AXE    := node_modules/axe-core/axe.min.js

.PHONY: run test lint install bench screenshots clean

PIP_LOG := $(VENV)/pip-install.log

# pip's own output goes to $(PIP_LOG), shown only when the install fails: a machine's pip
# configuration (extra indexes, find-links) may make pip warn once per package, and setuptools
# explains an editable install at length. Whatever pip.conf and PIP_* say still applies.
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the broker and its tools into $(VENV) (pip's output: $(PIP_LOG))…"
	@{ $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install -e '.[test]'; } >$(PIP_LOG) 2>&1 \
		|| { tail -n 40 $(PIP_LOG); echo "pip install failed; all of its output is in $(PIP_LOG)"; exit 1; }
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

# The README's tour pictures (docs/images/), made from the real pages in headless Chromium
# (Debian's /usr/bin/chromium): run it after changing a page the tour shows.
screenshots: $(STAMP)
	$(BIN)/python examples/screenshots.py

clean:
	rm -rf $(VENV) node_modules instance .pytest_cache .hypothesis .mypy_cache .ruff_cache
