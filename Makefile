# One venv (.venv, Python 3.11) synced from the fully pinned lock requirements.txt with uv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
STAMP := $(VENV)/.lock-$(shell sha256sum requirements.txt | cut -c1-16)-pyc
LOCAL := $(CURDIR)/.local
export ML_DATA_ROOT ?= $(LOCAL)/data
export ML_ARTIFACT_ROOT ?= $(LOCAL)/artifacts
export ML_SERVING_ROOT ?= $(LOCAL)/serving
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore::FutureWarning

# The pipeline `make demo` / `make demo-cli` run, and its spans (ids of its span.cadence):
# e.g. `make demo DEMO_PIPELINE=weather DEMO_FROM=2013-01 DEMO_TO=2013-06`.
DEMO_PIPELINE ?= flights
DEMO_FROM ?= 2013-01-01
DEMO_TO ?= 2013-01-14

# Python sources that ruff checks and formats (the type checker's list is in pyproject.toml).
LINT_PATHS := ml dags plugins tests bench scripts

.PHONY: setup test test-fast lint hooks demo demo-cli airflow lock bench year clean browser-test docs docs-serve

setup: $(STAMP)

$(STAMP): requirements.txt
	@python3 -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
	@test -x $(PY) || $(UV) venv --python 3.11 $(VENV)
	# --compile-bytecode: .pyc for every installed module, once (~25 s). Without them a machine
	# with PYTHONDONTWRITEBYTECODE set (or a read-only venv) compiles Airflow, pydantic, Alembic
	# & co. from source in every process: every task, CLI call and test.
	$(UV) pip sync --compile-bytecode --python $(PY) requirements.txt
	@rm -f $(VENV)/.lock-* && touch $@

lock:
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11
	$(MAKE) docker-locks

# Every quality gate, as CI and the pre-commit hooks run them: lint rules, formatting, types.
lint: setup
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy
	$(MAKE) --no-print-directory docs

# The documentation site (mkdocs.yml): strict (a broken link or a page left out of the nav
# fails), offline, into .local/site/ (open .local/site/index.html); the CLI and pipeline.yaml
# references are generated from the code (scripts/docs_hooks.py).
docs: setup
	$(PY) -m mkdocs build --strict --quiet

docs-serve: setup
	$(PY) -m mkdocs serve --strict

# Every test, one pytest-xdist worker per core by default (a test file stays on one worker, so
# its module fixtures are built once; each worker has its own Airflow home and DB).
TEST_WORKERS ?= 2
test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# The edit-test loop (about 45 s over both cores): tests/unit/, the tests that need neither
# TensorFlow training nor the Airflow scheduler (config, spans, atomic writes, results store,
# summaries, serving labels, the ML view's pages from fixtures, DAG shapes, the docs).
test-fast: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "unit and not slow and not docker" tests/unit

# The same gates before every commit (.pre-commit-config.yaml; hooks run the venv's tools).
hooks: setup
	$(PY) -m pre_commit install

# Pipeline CLI steps on the demo spans (no Airflow).
demo-cli: setup
	$(PY) -m ml landing --pipeline $(DEMO_PIPELINE) --from $(DEMO_FROM) --to $(DEMO_TO) --serving-log
	$(PY) -m ml ingest-spans --pipeline $(DEMO_PIPELINE) --from $(DEMO_FROM) --to $(DEMO_TO)

# The whole pipeline through the real Airflow 3 scheduler (scripts/demo.sh): backfill of the
# ingest spans, one train run, summary. Processes it starts are stopped when it ends.
demo: setup
	DEMO_PIPELINE=$(DEMO_PIPELINE) DEMO_FROM=$(DEMO_FROM) DEMO_TO=$(DEMO_TO) bash scripts/demo.sh

# Airflow UI on http://localhost:8080 (airflow standalone) over the same state as `make demo`.
# Login required (scripts/airflow_login.sh): user admin, password ML_AIRFLOW_ADMIN_PASSWORD or
# the generated one (the path is printed). The task-log servers (:8793, :8794) listen on 127.0.0.1
# only (plugins/airflow_local_settings.py).
airflow: setup
	@bash scripts/airflow_setup.sh
	@source scripts/airflow_env.sh && source scripts/airflow_login.sh && \
	  ML_LOG_SERVER_HOST=127.0.0.1 exec airflow standalone

# The ML view in headless Chromium (Selenium) against the real API server: installs Debian's
# chromium + chromium-driver when no Chromium/Chrome + chromedriver is there (as root);
# screenshots go to .local/screenshots.
browser-test: setup
	@{ command -v chromium || command -v google-chrome; } >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "apt-get install chromium chromium-driver"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	ML_BROWSER_TEST=1 ML_SCREENSHOTS=$(LOCAL)/screenshots $(PY) -m pytest tests/e2e/test_browser.py -q -s
	@echo "screenshots: $(LOCAL)/screenshots"

# Five benches at full size (each bench/*.py's docstring says what and how long). Every bench has
# --smoke (tiny sizes, same code, exit 0 whatever the targets): tests/e2e/test_bench_smoke.py runs
# each so in `make test`.
bench: setup
	$(PY) bench/stats_throughput.py
	$(PY) bench/dag_parse.py
	$(PY) bench/train_first_fit.py
	$(PY) bench/results_read.py
	$(PY) bench/backfill.py

# A year under Airflow, end to end (bench/year_under_airflow.py; ~11 min on 2 cores): a backfill of
# 2013's flights spans through the scheduler, then one train run on a 90-span window; prints the
# total, the seconds per span and the train run's task times. Private Airflow home, port and
# roots (.local/bench/year_under_airflow/). A short check: make year YEAR_ARGS="--to 2013-01-20 --window 14"
YEAR_ARGS ?=
year: setup
	$(PY) bench/year_under_airflow.py $(YEAR_ARGS)

clean:
	rm -rf $(LOCAL)

# ---- containers (docs/how-to/compose.md)
# Trainer image base: the TF GPU image by default; where no registry is reachable use the
# registry-free local base:  make base-image && make trainer-image BASE_IMAGE=$(LOCAL_BASE_IMAGE)
BASE_IMAGE ?= tensorflow/tensorflow:2.16.2-gpu
LOCAL_BASE_IMAGE := local/python:3.11-bookworm
.PHONY: base-image trainer-image docker-locks compose-e2e

base-image:
	docker/base-image.sh $(LOCAL_BASE_IMAGE)

trainer-image:
	BASE_IMAGE=$(BASE_IMAGE) docker/build-trainer-image.sh

# docker-compose.yml really started, end to end on Celery workers, on locally built images
# (tests/e2e/test_compose_stack.py, probe programs in tests/e2e/compose_programs/; after `make base-image trainer-image BASE_IMAGE=$(LOCAL_BASE_IMAGE)`).
compose-e2e: setup
	ML_COMPOSE_E2E=1 BASE_IMAGE=$(LOCAL_BASE_IMAGE) $(PY) -m pytest -x -s -q tests/e2e/test_compose_stack.py

# Sub-locks of requirements.txt (same versions) for the trainer and the compose Airflow image.
docker-locks:
	$(UV) pip compile docker/trainer-requirements.in -c requirements.txt \
	  -o docker/trainer-requirements.txt --python-version 3.11
	$(UV) pip compile docker/airflow-requirements.in -c requirements.txt \
	  -o docker/airflow-requirements.txt --python-version 3.11
