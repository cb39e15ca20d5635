"""The files under DMS_BILLING_DATA: paths, atomic writes, lists, spreadsheets, renderings, revisions, fingerprints of billed lists (the sealed.json marker), the run report. Imports core."""
