"""The offline generator: persona- and daypart-correct pt-BR chat messages without an LLM.

A message is composed, not picked: conversation moves (greeting, how-are-you, answer,
acknowledgement, topic statement, question, goodbye) are drawn from `lexicon` templates whose
slots are filled from topic lexicons, then realized in the persona's register, given emoji and
typos at the persona's rates, and fitted to its length range. Everything is a pure function of
the request and the `random.Random` passed in, so a seed reproduces a message.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from mirage.ai import lexicon as lx
from mirage.ai.lexicon import Entity, Fragment, Topic
from mirage.ai.persona import PersonaSpec, ReplyRequest
from mirage.ai.text import Daypart, clean_line, daypart_greetings_in, fold, has_emoji

__all__ = ["OfflineDraft", "OfflineGenerator", "resolve_topic"]

# Piece priorities: REQUIRED pieces are always kept; KEPT ones go only when the message would
# exceed max_length; lower ones are dropped (lowest first) to reach the drawn target length.
REQUIRED = 100
KEPT = 90
_MAX_TOPIC_CHARS = 40
_MAX_NAME_CHARS = 20
_SLOT = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
_END_PUNCT = re.compile(r"[.!?…]+$")

# A how-are-you question is short; "E você, já foi pra Bahia?" is not one. Folded spelling
# (letter runs collapsed: "passado" -> "pasado").
_HOW_ARE_YOU = re.compile(
    r"\b(?:tudo bem|tudo certo|td bem|tudo tranquilo|tudo em paz|tudo em cima|tudo lindo"
    r"|como vai|como voce esta|como voce ta|como vc ta|como ce ta|como esta|como tem pasado"
    r"|como ta a vida|como tao as coisas|como vai esa forca|beleza|blz|de boa|suave"
    r"|e voce|e vc|e contigo|e por ai|e com voce)\b"
)
_HOW_ARE_YOU_MAX_CHARS = 36
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")

_FORMAL_WORDS: Mapping[str, str] = {
    "tá": "está",
    "tô": "estou",
    "tava": "estava",
    "tavam": "estavam",
    "pra": "para",
    "pro": "para o",
    "pros": "para os",
    "pras": "para as",
    "cê": "você",
    "né": "não é",
    "num": "em um",
    "numa": "em uma",
    "vamo": "vamos",
    "tamo": "estamos",
    "bora": "vamos",
    "tendi": "entendi",
    # "pra" also swallows the article before feminine places: "pra Bahia" is "para a Bahia".
    "pra praia": "para a praia",
    "pra bahia": "para a Bahia",
    "pra chapada": "para a Chapada",
    "pra ilha": "para a Ilha",
    "pra família": "para a família",
}
# Casual abbreviations, each decided once per message so a message is consistent with itself.
_CASUAL_ABBREVIATIONS: tuple[tuple[str, str, float], ...] = (
    ("você", "vc", 0.5),
    ("também", "tb", 0.4),
    ("porque", "pq", 0.6),
    ("beleza", "blz", 0.5),
    ("hoje", "hj", 0.25),
    ("mesmo", "msm", 0.2),
    ("tudo bem", "td bem", 0.25),
    ("quando", "qnd", 0.2),
    ("que", "q", 0.08),
    ("não", "n", 0.06),
    ("está", "tá", 1.0),
    ("estou", "tô", 1.0),
    ("por favor", "pfv", 0.3),
    ("beijos", "bjs", 0.4),
)

_KEY_NEIGHBOURS: Mapping[str, str] = {
    "q": "wa",
    "w": "qeas",
    "e": "wrsd",
    "r": "etdf",
    "t": "ryfg",
    "y": "tugh",
    "u": "yihj",
    "i": "uojk",
    "o": "ipkl",
    "p": "olç",
    "a": "qwsz",
    "s": "awedxz",
    "d": "serfcx",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kopç",
    "ç": "lp",
    "z": "asx",
    "x": "zsdc",
    "c": "xdfv",
    "v": "cfgb",
    "b": "vghn",
    "n": "bhjm",
    "m": "njk",
}
_STRETCHABLE = frozenset("aeiouáéíóúâêôãõsm")
_TYPO_KINDS: tuple[tuple[str, float], ...] = (
    ("dropped_accent", 0.35),
    ("adjacent_key", 0.3),
    ("doubled_letter", 0.2),
    ("transposition", 0.15),
)


@dataclass(frozen=True, slots=True)
class OfflineDraft:
    """A generated message and how it was made (what tests and the dashboard can explain)."""

    text: str
    topic: str
    greeting: str | None
    emoji: bool
    typo: str | None


@dataclass(slots=True)
class _Piece:
    text: str
    priority: int
    kind: str
    proper_start: bool = False  # starts with a name: never lowercase its first letter
    laugh: bool = False  # ends with "kkkk": the next sentence needs no separator


@dataclass(frozen=True, slots=True)
class _Register:
    abbreviations: Mapping[str, str]
    lowercase: bool
    drop_period: bool
    capitalize: bool


@dataclass(frozen=True, slots=True)
class _TopicIndex:
    topic: Topic
    aliases: re.Pattern[str] | None
    entities: tuple[tuple[str, Entity, re.Pattern[str]], ...]


def _word_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({fold(p) for p in phrases if fold(p)}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in folded) + r")\b")


def _index(topic: Topic) -> _TopicIndex:
    entities = []
    for slot in topic.followups:
        for entity in topic.slots.get(slot, ()):
            pattern = _word_pattern([entity.forms["name"]])
            if pattern is not None:
                entities.append((slot, entity, pattern))
    return _TopicIndex(topic, _word_pattern(topic.aliases), tuple(entities))


_INDEX: tuple[_TopicIndex, ...] = tuple(_index(t) for t in lx.TOPICS)
_GENERIC_INDEX = _index(lx.GENERIC_TOPIC)
# No usable topic string (empty, or only emoji): talk about the day instead of "{topic}".
_SMALL_TALK = Topic(
    key="small_talk",
    label="conversa do dia a dia",
    aliases=(),
    slots={},
    statements=lx.LIFE,
    questions=lx.GENERIC_QUESTIONS,
    reactions=lx.GENERIC_TOPIC.reactions,
)


def resolve_topic(topic: str, partner_text: str = "") -> Topic:
    """The lexicon topic a free-text topic names ("Futebol de domingo" -> futebol).

    An unknown topic falls back to what the partner is talking about, then to the generic
    topic (which writes about the topic string itself).
    """
    for text in (topic, partner_text):
        folded = fold(text)
        best: tuple[int, int, Topic] | None = None
        for idx in _INDEX:
            if idx.aliases is None:
                continue
            match = idx.aliases.search(folded)
            if match:
                key = (match.start(), -len(match.group(0)), idx.topic)
                if best is None or key[:2] < best[:2]:
                    best = key
        if best is not None:
            return best[2]
    return lx.GENERIC_TOPIC


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _decap(text: str) -> str:
    # "RH", "MPB": an acronym keeps its case; everything else starts lowercase.
    first = text.split(" ", 1)[0]
    if len(first) > 1 and first.isupper():
        return text
    return text[:1].lower() + text[1:]


@functools.lru_cache(maxsize=256)
def _words_pattern(words: frozenset[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b", re.IGNORECASE)


def _replace_words(text: str, mapping: Mapping[str, str]) -> str:
    if not mapping:
        return text
    pattern = _words_pattern(frozenset(mapping))

    def repl(m: re.Match[str]) -> str:
        word = m.group(0)
        out = mapping[word.lower()]
        if word[:1].isupper():
            out = _cap(out)
        return out

    return pattern.sub(repl, text)


def _split_end(text: str) -> tuple[str, str]:
    match = _END_PUNCT.search(text)
    return (text[: match.start()], match.group(0)) if match else (text, "")


def _truncate_words(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if text[limit] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–")


def _safe_text(raw: str | None, max_chars: int) -> str | None:
    """User text fit to be quoted in a message: one line, no emoji, no daypart greeting."""
    if raw is None:
        return None
    text = clean_line(raw)
    text = "".join(ch for ch in text if not has_emoji(ch)).strip(" .,;:!?-–\"'")
    text = clean_line(text)
    if len(text) > max_chars:
        text = _truncate_words(text, max_chars)
    if not text or not any(ch.isalnum() for ch in text) or daypart_greetings_in(text):
        return None
    return unicodedata.normalize("NFC", text)


def _partner_name(raw: str | None) -> str | None:
    name = _safe_text(raw, 80)
    if name is None:
        return None
    if len(name) > _MAX_NAME_CHARS:
        name = name.split(" ", 1)[0][:_MAX_NAME_CHARS]
    return name


class _Composer:
    """One message in the making. Holds the request, the RNG and the slot bindings."""

    def __init__(self, req: ReplyRequest, rng: random.Random) -> None:
        self.req = req
        self.rng = rng
        self.persona: PersonaSpec = req.persona
        self.style: str = req.persona.style
        self.daypart: Daypart = req.daypart
        self.lo = req.persona.min_length
        self.hi = req.persona.max_length
        partner = req.partner_last
        self.partner_text = partner.text if partner else ""
        self.topic_text = _safe_text(req.topic, _MAX_TOPIC_CHARS)
        self.name = _partner_name(req.partner_name)
        self.topic = resolve_topic(req.topic, self.partner_text)
        if self.topic is lx.GENERIC_TOPIC and self.topic_text is None:
            self.topic = _SMALL_TALK
        self.bindings: dict[str, Entity] = {}
        self.used: set[str] = set()
        self.history_folded = [fold(t.text) for t in req.history]
        self.asked_how_before = any(_asks_how_are_you(t.text) for t in req.own_turns)
        self.register: _Register | None = None
        self.topic_quoted = False

    # -- fragments ------------------------------------------------------------------------

    def _slot(self, slot: str) -> tuple[Entity, ...]:
        if slot in self.topic.slots:
            return self.topic.slots[slot]
        if slot in lx.DAYPART_SLOTS:
            return lx.DAYPART_SLOTS[slot].get(self.daypart, ())
        if slot in lx.STYLE_SLOTS:
            return lx.STYLE_SLOTS[slot].get(self.style, ())
        if slot in lx.SHARED_SLOTS:
            return lx.SHARED_SLOTS[slot]
        raise KeyError(slot)

    def _render(self, frag: Fragment) -> tuple[str, dict[str, Entity]] | None:
        """The fragment with its slots filled and the fillers it chose; None when a slot has
        no usable filler. Changes nothing: `pick` commits the candidate it keeps."""
        bound: dict[str, Entity] = {}

        def fill(m: re.Match[str]) -> str:
            slot, form = m.group(1), m.group(2) or ""
            if slot == "topic":
                # Quoting the user's topic twice in one message reads like a form letter.
                if self.topic_text is None or self.topic_quoted:
                    raise LookupError(slot)
                return self.topic_text
            entity = self.bindings.get(slot) or bound.get(slot)
            if entity is None:
                options = [e for e in self._slot(slot) if e.allowed(self.style, self.daypart)]
                if not options:
                    raise LookupError(slot)
                entity = self.rng.choice(options)
                bound[slot] = entity
            return entity.forms[form]

        try:
            return _SLOT.sub(fill, frag.text), bound
        except LookupError:
            return None

    def _commit(self, frag: Fragment, bound: Mapping[str, Entity]) -> None:
        # Later sentences of this message talk about the same team, dish, destination...
        self.bindings.update(bound)
        self.used.add(frag.text)
        if "{topic}" in frag.text:
            self.topic_quoted = True

    def render(self, frag: Fragment) -> str | None:
        """The fragment with its slots filled (committed), or None."""
        rendered = self._render(frag)
        if rendered is None:
            return None
        self._commit(frag, rendered[1])
        return rendered[0]

    def pick(self, frags: Sequence[Fragment], *, budget: int | None = None) -> str | None:
        """A rendered fragment allowed for this persona and daypart, preferring ones that are
        new to this round and fit the budget."""
        allowed = [f for f in frags if f.allowed(self.style, self.daypart)]
        fresh = [f for f in allowed if f.text not in self.used] or allowed
        if not fresh:
            return None
        best: tuple[int, str, Fragment, dict[str, Entity]] | None = None
        for _ in range(6):
            frag = self.rng.choice(fresh)
            rendered = self._render(frag)
            if rendered is None:
                continue
            text, bound = rendered
            folded = fold(text)
            said = any(folded and folded in h for h in self.history_folded)
            over = budget is not None and len(text) > budget
            penalty = (2 if said else 0) + (1 if over else 0)
            if best is None or penalty < best[0]:
                best = (penalty, text, frag, bound)
            if penalty == 0:
                break
        if best is None:
            return None
        self._commit(best[2], best[3])
        return best[1]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- conversation moves ---------------------------------------------------------------

    def topic_piece(self, *, prefer_question: bool, budget: int) -> _Piece | None:
        pools: list[tuple[Sequence[Fragment], str]] = [
            (self.topic.statements, "statement"),
            (self.topic.questions, "question"),
        ]
        if prefer_question:
            pools.reverse()
        for frags, kind in pools:
            text = self.pick(frags, budget=budget)
            if text:
                return _Piece(text, REQUIRED, kind)
        return None

    def question_piece(self, budget: int) -> _Piece | None:
        """A question that follows up on what the partner said, else one about the topic."""
        detected = self.detect_entity()
        if detected is not None:
            slot, entity = detected
            self.bindings.setdefault(slot, entity)
            text = self.pick(self.topic.followups[slot], budget=budget)
            if text:
                return _Piece(text, 40, "question")
        text = self.pick(self.topic.questions, budget=budget) if self.chance(0.8) else None
        text = text or self.pick(lx.GENERIC_QUESTIONS, budget=budget)
        return _Piece(text, 30, "question") if text else None

    def detect_entity(self) -> tuple[str, Entity] | None:
        if not self.partner_text:
            return None
        folded = fold(self.partner_text)
        index = next((i for i in _INDEX if i.topic is self.topic), _GENERIC_INDEX)
        found = [
            (slot, entity)
            for slot, entity, pattern in index.entities
            if entity.allowed(self.style, self.daypart) and pattern.search(folded)
        ]
        return self.rng.choice(found) if found else None

    def opening(self) -> tuple[str, str, list[_Piece]]:
        greeting = self.rng.choice(self.persona.greetings[self.daypart])
        lead = self.greeting_lead(greeting)
        pieces: list[_Piece] = []
        if "?" not in greeting and self.chance(0.75):
            text = self.pick(lx.HOW_ARE_YOU)
            if text:
                pieces.append(_Piece(text, 60, "how"))
        if self.chance(0.25):
            text = self.pick(lx.OPENERS)
            if text:
                pieces.append(_Piece(text, 20, "opener"))
        if self.chance(0.3):
            text = self.pick(lx.LIFE)
            if text:
                pieces.append(_Piece(text, 10, "life"))
        budget = self.hi - len(lead) - 2
        main = self.topic_piece(prefer_question=self.chance(0.45), budget=budget)
        if main is not None:
            pieces.append(main)
        return greeting, lead, pieces

    def greeting_lead(self, greeting: str) -> str:
        """The greeting as it opens the message: punctuated, sometimes with the partner's name."""
        if not greeting[-1].isalnum():
            return greeting
        plain = {
            "formal": ["!", "!", ",", ",", "."],
            "casual": [",", ",", "!"],
            "playful": ["!", "!!"],
        }[self.style]
        named = {
            "formal": [", {name}!", ", {name}."],
            "casual": [" {name},", ", {name},", ", {name}!"],
            "playful": [" {name}!", ", {name}!!"],
        }[self.style]
        # "Bom dia, meu amigo" already addresses someone: no second vocative.
        if self.name is not None and "," not in greeting and self.chance(0.4):
            ending = self.rng.choice(named).replace("{name}", self.name)
        else:
            ending = self.rng.choice(plain)
        lead = greeting + ending
        return lead if len(lead) <= self.hi - 12 else greeting

    def reply(self) -> list[_Piece]:
        pieces: list[_Piece] = []
        partner = self.partner_text
        how_asked = _asks_how_are_you(partner)
        question = not how_asked and "?" in partner
        budget = self.hi - 4
        if how_asked:
            pieces.append(_Piece(self.how_answer(), REQUIRED, "answer"))
            if not self.asked_how_before and not self.req.closing:
                text = self.pick(lx.RECIPROCALS)
                if text:
                    pieces.append(_Piece(text, 50, "reciprocal"))
        elif question:
            opener = self.pick(lx.ANSWER_OPENERS) or ""
            pool = self.topic.reactions if self.chance(0.35) else self.topic.statements
            body = self.pick(pool, budget=budget - len(opener) - 1)
            if body:
                # "Olha, o jogo..." but "Boa pergunta. O jogo...".
                lead_in = not opener.endswith((".", "!", "?"))
                text = f"{opener} {_decap(body) if lead_in else body}" if opener else body
                pieces.append(_Piece(text, REQUIRED, "answer"))
        elif partner and self.chance(0.75):
            text = self.pick(lx.ACKS)
            if text:
                pieces.append(_Piece(text, 45, "ack"))
        # Something of our own about the topic, unless the message already answers a question.
        if not question or self.chance(0.3):
            text = None
            if partner and self.chance(0.35):
                text = self.pick(self.topic.reactions, budget=budget)
            piece = (
                _Piece(text, REQUIRED, "reaction")
                if text
                else self.topic_piece(prefer_question=False, budget=budget)
            )
            if piece is not None:
                if any(p.priority >= REQUIRED for p in pieces):
                    piece.priority = KEPT
                pieces.append(piece)
        if not self.req.closing and self.chance(0.55):
            follow = self.question_piece(budget)
            if follow is not None:
                pieces.append(follow)
        if self.chance(0.15):
            text = self.pick(lx.LIFE)
            if text:
                pieces.insert(max(len(pieces) - 1, 0), _Piece(text, 10, "life"))
        return pieces

    def how_answer(self) -> str:
        """ "Tudo certo por aqui" or "Tudo certo por aqui, só um pouco de correria"."""
        base = self.pick(lx.HOW_ARE_YOU_ANSWERS) or "tudo bem por aqui"
        if self.chance(0.55):
            detail = self.pick(lx.HOW_ARE_YOU_DETAILS)
            if detail:
                base = f"{base}, {detail}"
        return base + "."

    def closing(self, pieces: list[_Piece]) -> list[_Piece]:
        """Turn the message into a goodbye: keep at most a short reply, then leave."""
        kept = [p for p in pieces if p.kind in {"answer", "ack", "reaction", "statement"}][:2]
        for i, p in enumerate(kept):
            p.priority = KEPT if i == 0 else 50
        if self.chance(0.5):
            text = self.pick(lx.PRE_CLOSERS)
            if text:
                kept.append(_Piece(text, 40, "pre_closer"))
        text = self.pick(lx.CLOSERS) or ""
        kept.append(_Piece(text, REQUIRED, "closer"))
        if self.chance(0.3):
            wish = self.pick(lx.WISHES)
            if wish:
                kept.append(_Piece(wish, 30, "closer"))
        return kept

    # -- persona touches ------------------------------------------------------------------

    def add_vocabulary(self, pieces: list[_Piece]) -> None:
        """One of the persona's expressions, as a lead-in ("Aliás, ...") or a tag (", mano")."""
        if not self.persona.vocabulary or not pieces or not self.chance(0.45):
            return
        word = self.rng.choice(self.persona.vocabulary)
        # Formulas stay clean: "com certeza, preciso ir agora", "meu caro, tudo bem?" and
        # "inclusive, entendo" are not how people write. Content sentences take the word.
        # Questions too: "graças a Deus, você já foi?" reads wrong whichever the expression.
        formulas = {"closer", "pre_closer", "how", "reciprocal", "ack", "question"}
        candidates = [
            p for p in pieces if p.kind not in formulas and not p.text.rstrip().endswith("?")
        ]
        if not candidates:
            return
        piece = self.rng.choice(candidates)
        # A tag reads oddly after a trailing "...": that gets a lead-in. An answer already
        # has one ("Olha, ..."): it gets a tag.
        tag_only = piece.kind == "answer" or piece.proper_start
        lead_only = piece.text.rstrip().endswith("...")
        if tag_only and lead_only:
            return
        if not tag_only and (lead_only or self.chance(0.6)):
            piece.text = f"{_cap(word)}, {_decap(piece.text)}"
        else:
            core, end = _split_end(piece.text)
            piece.text = f"{core.rstrip(',')}, {word}{end}"

    def add_name(self, pieces: list[_Piece]) -> None:
        if self.name is None or not pieces or not self.chance(0.12):
            return
        first = pieces[0]
        if not first.proper_start:
            first.text = f"{self.name}, {_decap(first.text)}"
            first.proper_start = True

    def _register(self) -> _Register:
        # Decided once per message, so every sentence of a message reads the same way.
        if self.register is None:
            abbreviations = {
                long: short for long, short, rate in _CASUAL_ABBREVIATIONS if self.chance(rate)
            }
            self.register = _Register(
                abbreviations=abbreviations,
                lowercase=self.chance(0.65),
                drop_period=self.chance(0.75),
                capitalize=self.chance(0.85),
            )
        return self.register

    def realize(self, pieces: list[_Piece]) -> None:
        """Apply the persona's register to every piece (in place)."""
        reg = self._register()
        for p in pieces:
            if self.style == "formal":
                text = _replace_words(p.text, _FORMAL_WORDS)
                core, end = _split_end(text)
                text = (core if p.proper_start else _cap(core)) + (end or ".")
            elif self.style == "casual":
                text = _replace_words(p.text, reg.abbreviations)
                if not p.proper_start:
                    text = _decap(text) if reg.lowercase else _cap(text)
            else:
                core, end = _split_end(p.text)
                if end == "." and self.chance(0.65):
                    end = "!"
                if end == "!" and self.chance(0.25):
                    end = "!!"
                if end == "?" and self.chance(0.3):
                    end = "??"
                if self.chance(0.2):
                    core = _stretch_last_word(core, self.rng)
                text = core + end
                if p.kind == "ack" and len(text) <= 14 and self.chance(0.15):
                    text = text.upper()
                elif not p.proper_start:
                    text = _cap(text) if reg.capitalize else _decap(text)
            p.text = text

    def add_laugh(self, pieces: list[_Piece]) -> None:
        rate = {"formal": 0.0, "casual": 0.3, "playful": 0.45}[self.style]
        if not pieces or not self.chance(rate):
            return
        laugh = self.pick(lx.LAUGHS)
        if not laugh:
            return
        target = next((p for p in pieces if p.kind in {"ack", "reaction"}), pieces[-1])
        target.text = f"{target.text} {laugh}"
        target.laugh = True

    def emoji(self) -> str:
        pool = [
            f
            for f in (*lx.STYLE_EMOJI[self.style], *self.topic.emoji)
            if f.allowed(self.style, self.daypart)
        ]
        count_weights = {"formal": (1, 0, 0), "casual": (75, 25, 0), "playful": (45, 35, 20)}
        count = self.rng.choices((1, 2, 3), weights=count_weights[self.style])[0]
        first = self.rng.choice(pool).text
        if count == 1:
            return first
        if self.chance(0.5):
            return first * count
        return first + "".join(self.rng.choice(pool).text for _ in range(count - 1))

    def filler(self, room: int, deficit: int) -> str | None:
        """A piece of at most `room` characters to grow a too-short message."""
        candidates: list[str] = []
        for pool in (self.topic.statements, lx.LIFE, self.topic.reactions):
            text = self.pick(pool)
            if text:
                candidates.append(text)
        candidates.extend(f.text for f in lx.FILLERS if f.allowed(self.style, self.daypart))
        pieces = [_Piece(text, 0, "filler") for text in candidates]
        self.realize(pieces)
        fitting = [p.text for p in pieces if len(p.text) <= room]
        enough = [t for t in fitting if len(t) >= deficit]
        if enough:
            return self.rng.choice(enough)
        return max(fitting, key=len) if fitting else None

    # -- the message ----------------------------------------------------------------------

    def compose(self) -> OfflineDraft:
        req = self.req
        greeting: str | None = None
        lead = ""
        if req.opening:
            greeting, lead, pieces = self.opening()
        else:
            pieces = self.reply()
        if req.closing:
            pieces = self.closing(pieces)
        if not pieces:
            piece = self.topic_piece(prefer_question=False, budget=self.hi)
            pieces = [piece] if piece else [_Piece(self.pick(lx.FILLERS) or "", 0, "filler")]
        if not req.opening:
            self.add_name(pieces)
        self.add_vocabulary(pieces)
        lower_first = bool(lead) and lead[-1] not in ".!?"
        self.realize(pieces)
        self.add_laugh(pieces)

        with_emoji = self.chance(self.persona.emoji_rate)
        tail = ""
        if with_emoji:
            emoji = self.emoji()
            # "Bom dia! ☀️ Tudo bem?" reads well; "eai, 😄 tudo certo?" does not.
            after_lead = bool(lead) and not lead.endswith(",")
            if after_lead and self.chance(0.3) and len(lead) + len(emoji) + 1 <= self.hi - 12:
                lead = f"{lead} {emoji}"
            else:
                tail = emoji

        text = self.fit(lead, pieces, tail, lower_first=lower_first)
        if tail and tail not in text:
            with_emoji = False  # a very short maximum left no room for it
        typo: str | None = None
        if self.chance(self.persona.typo_rate):
            protected = len(greeting) if greeting else 0
            typed, typo = _add_typo(
                text,
                self.rng,
                protected=protected,
                max_length=self.hi,
                keep=frozenset((self.name or "").split()),
            )
            # A typo must never turn a word into another daypart's greeting.
            if typo and not daypart_greetings_in(typed) - {self.daypart}:
                text = typed
            else:
                typo = None
        return OfflineDraft(
            text=text, topic=self.topic.key, greeting=greeting, emoji=with_emoji, typo=typo
        )

    def join(self, pieces: Sequence[_Piece], *, lower_first: bool) -> str:
        """The pieces as one text. A piece without end punctuation (casual "pois é") is
        followed by a comma when short and a period when long, so sentences never run on."""
        out = ""
        previous: _Piece | None = None
        for piece in pieces:
            text = piece.text
            if not text:
                continue
            if previous is None:
                out = _decap(text) if lower_first and not piece.proper_start else text
            elif out[-1].isalnum() and not previous.laugh:
                if len(previous.text) <= 30:
                    out += ", " + (text if piece.proper_start else _decap(text))
                else:
                    out += ". " + text
            else:
                out += " " + text
            previous = piece
        return out

    def fit(self, lead: str, pieces: list[_Piece], tail: str, *, lower_first: bool) -> str:
        """Drop, trim or add pieces until the message is within [min_length, max_length]."""
        pieces = list(pieces)
        mode = self.lo + (self.hi - self.lo) * 0.4
        target = round(self.rng.triangular(self.lo, self.hi, mode))
        drop_period = self.style == "casual" and self._register().drop_period

        def body_of(ps: Sequence[_Piece]) -> str:
            body = self.join(ps, lower_first=lower_first)
            if drop_period and body.endswith(".") and not body.endswith(".."):
                body = body[:-1]
            return body

        def assemble(ps: Sequence[_Piece]) -> str:
            return " ".join(part for part in (lead, body_of(ps), tail) if part)

        def cut(ps: list[_Piece]) -> list[_Piece]:
            # Required pieces alone are too long (a tight range): cut at a word boundary.
            budget = self.hi - len(lead) - len(tail) - bool(lead) - bool(tail)
            body = _truncate_words(body_of(ps), budget)
            return [_Piece(body, REQUIRED, "body", proper_start=True)] if body else []

        for limit, keep_from in ((target, KEPT), (self.hi, REQUIRED)):
            while len(assemble(pieces)) > limit:
                droppable = [i for i, p in enumerate(pieces) if p.priority < keep_from]
                if not droppable:
                    break
                del pieces[min(droppable, key=lambda i: (pieces[i].priority, -i))]
        if len(assemble(pieces)) > self.hi:
            pieces = cut(pieces)
        while len(assemble(pieces)) < self.lo:
            current = len(assemble(pieces))
            # Inserting a piece adds up to two separators of two characters, minus one space.
            extra = self.filler(room=self.hi - current - 3, deficit=self.lo - current - 1)
            if extra is None:
                break
            # Padding goes before the goodbye, never after it.
            at = len(pieces)
            while at > 0 and pieces[at - 1].kind in {"closer", "pre_closer"}:
                at -= 1
            pieces.insert(at, _Piece(extra, 0, "filler"))
        if len(assemble(pieces)) > self.hi:
            pieces = cut(pieces)
        if len(assemble(pieces)) > self.hi and tail:
            # Even the greeting and the emoji alone are too long (a very short maximum):
            # the decoration goes before any word does.
            tail = ""
            if len(assemble(pieces)) > self.hi:
                pieces = cut(pieces)
        text = assemble(pieces)
        if len(text) > self.hi:  # the greeting alone: cut it at a word boundary
            text = _truncate_words(text, self.hi) or text[: self.hi].rstrip()
        return text


