"""Validation of one client's snapshot with Great Expectations, before anything is decided.

The suite checks what the rule relies on (contract sections 1 and 2): the snapshot's columns,
unique non-null user ids, only this client's users, every status mapped by the configuration,
users created before the month's end, no timestamp in the future, and login facts consistent
with the month's window. Every run writes ``validation.json`` under the client-month's report
folder (each expectation and whether it held; what the run report and alerts read). A failed
run also gets Data Docs HTML beside it, the report the data team opens: building those costs
about as much as the checks themselves, so a passing client-month does without (see
docs/decisions.md, "Validation").

GX Core is imported inside ``validate_snapshot`` only: it is slow to import and DAG files must
parse fast.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from include.dms_billing.core.billing_month import BillingWindow
from include.dms_billing.core.columns import SNAPSHOT_COLUMNS, SNAPSHOT_SCHEMA
from include.dms_billing.outputs.atomic import replace_tree, write_text
from include.dms_billing.outputs.paths import VALIDATION_DOCS, VALIDATION_SUMMARY
from include.dms_billing.outputs.storage import StoragePath, remove_tree

SITE_NAME = "billing_validation"
SAMPLE_SIZE = 5  # unexpected values quoted per failed expectation


@dataclass(frozen=True)
class ValidationContext:
    """What the snapshot is checked against."""

    client_code: str
    client_id: int
    window: BillingWindow
    status_values: frozenset[str]  # raw statuses the configuration maps
    now: datetime  # aware; nothing in the source may be later than this
    client_ids: frozenset[int] = frozenset()  # a batch's clients validated together; empty: client_id alone


@dataclass(frozen=True)
class Failure:
    """One failed expectation, as people read it."""

    expectation: str
    column: str | None
    unexpected_count: int | None
    sample: list[str]

    def describe(self) -> str:
        where = f" on {self.column}" if self.column else ""
        count = f": {self.unexpected_count} row(s)" if self.unexpected_count else ""
        sample = f", e.g. {', '.join(self.sample)}" if self.sample else ""
        return f"{self.expectation}{where}{count}{sample}"


@dataclass(frozen=True)
class ValidationOutcome:
    client_code: str
    billing_month: str
    success: bool
    rows: int
    failures: list[Failure]
    report_path: StoragePath  # the Data Docs page to open when it failed; validation.json when it passed
    checked: list[dict[str, Any]]  # every expectation: type, column, success
    reconciliation: dict[str, Any] | None = None  # source_checks.SourceChecks.summary(), when given

    @property
    def message(self) -> str:
        if self.success:
            return f"{self.client_code} {self.billing_month}: {self.rows} users passed validation"
        listed = "\n".join(f"  - {failure.describe()}" for failure in self.failures)
        counts = f"Reconciliation: {self.reconciliation['description']}\n" if self.reconciliation else ""
        return (
            f"{self.client_code} {self.billing_month}: data failed validation, nothing will be billed or sent "
            f"for this client.\n{len(self.failures)} failed expectation(s):\n{listed}\n{counts}"
            f"Validation report: {self.report_path}"
        )

    def to_json(self) -> str:
        data = {
            "client_code": self.client_code,
            "billing_month": self.billing_month,
            "success": self.success,
            "rows": self.rows,
            "failures": [failure.__dict__ for failure in self.failures],
            "report_path": str(self.report_path),
            "checked": self.checked,
        }
        if self.reconciliation is not None:
            data["reconciliation"] = self.reconciliation
        return json.dumps(data, indent=2, ensure_ascii=False)


def typed_columns() -> dict[str, str]:
    """Numeric and timestamp snapshot columns and the type name GX checks each against.

    GX compares the dtype's scalar type: ``Timestamp`` for the (UTC) timestamp columns. Text
    columns are checked by their values instead (pandas 3 names its text dtype ``str``).
    """
    types = {}
    for field in SNAPSHOT_SCHEMA:
        if pa.types.is_timestamp(field.type):
            types[field.name] = "Timestamp"
        elif pa.types.is_integer(field.type):
            types[field.name] = str(field.type)
    return types


def build_expectations(ctx: ValidationContext) -> list[Any]:
    """The suite for one client-month: each expectation is one promise the rule relies on."""
    import great_expectations.expectations as gxe

    end = pd.Timestamp(ctx.window.end)
    now = pd.Timestamp(ctx.now)
    login_start = pd.Timestamp(ctx.window.login_start)
    statuses = sorted(ctx.status_values)
    with_logins = {"row_condition": "logins_in_month > 0", "condition_parser": "pandas"}
    expectations = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=SNAPSHOT_COLUMNS),
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="user_id"),
        gxe.ExpectColumnValuesToBeUnique(column="user_id"),
        gxe.ExpectColumnValuesToBeInSet(column="client_id", value_set=sorted(ctx.client_ids or {ctx.client_id})),
        gxe.ExpectColumnValuesToNotBeNull(column="username"),
        gxe.ExpectColumnValuesToNotBeNull(column="current_status"),
        gxe.ExpectColumnValuesToBeInSet(column="current_status", value_set=statuses),
        gxe.ExpectColumnValuesToBeInSet(column="history_status", value_set=statuses),
        gxe.ExpectColumnValuesToNotBeNull(column="created_at"),
        gxe.ExpectColumnValuesToBeBetween(column="created_at", max_value=end, strict_max=True),
        gxe.ExpectColumnValuesToBeBetween(column="history_changed_at", max_value=end, strict_max=True),
        gxe.ExpectColumnValuesToBeBetween(column="last_login_at", max_value=end, strict_max=True),
        gxe.ExpectColumnValuesToNotBeNull(column="logins_in_month"),
        gxe.ExpectColumnValuesToBeBetween(column="logins_in_month", min_value=0),
        # A login in the month implies a latest login inside the month's window.
        gxe.ExpectColumnValuesToNotBeNull(column="last_login_at", **with_logins),
        gxe.ExpectColumnValuesToBeBetween(column="last_login_at", min_value=login_start, **with_logins),
        # Nobody logs in before the account exists.
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="first_login_at", column_B="created_at", or_equal=True,
            ignore_row_if="either_value_is_missing",
        ),
    ]
    for column, dtype in typed_columns().items():
        expectations.append(gxe.ExpectColumnValuesToBeOfType(column=column, type_=dtype))
    for column in ("created_at", "deleted_at", "newest_login_at", "newest_status_change_at"):
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, max_value=now))
    return expectations


def _failures(validation_result: Any) -> list[Failure]:
    failures = []
    for result in validation_result.results:
        if result.success:
            continue
        config = result.expectation_config
        details = result.result or {}
        sample = [str(value) for value in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
        failures.append(
            Failure(
                expectation=config.type,
                column=config.kwargs.get("column") or config.kwargs.get("column_A"),
                unexpected_count=details.get("unexpected_count"),
                sample=sample,
            )
        )
    return failures


def _checked(validation_result: Any) -> list[dict[str, Any]]:
    return [
        {
            "expectation": result.expectation_config.type,
            "column": result.expectation_config.kwargs.get("column")
            or result.expectation_config.kwargs.get("column_A"),
            "success": bool(result.success),
        }
        for result in validation_result.results
    ]


def _site_config(base_directory: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base_directory)},
    }


def run_suite(snapshot: pd.DataFrame, ctx: ValidationContext, result_format: str, docs_dir: Path | None) -> Any:
    """Run the suite on ``snapshot`` in a context of its own, building its Data Docs in
    ``docs_dir`` when given. The GX result."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in task logs
    name = f"{ctx.client_code}_{ctx.window.month}"
    batch = (
        context.data_sources.add_pandas(name="dms_snapshots")
        .add_dataframe_asset(name=f"user_facts_{name}")
        .add_batch_definition_whole_dataframe(name="snapshot")
    )
    # Built whole, then stored once: adding expectations one by one re-serialises the suite each time.
    suite = context.suites.add(gx.ExpectationSuite(name=f"user_facts_{name}", expectations=build_expectations(ctx)))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": snapshot}, result_format=result_format)
    if docs_dir is not None:  # the run's result is in the context's store: the site renders it
        context.add_data_docs_site(site_name=SITE_NAME, site_config=_site_config(docs_dir))
        context.build_data_docs(site_names=[SITE_NAME])
    return result


