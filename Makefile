# The README's two commands are `make run` and `make test`; both set up what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: setup system run test lint bench load scaleout screenshot

# The venv is rebuilt when pyproject.toml changes. torch is pinned to 2.13.0 in pyproject.toml.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# Graphviz (exports) and Chromium (browser tests) come from the system's package manager.
system:
	bash .ci/system-packages

# The launcher imports torch before the first visitor (explorer/ui/serve.py).
run: setup
	$(PY) -m explorer.ui.serve --server.port $(PORT)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: setup system lint
	$(PY) -m pytest

bench: setup
	$(PY) bench/bench_core.py
	$(PY) bench/bench_app.py

# Sessions speaking Streamlit's protocol against a fresh server; scaleout needs nginx (apt).
load: setup
	$(PY) bench/load.py --launcher

scaleout: setup
	$(PY) bench/scaleout.py

screenshot: setup system
	$(PY) assets/make_screenshot.py
