# PulseGuard: `make run` starts everything on SQLite; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# Processes the suite runs on (pytest-xdist); TEST_WORKERS=0 runs it in this one.
TEST_WORKERS ?= 2

.PHONY: install migrate run test lint superuser clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bin/run

test: install
	$(PY) -m pytest -n $(TEST_WORKERS)

lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# With no terminal (CI, docker exec without -t): DJANGO_SUPERUSER_USERNAME=admin
# DJANGO_SUPERUSER_EMAIL=admin@example.com DJANGO_SUPERUSER_PASSWORD=… make superuser ARGS=--noinput
superuser: migrate
	@test -t 0 || case "$(ARGS)" in *--noinput*) ;; *) echo "No terminal: set DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD and run 'make superuser ARGS=--noinput'"; exit 2;; esac
	$(PY) manage.py createsuperuser $(ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