def validate_snapshot(
    snapshot: pd.DataFrame, ctx: ValidationContext, report_dir: StoragePath,
    source_failures: Sequence[Failure] = (), reconciliation: dict[str, Any] | None = None,
) -> ValidationOutcome:
    """Validate, write ``validation.json`` (and, on failure, Data Docs) under ``report_dir``.

    ``source_failures`` are what the source checks found beyond the snapshot (source_checks.py):
    any one fails the client even when the suite passes; ``reconciliation`` is reported as given.

    The suite runs first for pass or fail only (GX's ``BOOLEAN_ONLY``: half the metrics, half
    the time); a client-month that fails is run again for the counts, samples and Data Docs the
    data team reads. The Data Docs are built in a temporary folder and swapped in whole, so the
    folder holds one complete report, this run's, or none when this run passed.
    """
    docs_dir = report_dir / VALIDATION_DOCS
    with tempfile.TemporaryDirectory(prefix="dms-data-docs-") as built:
        result = run_suite(snapshot, ctx, "BOOLEAN_ONLY", None)
        if not result.success:
            result = run_suite(snapshot, ctx, "SUMMARY", Path(built))
            replace_tree(Path(built), docs_dir)
        else:
            remove_tree(docs_dir)
    return record_outcome(snapshot, ctx, report_dir, result, source_failures, reconciliation)


def record_outcome(
    snapshot: pd.DataFrame, ctx: ValidationContext, report_dir: StoragePath, result: Any,
    source_failures: Sequence[Failure], reconciliation: dict[str, Any] | None,
) -> ValidationOutcome:
    """The client's outcome from the suite's ``result``, written as ``validation.json``."""
    outcome = ValidationOutcome(
        client_code=ctx.client_code,
        billing_month=str(ctx.window.month),
        success=bool(result.success) and not source_failures,
        rows=len(snapshot),
        failures=[*_failures(result), *source_failures],
        report_path=report_dir / VALIDATION_SUMMARY if result.success else report_dir / VALIDATION_DOCS / "index.html",
        checked=_checked(result),
        reconciliation=reconciliation,
    )
    write_text(report_dir / VALIDATION_SUMMARY, outcome.to_json())
    return outcome
