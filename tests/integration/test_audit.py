"""The audit log records every change with who, when and what, and nothing that was refused."""

from __future__ import annotations

from sqlalchemy import select

from importers.usage import import_file, post_usage, revert_batch
from opsplatform.models import AuditEvent
from tests.support import small_centre, write_book, write_csv


def test_changes_are_audited_and_refusals_are_not(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    good = [
        {"event_id": "e1", "client": "WYR", "service": "PAY", "date": "2026-05-04", "quantity": 3}
    ]
    cli("usage", "import", write_csv(tmp_path / "good.csv", good))
    bad = [{"event_id": "e2", "client": "NOPE", "service": "PAY", "date": "2026-05-04"}]
    cli("usage", "import", write_csv(tmp_path / "bad.csv", bad), expect=1)
    cli("billing", "close", "2026-05")
    cli("billing", "adjust", "WYR", "PAY", "-5.00", "--reason", "goodwill")

    entries = cli.json("audit", "list")

    actions = [e["action"] for e in entries]
    assert actions == ["billing adjust", "billing close", "usage import", "setup load"]
    assert all(e["actor"] and e["at"] for e in entries)
    imported = entries[2]
    assert imported["subject"] == "good.csv"
    assert imported["detail"]["inserted"] == 1
    assert entries[0]["detail"]["amount"] == "-5.00"
    assert "TSS-202605-WYR" in entries[1]["detail"]["statements"]


def test_a_dry_run_leaves_no_audit_entry(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()), "--dry-run")
    assert cli.json("audit", "list") == []


def test_every_change_to_users_and_tokens_is_audited_by_whoever_made_it(cli, tmp_path):
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    cli("users", "create", "Clerk@Wyre.gov.uk", "--role", "client", "--client", "WYR")
    cli("users", "create", "nobody@wyre.gov.uk", "--role", "client", expect=1)  # refused
    cli("users", "reset", "clerk@wyre.gov.uk")
    cli("users", "role", "clerk@wyre.gov.uk", "--role", "auditor")
    cli("users", "disable", "clerk@wyre.gov.uk")
    cli("users", "enable", "clerk@wyre.gov.uk")
    token = cli.json("tokens", "create", "clerk@wyre.gov.uk")["id"]
    cli("tokens", "revoke", str(token))

    entries = cli.json("audit", "list")[::-1][1:]  # oldest first, after the setup load

    assert [(e["action"], e["subject"]) for e in entries] == [
        ("user create", "clerk@wyre.gov.uk"),
        ("user reset", "clerk@wyre.gov.uk"),
        ("user role", "clerk@wyre.gov.uk"),
        ("user disable", "clerk@wyre.gov.uk"),
        ("user enable", "clerk@wyre.gov.uk"),
        ("token create", "clerk@wyre.gov.uk"),
        ("token revoke", f"token {token}"),
    ]
    assert entries[0]["detail"] == {"role": "client", "client": "WYR"}
    assert entries[2]["detail"] == {"role": "auditor", "client": None}
    assert all(e["actor"].endswith("(command line)") for e in entries)


def test_a_kpi_import_is_audited_with_its_counts_and_its_dry_run_is_not(cli, tmp_path):
    sheets = small_centre()
    sheets["KPIs"] = [
        ["code", "name", "unit", "direction", "target", "amber", "method"],
        ["INV-30", "Invoices paid within 30 days", "percent", "higher", 95, 90, "submitted"],
    ]
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", sheets))
    figure = {"kpi": "INV-30", "client": "WYR", "month": "2026-04", "numerator": 1}
    figures = write_csv(tmp_path / "figures.csv", [figure | {"denominator": 2}])
    cli("kpi", "import", figures, "--dry-run")
    cli("kpi", "import", figures)
    cli("kpi", "import", figures)

    entries = cli.json("audit", "list")

    assert [e["action"] for e in entries] == ["kpi import", "kpi import", "setup load"]
    assert entries[1]["subject"] == "figures.csv"
    assert entries[1]["detail"] == {"created": 1, "replaced": 0}
    assert entries[0]["detail"] == {"created": 0, "replaced": 1}


def test_the_usage_actions_record_their_own_entries_when_they_write(cli, database, tmp_path):
    """Importing a file, posting events and reverting a batch each record their entry in
    their own transaction, whoever calls them; a dry run and a replay that stores nothing
    record none."""
    cli("setup", "load", write_book(tmp_path / "setup.xlsx", small_centre()))
    row = {"event_id": "e1", "client": "WYR", "service": "PAY", "date": "2026-05-04"}
    path = write_csv(tmp_path / "may.csv", [row])
    with database.transaction(dry_run=True) as session:
        import_file(session, path, "checker@centre.gov.uk", dry_run=True)
        assert session.scalars(select(AuditEvent.action)).all() == ["setup load"]
    with database.transaction() as session:
        batch = import_file(session, path, "finance@centre.gov.uk").batch
    posted = [(1, {**row, "event_id": "p1"})]
    batches = []
    for digest in ("first", "replay"):
        with database.transaction() as session:
            report = post_usage(session, posted, "feed@centre.gov.uk", "API (feed)", digest, False)
            batches.append(report.batch)
    assert batches[1] is None  # the replay stored nothing
    with database.transaction() as session:
        revert_batch(session, batch, "manager@centre.gov.uk")

    entries = [e for e in reversed(cli.json("audit", "list")) if e["action"].startswith("usage")]
    assert [(e["actor"], e["action"], e["subject"]) for e in entries] == [
        ("finance@centre.gov.uk", "usage import", "may.csv"),
        ("feed@centre.gov.uk", "usage post", "API (feed)"),
        ("manager@centre.gov.uk", "usage revert", f"batch {batch}"),
    ]
    assert entries[0]["detail"] == {"batch": batch, "rows": 1, "inserted": 1, "skipped": 0}
    assert entries[1]["detail"] == {"batch": batches[0], "rows": 1, "inserted": 1, "skipped": 0}
    assert entries[2]["detail"] == {
        "batch": batch,
        "filename": "may.csv",
        "removed": 1,
        "months": {"2026-05": 1},
    }
