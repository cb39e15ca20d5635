"""The steps of one client's billing month, each a plain function the DAG's tasks call.

Every step reads its input from, and writes its output to, the client-month's files (see
``paths.py``), so any step can be retried alone and gives the same result for the same source.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.core.config import BillingConfig
from include.dms_billing.core.jobs import ClientJob
from include.dms_billing.core.rule import decide, status_from_current
from include.dms_billing.ledger.seals import find_seal, recorded_seal
from include.dms_billing.outputs.billable_list import ListSummary, read_summary, write_billable_list
from include.dms_billing.outputs.fingerprints import Fingerprint, read_marker, verify
from include.dms_billing.outputs.list_changes import ListChanges
from include.dms_billing.outputs.paths import ClientMonthPaths, PreviewPaths
from include.dms_billing.outputs.revisions import Recheck, recheck, write_recheck
from include.dms_billing.outputs.storage import StoragePath, read_frame, read_table
from include.dms_billing.source.extraction import extract_batch
from include.dms_billing.source.batch_validation import validate_batch
from include.dms_billing.source.source_checks import check_sources, load_source_checks, save_source_checks
from include.dms_billing.source.validation import (
    Failure,
    ValidationContext,
    ValidationOutcome,
)


def _remove_list(paths: ClientMonthPaths) -> None:
    """Drop a previous run's list so that a client whose data now fails has no list at all.

    A sealed list was billed (contract section 8): it is never removed, only the previous
    run's comparison with it, so that the report shows what this run found.
    """
    paths.last_check.unlink(missing_ok=True)
    if paths.seal_marker.exists():
        return
    for path in (paths.summary, paths.billable_csv, paths.billable_parquet, paths.changes):
        path.unlink(missing_ok=True)


def extract_step(engine: sa.Engine, job: ClientJob, paths: ClientMonthPaths) -> int:
    """One client's :func:`extract_batch_step`: its number of users."""
    return extract_batch_step(engine, [(job, paths)])[job.client_code]


def extract_batch_step(engine: sa.Engine, clients: Sequence[tuple[ClientJob, ClientMonthPaths]]) -> dict[str, int]:
    """Snapshot each client's user facts for the month, and beside each what the snapshot cannot
    show (unreadable timestamps, users left out); the months are being recomputed from here.

    One query of each kind per month window (a batch's clients share one): each client's number
    of users by client code.
    """
    by_window: dict[BillingWindow, list[tuple[ClientJob, ClientMonthPaths]]] = {}
    for job, paths in clients:
        _remove_list(paths)
        paths.source_checks.unlink(missing_ok=True)  # no earlier run's checks beside this snapshot
        by_window.setdefault(job.window(), []).append((job, paths))
    counts: dict[str, int] = {}
    for window, members in by_window.items():
        rows = extract_batch(engine, window, {job.client_id: paths.snapshot for job, paths in members})
        checks = check_sources(engine, window, rows)
        for job, paths in members:
            save_source_checks(checks[job.client_id], paths.source_checks)
            counts[job.client_code] = rows[job.client_id]
    return counts


def _context(job: ClientJob, config: BillingConfig, now: datetime, window: BillingWindow | None) -> ValidationContext:
    return ValidationContext(
        client_code=job.client_code,
        client_id=job.client_id,
        window=window or job.window(),
        status_values=frozenset(config.status_map(job.client_code).lookup()),
        now=now,
    )


def _source_failures(paths: ClientMonthPaths | PreviewPaths) -> tuple[list[Failure], dict | None]:
    """What the extract step's source checks found, and the reconciliation to report; their
    absence is a failure of its own."""
    checks = load_source_checks(paths.source_checks)
    if checks is None:
        return [Failure("source checks saved by the extract step", None, None, [str(paths.source_checks)])], None
    return checks.failures(), checks.summary()


