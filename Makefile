# Tandem: `make run` serves the app on SQLite with a demo account; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PORT ?= 5000
PYTHON ?= python3

.PHONY: run test test-browser lint security format clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	TANDEM_ENV=development $(FLASK) db upgrade
	TANDEM_ENV=development $(FLASK) seed-demo --if-empty
	@echo "Tandem is running at http://127.0.0.1:$(PORT)/  (Ctrl+C to stop)"
	TANDEM_ENV=development $(FLASK) run --host 127.0.0.1 --port $(PORT)

# SQLite always; the same suite again on PostgreSQL when TEST_DATABASE_URL is set.
test: $(VENV)/.dev-installed
	@mkdir -p build
	$(PY) -m pytest --junitxml=build/pytest-sqlite.xml
	@if [ -n "$(TEST_DATABASE_URL)" ]; then \
		echo "== the same suite on PostgreSQL =="; \
		TANDEM_TEST_DB="$(TEST_DATABASE_URL)" $(PY) -m pytest --junitxml=build/pytest-postgresql.xml || exit $$?; \
	fi

# Only the browser journeys (they are part of `make test` too): Debian's Chromium drives the
# real app; each step's screenshot is kept in build/screenshots/.
test-browser: $(VENV)/.dev-installed
	@mkdir -p build
	$(PY) -m pytest -m browser tests/browser --junitxml=build/pytest-browser.xml

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Static security checks: any finding of medium or high severity fails (mark a false
# positive in the code with "# nosec BXXX -- why it is safe").
security: $(VENV)/.dev-installed
	$(VENV)/bin/bandit -c pyproject.toml -r clinic instruments -ll

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) build instance
