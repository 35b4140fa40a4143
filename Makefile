# Preflight — every set-up step a fresh machine needs lives here.
#   make run    create .venv, install, migrate, load templates and demo data, serve on :8000
#   make test   create .venv, install, then ruff, the missing-migration check and the whole test
#               suite (pytest builds its own test database, so nothing is migrated under var/)

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000

# A Python >= 3.12: python3.13, python3.12, python3, then pyenv's installs.
PYTHON ?= $(shell for c in python3.13 python3.12 python3 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$c; break; }; done)

.PHONY: run test install migrate seed lint format worker beat bench clean check-python browsers

check-python:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Preflight needs Python 3.12 or newer (python3.13, python3.12 or a pyenv 3.12+ install); none was found." >&2; \
		exit 1; \
	fi

$(BIN)/activate: | check-python
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements/base.txt requirements/prod.txt requirements/dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install --quiet -r requirements/dev.txt 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py load_templates
	$(PY) manage.py seed_demo

run: seed
	@echo "Preflight on http://$(HOST):$(PORT)/ — demo logins above (password: preflight-demo)."
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install
	$(BIN)/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

worker: migrate
	$(BIN)/celery -A portal worker --loglevel=info

beat: migrate
	$(BIN)/celery -A portal beat --loglevel=info --schedule var/celerybeat-schedule

bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/*.sqlite3* var/static .pytest_cache
