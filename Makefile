# Every target sets up .venv/ itself, so each works on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-stress test-fast test-full test-properties-full lint typecheck bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "setting up $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/python -m pip install --upgrade pip > $(VENV)/install.log 2>&1 \
		&& $(BIN)/python -m pip install -r requirements-dev.txt -e . >> $(VENV)/install.log 2>&1 \
		|| (cat $(VENV)/install.log; exit 1)
	touch $(STAMP)

## On the bundled fixtures/demo: what varmigrate finds, the fix as a diff (nothing is written), and
## the gradient harness proving the fixed tutorial computes bit-identical gradients.
demo: $(STAMP)
	$(BIN)/python -m varmigrate check fixtures/demo/ --exit-zero
	$(BIN)/python -m varmigrate fix fixtures/demo/ --diff --exit-zero
	cd fixtures/demo && ../../$(BIN)/python -m varmigrate verify variables_and_gradients.py

# Tests run on every CPU (pytest-xdist); tests that share one run stay on one worker (xdist_group,
# with --dist loadgroup from pyproject.toml).
PYTEST := $(BIN)/python -m pytest -q -n auto

## Ruff, mypy and every test but the stress, mutation and scenario suites, with a few examples per property test
## (what CI runs first).
## mypy (single-threaded) checks alongside the tests rather than before them, so that its cold start on
## a fresh clone uses the core pytest leaves free; its report follows the tests', and either failing fails.
test: $(STAMP) lint
	$(BIN)/mypy varmigrate > $(VENV)/mypy.log 2>&1 & mypy=$$!; \
	$(PYTEST) -m "not stress and not mutation and not scenario"; tests=$$?; \
	wait $$mypy; typed=$$?; cat $(VENV)/mypy.log; \
	test $$tests -eq 0 && test $$typed -eq 0 || { echo "make test: pytest exit $$tests, mypy exit $$typed"; exit 1; }

## The stress suite (tests/stress/: hostile inputs, signals, races), verify's mutation suite and its
## scenarios on legacy training scripts, which CI
## runs after `test`.
test-stress: $(STAMP)
	$(PYTEST) -m "stress or mutation or scenario"

## For the edit-test loop: no test that starts a program (torch, the CLI, pip, pre-commit), none of the
## sampled equivalence searches (marker search: make test runs them); no ruff or mypy.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow and not precommit and not search"

## Ruff, mypy and every test, with the full Hypothesis search (HYPOTHESIS_PROFILE=full).
test-full: $(STAMP) lint typecheck
	HYPOTHESIS_PROFILE=full $(PYTEST)

## Only the property tests and sampled searches, with the full search: what `test-full` adds to `test`
## (CI runs it).
test-properties-full: $(STAMP)
	HYPOTHESIS_PROFILE=full $(PYTEST) -m "hypothesis or search"

lint: $(STAMP)
	$(BIN)/ruff check varmigrate tests bench
	$(BIN)/ruff format --check varmigrate tests bench

typecheck: $(STAMP)
	$(BIN)/mypy varmigrate

bench: $(STAMP)
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
