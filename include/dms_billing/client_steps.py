"""The steps of one client's billing month, each a plain function the DAG's tasks call.

Every step reads its input from, and writes its output to, the client-month's files (see
``paths.py``), so any step can be retried alone and gives the same result for the same source.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import sqlalchemy as sa

from include.dms_billing.atomic import restrict
from include.dms_billing.billable_list import ListSummary, write_billable_list
from include.dms_billing.billing_month import zone
from include.dms_billing.config import BillingConfig
from include.dms_billing.extract import extract_user_facts
from include.dms_billing.paths import ClientMonthPaths
from include.dms_billing.rule import decide
from include.dms_billing.run_plan import CLIENT_CODE_RE, ClientJob
from include.dms_billing.source_checks import check_source, load_source_checks, save_source_checks
from include.dms_billing.validation import Failure, ValidationContext, ValidationOutcome, validate_snapshot


class ClientDataError(ValueError):
    """This client's data or settings cannot be billed; other clients are unaffected."""


def month_closes_at(job: ClientJob) -> str:
    """When the client's month ends (ISO, UTC); checks the client's code and timezone first."""
    if not CLIENT_CODE_RE.match(job.client_code):
        raise ClientDataError(f"client code {job.client_code!r} is not a plain code; refusing to bill it")
    try:
        zone(job.timezone)
    except ValueError as exc:
        raise ClientDataError(f"client {job.client_code}: {exc}") from None
    check_addresses(job)
    return job.window().end.isoformat()


def check_addresses(job: ClientJob) -> None:
    """The client's correspondence address (required) and account manager's (optional) must each
    be one plain email address: a missing or malformed one fails this client before any work."""
    from include.dms_billing.messages import address_header

    addresses = {"correspondence_email": job.correspondence_email, "account_manager_email": job.account_manager_email}
    for field, address in addresses.items():
        if address is None and field == "account_manager_email":
            continue
        try:
            if not (address or "").strip():
                raise ValueError(f"{field} is missing")
            address_header(field, [address])
        except ValueError as exc:
            raise ClientDataError(f"client {job.client_code}: {exc}") from None


def _remove_list(paths: ClientMonthPaths) -> None:
    """Drop a previous run's list so that a client whose data now fails has no list at all."""
    for path in (paths.summary, paths.billable_csv, paths.billable_parquet, paths.changes):
        path.unlink(missing_ok=True)


def extract_step(engine: sa.Engine, job: ClientJob, paths: ClientMonthPaths) -> int:
    """Snapshot the client's user facts for the month, and beside it what the snapshot cannot
    show (unreadable timestamps, users left out); the month is being recomputed from here."""
    _remove_list(paths)
    paths.source_checks.unlink(missing_ok=True)  # no earlier run's checks beside this snapshot
    rows = extract_user_facts(engine, job.client_id, job.window(), paths.snapshot)
    save_source_checks(check_source(engine, job.client_id, job.window(), rows), paths.source_checks)
    return rows


def validate_step(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, now: datetime | None = None
) -> ValidationOutcome:
    """Validate the snapshot; the outcome says whether the client may be billed, and why not."""
    status_map = config.status_map(job.client_code)
    context = ValidationContext(
        client_code=job.client_code,
        client_id=job.client_id,
        window=job.window(),
        status_values=frozenset(status_map.lookup()),
        now=now or datetime.now(timezone.utc),
    )
    snapshot = pq.read_table(paths.snapshot).to_pandas()
    checks = load_source_checks(paths.source_checks)
    if checks is None:
        failures = [Failure("source checks saved by the extract step", None, None, [str(paths.source_checks)])]
        outcome = validate_snapshot(snapshot, context, paths.report_dir, failures)
    else:
        outcome = validate_snapshot(snapshot, context, paths.report_dir, checks.failures(), checks.summary())
    restrict(paths.report_dir)  # the Data Docs quote values from the data
    if not outcome.success:
        _remove_list(paths)
    return outcome


def decide_step(job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, report: Path) -> ListSummary:
    """Apply the billing rule to the validated snapshot and write the client's list, marked
    with what changed since the previous month's list."""
    from include.dms_billing.list_changes import compare_with_previous, read_previous_list

    snapshot = pq.read_table(paths.snapshot)
    status_map = config.status_map(job.client_code)
    billed = decide(snapshot, job.window(), status_map, job.client_code)
    billed, changes = compare_with_previous(billed, snapshot, job.window(), status_map, read_previous_list(paths))
    return write_billable_list(billed, snapshot.num_rows, paths, report, changes)
