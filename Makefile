# Two commands a new user needs: `make report` and `make test`. `make lab` opens the notebooks.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
KERNEL := ecom-report
CUSTOMERS ?= 30000
QUARTER ?=
ARGS ?=

SCALE ?= 1000000
ENGINE ?= duckdb
BENCH_ARGS ?=
# apt-get needs root
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup data browser report test test-fast lab lint bench mutate clean
.DEFAULT_GOAL := report

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))" > /dev/null
	touch $@

# notebooks reach git without outputs, execution counts or JupyterLab's language metadata
NOTEBOOK_FILTER_KEYS := metadata.language_info cell.metadata.jp-MarkdownHeadingCollapsed

setup: $(VENV)/.installed  ## create the virtual environment, install pinned packages, register the kernel, strip notebooks on commit
	@if git rev-parse --git-dir > /dev/null 2>&1; then \
		$(VENV)/bin/nbstripout --install --attributes .gitattributes && \
		git config filter.nbstripout.extrakeys "$(NOTEBOOK_FILTER_KEYS)"; fi

data/sample/manifest.json: $(VENV)/.installed helpers/data/sample.py helpers/data/sample_shop.py helpers/data/sample_assortment.py
	$(PY) -m helpers.data.sample --customers $(CUSTOMERS) --out data/sample

data/sample-zh/manifest.json: data/sample/manifest.json helpers/data/sample_zh.py
	$(PY) -m helpers.data.sample_zh --source data/sample --out data/sample-zh

data/cdnow/orders.csv: $(VENV)/.installed helpers/data/cdnow.py
	$(PY) -m helpers.data.cdnow --out data/cdnow

data: data/sample/manifest.json data/sample-zh/manifest.json data/cdnow/orders.csv  ## sample data (also as a Chinese export) and CDNOW

report: setup data  ## run the quarterly batch (QUARTER=2025Q3 or ARGS="--quarter 2025Q3 --quarter 2025Q4")
	$(VENV)/bin/opsreport $(if $(QUARTER),--quarter $(QUARTER)) $(ARGS)

browser:  ## Chromium for the browser tests, from the distribution's packages where missing
	@command -v chromium > /dev/null || command -v chromium-browser > /dev/null || \
		{ echo "installing Chromium (apt-get) for the browser tests"; \
		  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium > /dev/null; }

test: setup data browser  ## run the test suite (what CI runs)
	$(PY) -m pytest $(ARGS)

test-fast: setup data  ## the unit tests only, for a quick loop (no batch, kernels or slow checks)
	$(PY) -m pytest -q -m "not e2e and not slow" $(ARGS)

lab: setup data  ## open JupyterLab on the notebooks with the project's kernel
	$(VENV)/bin/jupyter lab notebooks/

bench: setup  ## benchmark the batch: make bench SCALE="100000 1000000" ENGINE="duckdb spark"
	$(PY) -m helpers.run.bench $(foreach size,$(SCALE),--customers $(size)) \
		$(foreach engine,$(ENGINE),--engine $(engine)) $(BENCH_ARGS)

# mutmut keeps each function's verdicts in mutants/ and retests only what changed; the survivors
# are retested every time, against the tests as they are now. tests/mutation_verdicts.json carries
# the verdicts from one checkout to the next (mutants/ is not committed); after an interrupted run,
# `$(PY) -m tests.mutation_ledger save` keeps what it found. Which tests reach which function is
# collected afresh each run (a few minutes): mutmut's incremental collection only traces new tests,
# so a test that reaches code moved into a new function would go unseen. MUTANTS reruns some modules
# whole: MUTANTS="helpers.sections.traffic.* helpers.core.periods.*"; rm -rf mutants
# tests/mutation_verdicts.json starts over.
MUTANTS ?=

mutate: setup data  ## mutation testing of models, sections and data access; lists the survivors
	$(PY) -m tests.mutation_ledger restore
	rm -f mutants/mutmut-stats.json  # which tests reach which function: kept, it misses code that moved
	$(VENV)/bin/mutmut run $(foreach pattern,$(MUTANTS),"$(pattern)") > /dev/null || true
	survivors="$$($(PY) -m tests.mutation_report --names)"; \
		if [ -n "$$survivors" ]; then $(VENV)/bin/mutmut run $$survivors > /dev/null || true; fi
	$(PY) -m tests.mutation_ledger save
	$(PY) -m tests.mutation_report --list

lint: setup  ## ruff, and the package's layer contracts (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) data/sample data/cdnow data/bench reports/*/ reports/.*building*
