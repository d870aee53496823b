"""`mirage optout classify`: one line out per line in, 1 for a certain opt-out, else 0;
``--json`` adds the tier, the rule and the language; ``--keyword`` adds a tenant keyword."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from typer.testing import CliRunner

from mirage.cli import cli
from tests.outreach.test_optout import corpus


async def test_the_real_command_classifies_the_corpus_line_by_line() -> None:
    rows = corpus()
    stdin = "".join(f"{text}\n" for _, _, text in rows).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mirage",
        "optout",
        "classify",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode == 0, err.decode()
    lines = out.decode("utf-8").splitlines()
    assert len(lines) == len(rows)
    for (tier, _, text), line in zip(rows, lines, strict=True):
        assert line == f"{1 if tier == 'certain' else 0}\t{text}"


def test_json_gives_tier_rule_and_language_and_keywords_count() -> None:
    result = CliRunner().invoke(
        cli,
        ["optout", "classify", "--json", "--keyword", "chega", "--keyword", "não quero"],
        input="me tira da lista\nme deixa em paz\nCHEGA!\nNAO QUERO\nbom dia\n\n",
    )
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.output.splitlines()]
    assert [(g["opt_out"], g["tier"], g["rule"], g["language"]) for g in got] == [
        (True, "certain", "pt.tira_da_lista", "pt"),
        (False, "probable", "pt.deixa_em_paz", "pt"),
        (True, "certain", "tenant.keyword", None),
        (True, "certain", "tenant.keyword", None),
        (False, "none", None, None),
        (False, "none", None, None),
    ]
    assert got[0]["text"] == "me tira da lista" and got[-1]["text"] == ""
    # Without the keyword, "chega" alone is only probable: 0.
    plain = CliRunner().invoke(cli, ["optout", "classify"], input="CHEGA!\nSTOP\n")
    assert plain.output == "0\tCHEGA!\n1\tSTOP\n"
