"""The end-of-run report: per client, billable counts by reason, the data-quality warnings and
where every output went; and the same counts and warnings as the run's summary, a plain dict
the DAG's report task hands to Airflow for the UI.

Read from the files the run wrote, so it can be printed by the DAG's last task and again, later,
by ``python -m include.dms_billing.outputs.run_report --month YYYY-MM`` (``make demo`` does).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from include.dms_billing.outputs.billable_list import ListSummary, read_summary
from include.dms_billing.outputs.paths import VALIDATION_SUMMARY, client_month_paths, data_root
from include.dms_billing.outputs.revisions import Recheck, read_last_check
from include.dms_billing.outputs.storage import StoragePath, storage_path


@dataclass(frozen=True)
class ClientOutcome:
    client_code: str
    snapshot: StoragePath
    summary: ListSummary | None  # None: the client has no list this month
    problem: str | None  # why not, when known (e.g. the validation failures)
    sealed: bool = False  # the list was billed (sent or invoiced): no run replaces it
    recheck: Recheck | None = None  # a sealed month: this run's recomputation compared with it

    def result(self) -> str:
        """The report's last column: ok, or for a sealed month what this run's recomputation found."""
        if not self.sealed:
            return "ok"
        if self.recheck is None:  # sealed by this run, or a later run stopped before recomputing
            if self.problem:
                return f"sealed list kept; not recomputed this run ({self.problem})"
            return "ok; list sealed (billed)"
        if self.recheck.revision is None:
            return "sealed list kept; recomputed: the same"
        c = self.recheck.difference.counts()
        return (f"sealed list kept; recomputed differs: revision {self.recheck.revision} ({c['added']} added, "
                f"{c['removed']} removed, {c['reason_changed']} reason changed); invoice unchanged")


def _validation_problem(report_dir: StoragePath) -> str | None:
    summary = report_dir / VALIDATION_SUMMARY
    if not summary.exists():
        return None
    data = json.loads(summary.read_text(encoding="utf-8"))
    if data.get("success"):
        return None
    return f"validation failed ({len(data.get('failures', []))} expectations); report: {data.get('report_path')}"


def collect(billing_month: str, client_codes: Iterable[str], root: StoragePath | None = None) -> list[ClientOutcome]:
    outcomes = []
    for code in client_codes:
        paths = client_month_paths(billing_month, code, root)
        if paths.summary.exists():
            sealed = paths.seal_marker.exists()
            problem = _validation_problem(paths.report_dir) if sealed else None
            outcomes.append(ClientOutcome(code, paths.snapshot, read_summary(paths), problem, sealed,
                                          read_last_check(paths)))
        else:
            problem = _validation_problem(paths.report_dir) or "no list written"
            outcomes.append(ClientOutcome(code, paths.snapshot, None, problem))
    return outcomes


def warnings(outcomes: list[ClientOutcome]) -> list[str]:
    """What a person should look at although the run went through: users whose status at month
    end is their current one (no status change recorded before the end), and sealed lists whose
    recomputation differs (kept as a revision; the invoice unchanged)."""
    lines = []
    for o in outcomes:
        if o.summary and o.summary.status_from_current:
            count = o.summary.status_from_current
            users = f"{count} user{'' if count == 1 else 's'}"
            lines.append(f"{o.client_code}: {users} without a status change before the month's end: "
                         "status at month end taken from the current status (status_source=current)")
        if o.recheck and o.recheck.revision:
            lines.append(f"{o.client_code}: {o.result()}")
    return lines


def _counts(o: ClientOutcome) -> dict[str, Any]:
    s = o.summary
    if s is None:
        return {"result": f"FAILED: {o.problem}"}
    return {"users": s.users_in_snapshot, "billable": s.billable, **s.by_reason,
            "status_from_current": s.status_from_current, "result": o.result()}


def summary(billing_month: str, outcomes: list[ClientOutcome], held: Mapping[str, str]) -> dict[str, Any]:
    """The run's summary: each client's counts and result, the warnings, and the clients whose
    invoice is held (code: why)."""
    return {"billing_month": billing_month, "clients": {o.client_code: _counts(o) for o in outcomes},
            "warnings": warnings(outcomes), "held": dict(sorted(held.items()))}


def _held_line(held: Mapping[str, str] | None) -> str:
    """The held clients, when known (the run knows them; the command line does not)."""
    if held is None:
        return ""
    return "\nHeld clients: " + ("; ".join(f"{code} ({why})" for code, why in sorted(held.items())) or "none")


def render(billing_month: str, outcomes: list[ClientOutcome], held: Mapping[str, str] | None = None) -> str:
    rows = []
    for o in outcomes:
        s = o.summary
        if s is None:
            rows.append([o.client_code, "-", "-", "-", "-", "-", f"FAILED: {o.problem}"])
        else:
            rows.append(
                [o.client_code, s.users_in_snapshot, s.billable, s.by_reason["active"],
                 s.by_reason["inactive_recent_login"], s.status_from_current, o.result()]
            )
    table = tabulate(
        rows,
        headers=["client", "users", "billable", "active", "inactive_recent_login", "status from current", "result"],
    )
    paths = [
        f"  {o.client_code}\n"
        f"    snapshot:          {o.snapshot}\n"
        f"    validation report: {o.summary.validation_report}\n"
        f"    billable list:     {o.summary.billable_csv}\n"
        f"                       {o.summary.billable_parquet}"
        + (f"\n    revision:          {storage_path(o.summary.billable_csv).parent / 'revisions' / o.recheck.revision}"
           if o.recheck and o.recheck.revision else "")
        for o in outcomes
        if o.summary
    ]
    found = "\n".join(f"  {line}" for line in warnings(outcomes)) or "  none"
    return (f"Billing month {billing_month}\n\n{table}\n\nWarnings:\n{found}{_held_line(held)}\n\n"
            "Outputs:\n" + "\n".join(paths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--month", required=True, help="billing month, YYYY-MM")
    args = parser.parse_args()
    root = data_root()
    codes = sorted(p.name.split("=", 1)[1] for p in (root / "snapshots" / f"billing_month={args.month}").glob("client_code=*"))
    print(render(args.month, collect(args.month, codes, root)))


if __name__ == "__main__":
    main()
