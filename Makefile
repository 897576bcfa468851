# The two commands of the README:
#   make run    install, then run the main job on embedded defaults (scripts/demo.sh: a local
#               Ray cluster, SQLite, local folders; screening, profiling, an explanation)
#   make test   install, then run every test CI runs (plus ruff and mypy via `make lint`)
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: install run test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of PyTorch first and pinned: any other spec pulls several GB of CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: install
	$(BIN)/repurpose evaluate --model models/drugban-human --data data/human/random/val.csv
	BIN=$(BIN) scripts/demo.sh

test: install
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/train_epoch.py
	$(BIN)/python benchmarks/grain_activations.py
	$(BIN)/python benchmarks/screening.py
	$(BIN)/python benchmarks/multi_target.py
	$(BIN)/python benchmarks/gateway.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/cold_target.py
	$(BIN)/python benchmarks/knn_fingerprints.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
