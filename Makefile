# Two entry points for a fresh machine (python3, pip, make, git): `make demo` and `make test`.
# Both create and fill their own virtual environment in .venv; `make test` also builds
# .venv-prefect1 (Prefect 1, which cannot share a venv with Prefect 3) for the Prefect 1 tests.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := test,prefect,mlflow,bench
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Prefect 1 (Dioptra's seeds' workflow engine) and this project without the prefect extra.
PREFECT1_VENV := .venv-prefect1
PREFECT1_STAMP := $(PREFECT1_VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint docs browser pytest prefect1-venv bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-*
	touch $@

$(PREFECT1_STAMP): pyproject.toml
	test -x $(PREFECT1_VENV)/bin/python || $(PYTHON) -m venv $(PREFECT1_VENV)
	$(PREFECT1_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PREFECT1_VENV)/bin/python -m pip install --quiet -e '.[prefect1]' 'pytest>=8' 'pytest-timeout>=2.3'
	rm -f $(PREFECT1_VENV)/.installed-*
	touch $@

prefect1-venv: $(PREFECT1_STAMP)

# The main job on the embedded default (a local directory index).
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The whole test suite: lint, types, then every test (real S3 servers started by fixtures);
# tests/registry/test_prefect1_suites.py runs the Prefect 1 suites in .venv-prefect1.
test: lint docs pytest

# The fast subset, for working between commits: every test but those marked slow
# (tests/slowtests.py lists them), without lint and docs; under two minutes on two idle cores.
test-fast: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -p no:cacheprovider -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench plugin-packages examples scripts
	$(BIN)/mypy
	for conftest in $(filter-out tests/vendor/%,$(wildcard tests/*/conftest.py)); do $(BIN)/mypy $$conftest || exit 1; done

# The documentation site (docs/, mkdocs.yml), every warning an error: a reference that no
# longer matches the code, a broken link or a page missing from the nav fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/docs

# Headless Chromium for the task catalogue's browser tests (tests/site): Debian's chromium and
# chromium-driver, installed as root (or through sudo) when missing.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; \
	fi

pytest: $(STAMP) $(PREFECT1_STAMP) browser
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(PREFECT1_VENV) dist build .mypy_cache .ruff_cache .pytest_cache
