"""The layering rule (docs/ARCHITECTURE.md, .importlinter) holds, and lint-imports would see
it broken: a bad import added to a copy of the packages breaks the contract it should."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("opsplatform", "billing", "sla", "importers", "migrations")


def lint_imports(*args: str, cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    # wide enough that rich does not wrap a contract's name
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_packages_keep_every_contract():
    run = lint_imports(cwd=ROOT, pythonpath=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 broken." in run.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "shown"),
    [
        pytest.param(
            "opsplatform/money.py",
            "import flask",
            "Only the entrypoints import a framework",
            "opsplatform.money -> flask",
            id="framework-in-core",
        ),
        pytest.param(
            "opsplatform/periods.py",
            "import billing.rules",
            "The core imports no domain package",
            "opsplatform.periods -> billing.rules",
            id="domain-in-core",
        ),
        pytest.param(
            "billing/models.py",
            "import billing.close",
            "No import cycles",
            ".models -> .close",
            id="cycle",
        ),
    ],
)
def test_a_bad_import_breaks_its_contract(tmp_path, module, line, contract, shown):
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tree / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates"),
        )
    with (tree / module).open("a") as source:
        source.write(f"\n{line}\n")
    run = lint_imports(str(ROOT / ".importlinter"), cwd=tmp_path, pythonpath=tree)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{contract} BROKEN" in run.stdout
    assert shown in run.stdout
