# The two commands of the README:
#   make run    install, then run the main job on embedded defaults
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
	$(BIN)/repurpose predict --model models/drugban-human \
		--smiles "CC(=O)Oc1ccccc1C(=O)O" \
		--protein "$$(sed -n 2p data/human/random/val.csv | cut -d, -f2)"

test: install
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/train_epoch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
