# `make demo` and `make test` are the two commands a new user runs; both install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt

.PHONY: install test test-fast demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.py requirements/constraints.txt requirements/fairseq.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c $(CONSTRAINTS) torch torchvision
	$(PIP) install --no-deps -r requirements/fairseq.txt
	$(PIP) install -c $(CONSTRAINTS) -e ".[test]"
	# fastBPE (an optional BPE of fairseq's registry, tested in CI) builds against the cython installed above
	$(PIP) install -c $(CONSTRAINTS) --no-build-isolation fastbpe
	touch $@

# Every test, in one worker process per core (the tests run single-threaded; a file's tests stay together).
test: install
	$(PY) -m pytest -n auto --dist loadfile tests

# The in-process tests only (no command, training run or worker process): about half a minute on 2 cores.
test-fast: install
	$(PY) -m pytest tests -m "not slow"

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_work
