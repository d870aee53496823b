"""Campaign message templates: variables with fallbacks and spintax, rendered per recipient.

Pure: no I/O, no clock, no global randomness. The choice among alternatives is a function of
a seed (the campaign and the recipient), so rendering the same recipient's message again —
a preview, a resumed campaign — gives the same text.

Syntax (pt-BR first, as operators write it):

- ``{nome}``: a variable — ``nome`` (the contact's name), ``primeiro_nome`` (its first word)
  or any custom field of the contact (``{cidade}``); names are letters, digits and ``_``.
- ``{nome:cliente}``: a variable with a fallback, used when the value is missing or blank.
  A variable without one renders as nothing (and the render reports it as missing).
- ``{Oi|Olá|E aí}``: spintax, one of the alternatives; alternatives may hold variables and
  further spintax (``{Oi {primeiro_nome}|Olá}``), up to `MAX_DEPTH` levels.
- ``\\{``, ``\\}`` and ``\\|`` write a literal brace or bar (``\\\\`` a backslash);
  doubled braces are not an escape: ``{{Oi|Olá} {nome}|Bom dia}`` nests.

A group without ``|`` is a variable, so a typo like ``{Oi}`` is an unknown variable (an
error with its position), never silently sent as text. Values are inserted as they are:
a contact named ``{nome}`` is written literally, never parsed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_TEXT = 4096  # WhatsApp's limit for one text message
MAX_TEMPLATE = 4096
MAX_DEPTH = 5
BUILT_IN_VARIABLES = ("nome", "primeiro_nome")
# {name} or {name:fallback}: the fallback is plain text (no braces, no |).
_VARIABLE = re.compile(r"\{\s*([A-Za-z0-9_]{1,40})\s*(:([^{}|]*))?\}")
_SPACES = re.compile(r"[ \t]{2,}")


class TemplateError(ValueError):
    """A template that cannot be rendered; ``position`` is the offending character's index."""

    def __init__(self, message: str, position: int) -> None:
        self.message = message
        self.position = position
        super().__init__(f"{message} (at character {position + 1})")


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Variable:
    name: str
    fallback: str | None


@dataclass(frozen=True)
class Spin:
    options: tuple[tuple[Node, ...], ...]


Node = Literal | Variable | Spin


@dataclass(frozen=True)
class Rendered:
    """A rendered message: its text, and the variables that had no value and no fallback."""

    text: str
    missing: tuple[str, ...]

    @property
    def too_long(self) -> bool:
        return len(self.text) > MAX_TEXT


@dataclass(frozen=True)
class Template:
    source: str
    nodes: tuple[Node, ...]

    @property
    def variables(self) -> frozenset[str]:
        """Every variable the template may use."""
        return frozenset(_variables(self.nodes))

    def count(self, cap: int = 1_000_000) -> int:
        """How many texts the spintax can give (at most ``cap``): few means the same text goes
        to many recipients, which the duplicate-content guard slows down."""
        return min(_count(self.nodes, cap), cap)

    def render(self, values: Mapping[str, str], rng: random.Random) -> Rendered:
        missing: list[str] = []
        out = "".join(_render(self.nodes, values, rng, missing))
        lines = [_SPACES.sub(" ", line).strip() for line in out.split("\n")]
        return Rendered("\n".join(lines).strip(), tuple(dict.fromkeys(missing)))


def parse(source: str, known: Sequence[str] | None = None) -> Template:
    """Parse a template; with ``known`` (variable names), an unknown one is an error."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateError(f"a message has at most {MAX_TEMPLATE} characters", MAX_TEMPLATE)
    parser = _Parser(source)
    nodes = parser.sequence(depth=0, inside=False)
    template = Template(source, nodes)
    if known is not None:
        allowed = set(known) | set(BUILT_IN_VARIABLES)
        for name, position in parser.names:
            if name not in allowed:
                raise TemplateError(
                    f"unknown variable {{{name}}}: use {{nome}}, {{primeiro_nome}} or a custom "
                    f"field; for alternatives write {{{name}|…}}",
                    position,
                )
    return template


class _Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0
        self.names: list[tuple[str, int]] = []

    def sequence(self, depth: int, inside: bool) -> tuple[Node, ...]:
        nodes: list[Node] = []
        text: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.s[self.i + 1 : self.i + 2] in ("{", "}", "|", "\\"):
                text.append(self.s[self.i + 1])
                self.i += 2
            elif c == "{":
                if text:
                    nodes.append(Literal("".join(text)))
                    text = []
                nodes.append(self.group(depth + 1))
            elif inside and c in "|}":
                break
            elif c == "}":
                raise TemplateError("a } closes nothing (write \\} for a brace)", self.i)
            else:
                text.append(c)
                self.i += 1
        if text:
            nodes.append(Literal("".join(text)))
        return tuple(nodes)

    def group(self, depth: int) -> Node:
        start = self.i
        if depth > MAX_DEPTH:
            raise TemplateError(f"alternatives nest at most {MAX_DEPTH} levels", start)
        m = _VARIABLE.match(self.s, start)
        if m is not None:
            self.names.append((m.group(1), start))
            self.i = m.end()
            fallback = m.group(3)
            return Variable(m.group(1), None if fallback is None else fallback.strip())
        self.i = start + 1
        options: list[tuple[Node, ...]] = []
        while True:
            options.append(self.sequence(depth, inside=True))
            if self.i >= len(self.s):
                raise TemplateError("a { is never closed", start)
            if self.s[self.i] == "}":
                self.i += 1
                break
            self.i += 1  # "|"
        if len(options) < 2:
            raise TemplateError(
                "write a variable as {nome} or {nome:fallback}, alternatives as {Oi|Olá}", start
            )
        return Spin(tuple(options))


def _variables(nodes: Sequence[Node]) -> list[str]:
    found: list[str] = []
    for node in nodes:
        if isinstance(node, Variable):
            found.append(node.name)
        elif isinstance(node, Spin):
            for option in node.options:
                found.extend(_variables(option))
    return found


def _count(nodes: Sequence[Node], cap: int) -> int:
    total = 1
    for node in nodes:
        if isinstance(node, Spin):
            total *= sum(_count(option, cap) for option in node.options)
            total = min(total, cap)
    return total


def _render(
    nodes: Sequence[Node], values: Mapping[str, str], rng: random.Random, missing: list[str]
) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Literal):
            out.append(node.text)
        elif isinstance(node, Variable):
            value = (values.get(node.name) or "").strip()
            if not value:
                if node.fallback is None:
                    missing.append(node.name)
                value = node.fallback or ""
            out.append(value)
        else:
            option = node.options[rng.randrange(len(node.options))]
            out.extend(_render(option, values, rng, missing))
    return out


def contact_values(name: str | None, custom_fields: Mapping[str, object]) -> dict[str, str]:
    """A contact's variables: its custom fields, its name and first name."""
    values = {str(k): "" if v is None else str(v) for k, v in custom_fields.items()}
    full = " ".join((name or "").split())
    values["nome"] = full
    values["primeiro_nome"] = full.split(" ")[0] if full else ""
    return values


def seeded(*parts: object) -> random.Random:
    """A generator seeded by ``parts`` (e.g. the campaign's and the contact's ids): the same
    parts always make the same choices."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def render_message(
    variants: Sequence[Template], values: Mapping[str, str], *seed: object
) -> tuple[int, Rendered]:
    """The variant chosen for this recipient (its index) and its text, both from ``seed``."""
    if not variants:
        raise ValueError("a message needs at least one variant")
    rng = seeded(*seed)
    index = rng.randrange(len(variants))
    return index, variants[index].render(values, rng)
