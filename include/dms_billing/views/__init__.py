"""The billing page, read-only: the month per client from the ledger and the outputs, the files it serves, its HTML. Imports core, outputs and ledger; only airflow imports it."""
