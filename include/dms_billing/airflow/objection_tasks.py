"""What the task of ``dms_record_objection`` does, given the plain values Airflow passes (as
``monthly_tasks`` for the monthly DAG): the form read once, the ledger's schema brought up to date,
bad input refused without retries.
"""

from __future__ import annotations

from include.dms_billing.airflow.resources import fail_without_retry, ledger
from include.dms_billing.outputs.storage import storage_path


def record_objections(params: dict, run_id: str) -> list[dict]:
    """The objection form (or its bulk CSV) recorded in the ledger, or refused with the reasons;
    checked against each month's sealed list (the files verified against the seal first)."""
    from include.dms_billing.ledger import objections
    from include.dms_billing.ledger.db import migrate

    with fail_without_retry():
        if params.get("csv_path"):
            requests = objections.requests_from_csv(storage_path(params["csv_path"]).read_text(encoding="utf-8"))
        else:
            # a field left empty in the form may come as null: refused below as missing, by name
            text = {name: (params[name] or "").strip() for name in ("client_code", "billing_month")}
            requests = [objections.ObjectionRequest(
                **text, user_ids=objections.parse_user_ids(params["user_ids"]),
                reason=params["reason"] or "", decided_by=params["decided_by"] or "",
                direction=params["direction"],
            )]
        engine = ledger()
        migrate(engine)
        recorded = objections.record_objections(engine, requests, objections.sealed_billed_ids(engine, run_id), run_id)
    return [{"objection_id": r.objection_id, "client_code": r.request.client_code,
             "billing_month": r.request.billing_month, "users": len(r.request.user_ids),
             "amount": str(r.amount), "objected_invoice": r.invoice_number} for r in recorded]
