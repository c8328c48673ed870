# Two commands on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

CSS := opsplatform/static/govuk.css

.PHONY: install install-test run test unit service lint format bench

# What running needs: the package and its dependencies, no test tools.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# What testing needs besides: pytest, ruff, mypy, selenium... (the `test` extras).
$(BIN)/.test-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# GOV.UK Frontend from the npm registry, compiled with Arial; the compiled stylesheet is not
# committed, the lockfile is, so that every install builds the same styles (`npm ci`).
$(CSS): frontend/app.scss frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --silent --no-audit --no-fund
	frontend/node_modules/.bin/sass --quiet --load-path=frontend/node_modules --style=compressed --no-source-map frontend/app.scss $@

install: $(BIN)/.installed $(CSS)

install-test: $(BIN)/.test-installed $(CSS)

run: install
	$(BIN)/opsplatform db upgrade
	$(BIN)/opsplatform demo --if-empty
	$(BIN)/opsplatform serve --host $(HOST) --port $(PORT)

# ruff, the layering contract (docs/ARCHITECTURE.md) and the type checker
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The pure logic alone (periods, money, rules, engine, measures, layers): seconds.
unit: install-test
	$(BIN)/pytest tests/unit -q

# The business actions (close, issue, adjust, queries, assessment) called on a seeded database.
service: install-test
	$(BIN)/pytest tests/service -q

# The whole suite twice, side by side so that it takes half the time on two cores: on
# SQLite, and on a throwaway PostgreSQL server, whose report (kept in postgresql-tests.log)
# follows the SQLite one. Fails if either fails.
test: lint
	@.ci/with-postgres $(BIN)/pytest -q -p no:cacheprovider > postgresql-tests.log 2>&1 & \
	postgres=$$!; \
	$(BIN)/pytest; sqlite=$$?; \
	wait $$postgres; on_postgres=$$?; \
	echo "== the same tests on PostgreSQL (postgresql-tests.log) =="; \
	cat postgresql-tests.log; \
	test $$sqlite -eq 0 && test $$on_postgres -eq 0

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every benchmark in bench/ at sizes that take a few minutes in all; not part of `make test`.
# bench.dashboard needs wrk (apt-get install wrk).
# Results are recorded in docs/PERFORMANCE.md. import_usage runs under a throwaway
# PostgreSQL server, so that it measures on SQLite and on PostgreSQL.
bench: $(BIN)/.test-installed
	.ci/with-postgres env PYTHONPATH=. $(BIN)/python -m bench.import_usage 100000
	PYTHONPATH=. $(BIN)/python -m bench.close_month 200000
	PYTHONPATH=. $(BIN)/python -m bench.import_xlsx 100000
	PYTHONPATH=. $(BIN)/python -m bench.api_usage 100000
	PYTHONPATH=. $(BIN)/python -m bench.export_statement 100000
	PYTHONPATH=. $(BIN)/python -m bench.dashboard 100000
	.ci/with-postgres env PYTHONPATH=. $(BIN)/python -m bench.cost_import 200000
	PYTHONPATH=. $(BIN)/python -m bench.service_hours 200000
