"""The audit log records every change with who, when and what, and nothing that was refused."""

from __future__ import annotations

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
