"""The billing ledger: its database and schema, invoices, deliveries, objections, seals (the rows; the files' fingerprints are in outputs), run turns. Imports core and outputs."""
