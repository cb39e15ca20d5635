"""The demo DMS: a deterministic generator and the source schema loader (make demo, tests, bench)."""
