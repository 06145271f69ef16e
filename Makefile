# Every target sets up .venv/ itself, so each works on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean

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

## Every test, plus ruff and mypy.
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check varmigrate tests bench
	$(BIN)/ruff format --check varmigrate tests bench

typecheck: $(STAMP)
	$(BIN)/mypy varmigrate

bench: $(STAMP)
	$(BIN)/python bench/speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
