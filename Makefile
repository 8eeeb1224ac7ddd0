# Loci: `make run` serves the API on http://localhost:8001, `make test` runs the suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run dev test lint format bench bench-locomo clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, from the CPU wheel pinned in requirements.txt, so nothing pulls CUDA builds
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	# the project itself, editable: `app`, `consolidation` and `loci` import from the checkout, `loci` is on PATH
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py app:app

dev: $(STAMP)
	$(BIN)/python app.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# mypy checks the files listed under [tool.mypy] in pyproject.toml
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python scripts/bench_api.py
	$(BIN)/python scripts/bench_enrichment.py
	$(BIN)/python scripts/bench_ingest.py
	$(BIN)/python scripts/bench_front.py
	$(BIN)/python scripts/bench_stall.py
	$(BIN)/python scripts/bench_durability.py

# LoCoMo evidence recall against BM25 (not in `bench`: it ingests and asks every question of the dev split)
bench-locomo: $(STAMP)
	$(BIN)/python scripts/bench_locomo.py $(LOCOMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
