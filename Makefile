# The two commands of the README: `make serve` runs the bot, `make test` builds the docs and
# runs the tests.
# Both install everything into .venv first (again only when pyproject.toml or the lock
# changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: serve test test-fast test-deploy lint demo bench clean browser docs

# The packages come from deploy/requirements-dev.lock, pinned and hash-checked (the image's
# lock plus the test tools), then torch and Steward: deploy/install-dev.sh says how.
$(STAMP): pyproject.toml deploy/requirements-dev.lock deploy/install-dev.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	deploy/install-dev.sh $(BIN)/python
	touch $(STAMP)

# The browser tests drive Debian's Chromium; as root (CI) it is installed when missing,
# otherwise those tests say what to install and skip.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	    echo "chromium not installed: the browser tests will skip (apt-get install chromium chromium-driver)"; }

serve: $(STAMP)
	$(BIN)/steward serve

test: $(STAMP) browser docs
	$(BIN)/python -m pytest -q

# The deployment as an organisation runs it: the images and docker-compose.yml against the
# fake GitHub (deploy/test-deploy.sh: the setup flow in a container, an installation's day
# one, a worker killed mid-run, down and up, health). As root (CI) it installs and starts a
# Docker engine when none answers, and stops what it started. About 20 minutes on 2 cores.
test-deploy: $(STAMP)
	deploy/test-deploy.sh

# Unit and in-process tests only (no model training, no whole-bot start-ups): for a quick
# check while working; CI runs the full `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# The manual (docs/, mkdocs.yml) as a site in site/; --strict turns every warning (a broken
# link or anchor, a page missing from the nav) into a failure, so `make test` fails on it.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check core app workers models fakegithub tests benchmarks scripts
	$(BIN)/mypy

demo: $(STAMP)
	$(BIN)/steward demo

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_receiver.py

clean:
	rm -rf $(VENV) .steward site
