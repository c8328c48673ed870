# Two commands on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

CSS := opsplatform/static/govuk.css

.PHONY: install run test unit service lint format bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# GOV.UK Frontend from the npm registry, compiled with Arial; neither is committed.
$(CSS): frontend/app.scss frontend/package.json
	npm install --silent --no-audit --no-fund --prefix frontend
	frontend/node_modules/.bin/sass --quiet --load-path=frontend/node_modules --style=compressed --no-source-map frontend/app.scss $@

install: $(BIN)/.installed $(CSS)

run: install
	$(BIN)/opsplatform db upgrade
	$(BIN)/opsplatform demo --if-empty
	$(BIN)/opsplatform serve --host $(HOST) --port $(PORT)

# ruff, the layering contract (docs/ARCHITECTURE.md) and the type checker
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The pure logic alone (periods, money, rules, engine, measures, layers): seconds.
unit: install
	$(BIN)/pytest tests/unit -q

# The business actions (close, issue, adjust, queries, assessment) called on a seeded database.
service: install
	$(BIN)/pytest tests/service -q

# The whole suite twice: on SQLite, then on a throwaway PostgreSQL server.
test: lint
	$(BIN)/pytest
	.ci/with-postgres $(BIN)/pytest -q -p no:cacheprovider

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Every benchmark in bench/ at sizes that take a few minutes in all; not part of `make test`.
# bench.dashboard needs wrk (apt-get install wrk).
# Results are recorded in docs/PERFORMANCE.md. import_usage runs under a throwaway
# PostgreSQL server, so that it measures on SQLite and on PostgreSQL.
bench: $(BIN)/.installed
	.ci/with-postgres env PYTHONPATH=. $(BIN)/python -m bench.import_usage 100000
	PYTHONPATH=. $(BIN)/python -m bench.close_month 200000
	PYTHONPATH=. $(BIN)/python -m bench.import_xlsx 100000
	PYTHONPATH=. $(BIN)/python -m bench.api_usage 100000
	PYTHONPATH=. $(BIN)/python -m bench.export_statement 100000
	PYTHONPATH=. $(BIN)/python -m bench.dashboard 100000
