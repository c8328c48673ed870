"""Fixtures: a migrated SQLite database per test, the app, and the command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

import migrations
from opsplatform.db import Database


class Databases:
    """Fresh migrated databases for tests: SQLite files by default, or databases on the
    PostgreSQL server named by OPSPLATFORM_TEST_POSTGRES (a URL without a database name),
    so that the same tests run on both. A copy is made from a template database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server = os.environ.get("OPSPLATFORM_TEST_POSTGRES", "").rstrip("/")
        self.count = 0

    def new(self, template: str | None = None) -> str:
        """A new database's URL: a copy of `template` (a URL from here), or freshly migrated."""
        self.count += 1
        name = f"test_{os.getpid()}_{self.count}"
        if not self.server:
            path = self.folder / f"{name}.sqlite3"
            if template is None:
                migrations.upgrade(f"sqlite:///{path}")
            else:
                with (
                    sqlite3.connect(template.removeprefix("sqlite:///")) as source,
                    sqlite3.connect(path) as target,
                ):
                    source.backup(target)  # the backup API sees what is still in the WAL
            return f"sqlite:///{path}"
        admin = create_engine(f"{self.server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            if template is None:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                source = template.rsplit("/", 1)[1]
                connection.execute(  # a template may have no other connections
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": source},
                )
                connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        admin.dispose()
        url = f"{self.server}/{name}"
        if template is None:
            migrations.upgrade(url)
        return url


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> Databases:
    return Databases(tmp_path_factory.mktemp("databases"))


@pytest.fixture(scope="session")
def migrated_template(databases) -> str:
    """One database migrated with the real Alembic migrations, copied for each test."""
    return databases.new()


@pytest.fixture
def instance(tmp_path, databases, migrated_template, monkeypatch) -> Path:
    """An instance folder and a freshly migrated database, both set in the environment."""
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setenv("OPSPLATFORM_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("OPSPLATFORM_DATABASE_URL", databases.new(template=migrated_template))
    return folder


@pytest.fixture
def database(instance) -> Database:
    db = Database(os.environ["OPSPLATFORM_DATABASE_URL"])
    yield db
    db.engine.dispose()


class Cli:
    """Runs `opsplatform` commands in-process (fast) and checks the exit code."""

    def __init__(self) -> None:
        from opsplatform.entrypoints.cli import main

        self.main = main
        self.runner = CliRunner()

    def __call__(self, *args: str, expect: int = 0):
        result = self.runner.invoke(self.main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == expect, (
            f"opsplatform {' '.join(map(str, args))} exited {result.exit_code}, wanted {expect}:\n"
            f"{result.output}{result.stderr if result.stderr_bytes else ''}"
        )
        return result

    def json(self, *args: str, expect: int = 0):
        return json.loads(self(*args, "--json", expect=expect).stdout)


@pytest.fixture
def cli(instance) -> Cli:
    return Cli()


@pytest.fixture
def installed_cli(instance):
    """Runs the real `opsplatform` console script in a subprocess, as a user would."""
    script = Path(sys.executable).parent / "opsplatform"

    def run(*args: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(script), *map(str, args)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=300,
        )
        if expect is not None:
            assert result.returncode == expect, result.stderr or result.stdout
        return result

    return run
