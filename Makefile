# gfrpc: `make demo` runs the main job (`gfrpc bench`; DEMO_ARGS=... adds options), `make test` runs every check.
# Both set themselves up on a fresh machine (venv, pip, and GlusterFS/fio via apt when root).
# The venv's interpreter: the distribution's CPython when it is 3.11 or newer and can make a
# venv (Debian builds it with PGO, LTO and a static libpython), else python3 from PATH. A default
# source build (pyenv's: --enable-shared, no PGO) runs gfrpc's brick 1.5x slower per request:
# see "Performance notes" in docs/ARCHITECTURE.md.
PY      ?= $(or $(shell for p in /usr/bin/python3 python3; do "$$p" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo "$$p"; break; }; done),python3)
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: test demo venv system-deps lint typecheck layers unit interop clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# Real GlusterFS and fio for the interop tests (only as root; apt-get update once first).
system-deps:
	@if [ "$$(id -u)" = 0 ] && { ! command -v glusterd >/dev/null || ! command -v glusterfs >/dev/null || ! command -v fio >/dev/null; }; then \
	  echo "installing glusterfs-server glusterfs-client fio"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq glusterfs-server glusterfs-client fio >/dev/null; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q -m "not interop"

interop: $(STAMP) system-deps
	tools/in-netns $(BIN)/pytest -q -m interop

# pytest runs in a private network namespace when root (tools/in-netns): a GlusterFS that the
# machine itself runs on port 24007 is neither in the way nor touched.
test: $(STAMP) system-deps
	tools/in-netns $(BIN)/pytest -q
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

DEMO_ARGS ?=
demo: $(STAMP) system-deps
	$(BIN)/gfrpc bench $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
