"""`mirage ai sample`: preview how two personas talk before putting them on real numbers.

Here, in personas, because it reads a tenant's personas (ai, below personas, only writes).

Writes rounds with the offline generator (no network, no LLM), as they would follow each
other across a day: daypart, greetings and persona memory carry over from round to round.
Without ``--tenant`` the built-in personas are used; with it, the tenant's own personas are
read from the database (looked up by slug with the admin role, as `mirage user create
--tenant` does, then read under the tenant's row-level security).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from datetime import datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from mirage.ai.persona import DEFAULT_PERSONAS, PersonaSpec
from mirage.ai.rehearsal import RehearsedRound, rehearse
from mirage.ai.text import strip_accents
from mirage.personas import service

ai_cli = typer.Typer(help="Reply generation: preview personas.", no_args_is_help=True)

DEFAULT_ZONE = "America/Sao_Paulo"
_DAYPART_PT = {"morning": "manhã", "afternoon": "tarde", "night": "noite"}
_WEEKDAYS_PT = ("seg", "ter", "qua", "qui", "sex", "sáb", "dom")


class CliError(Exception):
    pass


def _key(name: str) -> str:
    return strip_accents(name).casefold().strip()


def find_persona(personas: Sequence[PersonaSpec], name: str) -> PersonaSpec:
    """The persona called `name`, ignoring case and accents ("leo" finds Léo)."""
    wanted = _key(name)
    for persona in personas:
        if _key(persona.name) == wanted:
            return persona
    known = ", ".join(p.name for p in personas) or "none"
    raise CliError(f"no persona named {name!r} (known: {known})")


def rounds_json(rounds: Sequence[RehearsedRound]) -> list[list[dict[str, Any]]]:
    """A list of rounds, each a list of messages with at least `speaker` and `text`."""
    return [
        [
            {
                "speaker": m.speaker,
                "text": m.text,
                "at": m.at.isoformat(timespec="seconds"),
                "topic": r.topic,
                "acts": list(m.draft.acts),
            }
            for m in r.messages
        ]
        for r in rounds
    ]


def rounds_text(rounds: Sequence[RehearsedRound]) -> str:
    lines: list[str] = []
    for index, r in enumerate(rounds, 1):
        when = f"{_WEEKDAYS_PT[r.at.weekday()]} {r.at:%H:%M} ({_DAYPART_PT[r.daypart]})"
        lines.append(f"── rodada {index} · {when} · {r.topic}")
        lines += [f"{m.speaker}: {m.text}" for m in r.messages]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


async def _tenant_personas(slug: str) -> tuple[list[PersonaSpec], str]:
    """The tenant's personas and its time zone, from the configured database."""
    from mirage.config import get_settings
    from mirage.db import engine as db_engine
    from mirage.db.migrate import migrate

    settings = get_settings()
    urls = db_engine.resolve_urls(settings)
    if settings.database_url is None:
        migrate(urls)  # the embedded server is ours: keep it migrated (as `mirage api` does)
    db = db_engine.make_database(urls, pool_size=2, application_name="mirage-cli")
    db_engine.set_database(db)
    try:
        found = await service.tenant_personas(slug)
    finally:
        await db.dispose()
    if found is None:
        raise CliError(f"no tenant with slug {slug!r}")
    return found


@ai_cli.command()
def sample(
    persona: Annotated[str, typer.Option(help="Persona who writes (name).")],
    partner: Annotated[str, typer.Option(help="Persona they talk with (name).")],
    topic: Annotated[
        list[str], typer.Option(help="Topic of the rounds; repeat for several (drawn per round).")
    ],
    rounds: Annotated[int, typer.Option(min=1, max=200, help="How many rounds.")] = 6,
    tenant: Annotated[
        str | None, typer.Option(help="Tenant slug: use its personas (default: built-in).")
    ] = None,
    start: Annotated[str, typer.Option(help="Local time of the first round, HH:MM.")] = "08:00",
    seed: Annotated[int | None, typer.Option(help="Seed, to get the same rounds again.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of rounds of messages.")
    ] = False,
) -> None:
    """Write sample rounds between two personas with the offline generator (no network)."""
    try:
        first = time.fromisoformat(start)
    except ValueError:
        typer.echo(f"error: --start takes HH:MM, not {start!r}", err=True)
        raise typer.Exit(2) from None
    try:
        if tenant is not None:
            personas, zone_name = asyncio.run(_tenant_personas(tenant))
        else:
            personas, zone_name = list(DEFAULT_PERSONAS), DEFAULT_ZONE
        me = find_persona(personas, persona)
        other = find_persona(personas, partner)
        if me.name == other.name:
            raise CliError("--persona and --partner must be two different personas")
        try:
            zone = ZoneInfo(zone_name)
        except ZoneInfoNotFoundError:
            zone = ZoneInfo(DEFAULT_ZONE)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    topics = [t.strip() for t in topic if t.strip()] or ["dia a dia"]
    today = datetime.now(zone).date()
    written = rehearse(
        me,
        other,
        topics=topics,
        rounds=rounds,
        rng=random.Random(seed),
        start=datetime.combine(today, first, tzinfo=zone),
    )
    if as_json:
        typer.echo(json.dumps(rounds_json(written), ensure_ascii=False, indent=2))
    else:
        typer.echo(rounds_text(written), nl=False)
