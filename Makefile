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

# two pytest workers (tests/conftest.py's worker_group): the tests that read the session's smoke run in one, so it
# is made once; the SLURM test (mostly waiting on status checks) and the rest in the other (a third worker made
# every workflow slower on 2 cores: the NSD run passed its 300-s limit). TEST_WORKERS=0 runs everything in one process
TEST_WORKERS ?= 2
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
