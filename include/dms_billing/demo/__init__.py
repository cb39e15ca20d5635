"""The demo DMS: a deterministic generator (demo_dms: generate and the CLI; lifecycles, people, traffic) and the source schema loader (make demo, tests, bench). Imports core and source."""
