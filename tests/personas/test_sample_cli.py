"""`mirage ai sample`: offline rounds between two personas, as text or JSON."""

from __future__ import annotations

import itertools
import json

from typer.testing import CliRunner

from mirage.cli import cli

RUNNER = CliRunner()


def test_sample_prints_rounds_as_json() -> None:
    args = ["ai", "sample", "--persona", "leo", "--partner", "Seu Carlos"]
    args += ["--topic", "futebol", "--rounds", "5", "--seed", "3", "--json"]
    result = RUNNER.invoke(cli, args)
    assert result.exit_code == 0, result.output
    rounds = json.loads(result.output)
    assert len(rounds) == 5
    for messages in rounds:
        assert 2 <= len(messages) <= 4
        assert {m["speaker"] for m in messages} <= {"Léo", "Seu Carlos"}
        assert all(m["text"].strip() and m["topic"] == "futebol" for m in messages)
        # Alternating speakers, times moving forward.
        assert all(a["speaker"] != b["speaker"] for a, b in itertools.pairwise(messages))
    times = [m["at"] for messages in rounds for m in messages]
    assert times == sorted(times)
    # The same seed writes the same rounds.
    assert RUNNER.invoke(cli, args).output == result.output


def test_sample_prints_readable_rounds() -> None:
    args = ["ai", "sample", "--persona", "Bia", "--partner", "Juliana", "--topic", "viagem"]
    result = RUNNER.invoke(cli, [*args, "--rounds", "2", "--seed", "1", "--start", "19:30"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("── rodada 1 · ")
    assert "(noite) · viagem" in result.output
    assert "Bia: " in result.output and "Juliana: " in result.output


def test_sample_refuses_unknown_personas_and_bad_times() -> None:
    base = ["ai", "sample", "--partner", "Rafa", "--topic", "futebol"]
    result = RUNNER.invoke(cli, [*base, "--persona", "Ninguém"])
    assert result.exit_code == 2 and "no persona named" in result.output
    result = RUNNER.invoke(cli, [*base, "--persona", "rafa"])
    assert result.exit_code == 2
    result = RUNNER.invoke(cli, [*base, "--persona", "Bia", "--start", "25h"])
    assert result.exit_code == 2 and "HH:MM" in result.output


async def test_a_tenants_own_personas_are_read_under_its_context(database: object) -> None:
    from mirage.auth.principal import ROLE_SCOPES, Principal
    from mirage.db.engine import session_scope
    from mirage.db.tenancy import tenant_context
    from mirage.models.tenancy import Role
    from mirage.personas.cli import find_persona
    from mirage.personas.schemas import PersonaIn
    from mirage.personas.service import create_persona, tenant_personas
    from tests.conftest import make_tenant

    t, other = await make_tenant(), await make_tenant()
    greetings = {"morning": ["Bom dia"], "afternoon": ["Boa tarde"], "night": ["Boa noite"]}
    for tenant, name in ((t, "Dona Célia"), (other, "Outra")):
        principal = Principal(
            kind="user", tenant_id=tenant.tenant_id, role=Role.OWNER, scopes=ROLE_SCOPES[Role.OWNER]
        )
        with tenant_context(tenant.tenant_id):
            async with session_scope() as session:
                data = PersonaIn.model_validate(
                    {
                        "name": name,
                        "style": "formal",
                        "emoji_rate": 0.1,
                        "typo_rate": 0.0,
                        "min_length": 20,
                        "max_length": 160,
                        "greetings": greetings,
                    }
                )
                await create_persona(session, principal, data)
    found = await tenant_personas(t.slug)
    assert found is not None
    personas, zone = found
    assert [p.name for p in personas] == ["Dona Célia"]  # never another tenant's
    assert find_persona(personas, "dona celia").style == "formal"
    assert zone
    assert await tenant_personas("no-such-tenant") is None
