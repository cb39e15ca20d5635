"""The files under DMS_BILLING_DATA: paths, atomic writes, lists, spreadsheets, renderings, revisions, the run report. Imports core."""
