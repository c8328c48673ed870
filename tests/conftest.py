"""Fixtures: a migrated SQLite database per test, the app, and the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import migrations
from opsplatform.db import Database


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """One database migrated with the real Alembic migrations, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def instance(tmp_path, migrated_template, monkeypatch) -> Path:
    """An instance folder holding a freshly migrated database, set in the environment."""
    folder = tmp_path / "instance"
    folder.mkdir()
    shutil.copy(migrated_template, folder / "opsplatform.sqlite3")
    monkeypatch.setenv("OPSPLATFORM_INSTANCE_PATH", str(folder))
    monkeypatch.setenv("OPSPLATFORM_DATABASE_URL", f"sqlite:///{folder / 'opsplatform.sqlite3'}")
    return folder


@pytest.fixture
def database(instance) -> Database:
    db = Database(os.environ["OPSPLATFORM_DATABASE_URL"])
    yield db
    db.engine.dispose()


class Cli:
    """Runs `opsplatform` commands in-process (fast) and checks the exit code."""

    def __init__(self) -> None:
        from opsplatform.cli import main

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
