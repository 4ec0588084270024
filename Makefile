# Every target bootstraps the virtualenv it needs: a fresh clone runs
# `make bench` or `make test` with nothing installed but Python >= 3.11.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# `make bench SCENARIO=slow-downstream`, `make bench QUICK=1`, `make bench ARGS="--design async"`,
# `make bench SET=matrix` (a scenario set: scenarios/sets/matrix.yaml)
SCENARIO ?=
SET      ?=
QUICK    ?=
ARGS     ?=
GATE_REPEAT ?= 2
# `make gate GATE_BASE=origin/main GATE_PAIRS=5`; empty GATE_BASE: the merge-base with main
GATE_BASE  ?=
GATE_PAIRS ?= 3
# `make gate-aa N=20`: that many A/A gate runs (the same commit on both sides), tabulated
N ?= 20
SLOWDOWN ?= async-2ms
BENCH_FLAGS := $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SET),--set $(SET)) $(if $(QUICK),--quick) $(ARGS)
# `make sweep SWEEP=path/to/sweep.yaml QUICK=1`; default: scenarios/sweeps/default.yaml
SWEEP ?=
SWEEP_FLAGS := $(SWEEP) $(if $(QUICK),--quick) $(ARGS)

.PHONY: help bench sweep test test-fast typecheck gate gate-baseline gate-aa gate-sensitivity gate-interleave-probe report up lint clean venv browser

help:
	@echo "make bench   run the default scenario set against both designs and render the report"
	@echo "             (SCENARIO=name for one scenario, QUICK=1 for shortened durations,"
	@echo "             SET=matrix for a scenario set: every design on four faults, ~18 min)"
	@echo "make sweep   designs x rates x provider latencies (scenarios/sweeps/default.yaml): curves,"
	@echo "             maximum rate under the SLO, crossover map; within 15 min (QUICK=1: 4 min)"
	@echo "make test    the type checker, then every test tier (real broker, servers, Locust, benches)"
	@echo "make test-fast  the unit tier only (no servers; under a minute)"
	@echo "make gate    the working tree against its base revision, measured side by side in"
	@echo "             interleaved pairs (GATE_BASE=REF; default: the merge-base with main)"
	@echo "make gate-baseline  quick scenario set against the stored baselines/ci.json (its machine only)"
	@echo "make gate-aa N=20   N A/A gate runs (HEAD against itself): the false-positive rate"
	@echo "make gate-sensitivity SLOWDOWN=async-2ms N=20   N gate runs against a committed slowdown"
	@echo "make gate-interleave-probe SLOWDOWN=async-2ms N=12   base and candidate served at once vs"
	@echo "             one after the other: how much run-to-run drift each pairing leaves (none: A/A)"
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

sweep: $(STAMP)
	$(BIN)/offload sweep $(SWEEP_FLAGS)

test: typecheck browser
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m unit -q

typecheck: $(STAMP)
	$(BIN)/mypy

# the A/B gate (docs/gate.md): the base revision (GATE_BASE, else the merge-base of HEAD with
# main or origin/main) and the working tree, measured in GATE_PAIRS pairs, each pair's two
# benches side by side (at once, from one t=0); exit 0/1/2
gate: $(STAMP)
	@base="$(GATE_BASE)"; \
	if [ -z "$$base" ]; then \
	  for branch in main origin/main; do \
	    base=$$(git merge-base HEAD $$branch 2>/dev/null) && break; \
	  done; \
	  if [ -z "$$base" ]; then \
	    echo "make gate: no main branch (main or origin/main) to take a merge-base with; choose the base: make gate GATE_BASE=REF" >&2; \
	    exit 2; \
	  fi; \
	  echo "make gate: base = merge-base of HEAD and $$branch ($$base)"; \
	fi; \
	$(BIN)/offload gate --base "$$base" --pairs $(GATE_PAIRS) $(ARGS)

# the stored-baseline gate, for a dedicated runner: the quick scenario set against
# baselines/ci.json, which it refuses on another machine than the one that recorded it
gate-baseline: $(STAMP)
	$(BIN)/offload bench --tag gate --quick --repeat $(GATE_REPEAT) --gate baselines/ci.json $(ARGS)

# N A/A runs of the gate (HEAD on both sides): every failure is a false positive. Both loops
# below run in a temporary clone of HEAD (tools/gate_runs.sh), so this tree can be edited (and
# committed) meanwhile without changing what is measured
gate-aa: $(STAMP)
	@tools/gate_runs.sh $(BIN) "$(CURDIR)/reports/gate-aa" $(N) $(GATE_PAIRS) none $(ARGS)

# N gate runs against a known slowdown, committed in the clone on top of HEAD (SLOWDOWN:
# async-2ms, async-30ms or sync-12ms; tests/factories/slowdowns.py): every run that passes is
# a regression the gate missed
gate-sensitivity: $(STAMP)
	@tools/gate_runs.sh $(BIN) "$(CURDIR)/reports/gate-sensitivity/$(SLOWDOWN)" $(N) $(GATE_PAIRS) $(SLOWDOWN) $(ARGS)

# research for the gate's next design (tools/interleave_probe.py): N trials, each pairing two
# clones of HEAD (the second with SLOWDOWN, or none) served at once and one after the other
gate-interleave-probe: $(STAMP)
	@set -e; out="$(CURDIR)/reports/interleave-probe/$(SLOWDOWN).jsonl"; mkdir -p "$$(dirname "$$out")"; \
	: > "$$out"; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	git clone -q . "$$tmp/a"; git clone -q . "$$tmp/b"; \
	if [ "$(SLOWDOWN)" != none ]; then $(BIN)/python tests/factories/slowdowns.py $(SLOWDOWN) "$$tmp/b"; fi; \
	$(BIN)/python tools/interleave_probe.py "$$tmp/a" "$$tmp/b" $(N) "$$out"

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
