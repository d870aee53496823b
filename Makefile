# Mirage: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else (a private uv, the locked virtualenv, Chromium for browser tests) is set up
# on demand, so both work on a fresh machine with only Python 3.11+.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# Test processes: most tests wait on real HTTP, jobs and a browser, so a third process keeps
# both cores busy. Each has its own embedded PostgreSQL (tests/conftest.py).
TEST_WORKERS ?= 3
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Some machines (containers, CI images) set PYTHONDONTWRITEBYTECODE: every Python process then
# compiles every module it imports from source, again and again. The test suite starts dozens
# of processes (test workers, `mirage` servers and CLI calls, schemathesis), ~1 s of CPU each
# on two cores; so here each module's bytecode is written on its first import and read by
# every later process (compiling all of site-packages at install costs more than that).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test setup lint format types pytest browser promtool i18n arch clean

demo: setup  ## Run Mirage with demo data (embedded PostgreSQL, API, worker)
	$(BIN)/mirage demo $(ARGS)

test: setup browser promtool  ## Lint, type-check and run the whole test suite (browser tests included)
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts
	@# mypy runs while pytest starts its workers (its report is printed after the tests);
	@# either one failing fails the target.
	@mkdir -p $(TOOLS); $(BIN)/mypy > $(TOOLS)/mypy.log 2>&1 & types=$$!; \
	echo "$(BIN)/mypy (in the background) + $(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)"; \
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS); tests=$$?; \
	wait $$types; typed=$$?; echo "$(BIN)/mypy:"; cat $(TOOLS)/mypy.log; \
	test $$tests -eq 0 && test $$typed -eq 0

setup: $(VENV)/.synced

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

browser:  ## Browser tests drive the system Chromium (Playwright cannot download one here)
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is needed for the browser tests: install it (apt-get install chromium) or set MIRAGE_CHROMIUM"; exit 1; fi; }

# The alert-rule test (tests/ops/test_alert_rules.py) runs `promtool test rules`: Debian's
# `prometheus` package has it (only the promtool binary is used; no server is run).
promtool:  ## Alert-rule tests need promtool (Debian's prometheus package)
	@command -v promtool >/dev/null 2>&1 || test -n "$$MIRAGE_PROMTOOL" || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; \
	  else echo "promtool is needed for the alert-rule tests: install it (apt-get install prometheus) or set MIRAGE_PROMTOOL"; exit 1; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

lint: setup
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/ruff check src tests bench scripts

format: setup
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

types: setup
	$(BIN)/mypy

pytest: setup browser promtool
	$(BIN)/pytest $(PYTEST_ARGS)

arch: setup  ## Print the package import graph (layers, cycles) and check the import rules
	$(BIN)/python scripts/arch.py

i18n: setup  ## Re-extract messages and merge them into the catalogs
	$(BIN)/python scripts/i18n.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache test-artifacts
