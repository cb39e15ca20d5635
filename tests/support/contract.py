"""Column lists as the billing contract (section 6) and the README write them, copied by hand.

Tests compare what the product writes with these, never with the product's own constants in
``core/columns.py``: a column renamed, dropped or moved there must fail a test.
"""

from __future__ import annotations

# Contract section 6: the list a client receives, one row per billable user, in this order.
LIST_COLUMNS = ["user_id", "username", "full_name", "role", "status_at_month_end", "billable_reason",
                "last_login_at", "logins_in_month"]

# README, "What happens in a run": after the contract's columns, each line's evidence and its
# change since last month's list.
ATTACHMENT_COLUMNS = [*LIST_COLUMNS, "status_source", "status_set_at", "change_since_last_month"]

# Contract section 6: the finance summary, one CSV row per invoice, in this order.
FINANCE_COLUMNS = ["invoice_number", "client_code", "billing_month", "invoice_date", "due_date", "currency",
                   "billable_count", "unit_price", "subscriptions_amount", "adjustments_amount", "subtotal",
                   "vat_amount", "total"]
