# Every target bootstraps the virtualenv it needs: a fresh clone runs
# `make bench` or `make test` with nothing installed but Python >= 3.11.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `make bench SCENARIO=slow-downstream`, `make bench QUICK=1`, `make bench ARGS="--design async"`
SCENARIO ?=
QUICK    ?=
ARGS     ?=
GATE_REPEAT ?= 2
BENCH_FLAGS := $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(QUICK),--quick) $(ARGS)

.PHONY: help bench test test-fast typecheck gate report up lint clean venv browser

help:
	@echo "make bench   run the default scenario set against both designs and render the report"
	@echo "             (SCENARIO=name for one scenario, QUICK=1 for shortened durations)"
	@echo "make test    the type checker, then every test tier (real broker, servers, Locust, benches)"
	@echo "make test-fast  the unit tier only (no servers; under a minute)"
	@echo "make gate    quick scenario set, gated against baselines/ci.json"
	@echo "make report  re-render reports/latest"
	@echo "make up      start both designs and the provider for exploring by hand"
	@echo "make lint    ruff and the type checker (mypy --strict on offload/)"
	@echo "make browser install headless Chromium when missing (browser tests, report.pdf)"
	@echo "make clean   remove the virtualenv and generated reports"

venv: $(STAMP) browser

# headless Chromium prints report.pdf and runs the browser tests; installed with apt-get when
# missing and possible, else a note (tests skip, no PDF): never a failure
browser:
	@bash .ci/ensure-chromium

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "offload needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing offload and its dependencies into $(VENV) (log: $(VENV)/install.log) ..."
	@$(BIN)/python -m pip install --disable-pip-version-check --upgrade pip > $(VENV)/install.log 2>&1 \
		|| (cat $(VENV)/install.log; exit 1)
	@$(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt -e '.[dev]' \
		>> $(VENV)/install.log 2>&1 || (tail -40 $(VENV)/install.log; exit 1)
	@echo "Installed: $$($(BIN)/python -c 'import offload; print("offload", offload.__version__)')"
	@touch $@

bench: $(STAMP) browser
	$(BIN)/offload bench $(BENCH_FLAGS)

test: typecheck browser
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit -q

typecheck: $(STAMP)
	$(BIN)/mypy

# the quick scenario set (tag: gate), gated against the committed baseline; exit 0/1/2
gate: $(STAMP)
	$(BIN)/offload bench --tag gate --quick --repeat $(GATE_REPEAT) --gate baselines/ci.json $(ARGS)

report: $(STAMP) browser
	$(BIN)/offload report reports/latest

up: $(STAMP)
	$(BIN)/offload up $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) reports/runs reports/latest reports/index.html .pytest_cache .ruff_cache
