"""The offline generator: persona- and daypart-correct pt-BR chat messages without an LLM.

A message is a plan of dialogue acts decided by the conversation model (`dialogue`): answer
what the partner asked (the same intent, about the same thing), react to what they shared
(in its mood: "putz" to bad news, "que massa" to good news; about the thing they named),
then keep the round going with one question, a follow-up or something of one's own — or, at
the round's last message, wrap up (a goodbye only sometimes). Greetings open only the first
round of a daypart between the pair; persona memory keeps the facts each side stated and the
statements each made (never contradicted, news never told twice, picked up in a later
round). No sentence skeleton is used twice in a round (`guard.skeletons`). The acts are
written from `lexicon` and `threads` templates, realized in the persona's register,
given emoji and typos at the persona's rates, and fitted to its length range. Everything is a
pure function of the request and the `random.Random` passed in, so a seed reproduces a
message.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mirage.ai import lexicon as lx
from mirage.ai import threads as th
from mirage.ai.dialogue import (
    SMALL_TALK,
    Asked,
    Claim,
    DialogueState,
    asks_how_are_you,
    canon,
    claims_in,
    is_back,
    read_state,
    resolve_topic,
)
from mirage.ai.guard import skeletons
from mirage.ai.lexicon import Entity, Fragment
from mirage.ai.mood import Mood, fits, is_personal, mood_of
from mirage.ai.persona import PersonaSpec, ReplyRequest
from mirage.ai.text import Daypart, clean_line, daypart_greetings_in, fold, has_emoji
from mirage.ai.threads import Intent

__all__ = ["OfflineDraft", "OfflineGenerator", "resolve_topic"]

# Piece priorities: REQUIRED pieces are always kept; KEPT ones go only when the message would
# exceed max_length; lower ones are dropped (lowest first) to reach the drawn target length.
REQUIRED = 100
# A question goes before the answer it would follow is cut: a message that only answers is
# still a reply, a cut answer is not.
ASKED = 99
KEPT = 90
_MAX_TOPIC_CHARS = 40
_MAX_NAME_CHARS = 20
_SLOT = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
_END_PUNCT = re.compile(r"[.!?…]+$")

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

# Persona expressions that are reactions in themselves ("suave", "firmeza", "brabo"): glued to
# another sentence they read wrong, so they are not added as lead-ins or tags.
_REACTION_WORDS = frozenset(
    fold(w)
    for w in (
        *("suave", "firmeza", "brabo", "tenso", "show", "top", "massa", "daora", "sério"),
        *("com certeza", "sem dúvida", "de fato", "pois não", "verdade", "pois é", "aff"),
    )
)
# Agreement: a reaction to an opinion, not to news about the partner's life.
_AGREEMENT_WORDS = frozenset(
    fold(w) for w in ("com certeza", "sem dúvida", "de fato", "pois não", "verdade", "pois é")
)
_PLAN = re.compile(r"\b(?:vou|quero|vai|vamos|amanha|semana que vem|planejando|pensando em)\b")
_BLESSINGS: Mapping[str, Callable[[str], bool]] = {
    fold("graças a Deus"): lambda text: mood_of(text) == "good",
    fold("se Deus quiser"): lambda text: bool(_PLAN.search(fold(text))),
}
_AGREEMENT_TAGS = frozenset(fold(w) for w in ("com certeza", "sem dúvida"))
# An answer that starts with a yes ("Vou sim", "Gosto, principalmente...", "Curto demais").
_YES = tuple(
    fold(w) + " " for w in ("sim", "vou sim", "gosto", "curto", "adoro", "jogo sim", "com certeza")
)
_VOCATIVE_OPENERS = frozenset(fold(w) for w in ("cara", "menina", "gente", "mano", "amiga"))
_SAID = frozenset({"answer", "statement", "filler", "ack", "reaction"})
# Connectives ("Aliás, ...") lead a sentence that follows another: never a message's first.
_CONNECTIVES = frozenset(fold(w) for w in ("inclusive", "aliás", "enfim", "além disso"))
# Expressions that can close a sentence as a tag: vocatives and emphases.
_TAG_WORDS = frozenset(
    fold(w)
    for w in (
        *("mano", "mano do céu", "amiga", "amigo", "menina", "meu caro", "minha cara", "cara"),
        *("pô", "na moral", "real", "papo reto", "graças a Deus", "se Deus quiser", "viu"),
        *("hein", "né", "querida", "querido", "meu amigo", "minha amiga", "velho", "véi"),
        "gente",
    )
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
    # The dialogue acts the message performs, in order (greet, ask, answer, react, share,
    # follow_up, close), the questions it asks and answers (`dialogue.Asked.ref`: "how" or
    # "intent:entity"), and what it shares ("slot:entity"). Empty when the message had to be
    # cut to fit a very short maximum.
    acts: tuple[str, ...] = ()
    asked: tuple[str, ...] = ()
    answered: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()
    # The reaction as written (None: the message reacts to nothing), and the intent of a
    # thread picked up from an earlier round at the opening ("E a academia nova?").
    reaction: str | None = None
    callback: str | None = None


@dataclass(slots=True)
class _Piece:
    text: str
    priority: int
    kind: str
    proper_start: bool = False  # starts with a name: never lowercase its first letter
    laugh: bool = False  # ends with "kkkk": the next sentence needs no separator
    act: str = ""  # the dialogue act ("" for decoration: fillers, openers)
    ref: str | None = None  # what an ask or answer is about (`dialogue.Asked.ref`)
    callback: str | None = None  # the earlier thread this question picks up (intent key)
    # "Aliás": a connective leading this piece, written only if something comes before it.
    connective: str = ""


@dataclass(frozen=True, slots=True)
class _Register:
    abbreviations: Mapping[str, str]
    lowercase: bool
    drop_period: bool
    capitalize: bool


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
        # The round's topic, not whatever the partner's words suggest: a round about
        # "eleições municipais" stays there even when the partner mentions lunch.
        self.topic = resolve_topic(req.topic)
        if self.topic is lx.GENERIC_TOPIC and self.topic_text is None:
            self.topic = SMALL_TALK
        self.state: DialogueState = read_state(req, self.topic)
        self.bindings: dict[str, Entity] = {}
        # Facts this persona stated before (its team, its pet): what it says stays true.
        self.facts: dict[str, Entity] = dict(self.state.own_facts)
        self.own_first = False
        self.used: set[str] = set()
        # Not said again: this round's messages and the earlier rounds' (both sides).
        # Compared in one spelling: Rafa's "tô pegando leve" repeats Helena's "Estou...".
        self.history_folded = [canon(t.text) for t in req.history]
        self.history_folded += [canon(t.text) for r in req.earlier for t in r.turns]
        self.asked_how_before = any(asks_how_are_you(t.text) for t in req.own_turns)
        # What this persona said about itself (earlier rounds and this message): kept true.
        self.claims: dict[str, Claim | tuple[str, bool]] = dict(self.state.own_claims)
        # Sentence skeletons of this round: none is used twice.
        self.round_skeletons: set[tuple[str, ...]] = set()
        for turn in req.history:
            self.round_skeletons |= skeletons(turn.text)
        self.register: _Register | None = None
        self.topic_quoted = False
        self.last_frag: Fragment | None = None
        self.last_bound: dict[str, Entity] = {}
        # The pieces that made it into the text, after fitting (None: cut to fit).
        self.kept: list[_Piece] | None = []

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
            entity = bound.get(slot)
            if entity is None and self.own_first:
                entity = self.facts.get(slot)
            entity = entity or self.bindings.get(slot) or self.facts.get(slot)
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

    def _commit(self, frag: Fragment, bound: Mapping[str, Entity], text: str = "") -> None:
        # Later sentences of this message talk about the same team, dish, destination...
        self.bindings.update(bound)
        self.used.add(frag.text)
        if "{topic}" in frag.text:
            self.topic_quoted = True
        for said in (frag, *claims_in(text, self.topic)) if text else (frag,):
            if said.claim is not None and "{" not in said.claim[0]:
                self.claims.setdefault(said.claim[0], (said.claim[1], said.news))
        self.round_skeletons |= skeletons(text)

    def _keeps_claims(self, frag: Fragment) -> bool:
        """Whether saying `frag` keeps this persona consistent: no other value of a key it
        stated ("parei de jogar bola", then "joguei uma pelada"), no piece of news twice."""
        if frag.claim is None or "{" in frag.claim[0]:
            return True  # about a thing ("{dest}"): checked on the text, once it names one
        said = self.claims.get(frag.claim[0])
        if said is None:
            return True
        value = said.value if isinstance(said, Claim) else said[0]
        return value == frag.claim[1] and not frag.news

    def _keeps_claims_in(self, text: str) -> bool:
        """The same for a rendered text, as memory will read it back: "Treinei cedinho hoje"
        reads as training in the morning, whatever template wrote it."""
        return all(self._keeps_claims(f) for f in claims_in(text, self.topic))

    def render(self, frag: Fragment) -> str | None:
        """The fragment with its slots filled (committed), or None."""
        rendered = self._render(frag)
        if rendered is None:
            return None
        self._commit(frag, rendered[1], rendered[0])
        return rendered[0]

    def pick(
        self, frags: Sequence[Fragment], *, budget: int | None = None, strict: bool = False
    ) -> str | None:
        """A rendered fragment allowed for this persona and daypart, preferring ones that are
        new to this round and fit the budget; `strict`: only new ones (the caller can do
        without: a reaction said just before is not said again, a plain "que bom" is)."""
        allowed = [
            f for f in frags if f.allowed(self.style, self.daypart) and self._keeps_claims(f)
        ]
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
            if not self._keeps_claims_in(text):
                continue
            folded = canon(text)
            said = any(folded and folded in h for h in self.history_folded)
            # A template already used in this round ("Tô numa fase de..." twice).
            twice = bool(self.round_skeletons & skeletons(text))
            over = budget is not None and len(text) > budget
            penalty = (2 if said or twice else 0) + (1 if over else 0)
            if best is None or penalty < best[0]:
                best = (penalty, text, frag, bound)
            if penalty == 0:
                break
        if best is None or (strict and best[0] >= 2):
            return None
        self._commit(best[2], best[3], best[1])
        self.last_frag, self.last_bound = best[2], best[3]
        return best[1]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # -- dialogue acts ---------------------------------------------------------------------

    def _entity_in(self, frag: Fragment | None, slot: str | None) -> Entity | None:
        """The entity a just-picked fragment names for `slot` (None if it does not name it)."""
        if frag is None or slot is None or "{" + slot not in frag.text:
            return None
        return self.bindings.get(slot) or self.facts.get(slot)

    def ask(
        self, intent: Intent, entity: Entity | None = None, *, act: str = "ask"
    ) -> _Piece | None:
        """A question of `intent`, about `entity` when given (what the partner mentioned)."""
        if entity is not None and intent.slot is not None:
            self.bindings[intent.slot] = entity
        text = self.pick(intent.questions)
        if not text:
            return None
        named = self._entity_in(self.last_frag, intent.slot)
        ref = Asked(intent=intent, entity=named).ref
        return _Piece(text, ASKED, "question", act=act, ref=ref)

    def answer(self, asked: Asked) -> _Piece:
        """The answer to one question: about the same intent and the same thing."""
        # Two questions to answer in one message: each answer gets half the room.
        budget = self.hi // max(1, len(self.state.owed)) - 4
        if asked.how:
            how = self.how_answer(detail=len(self.state.owed) < 2)
            return _Piece(how, REQUIRED, "answer", act="answer", ref="how")
        intent = asked.intent
        text: str | None = None
        if intent is not None:
            if asked.entity is not None and intent.slot is not None:
                self.bindings[intent.slot] = asked.entity
            elif intent.fact and intent.slot is not None:
                # "Pra que time você torce?": this persona's own team, not the one the
                # partner just mentioned.
                self.bindings.pop(intent.slot, None)
                self.own_first = True
            try:
                text = self.pick(intent.answers, budget=budget)
            finally:
                self.own_first = False
        if text is not None:
            if self.chance(0.2):
                opener = self.pick(lx.ANSWER_OPENERS) or ""
                if opener and not opener.endswith((".", "!", "?")) and self.chance(0.6):
                    text = f"{opener} {_decap(text)}"
            return _Piece(text, REQUIRED, "answer", act="answer", ref=asked.ref)
        # A question the model does not know (written by the LLM or a person): an honest
        # "Olha, ..." followed by something about the topic.
        opener = self.pick(lx.ANSWER_OPENERS) or ""
        room = budget - len(opener) - 1
        body = self.pick(self.topic.statements, budget=room) or self.pick(lx.LIFE) or ""
        lead_in = not opener.endswith((".", "!", "?"))
        text = f"{opener} {_decap(body) if lead_in else body}".strip() if opener else body
        return _Piece(text, REQUIRED, "answer", act="answer", ref=asked.ref)

    def react(self, *, alone: bool) -> _Piece | None:
        """A reaction to what the partner said, in its mood ("putz" to bad news, never "que
        massa"), about what they named: the topic's own words, or a short "que bom"."""
        st = self.state
        for slot, entity in st.shared:
            self.bindings.setdefault(slot, entity)
        priority = REQUIRED if alone else 60
        reactions = self.fitting_reactions()
        if reactions and self.chance(0.45):
            text = self.pick(reactions, strict=True)
            if text:
                return _Piece(text, priority, "reaction", act="react")
        acks = [f for f in lx.ACKS if "?" not in f.text and self._fits(f)]
        if st.shared_mood in {"bad", "good"} and self.chance(0.7):
            # News mostly gets a reaction in its mood ("putz" to bad news, "que massa" to
            # good news), not a flat "interessante".
            acks = [f for f in acks if _mood(f) == st.shared_mood] or acks
        text = self.pick(acks, strict=True) or self.pick(acks)
        return _Piece(text, priority, "ack", act="react") if text else None

    def fitting_reactions(self) -> list[Fragment]:
        """The topic's reactions that fit what the partner just shared: its mood, and the
        thing it names ("Que sonho." needs a destination, "Nem me fala, o {team}" a team)."""
        st = self.state
        named = {slot for slot, _ in st.shared}
        # "Jura?", "Família é tudo, né?": rhetorical, but read as questions owed an answer.
        return [
            f
            for f in self.topic.reactions
            if "?" not in f.text and self._fits(f) and _topic_slots(f, self.topic.slots) <= named
        ]

    def _fits(self, frag: Fragment) -> bool:
        """A reaction in the share's mood, about what it names; agreement ("verdade") only
        to an opinion, never to news about the partner's life."""
        st = self.state
        if not fits(_mood(frag), st.shared_mood):
            return False
        if frag.about == "opinion":
            return not st.shared_personal
        return frag.about is None or any(slot == frag.about for slot, _ in st.shared)

    def share(self, *, priority: int = REQUIRED) -> _Piece | None:
        """Something of one's own about the topic; personal facts are this persona's."""
        self.own_first = True
        try:
            text = self.pick(self.topic.statements, budget=self.hi - 4, strict=True)
        finally:
            self.own_first = False
        if not text:
            return None
        frag = self.last_frag
        named = sorted(
            f"{slot}:{self.bindings[slot].forms['name']}"
            for slot in self.topic.slots
            if frag is not None and "{" + slot in frag.text and slot in self.bindings
        )
        piece = _Piece(text, priority, "statement", act="share", ref=",".join(named) or None)
        return piece

    def follow_up(self) -> _Piece | None:
        """A question about what the partner just shared."""
        st = self.state
        for slot, entity in st.shared:
            options = [
                i
                for i in st.intents
                if i.about and i.slot == slot and i.key not in st.asked_in_round
            ]
            if options:
                return self.ask(self.rng.choice(options), entity, act="follow_up")
        return None

    def new_question(self) -> _Piece | None:
        """A question not asked in this round nor lately, never one whose answer is known."""
        st = self.state
        fresh = [
            i
            for i in st.intents
            if not i.about
            and not i.callback
            and i.key not in st.asked_in_round
            and i.key not in st.asked_recently
            and not (i.fact and i.slot in st.partner_facts)
            # "Você curte novela?" after they said they don't: already known.
            and not (i.claim is not None and i.claim in st.partner_claims)
        ]
        own = [i for i in fresh if not i.key.startswith("day.")]
        pool = own if own and (self.topic is SMALL_TALK or self.chance(0.9)) else fresh
        self.rng.shuffle(pool)
        for intent in pool:
            piece = self.ask(intent)
            if piece is not None:
                return piece
        return None

    def ask_back(self, answered: Asked) -> _Piece | None:
        """ "E você?": the question just answered, asked back."""
        if answered.how:
            # With a topic question also answered, a bare "e você?" would ask that one back.
            topical = any(not a.how for a in self.state.owed)
            asking = [f for f in lx.RECIPROCALS if "?" in f.text]
            explicit = [f for f in asking if not is_back(f.text)]
            text = self.pick(explicit if topical else asking)
            return _Piece(text, ASKED, "question", act="ask", ref="how") if text else None
        text = self.pick(th.BACK)
        return _Piece(text, ASKED, "question", act="ask", ref=answered.ref) if text else None

    def resume(self) -> _Piece | None:
        """A round later in the same daypart: no second greeting, at most a lead-in."""
        if not self.chance(0.3):
            return None
        text = self.pick(th.RESUMES)
        return _Piece(text, 20, "opener") if text else None

    def opening(self) -> tuple[str | None, str, list[_Piece]]:
        st = self.state
        pieces: list[_Piece] = []
        greeting: str | None = None
        lead = ""
        # The first round of the day greets; a later daypart greets again only now and then
        # (a "boa noite" after a morning chat happens, but friends mostly just carry on).
        if st.first_of_daypart and (st.first_of_day or self.chance(0.12)):
            greeting = self.rng.choice(self.persona.greetings[self.daypart])
            lead = self.greeting_lead(greeting)
            if st.first_of_day and "?" not in greeting and self.chance(0.7):
                text = self.pick(lx.HOW_ARE_YOU)
                # "Espero que esteja tudo bem." wishes; only a question is owed an answer.
                if text and "?" in text:
                    pieces.append(_Piece(text, ASKED, "how", act="ask", ref="how"))
                elif text:
                    pieces.append(_Piece(text, 60, "how"))
            if self.chance(0.2):
                text = self.pick(lx.OPENERS)
                if text:
                    pieces.append(_Piece(text, 20, "opener"))
        else:
            piece = self.resume()
            if piece is not None:
                pieces.append(piece)
        how = any(p.ref == "how" for p in pieces)
        main: list[_Piece | None] = []
        if st.callback is not None and self.chance(0.7):
            # Pick up the thread of an earlier round: "E aí, conseguiu ir pra Bahia?".
            intent, entity = st.callback
            piece = self.ask(intent, entity, act="follow_up")
            if piece is not None:
                piece.callback = intent.key
            main.append(piece)
        else:
            roll = self.rng.random()
            if how:
                main.append(self.share() if roll < 0.6 else self.new_question())
            elif roll < 0.35:
                main += [self.share(priority=KEPT), self.new_question()]
            elif roll < 0.7:
                main.append(self.new_question())
            else:
                main.append(self.share())
        pieces += [p for p in main if p is not None]
        if not any(p.act in {"ask", "share", "follow_up"} for p in pieces):
            piece = self.share() or self.new_question()
            if piece is not None:
                pieces.append(piece)
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
        st = self.state
        pieces = [self.answer(asked) for asked in st.owed]
        react_too = 0.6 if self.req.closing else 0.3
        if st.partner_spoke and (not st.owed or (st.shared and self.chance(react_too))):
            piece = self.react(alone=not st.owed)
            if piece is not None:
                # "Que bacana! Sair, com certeza...": the reaction before the answers.
                pieces.insert(0, piece)
        if self.req.closing:
            # The round's last message asks nothing (no one would answer it).
            if not pieces:
                piece = self.react(alone=True) if st.partner_spoke else self.share()
                pieces = [piece] if piece else []
            return pieces
        # Keep the round going with exactly one question, or something to react to.
        topical = [a for a in st.owed if not a.how]
        nxt: list[_Piece | None] = []
        if any(a.how for a in st.owed) and not self.asked_how_before:
            nxt.append(self.ask_back(Asked(how=True)))
            if self.chance(0.4):
                nxt.insert(0, self.share(priority=KEPT))
        elif (
            topical
            and topical[-1].intent is not None
            and topical[-1].intent.back
            and topical[-1].intent.key not in self._asked_back()
            and self.chance(0.5)
        ):
            nxt.append(self.ask_back(topical[-1]))
        elif st.shared and not st.owed and self.chance(0.7):
            nxt.append(self.follow_up())
        if not any(p is not None for p in nxt):
            roll = self.rng.random()
            if roll < 0.3:
                nxt.append(self.share())
            elif roll < 0.55:
                nxt += [self.share(priority=KEPT), self.new_question()]
            else:
                nxt.append(self.new_question())
        pieces += [p for p in nxt if p is not None]
        if not any(p.act in {"ask", "follow_up", "share"} for p in pieces[len(st.owed) :]):
            piece = self.new_question() or self.share()
            if piece is not None:
                pieces.append(piece)
        if st.owed:
            # Something of one's own after an answer goes first when the message is too long.
            for p in pieces:
                if p.act == "share":
                    p.priority = KEPT
        return pieces

    def _asked_back(self) -> set[str]:
        """What this persona asked last: a question it is now asked back ("E você?") is not
        asked back again."""
        return {a.intent.key for a in self.state.my_last_asked if a.intent is not None}

    def how_answer(self, *, detail: bool = True) -> str:
        """ "Tudo certo por aqui" or "Tudo certo por aqui, só um pouco de correria"."""
        base = self.pick(lx.HOW_ARE_YOU_ANSWERS) or "tudo bem por aqui"
        if detail and self.chance(0.55):
            extra = self.pick(lx.HOW_ARE_YOU_DETAILS)
            if extra:
                base = f"{base}, {extra}"
        return base + "."

    def goodbye_rate(self) -> float:
        """How often a round's last message is a goodbye: rarely, a bit more at night (people
        mostly let a chat trail off and pick it up later)."""
        return 0.14 + (0.12 if self.daypart == "night" else 0.0)

    def closing(self, pieces: list[_Piece]) -> list[_Piece]:
        """Turn the message into a goodbye: answers stay, at most one short reaction, then
        leave."""
        answers = [p for p in pieces if p.act == "answer"]
        others = [p for p in pieces if p.act != "answer" and p.kind in {"ack", "reaction"}]
        kept = answers + others[: 1 if not answers else 0]
        for p in kept:
            if p.act != "answer":
                p.priority = KEPT
        if self.chance(0.5):
            text = self.pick(lx.PRE_CLOSERS)
            if text:
                kept.append(_Piece(text, 40, "pre_closer", act="close"))
        text = self.pick(lx.CLOSERS) or ""
        kept.append(_Piece(text, REQUIRED, "closer", act="close"))
        if self.chance(0.3):
            wish = self.pick(lx.WISHES)
            if wish:
                kept.append(_Piece(wish, 30, "closer", act="close"))
        return kept

    # -- persona touches ------------------------------------------------------------------

    def add_vocabulary(self, pieces: list[_Piece]) -> None:
        """One of the persona's expressions, as a lead-in ("Aliás, ..."), a tag (", mano") or
        its reaction ("Firmeza!"), wherever it reads naturally; none if nowhere does."""
        if not self.persona.vocabulary or not pieces or not self.chance(0.55):
            return
        words = list(self.persona.vocabulary)
        self.rng.shuffle(words)
        for word in words:
            if self._place_word(word, pieces):
                return

    def _place_word(self, word: str, pieces: list[_Piece]) -> bool:
        folded = fold(word)
        if folded in _AGREEMENT_WORDS and self.affirm_with(word, pieces):
            return True
        if folded in _REACTION_WORDS:
            # "suave, troquei de academia" reads wrong; "Firmeza!" as the reaction does not.
            return self.react_with(word, pieces)
        # A tag after a sentence is a vocative or an emphasis ("..., mano", "..., na moral");
        # a connective ("inclusive", "aliás") only leads a sentence, never the first one.
        taggable = folded in _TAG_WORDS
        # Formulas stay clean: "com certeza, preciso ir agora", "meu caro, tudo bem?" and
        # "inclusive, entendo" are not how people write. Content sentences take the word.
        # Questions too: "graças a Deus, você já foi?" reads wrong whichever the expression.
        formulas = {
            *("closer", "pre_closer", "how", "reciprocal", "ack", "question", "opener"),
            "filler",
        }
        candidates = [
            p
            for i, p in enumerate(pieces)
            if p.kind not in formulas
            and not p.text.rstrip().endswith("?")
            # "putz, na moral, faltei...": one lead-in at a time.
            and not (i and pieces[i - 1].act == "react" and folded not in _CONNECTIVES)
        ]
        if folded in _CONNECTIVES:
            # "Aliás, ..." adds to something said before: `join` writes it only then.
            candidates = [
                p
                for p in candidates
                # An answer may lead with "Pois então,": "Aliás, pois então, ..." reads wrong.
                if p is not pieces[0] and not p.proper_start and p.kind != "answer"
            ]
            if not candidates:
                return False
            self.rng.choice(candidates).connective = word
            return True
        # "Faz sentido, graças a Deus" thanks for nothing: a blessing goes with good news,
        # a hope ("se Deus quiser") with a plan.
        if folded in _BLESSINGS:
            candidates = [p for p in candidates if _BLESSINGS[folded](p.text)]
        if not candidates:
            return False
        piece = self.rng.choice(candidates)
        # A tag reads oddly after a trailing "...": that gets a lead-in. An answer already
        # has one ("Olha, ..."): it gets a tag.
        # "Tipo, que delícia" reads wrong: a reaction takes a tag, never a lead-in.
        tag_only = piece.kind in {"answer", "reaction"} or piece.proper_start
        lead_only = piece.text.rstrip().endswith("...") or not taggable
        if tag_only and lead_only:
            return False
        if not tag_only and (lead_only or self.chance(0.6)):
            piece.text = f"{_cap(word)}, {_decap(piece.text)}"
        else:
            core, end = _split_end(piece.text)
            piece.text = f"{core.rstrip(',')}, {word}{end}"
        return True

    def affirm_with(self, word: str, pieces: list[_Piece]) -> bool:
        """ "Com certeza, vou sim": an agreement word leading a yes to the partner's question."""
        if fold(word) not in _AGREEMENT_TAGS:
            return False  # "De fato, vou tentar" agrees with nothing
        for p in pieces:
            yes = fold(p.text).startswith(_YES)
            if p.act == "answer" and p.ref != "how" and yes and not p.proper_start:
                p.text = f"{_cap(word)}, {_decap(p.text)}"
                return True
        # "Pet é tudo de bom, sem dúvida.": after an opinion (a reaction), as a tag.
        for p in pieces:
            opinion = p.kind == "reaction" and not is_personal(p.text)
            if opinion and not p.text.rstrip().endswith(("?", "...")):
                core, end = _split_end(p.text)
                p.text = f"{core.rstrip(',')}, {word}{end}"
                return True
        return False

    def react_with(self, word: str, pieces: list[_Piece]) -> bool:
        """The persona's own reacting word ("Firmeza!", "Com certeza.") as its short
        reaction, when it fits what the partner said."""
        ack = next((p for p in pieces if p.act == "react" and p.kind == "ack"), None)
        if ack is None or ack.proper_start:
            return False
        folded = fold(word)
        if folded in _AGREEMENT_WORDS and self.state.shared_personal:
            return False  # "Com certeza." to "troquei de academia" agrees with nothing
        if not fits(mood_of(word), self.state.shared_mood):
            return False
        ack.text = _cap(word) + "."
        return True

    def add_name(self, pieces: list[_Piece]) -> None:
        if self.name is None or not pieces or not self.chance(0.12):
            return
        first = pieces[0]
        # "Helena, cara, ..." calls the partner twice.
        vocative = fold(first.text).split(" ", 1)[0] in _VOCATIVE_OPENERS
        if not first.proper_start and not vocative:
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
        if self.state.shared_mood in {"bad", "mixed"} and any(p.act == "react" for p in pieces):
            return  # "putz kkkk" laughs at the partner's bad news
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
        # Not a reaction: tacked on after an answer it reacts to nothing ("Montanha. Que
        # delícia, viajar faz bem demais.").
        pools = [self.topic.statements, lx.LIFE]
        # Padding speaks for this persona: "Vi o jogo do Vasco", not the partner's team it
        # just asked about.
        self.own_first = True
        try:
            for pool in pools:
                text = self.pick(pool, strict=True)
                if text:
                    candidates.append(text)
        finally:
            self.own_first = False
        pieces = [_Piece(text, 0, "filler") for text in candidates]
        self.realize(pieces)
        fitting = [p.text for p in pieces if len(p.text) <= room]
        enough = [t for t in fitting if len(t) >= deficit]
        if not enough:
            # "Sem dúvida." or "Pois é." tacked on a message reads like padding: last resort.
            short = [
                _Piece(f.text, 0, "filler")
                for f in lx.FILLERS
                if f.allowed(self.style, self.daypart)
            ]
            self.realize(short)
            fitting += [p.text for p in short if len(p.text) <= room]
            enough = [t for t in fitting if len(t) >= deficit]
        if enough:
            return self.rng.choice(enough)
        return max(fitting, key=len) if fitting else None

    def opening_pad(self, pieces: list[_Piece], room: int) -> bool:
        """Grow a too-short opening with a lead-in ("Lembrei de uma coisa e quis te
        contar.") before what it says, rather than a second, unrelated piece of news."""
        if not self.req.opening or any(p.kind == "opener" for p in pieces):
            return False
        pool = lx.OPENERS if self.state.first_of_daypart else th.RESUMES
        text = self.pick(pool, strict=True)
        if not text:
            return False
        piece = _Piece(text, 20, "opener")
        self.realize([piece])
        if len(piece.text) > room:
            return False
        at = 0
        while at < len(pieces) and pieces[at].kind == "how":
            at += 1
        pieces.insert(at, piece)
        return True

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
            # The round's last message: nothing left open, and only sometimes a goodbye.
            pieces = [p for p in pieces if p.act not in {"ask", "follow_up"}]
            if self.chance(self.goodbye_rate()):
                pieces = self.closing(pieces)
        if not pieces:
            partner_spoke = self.state.partner_spoke
            piece = self.react(alone=True) if req.closing and partner_spoke else self.share()
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
                keep=self._protected_words(),
            )
            # A typo must never turn a word into another daypart's greeting.
            if typo and not daypart_greetings_in(typed) - {self.daypart}:
                text = typed
            else:
                typo = None
        kept = self.kept or []
        acts = (("greet",) if greeting else ()) + tuple(p.act for p in kept if p.act)
        return OfflineDraft(
            text=text,
            topic=self.topic.key,
            greeting=greeting,
            emoji=with_emoji,
            typo=typo,
            acts=acts if self.kept is not None else (),
            asked=tuple(p.ref for p in kept if p.act in {"ask", "follow_up"} and p.ref),
            answered=tuple(p.ref for p in kept if p.act == "answer" and p.ref),
            shared=tuple(p.ref for p in kept if p.act == "share" and p.ref),
            reaction=next((p.text for p in kept if p.act == "react"), None),
            callback=next((p.callback for p in kept if p.callback), None),
        )

    def _protected_words(self) -> frozenset[str]:
        """Words a typo never touches: the partner's name and the names of the things the
        message is about (a misspelt "Flamengo" would be read as another team)."""
        words = set((self.name or "").split())
        for entity in self.bindings.values():
            for form in entity.forms.values():
                words.update(re.findall(r"[^\W\d_]+", form))
        return frozenset(words)

    def join(self, pieces: Sequence[_Piece], *, lower_first: bool) -> str:
        """The pieces as one text. A piece without end punctuation (casual "pois é") is
        followed by a comma when short and a period when long, so sentences never run on."""
        out = ""
        previous: _Piece | None = None
        for piece in pieces:
            text = piece.text
            if not text:
                continue
            # "Como vai? Aliás, ..." reads wrong: a connective adds to something said.
            if previous is not None and piece.connective and previous.kind in _SAID:
                word = _cap(piece.connective) if text[:1].isupper() else piece.connective
                text = f"{word}, {_decap(text)}"
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
            self.kept = None  # what it asks or answers may be cut off: no claims about it
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
            if self.opening_pad(pieces, room=self.hi - current - 3):
                continue
            # Inserting a piece adds up to two separators of two characters, minus one space.
            extra = self.filler(room=self.hi - current - 3, deficit=self.lo - current - 1)
            if extra is None:
                break
            # Padding goes before the goodbye or the question, never after them.
            at = len(pieces)
            while at > 0 and pieces[at - 1].kind in {"closer", "pre_closer", "question", "how"}:
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
        if self.kept is not None:
            self.kept = pieces
        if len(text) > self.hi:  # the greeting alone: cut it at a word boundary
            text = _truncate_words(text, self.hi) or text[: self.hi].rstrip()
            self.kept = None
        return text


@functools.lru_cache(maxsize=1024)
def _mood(frag: Fragment) -> Mood:
    """A reaction template's mood, its {good} and {bad} words read as what they stand for."""
    return mood_of(frag.text.replace("{good}", "bom").replace("{bad}", "ruim"))


def _topic_slots(frag: Fragment, slots: Mapping[str, object]) -> set[str]:
    """The topic slots a template names: "Nem me fala, o {team}..." needs a team shared."""
    return {m.group(1) for m in _SLOT.finditer(frag.text)} & set(slots)


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
