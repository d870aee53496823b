"""deploy/alerts.yml: promtool accepts the rules and their unit tests (deploy/alerts.test.yml)
pass; every rule is built on families Mirage really exports, links to a section of the
runbook that exists, and is tested both firing and silent.

promtool comes from Debian's ``prometheus`` package, which ``make test`` / ``make pytest``
install (the ``promtool`` target); a missing promtool fails this test, never skips it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RUNBOOK = ROOT / "docs" / "operations.md"


def promtool() -> str:
    path = os.environ.get("MIRAGE_PROMTOOL") or shutil.which("promtool")
    if not path:
        pytest.fail(
            "promtool not found: run `make promtool` (apt-get install prometheus) "
            "or set MIRAGE_PROMTOOL"
        )
    return path


def exported_names() -> set[str]:
    """Every sample name Mirage's /metrics can carry: this process's registry (HTTP, rate
    limits, database pools) and the fleet's families read from the database."""
    import mirage.app  # noqa: F401 - registers the HTTP and rate-limit families
    from mirage.ops import metrics as fleet

    names = set(fleet.FAMILIES) | {"mirage_metrics_snapshot_ok"}
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
    return names


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        if m := re.match(r"#+\s+(.*)", line):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_and_cover_what_matters() -> None:
    tool = promtool()
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        run = subprocess.run([tool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"promtool {' '.join(args)}:\n{run.stdout}\n{run.stderr}"

    names = exported_names()
    sections = anchors(RUNBOOK.read_text())
    tested = yaml.safe_load((DEPLOY / "alerts.test.yml").read_text())
    cases: dict[str, set[bool]] = {}
    for test in tested["tests"]:
        for case in test["alert_rule_test"]:
            cases.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))

    alerts = {rule["alert"]: rule for rule in rules()}
    # The list: numbers banned / disconnected, connected but cannot send, send
    # failures, queue lag, webhook errors, worker heartbeat, database pool saturation.
    assert {
        "MirageNumberBanned",
        "MirageNumberDisconnected",
        "MirageNumberConnectedCannotSend",
        "MirageSendFailureRateHigh",
        "MirageQueueLagHigh",
        "MirageWebhookErrorRateHigh",
        "MirageWorkerHeartbeatMissing",
        "MirageDatabasePoolSaturated",
    } <= set(alerts)
    for name, rule in alerts.items():
        used = set(re.findall(r"\bmirage_\w+", rule["expr"]))
        assert used or rule["expr"].startswith("up{"), f"{name} uses no Mirage family"
        assert used <= names, f"{name} uses families Mirage does not export: {used - names}"
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md" and anchor in sections, f"{name}: {url}"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert cases.get(name) == {True, False}, f"{name}: needs a firing and a silent case"
