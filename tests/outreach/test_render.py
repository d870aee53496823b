"""Message templates: variables, fallbacks, spintax, determinism, errors — pure, with
hypothesis over random templates and contacts."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirage.outreach.render import (
    MAX_DEPTH,
    MAX_TEXT,
    Literal,
    Spin,
    TemplateError,
    Variable,
    contact_values,
    parse,
    render_message,
    seeded,
)

MARIA = contact_values("  Maria   da Silva ", {"cidade": "Recife", "plano": ""})


def test_variables_fallbacks_and_first_name() -> None:
    t = parse("Oi {primeiro_nome}! Você é de {cidade}? Plano {plano:básico}. {nome}")
    r = t.render(MARIA, random.Random(0))
    assert r.text == "Oi Maria! Você é de Recife? Plano básico. Maria da Silva"
    assert r.missing == ()
    assert t.variables == {"primeiro_nome", "cidade", "plano", "nome"}


def test_a_missing_value_without_fallback_is_reported_and_leaves_no_double_space() -> None:
    r = parse("Oi {primeiro_nome} tudo bem, {bairro}?").render(
        contact_values(None, {}), random.Random(0)
    )
    assert r.text == "Oi tudo bem, ?"
    assert r.missing == ("primeiro_nome", "bairro")


def test_spintax_picks_one_alternative_and_nests() -> None:
    t = parse("{Oi|Olá} {primeiro_nome}, {tudo bem|como vai {cidade:aí}}?")
    assert t.count() == 4
    seen = {t.render(MARIA, random.Random(i)).text for i in range(200)}
    assert seen == {
        "Oi Maria, tudo bem?",
        "Olá Maria, tudo bem?",
        "Oi Maria, como vai Recife?",
        "Olá Maria, como vai Recife?",
    }


def test_escaped_braces_and_values_are_never_parsed() -> None:
    t = parse("Use \\{cupom\\} hoje\\|agora, {nome}, {a\\|b|c}")
    tricky = contact_values("{nome|hack}", {})
    text = t.render(tricky, seeded("x")).text
    assert text.startswith("Use {cupom} hoje|agora, {nome|hack}, ")
    assert text.endswith(("a|b", "c"))


@pytest.mark.parametrize(
    ("source", "says", "position"),
    [
        ("{Oi}", "unknown variable {Oi}", 0),
        ("Oi {a|b", "never closed", 3),
        ("Oi}", "closes nothing", 2),
        ("{}", "write a variable", 0),
        ("{ }", "write a variable", 0),
        ("x {nome", "never closed", 2),
        ("{a|" * (MAX_DEPTH + 1) + "b" + "}" * (MAX_DEPTH + 1), "nest at most", 3 * MAX_DEPTH),
        ("x" * 4097, "at most 4096", 4096),
    ],
)
def test_errors_say_what_and_where(source: str, says: str, position: int) -> None:
    with pytest.raises(TemplateError) as err:
        parse(source, known=["cidade"])
    assert says in err.value.message and err.value.position == position


def test_unknown_variables_are_errors_only_when_the_fields_are_known() -> None:
    assert parse("{cidade}").variables == {"cidade"}
    assert parse("{cidade} {nome}", known=["cidade"]).variables == {"cidade", "nome"}
    with pytest.raises(TemplateError):
        parse("{cidade}", known=[])


def test_the_variant_and_its_choices_follow_the_seed() -> None:
    variants = [parse("{Oi|Olá} {primeiro_nome}"), parse("{Bom dia|Boa tarde}, {nome}")]
    picks = {render_message(variants, MARIA, "campaign-1", f"contact-{i}") for i in range(100)}
    assert {index for index, _ in picks} == {0, 1}  # both variants are used
    again = render_message(variants, MARIA, "campaign-1", "contact-7")
    assert again == render_message(variants, MARIA, "campaign-1", "contact-7")
    with pytest.raises(ValueError):
        render_message([], MARIA, "x")


def test_over_long_renders_are_flagged() -> None:
    r = parse("{nome}").render(contact_values("a" * (MAX_TEXT + 1), {}), random.Random(0))
    assert r.too_long


# -- properties ---------------------------------------------------------------------------

words = st.text(alphabet="abcxyz ÁéçÃ.,!?0", min_size=0, max_size=8)
# (no backslash, braces or bars: plain words between the generated groups)


# The oracle enumerates every text a generated template can give, so a template is kept to at
# most this many (nested groups multiply: three levels of three groups of three options would
# be billions, and one such draw took minutes). A group that would exceed it becomes a word.
MAX_TEXTS = 2_000


@st.composite
def spintax(draw: st.DrawFn, depth: int = 0) -> tuple[str, set[str]]:
    """A random spintax source and the set of every text it can give (computed apart)."""
    parts: list[tuple[str, set[str]]] = []
    size = 1
    for _ in range(draw(st.integers(1, 3))):
        if depth < 3 and draw(st.booleans()):
            options = [draw(spintax(depth + 1)) for _ in range(draw(st.integers(2, 3)))]
            source = "{" + "|".join(o[0] for o in options) + "}"
            texts = set().union(*(o[1] for o in options))
            if size * len(texts) <= MAX_TEXTS:
                parts.append((source, texts))
                size *= len(texts)
                continue
        w = draw(words)
        parts.append((w, {w}))
    source = "".join(p[0] for p in parts)
    texts = {"".join(combo) for combo in itertools.product(*(p[1] for p in parts))}
    return source, texts


def _tidy(text: str) -> str:
    return " ".join(text.split())


@given(spintax(), st.integers())
def test_every_render_is_one_of_the_templates_texts(case: tuple[str, set[str]], seed: int) -> None:
    source, texts = case
    t = parse(source)
    rendered = t.render({}, random.Random(seed)).text
    assert _tidy(rendered) in {_tidy(x) for x in texts}
    assert t.count() >= len({_tidy(x) for x in texts}) or t.count() == 1_000_000


@given(spintax(), st.text(max_size=30), st.text(max_size=30))
def test_rendering_is_deterministic_per_seed(case: tuple[str, set[str]], a: str, b: str) -> None:
    t = parse(case[0])
    assert t.render({}, seeded(a, b)) == t.render({}, seeded(a, b))


def _tidy_line(line: str) -> str:
    """The rendering's whitespace rule, spelled out: a run of two or more spaces or tabs is
    one space (a single one stays as it is); the line is stripped."""
    out, run = [], ""
    for ch in line + "x":  # a sentinel ends the last run
        if ch in " \t":
            run += ch
            continue
        out.append(" " if len(run) >= 2 else run)
        out.append(ch)
        run = ""
    return "".join(out)[:-1].strip()


@given(st.text(alphabet=st.characters(blacklist_characters="{}\\"), max_size=200))
def test_text_without_braces_is_itself(text: str) -> None:
    t = parse(text)
    assert t.nodes in ((), (Literal(text),))
    assert (
        t.render({}, random.Random(0)).text
        == "\n".join(_tidy_line(line) for line in text.split("\n")).strip()
        or not text.strip()
    )


def test_the_whitespace_rule_on_the_example_that_found_it() -> None:
    assert parse("0 \t0").render({}, random.Random(0)).text == "0 0"
    assert parse(" a\tb  c \n d ").render({}, random.Random(0)).text == "a\tb c\nd"


@given(
    st.text(min_size=0, max_size=40),
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), st.text(max_size=30), max_size=5
    ),
)
def test_values_are_inserted_verbatim_never_parsed(
    name: str, fields: dict[str, str | object]
) -> None:
    values = contact_values(name, fields)
    t = parse("[{nome}]" + "".join(f"<{{{k}}}>" for k in fields))
    r = t.render(values, random.Random(0))
    for key in fields:
        assert key in t.variables
    if name.strip() and "\n" not in name and "  " not in name and "\t" not in name:
        assert f"[{' '.join(name.split())}]" in r.text


@given(st.text(max_size=300))
def test_any_text_either_parses_or_is_a_positioned_error(text: str) -> None:
    try:
        t = parse(text)
    except TemplateError as err:
        assert 0 <= err.position <= len(text)
        return
    t.render({}, random.Random(0))


def test_the_tree_shapes() -> None:
    t = parse("a{b|{nome:x}}")
    assert t.nodes == (
        Literal("a"),
        Spin(((Literal("b"),), (Variable("nome", "x"),))),
    )
