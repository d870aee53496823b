"""The activity log speaks the user's language: every audit action has a translated label.

The codes are read from the code base itself (every ``audit.record(..., action=...)`` call,
found by parsing the source), so a new action cannot ship without a label; ``record`` refuses a
code that has none. Persona changes are recorded like every other operator action.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

import mirage
from mirage.kit import i18n
from mirage.models.contacts import DataRequestKind
from mirage.ops import audit
from tests.conftest import make_tenant, make_token, sign_in, sql
from tests.conversations.conftest import PERSONA
from tests.web.dashboard import client_for

SRC = Path(mirage.__file__).parent


def _recorded_actions() -> tuple[set[str], set[str]]:
    """(codes written literally, fixed prefixes of codes built with an f-string) of every
    ``audit.record`` call in the package."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            is_record = (
                isinstance(func, ast.Attribute)
                and func.attr == "record"
                and isinstance(func.value, ast.Name)
                and func.value.id == "audit"
            )
            if not is_record:
                continue
            for kw in node.keywords:
                if kw.arg != "action":
                    continue
                value = kw.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    literal.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    head = value.values[0]
                    assert isinstance(head, ast.Constant), (path, ast.unparse(value))
                    prefixes.add(str(head.value))
                elif isinstance(value, ast.Name):
                    # A module's own helper passes its caller's code through (checked below
                    # by the helper's callers' literals).
                    prefixes.add("")
                else:
                    raise AssertionError(f"{path}: action={ast.unparse(value)}")
    return literal, prefixes


def test_every_recorded_action_has_a_translated_label() -> None:
    literal, prefixes = _recorded_actions()
    assert len(literal) >= 10  # the discovery works
    unlabeled = sorted(code for code in literal if code not in audit.ACTIONS)
    assert not unlabeled, f"audit actions without a label in ops/audit.ACTIONS: {unlabeled}"
    for prefix in prefixes - {""}:
        assert any(code.startswith(prefix) for code in audit.ACTIONS), prefix
    # Codes built from an enum: every member has its label.
    for kind in DataRequestKind:
        assert f"data_request.{kind.value}" in audit.ACTIONS
    # Helpers that pass their caller's literal code (personas: "persona.create", ...).
    text = (SRC / "personas" / "service.py").read_text(encoding="utf-8")
    for code in ("persona.create", "persona.update", "persona.delete"):
        assert f'"{code}"' in text and code in audit.ACTIONS
    for code, label in audit.ACTIONS.items():
        assert label and label != code, code
        assert i18n.gettext_for("en", label) == label
        translated = i18n.gettext_for("pt_BR", label)
        assert translated and translated != label, f"{code}: {label!r} has no pt_BR translation"


async def test_record_refuses_an_action_without_a_label() -> None:
    with pytest.raises(audit.UnknownAuditAction):
        await audit.record(None, tenant_id=None, action="something.new")  # type: ignore[arg-type]


async def test_activity_log_shows_labels_and_persona_changes(
    app: Any, bootstrap_conninfo: str
) -> None:
    t = await make_tenant("owner")
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    async with client_for(app) as client:
        r = await client.post("/api/v1/personas", headers=auth, json={"name": "Ana", **PERSONA})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await client.put(
            f"/api/v1/personas/{pid}", headers=auth, json={"name": "Ana Paula", **PERSONA}
        )
        assert r.status_code == 200, r.text
        r = await client.delete(f"/api/v1/personas/{pid}", headers=auth)
        assert r.status_code == 204, r.text
        rows = await sql(
            bootstrap_conninfo,
            "select action, target_type, target_id, details->>'name' from audit_events "
            "where tenant_id = %s and action like 'persona.%%' order by created_at, action",
            t.tenant_id,
        )
        assert [(a, tt, tid) for a, tt, tid, _ in rows] == [
            ("persona.create", "persona", pid),
            ("persona.update", "persona", pid),
            ("persona.delete", "persona", pid),
        ]
        assert rows[-1][3] == "Ana Paula"

        csrf = await sign_in(client, t)
        for lang, expected in (
            ("pt_BR", ("Entrou", "Persona criada", "Persona alterada", "Persona excluída")),
            ("en", ("Signed in", "Persona created", "Persona changed", "Persona deleted")),
        ):
            await client.post("/language", data={"lang": lang, "csrf_token": csrf})
            page = await client.get("/settings")
            assert page.status_code == 200
            audit_section = page.text.split('id="audit"', 1)[1]
            for text in expected:
                assert text in audit_section, (lang, text)
            assert "<code>auth.sign_in</code>" not in audit_section
