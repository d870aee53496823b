"""`mirage optout classify`: test text against the opt-out detector (``outreach.optout``).

Reads lines on standard input and writes one line per line read: ``1<TAB>text`` for a certain
opt-out (the number would be suppressed at once), ``0<TAB>text`` otherwise; with ``--json``
one JSON object per line with the tier (certain, probable, none), the matched rule and the
language. ``--keyword`` adds a tenant keyword (as an outreach policy's extra keywords do).
Pure: no database, no network; `mirage --help` stays light.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from mirage.outreach.optout import classify

optout_cli = typer.Typer(help="The opt-out detector.", no_args_is_help=True)


@optout_cli.command("classify")
def classify_lines(
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line: tier, rule, language.")
    ] = False,
    keyword: Annotated[
        list[str] | None,
        typer.Option(help="An extra opt-out keyword (repeatable), like a policy's own."),
    ] = None,
) -> None:
    """Classify each line of standard input: 1<TAB>text for a certain opt-out, else 0."""
    extra = tuple(keyword or ())
    stdin = sys.stdin
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(encoding="utf-8", errors="replace")
    out = sys.stdout
    for raw in stdin:
        text = raw.rstrip("\r\n")
        verdict = classify(text, extra)
        if as_json:
            line = json.dumps(
                {
                    "opt_out": verdict.opt_out,
                    "tier": verdict.tier.value,
                    "rule": verdict.rule,
                    "language": verdict.language,
                    "text": text,
                },
                ensure_ascii=False,
            )
        else:
            line = f"{int(verdict.opt_out)}\t{text}"
        out.write(line + "\n")
        out.flush()  # a line out for each line in: usable interactively and in a pipe
