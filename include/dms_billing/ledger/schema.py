"""The billing ledger's tables (SQLAlchemy Core): invoices, their lines, and every delivery.

The unique constraints are the exactly-once guarantee: one invoice per client and month, one
invoice number per issuer and sequence, one delivery row per client, month, kind and attempt.
The schema is created and changed only by the Alembic migrations in ``ledger/migrations/``;
this module is what the code and the migrations' autogenerate compare against.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class Money(TypeDecorator):
    """An exact decimal: NUMERIC(18, 4) where the database has it, text on SQLite.

    SQLite would store NUMERIC as a float; text keeps every digit.
    """

    impl = sa.Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> object:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must not be a float")
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: object, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("issuer", sa.String(16), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("invoice_number", sa.String(32), nullable=False, unique=True),
    sa.Column("client_code", sa.String(32), nullable=False),
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("invoice_date", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("billable_count", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Column("vat_rate", Money, nullable=False),
    sa.Column("subscriptions_amount", Money, nullable=False),
    sa.Column("adjustments_amount", Money, nullable=False),
    sa.Column("subtotal", Money, nullable=False),
    sa.Column("vat_amount", Money, nullable=False),
    sa.Column("total", Money, nullable=False),
    sa.Column("document", sa.Text, nullable=False),  # the whole invoice as JSON: re-runs give it back
    # The rendering, kept just after the invoice is numbered (null until then: ledger/invoices.py).
    sa.Column("html", sa.Text),
    sa.Column("pdf", sa.LargeBinary),
    sa.Column("pdf_sha256", sa.String(64)),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("issued_by_run", sa.String(250), nullable=False),
    sa.UniqueConstraint("client_code", "billing_month", name="uq_invoices_client_month"),
    sa.UniqueConstraint("issuer", "sequence", name="uq_invoices_issuer_sequence"),
)

invoice_lines = sa.Table(
    "invoice_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoices.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.UniqueConstraint("invoice_id", "position", name="uq_invoice_lines_invoice_position"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_code", sa.String(32), nullable=False),  # '*' for the finance summary
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),  # list, invoice, finance_summary
    sa.Column("attempt", sa.Integer, nullable=False),  # 0: the delivery; 1, 2...: resends or updates
    sa.Column("reason", sa.String(16), nullable=False),  # first, resend, update
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("recipients", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # sending, sent, failed
    sa.Column("detail", sa.Text),  # what was sent (e.g. the invoice numbers of a summary), or the error
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("client_code", "billing_month", "kind", "attempt", name="uq_deliveries_key_attempt"),
)

# Objections (contract section 5): recorded once a month's invoice is out, settled on the next.
objections = sa.Table(
    "objections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_code", sa.String(32), nullable=False),
    sa.Column("billing_month", sa.String(7), nullable=False),  # the month objected to
    sa.Column("invoice_number", sa.String(32), nullable=False),  # that month's invoice
    sa.Column("direction", sa.String(8), nullable=False),  # credit or debit
    sa.Column("user_count", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),  # the objected month's price
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(150), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_by_run", sa.String(250), nullable=False),
)

# One row per user-month under an accepted objection: the same user-month cannot be objected twice.
objection_users = sa.Table(
    "objection_users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("objection_id", sa.Integer, sa.ForeignKey("objections.id"), nullable=False),
    sa.Column("client_code", sa.String(32), nullable=False),
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("client_code", "billing_month", "user_id", name="uq_objection_users_user_month"),
)

# Money owed to (negative) or by (positive) a client, waiting for its next invoice; applied once.
adjustments = sa.Table(
    "adjustments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_code", sa.String(32), nullable=False),
    sa.Column("objection_id", sa.Integer, sa.ForeignKey("objections.id")),  # null: a carried-forward credit
    sa.Column("after_month", sa.String(7), nullable=False),  # applies to the first invoice of a later month
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("applied_invoice_number", sa.String(32)),  # null while pending
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Contract section 8: the list an invoice was built from (or that a client received), sealed.
# One per client and month; its fingerprints say which files on disk are the billed list.
sealed_lists = sa.Table(
    "sealed_lists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_code", sa.String(32), nullable=False),
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("csv_sha256", sa.String(64), nullable=False),  # billable_users.csv, as the client receives it
    sa.Column("parquet_sha256", sa.String(64), nullable=False),  # billable_users.parquet
    sa.Column("row_count", sa.Integer, nullable=False),
    sa.Column("sealed_because", sa.String(16), nullable=False),  # list_sent, invoice, legacy
    sa.Column("invoice_number", sa.String(32)),  # null until the month's invoice is issued
    sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sealed_by_run", sa.String(250), nullable=False),
    sa.UniqueConstraint("client_code", "billing_month", name="uq_sealed_lists_client_month"),
)

# Runs taking turns (backfills, issue 14): each run waiting for, or holding, the turn to bill.
# Rows come and go with the runs; the one-row mutex serializes every check-and-set of a turn.
run_turns = sa.Table(
    "run_turns",
    metadata,
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("state", sa.String(8), nullable=False),  # waiting, holding, done (until the run ends)
    sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("process", sa.String(300)),  # host:pid:start of an in-process run (airflow dags test)
)

run_turn_mutex = sa.Table(
    "run_turn_mutex",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
)

# Invoice numbering (issue 16): the one-row mutex that serializes taking the next number.
invoice_number_mutex = sa.Table(
    "invoice_number_mutex",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
)

# Finance's approval of a run's invoices (issue 17): one row per answer (a cleared approval task
# asks again; the latest row of the run is its decision). ``held`` is a JSON list of client codes.
approval_decisions = sa.Table(
    "approval_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(250), nullable=False, index=True),
    sa.Column("billing_month", sa.String(7), nullable=False),
    sa.Column("held", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(250), nullable=False),  # a user id, "timeout", or "not asked: ..."
    sa.Column("asked", sa.Boolean, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
)
