# Tandem: `make run` serves the app on SQLite with a demo account; `make test` runs the suite.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PORT ?= 5000
PYTHON ?= python3
# The Nu Html Checker (npm's vnu-jar, pinned in package-lock.json), run with the system's Java.
VNU_JAR := node_modules/vnu-jar/build/dist/vnu.jar

.PHONY: run test test-browser html-checker lint security format clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# --ignore-scripts: vnu-jar's install script would download a Java of its own when none is
# installed; the checker runs with the system's (Debian: apt-get install default-jre-headless).
# npm dates the files it unpacks in 1985, hence the touch.
$(VNU_JAR): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests end by putting every page they were served through the checker. Without
# npm it is not installed, and that check is skipped (in CI, where CI=1, it fails instead).
html-checker:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s --no-print-directory $(VNU_JAR); \
	else echo "npm not found: the HTML check of the browser tests will be skipped (apt-get install npm)"; fi

run: $(VENV)/.installed
	TANDEM_ENV=development $(FLASK) db upgrade
	TANDEM_ENV=development $(FLASK) seed-demo --if-empty
	@echo "Tandem is running at http://127.0.0.1:$(PORT)/  (Ctrl+C to stop)"
	TANDEM_ENV=development $(FLASK) run --host 127.0.0.1 --port $(PORT)

# SQLite always; the same suite again on PostgreSQL when TEST_DATABASE_URL is set.
test: $(VENV)/.dev-installed html-checker
	@mkdir -p build
	$(PY) -m pytest --junitxml=build/pytest-sqlite.xml
	@if [ -n "$(TEST_DATABASE_URL)" ]; then \
		echo "== the same suite on PostgreSQL =="; \
		TANDEM_TEST_DB="$(TEST_DATABASE_URL)" $(PY) -m pytest --junitxml=build/pytest-postgresql.xml || exit $$?; \
	fi

# Only the browser journeys (they are part of `make test` too): Debian's Chromium drives the
# real app; each step's screenshot is kept in build/screenshots/, each page it was served in
# build/html/, and the last test checks those pages with the Nu Html Checker.
test-browser: $(VENV)/.dev-installed html-checker
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
	rm -rf $(VENV) build instance node_modules
