"""The run's report and summary: the warnings a person should read, and the held clients."""

from __future__ import annotations

from pathlib import Path

from include.dms_billing.outputs.billable_list import ListSummary
from include.dms_billing.outputs.revisions import ListDifference, ListedUser, Recheck
from include.dms_billing.outputs.run_report import ClientOutcome, render, summary

MONTH = "2023-05"


def _listed(code: str, from_current: int) -> ListSummary:
    return ListSummary(code, MONTH, 10, 6, {"active": 4, "inactive_recent_login": 2}, from_current,
                       "b.parquet", "b.csv", "report.json")


def _outcomes(tmp_path: Path) -> list[ClientOutcome]:
    added = ListDifference(added=[ListedUser(3, "u3", "U 3", "active", None)])
    revised = Recheck("SEALED", MONTH, 6, 7, added, "abc123")
    return [
        ClientOutcome("CLEAN", tmp_path, _listed("CLEAN", 0), None),
        ClientOutcome("CURRENT", tmp_path, _listed("CURRENT", 1), None),
        ClientOutcome("SEALED", tmp_path, _listed("SEALED", 0), None, sealed=True, recheck=revised),
        ClientOutcome("BROKEN", tmp_path, None, "validation failed (1 expectations)"),
    ]


def test_the_summary_has_each_clients_counts_the_warnings_and_the_held_clients(tmp_path: Path) -> None:
    found = summary(MONTH, _outcomes(tmp_path), {"CLEAN": "held by finance"})

    assert found["clients"]["CLEAN"] == {"users": 10, "billable": 6, "active": 4, "inactive_recent_login": 2,
                                         "status_from_current": 0, "result": "ok"}
    assert found["clients"]["BROKEN"] == {"result": "FAILED: validation failed (1 expectations)"}
    assert found["warnings"] == [
        "CURRENT: 1 user without a status change before the month's end: status at month end taken from the "
        "current status (status_source=current)",
        "SEALED: sealed list kept; recomputed differs: revision abc123 (1 added, 0 removed, "
        "0 reason changed); invoice unchanged",
    ]
    assert found["held"] == {"CLEAN": "held by finance"}


def test_the_printed_report_lists_the_warnings_and_the_held_clients_when_known(tmp_path: Path) -> None:
    outcomes = _outcomes(tmp_path)

    in_the_run = render(MONTH, outcomes, {"CLEAN": "held by finance"})
    assert "Warnings:\n  CURRENT: 1 user without a status change" in in_the_run
    assert "\nHeld clients: CLEAN (held by finance)\n" in in_the_run
    assert "\nHeld clients: none\n" in render(MONTH, outcomes, {})
    assert "Held clients" not in render(MONTH, outcomes)  # the command line cannot know
    assert "Warnings:\n  none" in render(MONTH, outcomes[:1])
