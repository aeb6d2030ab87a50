# Two entry points for a fresh machine: `make run` (the whole workflow on config.yaml) and `make test`.
# The virtual environment is created on demand from the pinned requirements.
VENV ?= .venv
CORES ?= all
BIN := $(VENV)/bin

.PHONY: run test test-slurm lint clean

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/default/report.html

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# The SLURM profile on a live cluster (tests/test_slurm.py) and the cluster-overhead benchmark's smoke
# test (tests/test_benchmarks.py); .ci/run starts a cluster first.
test-slurm: $(VENV)/.installed
	$(BIN)/python -m pytest -q -s -m slurm tests/test_slurm.py tests/test_benchmarks.py

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint

clean:
	rm -rf results/default .snakemake
