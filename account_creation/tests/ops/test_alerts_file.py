"""docs/alerts.yml is valid YAML in Prometheus's rule shape and names only exposed metrics."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from account_creation.tests.ops.test_metrics import METRICS

ALERTS = Path(__file__).resolve().parents[3] / "docs" / "alerts.yml"


def test_alert_rules_use_exposed_metrics() -> None:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"][0]["rules"]
    exposed = set(METRICS) | {f"{name}_total" for name in METRICS}
    names = {rule["alert"] for rule in rules}
    assert {"AccountSyncNothingProcessed", "AccountSyncHighFailureRatio", "AccountSyncTasksBlocked"} <= names
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}
        used = set(re.findall(r"\baccountsync_[a-z0-9_]+", rule["expr"]))
        assert used, rule["alert"]
        assert used <= exposed, (rule["alert"], used - exposed)
        runbook = (ALERTS.parent / "operations.md").read_text(encoding="utf-8")
        assert f"### {rule['alert']}" in runbook, f"no runbook section for {rule['alert']}"
