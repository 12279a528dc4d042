# Two entry points for a fresh machine (python3, pip, make, git): `make demo` and `make test`.
# Both create and fill their own virtual environment in .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := test,prefect,mlflow,bench
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

# The main job on the embedded default (a local directory index).
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The whole test suite: lint, types, then every test (real S3 servers started by fixtures).
test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench plugin-packages examples scripts
	$(BIN)/mypy src

pytest: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache
