"""The opt-out detector (pure): the labelled corpus classifies as labelled, and what must not
change a verdict does not (case, accents, punctuation and emoji around a keyword), while a
keyword inside an ordinary sentence is never a certain opt-out."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.contacts import keywords
from mirage.contacts import service as contacts
from mirage.outreach import service as outreach
from mirage.outreach.optout import NONE, RULES, Tier, Verdict, classify, opt_in_keyword

CORPUS = Path(__file__).with_name("optout_corpus.tsv")


def corpus() -> list[tuple[str, str, str]]:
    rows = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            tier, language, text = line.split("\t", 2)
            rows.append((tier, language, text))
    return rows


def test_the_corpus_is_large_and_covers_both_tiers_and_three_languages() -> None:
    rows = corpus()
    assert len(rows) >= 150
    for language in ("pt", "en", "es"):
        for tier in ("certain", "probable", "none"):
            assert sum(1 for t, lang, _ in rows if (t, lang) == (tier, language)) >= 5, (
                tier,
                language,
            )
    assert len({text for _, _, text in rows}) == len(rows), "a line is repeated"


@pytest.mark.parametrize(("tier", "language", "text"), corpus())
def test_every_corpus_line_classifies_as_labelled(tier: str, language: str, text: str) -> None:
    verdict = classify(text)
    assert verdict.tier.value == tier, (text, verdict)
    if tier != "none":
        assert verdict.language == language, (text, verdict)
        assert verdict.rule
    else:
        assert verdict == NONE


def test_rule_ids_are_unique_and_name_their_language() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert {r.language for r in RULES} == {"pt", "en", "es"}
    assert classify("PARAR") == Verdict(Tier.CERTAIN, "keyword.parar", "pt")
    assert classify("me tira da lista").rule == "pt.tira_da_lista"
    assert classify("darme de baja").rule == "keyword.darme_de_baja"


def test_tenant_keywords_are_certain_single_keywords() -> None:
    extra = ["CHEGA", "Não quero", "xô"]
    assert classify("chega!!", extra) == Verdict(Tier.CERTAIN, "tenant.keyword", None)
    assert classify("NAO QUERO 🙅", extra).tier is Tier.CERTAIN
    assert classify("Xô", extra).tier is Tier.CERTAIN
    # Only alone in the message, like the built-in ones.
    assert classify("chega de desculpas, vamos jogar", extra).tier is Tier.NONE
    assert classify("não quero café", extra).tier is Tier.NONE
    # Without the tenant's list, "chega" alone is only probable.
    assert classify("chega!!").tier is Tier.PROBABLE


def test_contacts_keyword_rules_and_the_detector_share_one_definition() -> None:
    # Every built-in opt-out keyword is a certain opt-out for the detector and an opt-out
    # keyword for contacts; the opt-in keywords are neither an opt-out nor missed.
    assert contacts.OPT_OUT_KEYWORDS is keywords.OPT_OUT_KEYWORDS
    assert contacts.OPT_IN_KEYWORDS is keywords.OPT_IN_KEYWORDS
    for word in keywords.OPT_OUT_KEYWORDS:
        assert contacts.keyword_of(word.lower() + "!") == word
        assert classify(word.lower() + "!").tier is Tier.CERTAIN
    for word in keywords.OPT_IN_KEYWORDS:
        assert contacts.keyword_of(word) == word == opt_in_keyword(f" {word.lower()} 🙂")
        assert classify(word).tier is Tier.NONE
    # The policies' form shows the same built-in list.
    assert set(outreach.BUILT_IN_KEYWORDS) == keywords.OPT_OUT_KEYWORDS


_EMOJI = st.sampled_from(["🙂", "😡", "🛑", "🙏", "👋", "❤️", "😂", "✋🏽"])
_PUNCT = st.sampled_from(list("!?.,;:…\"'()-*~ \n\t"))
_AROUND = st.lists(st.one_of(_EMOJI, _PUNCT), max_size=4).map("".join)


def _accent(word: str, data: st.DataObject) -> str:
    """The word with some vowels accented (what people type with a Brazilian keyboard)."""
    marks = {"a": "áàâã", "e": "éê", "i": "í", "o": "óôõ", "u": "úü"}
    out = []
    for c in word:
        low = c.lower()
        if low in marks and data.draw(st.booleans(), label=f"accent {c}"):
            mark = data.draw(st.sampled_from(marks[low]))
            out.append(mark.upper() if c.isupper() else mark)
        else:
            out.append(c)
    return "".join(out)


def _recase(word: str, data: st.DataObject) -> str:
    flags = data.draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(word, flags, strict=True))


@given(
    st.sampled_from(sorted(keywords.OPT_OUT_KEYWORDS | keywords.OPT_IN_KEYWORDS)),
    _AROUND,
    _AROUND,
    st.data(),
)
@settings(max_examples=400, deadline=None)
def test_case_accents_punctuation_and_emoji_do_not_change_a_keyword(
    word: str, before: str, after: str, data: st.DataObject
) -> None:
    written = before + _accent(_recase(word, data), data) + after
    assert classify(written) == classify(word)
    assert contacts.keyword_of(written) == word
    assert unicodedata.normalize("NFC", written) != "" and classify(written).tier is (
        Tier.CERTAIN if word in keywords.OPT_OUT_KEYWORDS else Tier.NONE
    )


# Ordinary words, none of them a keyword, a polite word or part of an opt-out phrase.
ORDINARY = [
    "vou",
    "no",
    "mercado",
    "amanha",
    "depois",
    "da",
    "aula",
    "com",
    "minha",
    "mae",
    "hoje",
    "tem",
    "jogo",
    "do",
    "time",
    "chuva",
    "forte",
    "cafe",
    "reuniao",
    "escola",
    "trabalho",
    "festa",
    "almoco",
    "jantar",
    "carro",
    "onibus",
    "praia",
    "meeting",
    "tomorrow",
    "after",
    "lunch",
    "with",
    "my",
    "mom",
    "game",
    "tonight",
    "rain",
    "coffee",
    "school",
    "work",
    "manana",
    "despues",
    "del",
    "almuerzo",
    "con",
    "mi",
    "madre",
    "partido",
    "lluvia",
    "escuela",
    "trabajo",
    "fiesta",
]


# Single words: the multi-word keywords ("darme de baja", "opt out") are clear phrases
# anywhere ("quiero darme de baja mañana").
SINGLE_WORDS = sorted(k for k in keywords.OPT_OUT_KEYWORDS if " " not in k)


@given(
    st.sampled_from(SINGLE_WORDS),
    st.lists(st.sampled_from(ORDINARY), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=8),
    _AROUND,
)
@settings(max_examples=400, deadline=None)
def test_a_keyword_inside_an_ordinary_sentence_is_never_certain(
    word: str, words: list[str], at: int, around: str
) -> None:
    sentence = [*words[:at], word.lower(), *words[at:]]
    verdict = classify(around + " ".join(sentence) + around)
    assert verdict.tier is not Tier.CERTAIN, (sentence, verdict)
    assert contacts.keyword_of(" ".join(sentence)) is None


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_gets_a_verdict(text: str) -> None:
    verdict = classify(text)
    assert (verdict.tier is Tier.NONE) == (verdict.rule is None)
    assert classify(text * 50).tier in Tier  # long messages are cut, never slow


def _every_rule(folded: str) -> tuple[str | None, str | None]:
    """The first certain and the first probable rule matching, all patterns tried (what the
    trigger scan must never change)."""
    certain = next(
        (r.id for r in RULES if r.tier is Tier.CERTAIN and r.pattern.search(folded)), None
    )
    probable = next(
        (r.id for r in RULES if r.tier is Tier.PROBABLE and r.pattern.search(folded)), None
    )
    return certain, probable


CORPUS_WORDS = sorted({w for _, _, text in corpus() for w in keywords.fold(text).split()})


@given(st.lists(st.sampled_from(CORPUS_WORDS), min_size=1, max_size=9))
@settings(max_examples=1500, deadline=None)
def test_the_trigger_scan_never_hides_a_rule(words: list[str]) -> None:
    folded = " ".join(words)
    verdict = classify(folded)
    if verdict.rule and verdict.rule.startswith(("keyword.", "tenant.")):
        return  # a keyword alone decides before any phrase
    certain, probable = _every_rule(folded)
    assert verdict.rule == (certain or probable), folded


@pytest.mark.parametrize(("tier", "language", "text"), corpus())
def test_every_rule_that_matches_a_corpus_line_has_its_trigger(
    tier: str, language: str, text: str
) -> None:
    folded = keywords.fold(text)
    found = set(folded.split())
    for rule in RULES:
        if rule.pattern.search(folded):
            assert any(w.startswith(rule.triggers) for w in found), (rule.id, text)
