"""Validation of a batch of clients' snapshots: one suite run for all of them when their data is
clean, one per client only when it is not (``validation.py`` validates one snapshot)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from include.dms_billing.outputs.paths import VALIDATION_DOCS
from include.dms_billing.outputs.storage import StoragePath, remove_tree
from include.dms_billing.source.validation import (
    Failure,
    ValidationContext,
    ValidationOutcome,
    record_outcome,
    run_suite,
    validate_snapshot,
)


def _only_its_own(snapshot: pd.DataFrame, client_id: int) -> bool:
    """The snapshot has rows, all of its client: one run over the batch may stand for it."""
    return len(snapshot) > 0 and "client_id" in snapshot.columns and bool((snapshot["client_id"] == client_id).all())


def validate_batch(
    snapshots: Mapping[str, pd.DataFrame], contexts: Mapping[str, ValidationContext],
    report_dirs: Mapping[str, StoragePath], source_failures: Mapping[str, Sequence[Failure]],
    reconciliations: Mapping[str, dict[str, Any] | None],
) -> dict[str, ValidationOutcome]:
    """:func:`validate_snapshot` for a batch of clients (each mapping by client code), in as few
    suite runs as the data allows.

    Clients checked against the same suite (same window, moment and mapped statuses) are first
    validated together, in one run over their snapshots side by side, for pass or fail only. When
    that passes, every one of them passes (each expectation holds for each client's rows); when
    it fails, each is validated alone, so that every failure is attributed to its client and gets
    its own counts, samples and Data Docs. A client without users, or whose snapshot holds another
    client's rows (checked here, as one run checks only the batch's ids), is always validated alone.
    """
    outcomes: dict[str, ValidationOutcome] = {}
    groups: dict[tuple, list[str]] = {}
    for code, ctx in contexts.items():
        if _only_its_own(snapshots[code], ctx.client_id):
            groups.setdefault((ctx.window, ctx.now, ctx.status_values), []).append(code)
        else:
            groups.setdefault(("alone", code), []).append(code)
    for codes in groups.values():
        if len(codes) > 1:
            first = contexts[codes[0]]
            together = replace(first, client_code=f"{codes[0]}_and_{len(codes) - 1}_more",
                               client_ids=frozenset(contexts[code].client_id for code in codes))
            result = run_suite(pd.concat([snapshots[code] for code in codes], ignore_index=True),
                                together, "BOOLEAN_ONLY", None)
            if result.success:
                for code in codes:
                    remove_tree(report_dirs[code] / VALIDATION_DOCS)  # an earlier run's failure report
                    outcomes[code] = record_outcome(snapshots[code], contexts[code], report_dirs[code], result,
                                             source_failures[code], reconciliations[code])
                continue
        for code in codes:
            outcomes[code] = validate_snapshot(snapshots[code], contexts[code], report_dirs[code],
                                               source_failures[code], reconciliations[code])
    return outcomes
