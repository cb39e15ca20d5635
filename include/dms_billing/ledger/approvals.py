"""Finance's approval decisions in the ledger: who decided a run's invoices, and which clients are held."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa

from include.dms_billing.core.approval import ApprovalDecision
from include.dms_billing.ledger.schema import approval_decisions


def record_decision(engine: sa.Engine, decision: ApprovalDecision) -> None:
    with engine.begin() as conn:
        conn.execute(approval_decisions.insert().values(
            run_id=decision.run_id, billing_month=decision.billing_month, held=json.dumps(list(decision.held)),
            decided_by=decision.decided_by, asked=decision.asked, decided_at=datetime.now(timezone.utc),
        ))


def run_decision(engine: sa.Engine, run_id: str) -> ApprovalDecision | None:
    """The run's latest decision, or None when the run has not reached its approval."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(approval_decisions).where(approval_decisions.c.run_id == run_id)
            .order_by(approval_decisions.c.id.desc()).limit(1)
        ).first()
    if row is None:
        return None
    return ApprovalDecision(row.billing_month, row.run_id, tuple(json.loads(row.held)), row.decided_by, row.asked)
