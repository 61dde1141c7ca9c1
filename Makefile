# Two commands a newcomer needs: `make run` (set up and start the app) and
# `make test` (set up and run the whole suite). Needs Python 3.10-3.14 and make.
# Without PYTHON=..., the newest supported Python on the PATH is used.
SUPPORTED := 3.14 3.13 3.12 3.11 3.10
ifeq ($(origin PYTHON), undefined)
PYTHON := $(or $(shell for v in $(SUPPORTED); do python$$v -c '' >/dev/null 2>&1 && { echo python$$v; break; }; done),python3)
endif
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; (3, 10) <= v <= (3, 14) or sys.exit("Retexture needs Python 3.10 to 3.14 but $(PYTHON) is %d.%d: install one of those and run again with PYTHON=python3.13 (for example)." % v)'
	@echo "Setting up $(VENV) with $(PYTHON) ($$($(PYTHON) -c 'import sys; print(sys.version.split()[0])'))."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# mediapipe pulls opencv-contrib-python beside opencv-python-headless; both own cv2/.
	@# Where the contrib build cannot load (no libGL), the headless one is put back.
	@$(PY) -c 'import cv2' 2>/dev/null || $(PY) -m pip install --quiet --force-reinstall --no-deps \
		"opencv-python-headless==$$($(PY) -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))')"
	@$(PY) -c 'import cv2, mediapipe, streamlit' || (echo "The environment in $(VENV) is broken: run 'make clean' and try again."; exit 1)
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run webapp/app.py

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_methods.py

clean:
	rm -rf $(VENV) .venv-3.* build *.egg-info
