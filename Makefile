# Every target creates .venv when it is missing, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test fuzz fidelity lint format bench bench-quick docs docs-serve clean

$(STAMP): pyproject.toml hotfunc-follow.pth
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The browser tests drive Debian's Chromium; it is installed when this
# machine lets us (root, apt), and they skip with a message where it is not.
CHROMIUM_STAMP := .chromium-tried

$(CHROMIUM_STAMP):
	-@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ timeout 600 apt-get install -y -q chromium >/dev/null 2>&1 || \
		  { timeout 300 apt-get update -q >/dev/null 2>&1 && \
		    timeout 600 apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "Chromium could not be installed here: the browser tests will skip"
	@touch $(CHROMIUM_STAMP)

test: $(STAMP) $(CHROMIUM_STAMP)
	$(BIN)/python -m pytest

# The model-based test with thousands of random edit sequences instead of CI's
# few hundred, and the torn-save stress test for a minute instead of 2 s.
fuzz: $(STAMP)
	HOTFUNC_FUZZ_EXAMPLES=5000 HOTFUNC_STRESS_SECONDS=60 $(BIN)/python -m pytest \
		tests/test_model.py tests/test_reliability.py -k "model or chunked" -o timeout=1800

# The fidelity oracle on code written by others: consecutive released
# versions of well-known packages, replayed as saves into one process and
# compared with a fresh import after each (CI runs a small one of them).
fidelity: $(STAMP)
	$(BIN)/python bench/fidelity.py --json bench/fidelity.json

# The benchmarks get an environment of their own, with the peers they compare
# against; a peer that fails to install is skipped by the run.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dask,ray,pytest]' matplotlib
	-$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check jurigged reloading ipython
	-$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pytest-watcher pytest-testmon
	-$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check flask django django-browser-reload playwright
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py
	$(BENCH_VENV)/bin/python bench/scale.py
	$(BENCH_VENV)/bin/python bench/cascade.py
	$(BENCH_VENV)/bin/python bench/processes.py --json bench/processes.json
	$(BENCH_VENV)/bin/python bench/testloop.py --json bench/testloop.json
	$(BENCH_VENV)/bin/python bench/realsuite.py --json bench/realsuite.json
	$(BENCH_VENV)/bin/python bench/realsuite.py --project click --json bench/realsuite-click.json
	-$(BENCH_VENV)/bin/python bench/browser.py --json bench/browser.json
	$(BENCH_VENV)/bin/python bench/plot.py

bench-quick: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py --quick

# The docs site (mkdocs, material theme, API pages from the docstrings), built
# in strict mode: a broken link or reference fails the build.
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed

$(DOCS_STAMP): pyproject.toml
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check mkdocs-material 'mkdocstrings[python]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

docs-serve: $(DOCS_STAMP)
	$(DOCS_VENV)/bin/mkdocs serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache site