def _asks_how_are_you(text: str) -> bool:
    for sentence in _SENTENCE.findall(text):
        if "?" in sentence:
            folded = fold(sentence)
            if len(folded) <= _HOW_ARE_YOU_MAX_CHARS and _HOW_ARE_YOU.search(folded):
                return True
    return False


def _stretch_last_word(text: str, rng: random.Random) -> str:
    match = re.search(r"([^\W\d_]{3,})(\W*)$", text)
    # People stretch vowels and soft endings ("demaaais", "simmm"), not "pettt".
    if not match or not match.group(1).islower() or match.group(1)[-1] not in _STRETCHABLE:
        return text
    word = match.group(1)
    stretched = word + word[-1] * rng.randint(2, 3)
    return text[: match.start(1)] + stretched + match.group(2)


def _strip_accent(ch: str) -> str:
    return unicodedata.normalize("NFKD", ch)[0]


def _add_typo(
    text: str,
    rng: random.Random,
    *,
    protected: int,
    max_length: int,
    keep: frozenset[str] = frozenset(),
) -> tuple[str, str | None]:
    """One natural typo somewhere after `protected` characters, never in a word of `keep`
    (people misspell their own words, not the name they are writing to)."""
    words = [
        m
        for m in re.finditer(r"[^\W\d_]+", text)
        if m.start() >= protected
        and len(m.group(0)) >= 3
        and len(set(m.group(0).lower())) > 1
        and m.group(0) not in keep
    ]
    if not words:
        return text, None
    first = rng.choices([k for k, _ in _TYPO_KINDS], weights=[w for _, w in _TYPO_KINDS])[0]
    # The drawn kind first; if it has nothing to work on, any other that does.
    for kind in (first, *(k for k, _ in _TYPO_KINDS if k != first)):
        result = _apply_typo(kind, text, words, rng, max_length)
        if result is not None and result != text:
            return result, kind
    return text, None


