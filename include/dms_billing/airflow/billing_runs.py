"""Which month and clients a run of ``dms_monthly_billing`` bills, read from Airflow's metadata
database in the api-server, for the run's Billing tab: the same rules as ``plan_run`` (the
``billing_month`` param, else the data interval; the ``clients`` param, else every client)."""

from __future__ import annotations

from dataclasses import dataclass

from include.dms_billing.core.billing_month import BillingMonth

DAG_ID = "dms_monthly_billing"


@dataclass(frozen=True)
class RunScope:
    month: BillingMonth | None  # None: not a billing run, or one that cannot be billed
    clients: frozenset[str]  # empty: every client
    note: str


def run_scope(dag_id: str, run_id: str) -> RunScope:
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    from include.dms_billing.core.jobs import requested_codes, resolve_billing_month

    if dag_id != DAG_ID:
        return RunScope(None, frozenset(), f"The Billing tab shows the runs of {DAG_ID}.")
    with create_session() as session:
        run = session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            return RunScope(None, frozenset(), "No such run.")
        conf, start = dict(run.conf or {}), run.data_interval_start
    try:
        month = resolve_billing_month(conf.get("billing_month"), start)
        codes = frozenset(requested_codes(conf.get("clients")))
    except ValueError as exc:
        return RunScope(None, frozenset(), f"This run bills nothing: {exc}")
    clients = ", ".join(sorted(codes)) if codes else "every client"
    return RunScope(month, codes, f"This run bills {month} for {clients}.")
