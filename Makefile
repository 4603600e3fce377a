# Two commands do all set-up on a fresh machine with Python 3.11:
#   make run   - virtualenv, install, migrate, demo merchant + logins, server + Celery worker
#   make test  - install test requirements, run the whole suite (and print the 25 slowest tests)
#   make test-fast - the same without the tests marked `slow` (processes, browsers, > ~2 s)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: lint format run test test-fast bytecode install install-dev migrate demo messages protocol-doc webhooks-doc bench bench-quick clean

# uv installs the pinned requirements and compiles their bytecode, as pip did, in about half
# pip's time (docs/testing.md, "5 December 2026, the fourth"). PIP_INSTALL='$(BIN)/pip install'
# installs with pip instead (README, "Quick start": package mirrors). uv itself is installed
# with pip when a stamp below is rebuilt, so an up-to-date virtualenv needs no network.
UV_VERSION  := 0.13.9
PIP_INSTALL ?= $(BIN)/uv pip install --python $(BIN)/python --compile-bytecode
UV_SETUP     = $(if $(findstring /uv ,$(PIP_INSTALL)),$(BIN)/python -m pip install --quiet uv==$(UV_VERSION))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(UV_SETUP)
	$(PIP_INSTALL) --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(UV_SETUP)
	$(PIP_INSTALL) --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py kefu_demo --base-url http://$(HOST):$(PORT)

run: demo
	WIDGET_DEMO_PAGE=$${WIDGET_DEMO_PAGE:-true} $(BIN)/python manage.py kefu_serve --host $(HOST) --port $(PORT)

# The suite runs in TEST_WORKERS parallel processes (pytest-xdist, a test file per process at a
# time, the heaviest files first). 3 on CI's two cores: most of a test's time is waiting
# (sockets, processes, browsers), so a third worker uses what two leave idle. TEST_WORKERS=0
# runs it in this one process, for pdb (docs/testing.md, "Parallel").
TEST_WORKERS ?= 3
test: install-dev bytecode
	$(BIN)/python -m pytest --durations=25 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: install-dev bytecode
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The project's own bytecode, compiled once before the suite (the installer compiles the
# libraries'): where PYTHONDONTWRITEBYTECODE is set Python never writes it, and each of the
# suite's ~100 processes (daphne, Celery workers, pytest's) compiled every module it imported
# again, 0.2 s of CPU per daphne start (docs/testing.md, "5 December 2026, the third").
PACKAGES := $(patsubst %/__init__.py,%,$(wildcard */__init__.py))
bytecode: install-dev
	$(BIN)/python -m compileall -q -j 0 $(PACKAGES) manage.py

# Regenerate docs/protocol.md from conversations/protocol/ (a test checks they agree).
protocol-doc: install
	$(BIN)/python manage.py protocol_doc --write

# Regenerate docs/webhook-events.md from webhooks/schema.py (a test checks they agree).
webhooks-doc: install
	$(BIN)/python manage.py webhooks_doc --write

# Translations: compiled .mo files are committed so a fresh machine needs no gettext.
# makemessages needs gettext; Chinese text lives in locale/zh_hans.py.
messages: install-dev
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=var --ignore=tests
	$(BIN)/python manage.py makemessages -d djangojs -l zh_Hans -l en --ignore=.venv --ignore=var --ignore=tests
	$(BIN)/python locale/translate.py

clean:
	rm -rf $(VENV) var

# Benchmark suite of the chat path (bench/suite.py): daphne per core + Celery worker + MariaDB +
# Redis (DATABASE_URL / REDIS_URL from the environment or .env; without them it starts private
# throwaway mariadbd + redis-server from the machine's packages, and stops loudly if there are none),
# the raw websockets relay as the baseline, a 1,000,000-message data set in database kefu_bench.
# `bench` (<= 10 min) writes its tables into docs/performance.md; `bench-quick` (<= 60 s) only prints.
bench: migrate install-dev
	$(BIN)/python bench/suite.py --write docs/performance.md

bench-quick: migrate install-dev
	$(BIN)/python bench/suite.py --quick

# Lint and format check (ruff, configured in pyproject.toml); CI runs `make lint`.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Apply the formatter and the safe lint fixes.
format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