def _apply_typo(
    kind: str, text: str, words: Sequence[re.Match[str]], rng: random.Random, max_length: int
) -> str | None:
    def positions(pred: Callable[[str, int], bool]) -> list[int]:
        return [
            m.start() + i for m in words for i in range(1, len(m.group(0))) if pred(m.group(0), i)
        ]

    if kind == "dropped_accent":
        spots = positions(lambda w, i: _strip_accent(w[i]) != w[i])
        spots += [m.start() for m in words if _strip_accent(m.group(0)[0]) != m.group(0)[0]]
        if not spots:
            return None
        at = rng.choice(spots)
        return text[:at] + _strip_accent(text[at]) + text[at + 1 :]
    if kind == "adjacent_key":
        spots = positions(lambda w, i: w[i].lower() in _KEY_NEIGHBOURS)
        if not spots:
            return None
        at = rng.choice(spots)
        ch = text[at]
        new = rng.choice(_KEY_NEIGHBOURS[ch.lower()])
        return text[:at] + (new.upper() if ch.isupper() else new) + text[at + 1 :]
    if kind == "doubled_letter":
        if len(text) + 1 > max_length:
            return None
        # A doubled key press, so a plain letter: "muitto", never "múúsica".
        spots = positions(lambda w, i: w[i].isascii() and w[i].isalpha())
        if not spots:
            return None
        at = rng.choice(spots)
        return text[: at + 1] + text[at] + text[at + 1 :]
    if kind == "transposition":
        spots = positions(lambda w, i: i + 1 < len(w) and w[i] != w[i + 1])
        if not spots:
            return None
        at = rng.choice(spots)
        return text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    raise ValueError(f"unknown typo kind: {kind}")


class OfflineGenerator:
    """Writes replies without an LLM. Stateless; safe to share between tasks."""

    def compose(self, req: ReplyRequest, rng: random.Random) -> OfflineDraft:
        return _Composer(req, rng).compose()

    def generate(self, req: ReplyRequest, rng: random.Random) -> str:
        return self.compose(req, rng).text
