"""The shipped billing configuration with the approval set for a test (through Airflow as a service,
where a delivering run waits for finance unless told otherwise)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import PROJECT

SHIPPED = PROJECT / "include" / "config" / "billing.yaml"


def billing_config(path: Path, **approval: object) -> Path:
    """Write the shipped configuration to ``path`` with ``approval`` settings changed; ``path``."""
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    config["approval"] = {**config.get("approval", {}), **approval}
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path