def validate_batch_step(
    clients: Sequence[tuple[ClientJob, ClientMonthPaths | PreviewPaths]], config: BillingConfig,
    now: datetime | None = None, window: BillingWindow | None = None,
) -> dict[str, ValidationOutcome]:
    """Validate each client's snapshot (in as few suite runs as the data allows); each outcome
    says whether that client may be billed, and why not. A failed client's list is removed.

    ``window``: the clients' month cut short (a preview's), instead of each client's whole month.
    """
    now = now or datetime.now(timezone.utc)
    found = {job.client_code: _source_failures(paths) for job, paths in clients}
    outcomes = validate_batch(
        snapshots={job.client_code: read_frame(paths.snapshot) for job, paths in clients},
        contexts={job.client_code: _context(job, config, now, window) for job, _ in clients},
        report_dirs={job.client_code: paths.report_dir for job, paths in clients},
        source_failures={code: failures for code, (failures, _) in found.items()},
        reconciliations={code: reconciliation for code, (_, reconciliation) in found.items()},
    )
    for job, paths in clients:
        if not outcomes[job.client_code].success and isinstance(paths, ClientMonthPaths):
            _remove_list(paths)
    return outcomes


def validate_step(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, now: datetime | None = None
) -> ValidationOutcome:
    """One client's :func:`validate_batch_step`."""
    return validate_batch_step([(job, paths)], config, now)[job.client_code]


class ValidationFailed(ValueError):
    """A client's snapshot failed validation: the client stops here, without a list. A
    ``ValueError``, so the task fails at once: bad data does not mend itself on a retry."""

    def __init__(self, outcome: ValidationOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def validate_or_stop(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, now: datetime | None = None
) -> ValidationOutcome:
    """The ``validate`` task's step: the outcome of a snapshot that passed; one that failed stops
    the client (``ValidationFailed``, its list removed), so nothing is decided from bad data."""
    outcome = validate_step(job, paths, config, now)
    if not outcome.success:
        raise ValidationFailed(outcome)
    return outcome


def _recompute(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, previous_seal: Fingerprint | None
) -> tuple[pa.Table, pd.DataFrame, ListChanges]:
    """The rule over the validated snapshot, marked with what changed since the previous month's list."""
    from include.dms_billing.outputs.list_changes import compare_with_previous, read_previous_list

    snapshot = read_table(paths.snapshot)
    status_map = config.status_map(job.client_code)
    billed = decide(snapshot, job.window(), status_map, job.client_code)
    previous = read_previous_list(paths, previous_seal)
    billed, changes = compare_with_previous(billed, snapshot, job.window(), status_map, previous)
    return snapshot, billed, changes


def decide_step(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, report: StoragePath,
    previous_seal: Fingerprint | None = None,
) -> ListSummary:
    """Apply the billing rule to the validated snapshot and write the client's list, marked
    with what changed since the previous month's list (``previous_seal``: as sealed).

    A sealed list (its marker beside it) is not rewritten: the month is rechecked against it
    (``recheck_step``) and the sealed list's summary returned.
    """
    sealed = read_marker(paths)
    if sealed is not None:
        recheck_step(job, paths, config, sealed, previous_seal)
        return read_summary(paths)
    snapshot, billed, changes = _recompute(job, paths, config, previous_seal)
    from_current = status_from_current(snapshot, job.window(), config.status_map(job.client_code))
    return write_billable_list(billed, snapshot.num_rows, from_current, paths, report, changes,
                               job.client_name, job.timezone)


def recheck_step(
    job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, sealed: Fingerprint,
    previous_seal: Fingerprint | None = None,
) -> Recheck:
    """A sealed month run again: recompute and compare; a different list is kept as a revision
    beside the sealed one, which stays byte for byte what was billed."""
    verify(paths, sealed)
    _, billed, _ = _recompute(job, paths, config, previous_seal)
    found = recheck(paths, read_frame(paths.billable_parquet), billed)
    write_recheck(paths, billed, found)
    return found


def decide_month(
    ledger: sa.Engine, job: ClientJob, paths: ClientMonthPaths, config: BillingConfig, report: StoragePath, run_id: str
) -> tuple[ListSummary, Recheck | None]:
    """The ``decide`` task's step: the client's list compared with last month's as sealed; for a
    month already billed, the sealed list's summary and this run's recheck against the seal the
    ledger holds (the marker on disk when sealing stopped before its ledger row)."""
    seal = recorded_seal(ledger, paths, run_id)
    with ledger.connect() as conn:
        previous = find_seal(conn, job.client_code, str(job.month.previous()))
    previous_seal = previous.fingerprint if previous else None
    sealed = seal.fingerprint if seal else read_marker(paths)
    if sealed is None:
        return decide_step(job, paths, config, report, previous_seal), None
    return read_summary(paths), recheck_step(job, paths, config, sealed, previous_seal)
