# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

CONFIG ?=

.PHONY: demo run test setup smoke lint clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[models,test]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/snakemake --cores $(CORES)
	@echo "Open reports/index.html"

# your own data: make run CONFIG=config/mine.yaml (the file is checked first, with messages that name the line)
run: setup
	@test -n "$(CONFIG)" || { echo "usage: make run CONFIG=config/mine.yaml"; exit 2; }
	$(BIN)/python -m cortexplorer.config $(CONFIG)
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG)

# three pytest workers (tests/conftest.py's worker_group): the SLURM test, which mostly waits on status checks,
# in one; the tests that read the session's smoke run in another, so it is made once; the rest fill all three.
# TEST_WORKERS=0 runs everything in one process
TEST_WORKERS ?= 3
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

smoke: setup
	$(BIN)/snakemake --cores $(CORES) --configfile config/smoke.yaml

lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf results logs reports/*.html reports/smoke reports/nsd benchmarks/runs .snakemake
