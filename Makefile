# Two commands do everything on a fresh clone:
#   make up    create .venv on first use, install, run the whole mesh in the foreground
#   make test  the same install, then the full test suite
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.meshline-installed
# llama-cpp-python builds from source; the native build crashes on this CPU family (AMX).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: up down test test-fast lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build on local disk, never the multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[local,dev]"
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/meshline up

down: $(STAMP)
	$(BIN)/meshline down

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not e2e and not model"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	# mypy cannot follow setuptools' package-dir mapping: type-check a symlinked meshline/ tree.
	rm -rf build/typecheck && mkdir -p build/typecheck/meshline
	ln -s $(CURDIR)/meshline/* build/typecheck/meshline/
	for d in orchestrator agents tools memory; do ln -s $(CURDIR)/$$d build/typecheck/meshline/$$d; done
	MYPYPATH=build/typecheck $(BIN)/mypy -p meshline

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
