# Two commands a newcomer needs: `make run` (set up and start the app) and
# `make test` (set up and run the whole suite). Only Python 3.10-3.12 and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; (3, 10) <= v <= (3, 12) or sys.exit("Retexture needs Python 3.10, 3.11 or 3.12 but $(PYTHON) is %d.%d: install one of those and run again with PYTHON=python3.12 (for example)." % v)'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# mediapipe pulls opencv-contrib-python beside opencv-python-headless; both own cv2/.
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
	rm -rf $(VENV) build *.egg-info
