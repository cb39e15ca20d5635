"""The billing ledger: its database and schema, invoices, deliveries, objections, seals, run turns. Imports core and outputs."""
