# The two commands of the README: `make serve` runs the bot, `make test` runs the tests.
# Both install everything into .venv first (again only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test test-fast lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build this machine serves; a GPU host installs its CUDA build.
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/steward serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Unit and in-process tests only (no model training, no whole-bot start-ups): for a quick
# check while working; CI runs the full `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check core app workers models fakegithub tests benchmarks scripts
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/steward demo

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_receiver.py

clean:
	rm -rf $(VENV) .steward
