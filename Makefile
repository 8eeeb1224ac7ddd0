# Loci: `make run` serves the API on http://localhost:8001, `make test` runs the suite.
# Both create .venv and install what they need on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run dev test lint format bench bench-locomo bench-fleet browser vendor-ui ui-screenshots clean

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

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The memory browser's tests drive Debian's Chromium (Playwright never downloads a browser here).
# Installed where this machine allows it (root with apt-get); elsewhere those tests skip and say why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) \
		|| echo "chromium could not be installed: the browser tests will skip"; \
	else echo "no $(CHROMIUM) and no root apt-get here: the browser tests will skip"; fi

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

# A fleet on one FalkorDB: pipeline throughput with 1, 2 and 4 worker processes, recall with 1 and 2 API processes
bench-fleet: $(STAMP)
	PYTHONPATH=. $(BIN)/python scripts/bench_fleet.py $(FLEET_ARGS)

# LoCoMo evidence recall against BM25 (not in `bench`: it ingests and asks every question of the dev split)
bench-locomo: $(STAMP)
	$(BIN)/python scripts/bench_locomo.py $(LOCOMO_ARGS)

# Screenshots of each screen of the memory browser for docs/ (a service with demo memories, Chromium)
ui-screenshots: $(STAMP) browser
	$(BIN)/python scripts/ui_screenshots.py

# Fetch the vendored graph library again from the npm registry (version and licence: loci/static/ui/vendor/README.md)
CYTOSCAPE_VERSION := 3.34.4
vendor-ui:
	rm -rf .vendor-tmp && mkdir .vendor-tmp
	cd .vendor-tmp && npm pack --silent cytoscape@$(CYTOSCAPE_VERSION) && tar xzf cytoscape-$(CYTOSCAPE_VERSION).tgz
	cp .vendor-tmp/package/dist/cytoscape.esm.min.mjs loci/static/ui/vendor/cytoscape.esm.min.js
	cp .vendor-tmp/package/LICENSE loci/static/ui/vendor/cytoscape.LICENSE.txt
	rm -rf .vendor-tmp

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
