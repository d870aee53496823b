"""The pt-BR lexicon follows its own writing rules (see `mirage.ai.lexicon`)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from mirage.ai import lexicon as lx
from mirage.ai.lexicon import Fragment, Topic
from mirage.ai.offline import _Composer
from mirage.ai.persona import DAYPARTS, STYLES
from mirage.ai.text import daypart_greetings_in, has_emoji
from tests.ai.factories import persona, request

GENERAL = {
    "HOW_ARE_YOU": lx.HOW_ARE_YOU,
    "HOW_ARE_YOU_ANSWERS": lx.HOW_ARE_YOU_ANSWERS,
    "HOW_ARE_YOU_DETAILS": lx.HOW_ARE_YOU_DETAILS,
    "RECIPROCALS": lx.RECIPROCALS,
    "ACKS": lx.ACKS,
    "ANSWER_OPENERS": lx.ANSWER_OPENERS,
    "OPENERS": lx.OPENERS,
    "LIFE": lx.LIFE,
    "GENERIC_QUESTIONS": lx.GENERIC_QUESTIONS,
    "LAUGHS": lx.LAUGHS,
    "PRE_CLOSERS": lx.PRE_CLOSERS,
    "CLOSERS": lx.CLOSERS,
    "WISHES": lx.WISHES,
    "FILLERS": lx.FILLERS,
}
ALL_TOPICS = (*lx.TOPICS, lx.GENERIC_TOPIC)


def _topic_fragments(topic: Topic) -> Iterator[Fragment]:
    yield from topic.statements
    yield from topic.questions
    yield from topic.reactions
    for frags in topic.followups.values():
        yield from frags


def _all_text_fragments() -> Iterator[tuple[str, Topic | None, Fragment]]:
    for name, frags in GENERAL.items():
        for frag in frags:
            yield name, None, frag
    for topic in ALL_TOPICS:
        for frag in _topic_fragments(topic):
            yield topic.key, topic, frag


def test_there_are_ten_or_more_everyday_topics_with_enough_material() -> None:
    assert len(lx.TOPICS) >= 10
    for topic in lx.TOPICS:
        assert len(topic.statements) >= 8, topic.key
        assert len(topic.questions) >= 4, topic.key
        assert len(topic.reactions) >= 4, topic.key
        assert topic.aliases and topic.emoji
        assert set(topic.followups) <= set(topic.slots), topic.key


def test_every_general_move_exists_for_every_style_and_daypart() -> None:
    for name, frags in GENERAL.items():
        if name == "LAUGHS":
            continue  # formal personas do not laugh in writing
        for style in STYLES:
            for daypart in DAYPARTS:
                assert any(f.allowed(style, daypart) for f in frags), (name, style, daypart)


@pytest.mark.parametrize("source", ["template", "entity"])
def test_texts_follow_the_writing_rules(source: str) -> None:
    if source == "template":
        items = [(where, f.text, f.dayparts) for where, _, f in _all_text_fragments()]
    else:
        items = [
            (f"{t.key}.{slot}", form, e.dayparts)
            for t in ALL_TOPICS
            for slot, entities in t.slots.items()
            for e in entities
            for form in e.forms.values()
        ]
    for where, text, dayparts in items:
        assert text and text == text.strip(), (where, text)
        assert not has_emoji(text), (where, text)
        # A template never starts with a slot: casual style lowercases first letters.
        assert not text.startswith("{"), (where, text)
        greeted = daypart_greetings_in(text)
        assert not greeted or greeted == set(dayparts) == {next(iter(greeted))}, (where, text)


def test_every_template_renders_for_every_allowed_style_and_daypart() -> None:
    for style in STYLES:
        p = persona(style=style)
        for daypart in DAYPARTS:
            for _, topic, frag in _all_text_fragments():
                if not frag.allowed(style, daypart):
                    continue
                req = request(p, topic=topic.label if topic else "futebol", daypart=daypart)
                composer = _Composer(req, random.Random(0))
                composer.topic = topic or composer.topic
                composer.topic_text = "assunto"
                text = composer.render(frag)
                if text is None:
                    # Only possible when no filler suits this daypart (e.g. no sun at night).
                    assert "{" in frag.text and daypart == "night", (frag.text, style, daypart)
                    continue
                assert "{" not in text and "}" not in text, (frag.text, text)
                assert not daypart_greetings_in(text) - {daypart}, (frag.text, text)


def test_emoji_pools_are_emoji() -> None:
    pools = [*lx.STYLE_EMOJI.values(), *(t.emoji for t in lx.TOPICS)]
    for pool in pools:
        for frag in pool:
            assert has_emoji(frag.text) and len(frag.text) <= 3, frag.text
    for style in STYLES:
        for daypart in DAYPARTS:
            assert any(f.allowed(style, daypart) for f in lx.STYLE_EMOJI[style])
