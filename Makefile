# patdnn: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv, install the pinned packages and the Debian cross tools on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.patdnn-installed
DEBIAN_PACKAGES := qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross

.PHONY: all demo test lint lit pytest bench bench-deps system-deps venv clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv \
	  && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch would pull the CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "error: need the Debian packages $(DEBIAN_PACKAGES) (run make as root to install them)"; exit 1; fi; \
	  echo "installing $(DEBIAN_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	fi

# Static checks (the rule sets are in pyproject.toml); part of `make test`. pyright reads
# the package through a link tree of its import names (patdnn/tools/pyright_tree.py).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m patdnn.tools.pyright_tree
	$(VENV)/bin/pyright

lit: $(STAMP) system-deps
	$(VENV)/bin/lit -v test

# Two workers: the suite takes about 6 minutes on a 2-core machine (10 with one).
PYTEST_WORKERS ?= 2

pytest: $(STAMP) system-deps
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) test

test: $(STAMP) system-deps
	@set -o pipefail; status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	{ $(PY) -m patdnn.tools.pyright_tree && $(VENV)/bin/pyright; } || status=1; \
	$(VENV)/bin/lit test || status=1; \
	$(VENV)/bin/pytest -q -n $(PYTEST_WORKERS) test || status=1; \
	exit $$status

demo: $(STAMP) system-deps
	$(VENV)/bin/patdnn demo --out demo-out

bench: $(STAMP)
	$(VENV)/bin/patdnn bench layers

# The benchmark's dense peers (MNN, ncnn + pnnx, LiteRT + litert-torch, ONNX Runtime),
# constrained to the packages already installed: pip may add packages, never swap torch
# (a different torch would be the CUDA build) or xdsl. litert-torch and litert-converter
# need xdsl==0.28.0: they go, with it, into .bench-litert/, which only the LiteRT
# conversion (a child process) puts on its PYTHONPATH.
BENCH_CONSTRAINTS := $(VENV)/bench-constraints.txt
LITERT_DIR := .bench-litert

bench-deps: $(STAMP)
	$(VENV)/bin/pip freeze --exclude-editable | grep -v ' @ ' > $(BENCH_CONSTRAINTS)
	$(PY) -m pip install -q -c $(BENCH_CONSTRAINTS) -e '.[bench]'
	$(PY) -m pip install -q --no-deps --upgrade --target $(LITERT_DIR) \
	  litert-torch==0.10.0 litert-converter==0.5.0 xdsl==0.28.0

clean:
	rm -rf demo-out build *.egg-info .pytest_cache
	find . -name Output -type d -prune -exec rm -rf {} +
