# OpenWIT's front door. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed
APT_PACKAGES := wordnet-base openclipart-png openclipart-svg librsvg2-bin chromium chromium-driver
SANDBOX ?= data/sandbox
# A wheel index for torch, e.g. https://download.pytorch.org/whl/cpu (the CPU Docker image).
TORCH_INDEX ?=
QUERIES ?= data/queries

.PHONY: help install sources system-packages test test-fast lint format sandbox serve queries bench bench-peers crawl shards sql train ablate index explore clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

install: $(STAMP) system-packages sources ## set up everything: .venv, torch, the project, Debian data packages, emoji sources

$(STAMP): pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) \
		torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

sources: $(STAMP) system-packages ## emoji art, CLDR names, animal silhouettes: npm/PyPI, pinned, checked, cached
	@command -v npm >/dev/null || { command -v apt-get >/dev/null && \
	  { sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; echo "installing npm (apt)"; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq npm >/dev/null 2>&1; }; } || true
	@$(BIN)/python -m openwit.pipeline.sandbox.sources fetch || \
	  echo "note: some sources are missing (above); the sandbox builds without them"

system-packages: ## Debian packages the defaults use (WordNet, openclipart, chromium for the browser test), when apt is there
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "note: no apt-get here; missing: $$missing. The query list needs WordNet (pass --wordnet-dir);"; \
	  echo "      the sandbox runs on procedural images only without openclipart."; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	echo "installing Debian packages: $$missing"; \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	{ $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; } || \
	echo "note: could not install $$missing; the defaults fall back as described in README.md"

test: install ## run the test suite (everything, the slow tests too)
	$(BIN)/python -m pytest -q

test-fast: install ## the inner loop: every test but the slow ones (end to end, kill -9, multi-node, peers)
	$(BIN)/python -m pytest -q -m "not slow"

lint: install ## ruff check + format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

sandbox: install ## build the sandbox web into data/sandbox (skips an identical build)
	$(BIN)/openwit sandbox build --out $(SANDBOX)

serve: sandbox ## serve the sandbox on 127.0.0.1 until Ctrl-C
	$(BIN)/openwit sandbox serve --root $(SANDBOX)

queries: install ## build the ~500k query list into data/queries
	$(BIN)/openwit queries build --out $(QUERIES)

PEERS := .venv-peers
bench-peers: $(PEERS)/.installed ## the peers the benchmarks compare against (img2dataset in its own venv)

$(PEERS)/.installed: Makefile
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q --upgrade pip
	$(PEERS)/bin/python -m pip install -q img2dataset==1.47.0
	@touch $@

bench: queries sandbox bench-peers ## side-by-side benchmarks; results in bench/results/*.json
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(BIN)/python -m bench.match --queries $(QUERIES) --sandbox $(SANDBOX)
	$(BIN)/python -m bench.harvest --warcs $(SANDBOX)/crawl-data
	$(BIN)/python -m bench.download --queries $(QUERIES)
	$(BIN)/python -m bench.stragglers
	$(BIN)/python -m bench.wat --sandbox $(SANDBOX)
	$(BIN)/python -m bench.dedup
	$(BIN)/python -m bench.shards_scale
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.semdedup
	$(BIN)/openwit index --shards data/bench/e2e/shards --checkpoint data/train/bench-e2e
	$(BIN)/python -m bench.explore --shards data/bench/e2e/shards
	$(BIN)/python -m bench.loader --shards data/bench/e2e/shards
	$(BIN)/python -m bench.train --shards data/bench/e2e/shards
	$(BIN)/python -m bench.emoji_ceiling --epochs 12
	$(BIN)/python -m bench.report

crawl: install ## harvest, match, balance, download (default: the sandbox web) into data/crawl
	$(BIN)/openwit crawl $(CRAWL_ARGS)

shards: install ## filter, dedupe, decontaminate data/crawl into data/shards (+ report.html)
	$(BIN)/openwit shards $(SHARDS_ARGS)

sql: install ## run SQL over data/shards' views: make sql Q="SELECT * FROM drops_by_reason"
	@test -n "$(Q)" || { echo 'usage: make sql Q="SELECT * FROM drops_by_reason"'; exit 2; }
	$(BIN)/openwit sql "$(Q)"

ablate: install ## the curation table: every arm's shards, trained on equal pairs over 3 seeds (docs/curation.md)
	$(BIN)/openwit ablate $(ABLATE_ARGS)

index: install ## embed data/shards with the latest data/train/default checkpoint (for explore's search)
	$(BIN)/openwit index $(INDEX_ARGS)

explore: install ## browse data/shards at http://127.0.0.1:8000 (search needs `make index`)
	$(BIN)/openwit explore $(EXPLORE_ARGS)

train: install ## train the default CLIP on data/shards into data/train/default, then evaluate
	$(BIN)/openwit train $(TRAIN_ARGS)

clean: ## remove generated data (keeps .venv)
	rm -rf data
