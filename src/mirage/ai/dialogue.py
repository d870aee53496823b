"""The conversation model: what a round is about, who owes whom a reply, what each side said.

A message is a sequence of dialogue acts — greet, ask, answer, react, share, follow-up, close —
and the state below is what the next message must respect: the questions the partner just
asked (answered about the same thing: same intent, same entity), what the partner just shared
(reacted to in its mood, or followed up), whether this pair already greeted each other in
this daypart, and persona memory across rounds: the things each side named (the team they
support, the trip they planned) and the statements each side made ("troquei de academia",
"não curto novela", "parei de jogar bola"), read from the stored messages of earlier rounds
so it survives restarts. A speaker never states the opposite of what they said, nor tells the
same news twice; a question the partner already answered is not asked again; a statement
can be picked up in a later round ("E a academia nova, tá gostando?").

The state is read from text only, never from generator bookkeeping, so a message written by
the LLM (or by a person) is understood the same way as one written offline. Pure: no I/O, no
randomness; `round_length` takes its `random.Random`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mirage.ai import lexicon as lx
from mirage.ai.lexicon import Entity, Fragment, Topic
from mirage.ai.mood import Mood, is_personal, mood_of
from mirage.ai.persona import PastRound, ReplyRequest, Turn, daypart_of
from mirage.ai.text import clean_line, fold
from mirage.ai.threads import BACK, PERSONAL_SLOTS, Intent, intents_for

__all__ = [
    "SMALL_TALK",
    "Asked",
    "Claim",
    "DialogueState",
    "Memory",
    "asks_how_are_you",
    "claims_in",
    "match_question",
    "question_sentences",
    "read_memory",
    "read_state",
    "resolve_topic",
    "round_length",
]

_SLOT = re.compile(r"\{(\w+)(?:\.(\w+))?\}")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
# Memory reaches this far back: what someone said a week ago is not a thread to pick up.
MEMORY_SPAN = timedelta(days=3)
CALLBACK_SPAN = timedelta(days=2)
# "E a academia nova, tá gostando?" an hour after "troquei de academia" asks too soon.
CLAIM_CALLBACK_GAP = timedelta(hours=6)
# A question matches an intent when this share of the intent's wording is in it.
MATCH_THRESHOLD = 0.62
SURE_MATCH = 0.8

# A how-are-you question is short; "E você, já foi pra Bahia?" is not one. Folded spelling
# (letter runs collapsed: "passado" -> "pasado").
_HOW_ARE_YOU = re.compile(
    r"\b(?:tudo bem|tudo certo|td bem|tudo tranquilo|tudo em paz|tudo em cima|tudo lindo"
    r"|como vai|como voce esta|como voce ta|como vc ta|como ce ta|como esta|como tem pasado"
    r"|como ta a vida|como tao as coisas|como vai esa forca|beleza|blz|de boa|suave"
    r"|e voce|e vc|e contigo|e por ai|e com voce|firmeza|dormiu bem|acordou bem"
    r"|como foi o dia|como ta sendo o dia|como anda|tudo nos conformes|tudo certinho)\b"
)
_HOW_ARE_YOU_MAX_CHARS = 36
# "Olá, bom dia, como está a semana por aí?": the greeting is not part of the question.
_GREETING_HEAD = re.compile(
    r"^(?:(?:ola|oi|oie|opa|eai|salve|fala|coe|muito bom dia|bom dia|boa tarde|boa noite"
    r"|dia)\s+)+"
)
# "E você?" and its variants: the partner asks back what they were just asked.
_BACK = re.compile(r"(?:^|\be )(?:voce|contigo|quanto a voce|com voce)$")

# Casual abbreviations and formal expansions mapped to one spelling before matching.
_CANON: Mapping[str, str] = {
    "vc": "voce",
    "ce": "voce",
    "tb": "tambem",
    "pq": "porque",
    "q": "que",
    "n": "nao",
    "hj": "hoje",
    "msm": "mesmo",
    "qnd": "quando",
    "td": "tudo",
    "pfv": "favor",
    "para": "pra",
    "esta": "ta",
    "estou": "to",
    "estava": "tava",
    "estamos": "tamo",
    "vamos": "vamo",
}

# No usable topic string (empty, or only emoji): talk about the day instead of "{topic}".
SMALL_TALK = Topic(
    key="small_talk",
    label="conversa do dia a dia",
    aliases=(),
    slots={},
    statements=lx.LIFE,
    questions=lx.GENERIC_QUESTIONS,
    reactions=lx.GENERIC_TOPIC.reactions,
)


def _word_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    folded = sorted({fold(p) for p in phrases if fold(p)}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in folded) + r")\b")


@dataclass(frozen=True, slots=True)
class _TopicIndex:
    topic: Topic
    aliases: re.Pattern[str] | None
    # Every entity of every slot, searchable by its name: what a message talks about.
    entities: tuple[tuple[str, Entity, re.Pattern[str]], ...]


def _index(topic: Topic) -> _TopicIndex:
    entities = []
    for slot, options in topic.slots.items():
        for entity in options:
            pattern = _word_pattern([entity.forms["name"]])
            if pattern is not None:
                entities.append((slot, entity, pattern))
    return _TopicIndex(topic, _word_pattern(topic.aliases), tuple(entities))


_INDEX: dict[str, _TopicIndex] = {t.key: _index(t) for t in lx.TOPICS}
_INDEX[lx.GENERIC_TOPIC.key] = _index(lx.GENERIC_TOPIC)
_INDEX[SMALL_TALK.key] = _index(SMALL_TALK)


def _index_of(topic: Topic) -> _TopicIndex:
    # Built once per lexicon topic at import; any other topic is indexed when asked (its
    # patterns compile in milliseconds, which a round must not pay for every message).
    index = _INDEX.get(topic.key)
    return index if index is not None and index.topic is topic else _index(topic)


def resolve_topic(topic: str, partner_text: str = "") -> Topic:
    """The lexicon topic a free-text topic names ("Futebol de domingo" -> futebol).

    An unknown topic falls back to what the partner is talking about, then to the generic
    topic (which writes about the topic string itself).
    """
    for text in (topic, partner_text):
        folded = fold(text)
        best: tuple[int, int, Topic] | None = None
        for t in lx.TOPICS:
            aliases = _INDEX[t.key].aliases
            match = aliases.search(folded) if aliases else None
            if match:
                key = (match.start(), -len(match.group(0)), t)
                if best is None or key[:2] < best[:2]:
                    best = key
        if best is not None:
            return best[2]
    return lx.GENERIC_TOPIC


def entities_in(text: str, topic: Topic) -> list[tuple[str, Entity]]:
    """The topic's entities a text names, in the order they appear."""
    index = _INDEX.get(topic.key)
    if index is not None and index.topic is topic:
        # Memory reads the same stored messages for every reply: read each once.
        return list(_entities_cached(text, topic.key))
    return _entities(text, topic)


@functools.lru_cache(maxsize=8192)
def _entities_cached(text: str, topic_key: str) -> tuple[tuple[str, Entity], ...]:
    return tuple(_entities(text, _INDEX[topic_key].topic))


def _entities(text: str, topic: Topic) -> list[tuple[str, Entity]]:
    folded = fold(text)
    found = []
    for slot, entity, pattern in _index_of(topic).entities:
        match = pattern.search(folded)
        if match:
            found.append((match.start(), slot, entity))
    return [(slot, entity) for _, slot, entity in sorted(found, key=lambda f: f[0])]


def question_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if "?" in s]


def statement_text(text: str) -> str:
    """The text without its questions: what the speaker says, not what they ask."""
    return " ".join(s.strip() for s in _SENTENCE.findall(text) if "?" not in s)


def asks_how_are_you(text: str) -> bool:
    return any(_is_how(s) for s in question_sentences(text))


@functools.lru_cache(maxsize=8192)
def _is_how(sentence: str) -> bool:
    # Earlier rounds are read again for every reply: each sentence is judged once.
    folded = _GREETING_HEAD.sub("", fold(sentence))
    if len(folded) > _HOW_ARE_YOU_MAX_CHARS:
        return False
    return bool(_HOW_ARE_YOU.search(folded)) or _is_known_how(sentence)


def _is_known_how(sentence: str) -> bool:
    """One of the generator's own how-are-you questions ("Como está a semana por aí?"),
    whatever register it was written in. Short, as how-are-you questions are: "E a viagem
    pra Bahia, tá tudo certo?" is about the trip."""
    canon = _GREETING_HEAD.sub("", _canon(sentence))
    if len(canon) > _HOW_ARE_YOU_MAX_CHARS:
        return False
    grams, words = _trigrams(canon), canon.split()
    # Trigrams for the wording, words within a typo for "Comk vão as coisas?".
    return any(
        len(s & grams) >= 0.9 * len(s) or _word_share(w, words) == 1.0 for s, w in _HOW_SKELETONS
    )


def is_back(sentence: str) -> bool:
    """ "E você?": asks back whatever its writer was just asked."""
    return _is_back(sentence)


@functools.lru_cache(maxsize=8192)
def _is_back(sentence: str) -> bool:
    # "tendi, e vc?" too: the back question closes the sentence; "e cohtigo?" is one typo.
    folded = _canon(sentence)
    if len(folded) > 30:
        return False
    if _BACK.search(folded):
        return True
    words = folded.split()
    if not words:
        return False  # ":?" — punctuation only
    # "e vc?", "e com vc?" — not "dorme com você?".
    lead = len(words) == 1 or words[-2] == "e" or words[-3:-1] == ["e", "com"]
    return lead and any(_near(words[-1], w) for w in ("voce", "contigo"))


def canon(text: str) -> str:
    """`fold`, with abbreviations and formal expansions in one spelling ("estou" and "tô",
    "você" and "vc" compare equal)."""
    return _canon(text)


@functools.lru_cache(maxsize=8192)
def _canon(text: str) -> str:
    return " ".join(_CANON.get(w, w) for w in fold(text).split())


def _trigrams(text: str) -> frozenset[str]:
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


# Bare "e você?" is left to `is_back`: it asks back whatever was asked.
_HOW_SKELETONS = tuple(
    (grams, tuple(_canon(f.text).split()))
    for f in (*lx.HOW_ARE_YOU, *lx.RECIPROCALS)
    if "?" in f.text and len(grams := _trigrams(_canon(f.text))) >= 10
)


@dataclass(frozen=True, slots=True)
class _Skeleton:
    intent: Intent
    grams: frozenset[str]
    words: tuple[str, ...]
    # The entity slot the question names ("E {relative.your}, como tá?"): without such an
    # entity in the sentence, it is another question ("E aí, como tá?").
    needs: str | None


def _near(a: str, b: str) -> bool:
    """Equal, or one typo apart (a letter dropped, added, changed or two swapped) for words
    of four letters or more: "treminou" is still "terminou"."""
    if a == b:
        return True
    if min(len(a), len(b)) < 4 or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _word_share(skeleton: Sequence[str], words: Sequence[str]) -> float:
    if not skeleton:
        return 0.0
    return sum(any(_near(w, x) for x in words) for w in skeleton) / len(skeleton)


def _skeletons(intents: Sequence[Intent]) -> tuple[_Skeleton, ...]:
    out = []
    for intent in intents:
        for frag in intent.questions:
            # The fixed words of the question; slot fillers vary and are matched as entities.
            words = _canon(_SLOT.sub(" ", frag.text))
            slot = intent.slot
            needs = slot if slot is not None and "{" + slot in frag.text else None
            if words:
                out.append(_Skeleton(intent, _trigrams(words), tuple(words.split()), needs))
    return tuple(out)


_SKELETONS: dict[str, tuple[_Skeleton, ...]] = {}


def _skeletons_for(topic_key: str) -> tuple[_Skeleton, ...]:
    if topic_key not in _SKELETONS:
        _SKELETONS[topic_key] = _skeletons(intents_for(topic_key))
    return _SKELETONS[topic_key]


@dataclass(frozen=True, slots=True)
class Asked:
    """One question put to the next speaker: how-are-you, a known intent (about an entity or
    not), or a question the model does not know (`intent` None, `how` False)."""

    how: bool = False
    intent: Intent | None = None
    entity: Entity | None = None
    sentence: str = ""

    @property
    def ref(self) -> str:
        """What the question is about, comparable between asker and answerer."""
        if self.how:
            return "how"
        if self.intent is None:
            return "?"
        name = self.entity.forms["name"] if self.entity is not None else ""
        return f"{self.intent.key}:{name}"


def _best_intent(sentence: str, topic: Topic, *, fuzzy: bool = True) -> tuple[float, Intent | None]:
    canon = _canon(sentence)
    grams, words = _trigrams(canon), canon.split()
    named = {slot for slot, _ in entities_in(sentence, topic)}
    best: tuple[float, Intent] | None = None
    for skeleton in _skeletons_for(topic.key):
        if not skeleton.grams or (skeleton.needs is not None and skeleton.needs not in named):
            continue
        score = len(skeleton.grams & grams) / len(skeleton.grams)
        if fuzzy and score < SURE_MATCH:
            # A typo costs a short question most of its trigrams, not its words.
            score = max(score, _word_share(skeleton.words, words))
        if best is None or score > best[0]:
            best = (score, skeleton.intent)
    return best if best is not None else (0.0, None)


def match_question(sentence: str, topic: Topic) -> Asked:
    """The intent a question sentence asks, with the entity it names (if its slot has one)."""
    score, intent = _best_intent(sentence, topic)
    if intent is None or score < MATCH_THRESHOLD:
        return Asked(how=_is_how(sentence), sentence=sentence)
    entity = None
    if intent.slot is not None:
        entity = next((e for s, e in entities_in(sentence, topic) if s == intent.slot), None)
    return Asked(intent=intent, entity=entity, sentence=sentence)


def _is_how_here(sentence: str, topic: Topic) -> bool:
    """How-are-you, unless the sentence is plainly one of the topic's questions ("E a
    família, tudo bem?", "E a viagem pro Rio, tá tudo certo?")."""
    if not _is_how(sentence):
        return False
    # A question naming one of the topic's things ("E o projeto, deu tudo certo?").
    score, intent = _best_intent(sentence, topic)
    if intent is not None and intent.slot is not None and score >= MATCH_THRESHOLD:
        named = {slot for slot, _ in entities_in(sentence, topic)}
        if intent.slot in named:
            return False
    score = _best_intent(sentence, topic, fuzzy=False)[0]
    return score < (0.95 if _is_known_how(sentence) else SURE_MATCH)


def questions_of(text: str, topic: Topic, *, last_asked: Sequence[Asked] = ()) -> list[Asked]:
    """Every question a message asks: how-are-you, "E você?" (asking back what its writer
    was just asked) and one topic question, whose sentences are read together ("E o Bahia,
    hein? Como foi o último jogo?" is one question)."""
    out: list[Asked] = []
    topical: list[str] = []
    for sentence in question_sentences(text):
        if _is_back(sentence) and last_asked:
            # Back to the question the writer just answered (the topic one before how).
            answered = [a for a in last_asked if not a.how]
            base = answered[-1] if answered else last_asked[-1]
            out.append(Asked(base.how, base.intent, base.entity, sentence))
        elif _is_how_here(sentence, topic):
            # "Tudo bem?" is how-are-you; "E a família, tudo bem?" is about the family.
            out.append(Asked(how=True, sentence=sentence))
        else:
            topical.append(sentence)
    if topical:
        out.append(match_question(" ".join(topical), topic))
    return out


# --- memory ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A statement a speaker made about themselves: `key` = `value` ("futebol.pelada" = "no"),
    in round `index` of the memory (at `at`), as they said it."""

    key: str
    value: str
    news: bool
    index: int
    at: datetime | None
    sentence: str


@dataclass(frozen=True, slots=True)
class _ClaimSkeleton:
    frag: Fragment
    grams: frozenset[str]
    # Topic slots the statement names ("Tô fazendo {sport}"): the text must name one of each.
    needs: frozenset[str]
    # Two sentences ("De manhã, antes do trabalho. À noite não tenho pique."), or one.
    pair: bool


def _segment_grams(text: str) -> frozenset[str]:
    """Trigrams of a template's fixed words, each run between slots padded on its own (a
    slot's filler is any text, so no trigram spans it)."""
    grams: set[str] = set()
    # Slots out first: "{dest.the}" holds a period that would end a sentence.
    for part in statement_text(_SLOT.sub("|", text)).split("|"):
        words = _canon(part)
        if words:
            grams |= _trigrams(words)
    return frozenset(grams)


def _claim_skeletons(topic: Topic) -> tuple[_ClaimSkeleton, ...]:
    pools: list[Fragment] = [*topic.statements, *topic.reactions]
    for intent in intents_for(topic.key):
        pools += intent.answers
    out = []
    for frag in pools:
        if frag.claim is None:
            continue
        needs = frozenset(m.group(1) for m in _SLOT.finditer(frag.text)) & set(topic.slots)
        grams = _segment_grams(frag.text)
        question_free = _SENTENCE.findall(statement_text(_SLOT.sub("|", frag.text)))
        pair = len(question_free) > 1
        if len(grams) >= 8 and question_free:
            out.append(_ClaimSkeleton(frag, grams, needs, pair))
    return tuple(out)


_CLAIM_SKELETONS: dict[str, tuple[_ClaimSkeleton, ...]] = {}
CLAIM_MATCH = 0.8


def claims_in(text: str, topic: Topic) -> tuple[Fragment, ...]:
    """The claim-tagged templates a message's statements match (what its writer stated about
    themselves), best first, one per key."""
    index = _INDEX.get(topic.key)
    if index is not None and index.topic is topic:
        return _claims_cached(text, topic.key)
    return _claims(text, topic)


@functools.lru_cache(maxsize=4096)
def _claims_cached(text: str, topic_key: str) -> tuple[Fragment, ...]:
    return _claims(text, _INDEX[topic_key].topic)


def _claims(text: str, topic: Topic) -> tuple[Fragment, ...]:
    said = statement_text(text)
    if not said:
        return ()
    if topic.key not in _CLAIM_SKELETONS:
        _CLAIM_SKELETONS[topic.key] = _claim_skeletons(topic)
    skeletons = _CLAIM_SKELETONS[topic.key]
    if not skeletons:
        return ()
    # Each sentence, and each two in a row (a statement may take two): matched against the
    # whole message, scattered trigrams would add up to a statement nobody made.
    sentences = [s.strip() for s in _SENTENCE.findall(said) if s.strip()]
    singles = [_trigrams(_canon(s)) for s in sentences]
    pairs = [_trigrams(_canon(f"{a} {b}")) for a, b in itertools.pairwise(sentences)]
    named: dict[str, Entity] | None = None
    best: dict[str, tuple[float, Fragment]] = {}
    for sk in skeletons:
        windows = singles + pairs if sk.pair else singles
        score = max((len(sk.grams & grams) for grams in windows), default=0) / len(sk.grams)
        claim = sk.frag.claim
        if score < CLAIM_MATCH or claim is None:
            continue
        if named is None:
            named = {}
            for slot, entity in entities_in(said, topic):
                named.setdefault(slot, entity)
        if not sk.needs <= set(named):
            continue
        frag = sk.frag
        key, value = claim
        about = _SLOT.search(key)
        if about is not None:
            # "Quero muito conhecer Paraty": a statement about Paraty, not about trips.
            thing = named.get(about.group(1))
            if thing is None:
                continue
            key = _SLOT.sub(thing.forms["name"], key)
            frag = dataclasses.replace(frag, claim=(key, value))
        if key not in best or score > best[key][0]:
            best[key] = (score, frag)
    return tuple(f for _, f in sorted(best.values(), key=lambda b: -b[0]))


@dataclass(frozen=True, slots=True)
class Memory:
    """Facts each speaker stated, per topic key and slot: {speaker: {(topic, slot): entity}}.

    The first statement wins, so a persona keeps the team it named first; `latest` keeps the
    most recent partner fact per slot, the thread a later round can pick up. `claims` keeps
    each speaker's statements by key, the latest per key."""

    facts: Mapping[str, Mapping[tuple[str, str], Entity]]
    latest: Mapping[str, Mapping[tuple[str, str], tuple[int, Entity]]]
    claims: Mapping[str, Mapping[str, Claim]] = field(default_factory=dict)

    def of(self, speaker: str, topic_key: str) -> dict[str, Entity]:
        return {s: e for (t, s), e in self.facts.get(speaker, {}).items() if t == topic_key}

    def claims_of(self, speaker: str | None) -> dict[str, Claim]:
        return dict(self.claims.get(speaker, {})) if speaker is not None else {}


def _rounds_in_memory(req: ReplyRequest) -> list[PastRound]:
    if req.now is None:
        return list(req.earlier)
    return [r for r in req.earlier if req.now - r.at <= MEMORY_SPAN]


def read_memory(
    rounds: Sequence[tuple[str, Sequence[Turn]]], at: Sequence[datetime | None] = ()
) -> Memory:
    """Facts and statements made in these rounds (topic, turns), oldest first, the rounds
    held at `at` (when known). Only statements count: a question that names a team is not
    its asker's team."""
    facts: dict[str, dict[tuple[str, str], Entity]] = {}
    latest: dict[str, dict[tuple[str, str], tuple[int, Entity]]] = {}
    claims: dict[str, dict[str, Claim]] = {}
    for index, (topic_text, turns) in enumerate(rounds):
        topic = resolve_topic(topic_text)
        when = at[index] if index < len(at) else None
        for turn in turns:
            for frag in claims_in(turn.text, topic):
                if frag.claim is not None:
                    key, value = frag.claim
                    sentence = clean_line(statement_text(turn.text), max_chars=160)
                    claim = Claim(key, value, frag.news, index, when, sentence)
                    claims.setdefault(turn.speaker, {})[key] = claim
        personal = PERSONAL_SLOTS.get(topic.key, frozenset())
        if not personal:
            continue
        for turn in turns:
            said = statement_text(turn.text)
            if not said:
                continue
            for slot, entity in entities_in(said, topic):
                if slot not in personal:
                    continue
                facts.setdefault(turn.speaker, {}).setdefault((topic.key, slot), entity)
                latest.setdefault(turn.speaker, {})[(topic.key, slot)] = (index, entity)
    return Memory(facts, latest, claims)


# --- the state of the round ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DialogueState:
    """What the next message of `speaker` must respect."""

    speaker: str
    partner: str | None
    topic: Topic
    intents: tuple[Intent, ...]
    # What the partner's latest message asked (owed an answer by this speaker).
    owed: tuple[Asked, ...]
    # What the partner's latest message shared (slot and entity), owed a reaction that fits
    # its mood (good, bad or neutral news).
    shared: tuple[tuple[str, Entity], ...]
    partner_spoke: bool
    # This speaker's own questions in their latest message (what "E você?" refers back to).
    my_last_asked: tuple[Asked, ...]
    # Intent keys asked in this round (by anyone) and by this speaker in recent rounds.
    asked_in_round: frozenset[str]
    asked_recently: frozenset[str]
    asked_how: bool  # this speaker already asked how-are-you this round
    own_facts: Mapping[str, Entity]
    partner_facts: Mapping[str, Entity]
    # A thread from an earlier round to pick up at the opening: (intent, partner's entity),
    # the entity None when the thread is a statement ("Troquei de academia").
    callback: tuple[Intent, Entity | None] | None
    first_of_daypart: bool
    first_of_day: bool
    said_before: tuple[str, ...] = field(default=())
    shared_mood: Mood = "neutral"
    # The partner's latest statements were news about themselves, not an opinion.
    shared_personal: bool = False
    # Statements each side made, by key (this round's included): never contradicted.
    own_claims: Mapping[str, Claim] = field(default_factory=dict)
    partner_claims: Mapping[str, Claim] = field(default_factory=dict)

    def intent(self, key: str) -> Intent | None:
        return next((i for i in self.intents if i.key == key), None)


def _same_daypart_today(req: ReplyRequest) -> tuple[bool, bool]:
    """(a round of this pair already happened in this daypart today, ... today at all)."""
    if req.now is None:
        return False, False
    today = [r for r in req.earlier if r.turns and r.at.date() == req.now.date()]
    part = any(daypart_of(r.at) == req.daypart for r in today)
    return part, bool(today)


def _turns_asked(turns: Sequence[Turn], topic: Topic) -> list[tuple[str, list[Asked]]]:
    """Each turn's questions, in order, resolving "E você?" against the previous turn's."""
    out: list[tuple[str, list[Asked]]] = []
    previous: list[Asked] = []
    for turn in turns:
        asked = questions_of(turn.text, topic, last_asked=previous)
        out.append((turn.speaker, asked))
        previous = asked
    return out


def read_state(req: ReplyRequest, topic: Topic | None = None) -> DialogueState:
    """The dialogue state for the next message of `req.persona` (pure, from text)."""
    me = req.persona.name
    partner_turn = req.partner_last
    topic = topic or resolve_topic(req.topic)
    if topic is lx.GENERIC_TOPIC and not any(ch.isalnum() for ch in req.topic):
        topic = SMALL_TALK
    intents = intents_for(topic.key)
    history = list(req.history)
    asked = _turns_asked(history, topic)
    owed: tuple[Asked, ...] = ()
    shared: tuple[tuple[str, Entity], ...] = ()
    shared_mood: Mood = "neutral"
    shared_personal = False
    my_last: tuple[Asked, ...] = ()
    if history and history[-1].speaker != me:
        owed = tuple(asked[-1][1])
        said = statement_text(history[-1].text)
        shared = tuple(entities_in(said, topic)) if said else ()
        shared_mood = mood_of(said) if said else "neutral"
        shared_personal = is_personal(said)
    for speaker, questions in reversed(asked):
        if speaker == me:
            my_last = tuple(questions)
            break
    in_round = frozenset(a.intent.key for _, qs in asked for a in qs if a.intent is not None)
    asked_how = any(a.how for speaker, qs in asked if speaker == me for a in qs)

    past = _rounds_in_memory(req)
    # Not asked again soon: what this speaker asked in its last rounds, and what either side
    # asked in the last two (the partner's question was just answered).
    recently: set[str] = set()
    for back, r in enumerate(reversed(past[-4:])):
        for speaker, qs in _turns_asked(r.turns, resolve_topic(r.topic)):
            if speaker == me or back < 2:
                recently.update(a.intent.key for a in qs if a.intent is not None)
    memory = read_memory(
        [*((r.topic, r.turns) for r in past), (req.topic, history)],
        at=[*(r.at for r in past), req.now],
    )
    partner = partner_turn.speaker if partner_turn else _partner_of(req, past)
    own = memory.of(me, topic.key)
    theirs = memory.of(partner, topic.key) if partner else {}
    partner_claims = memory.claims_of(partner)

    callback = None
    if partner and req.opening and past:
        recent_past = [
            (i, r) for i, r in enumerate(past) if req.now is None or req.now - r.at <= CALLBACK_SPAN
        ]
        indexes = {i for i, _ in recent_past}
        best: tuple[int, Intent, Entity | None] | None = None

        def stated(intent: Intent, entity: Entity) -> bool:
            # "Já comprou a passagem pra Gramado?" only if Gramado is the trip they plan.
            if intent.after is None:
                return True
            claim = partner_claims.get(intent.after[0])
            if claim is None or claim.value != intent.after[1]:
                return False
            return any(e is entity for _, e in entities_in(claim.sentence, topic))

        for (t, slot), (index, entity) in memory.latest.get(partner, {}).items():
            if t != topic.key or index not in indexes:
                continue
            intent = next(
                (i for i in intents if i.callback and i.slot == slot and stated(i, entity)), None
            )
            fresh = intent is not None and intent.key not in recently
            if fresh and intent is not None and (best is None or index > best[0]):
                best = (index, intent, entity)
        # What the partner told about themselves ("vou fazer uma corrida de rua sábado").
        for claim in partner_claims.values():
            if claim.index not in indexes:
                continue
            too_soon = (
                req.now is not None
                and claim.at is not None
                and req.now - claim.at < CLAIM_CALLBACK_GAP
            )
            if too_soon:
                continue
            for intent in intents:
                wanted = intent.slot is None and intent.after == (claim.key, claim.value)
                if (
                    wanted
                    and intent.key not in recently
                    and (best is None or claim.index > best[0])
                ):
                    best = (claim.index, intent, None)
        if best is not None:
            callback = (best[1], best[2])

    part, today = _same_daypart_today(req)
    return DialogueState(
        speaker=me,
        partner=partner,
        topic=topic,
        intents=intents,
        owed=owed,
        shared=shared,
        partner_spoke=partner_turn is not None and history[-1].speaker != me,
        my_last_asked=my_last,
        asked_in_round=in_round,
        asked_recently=frozenset(recently),
        asked_how=asked_how,
        own_facts=own,
        partner_facts=theirs,
        callback=callback,
        first_of_daypart=not part,
        first_of_day=not today,
        said_before=tuple(t.text for t in history if t.speaker == me),
        shared_mood=shared_mood,
        shared_personal=shared_personal,
        own_claims=memory.claims_of(me),
        partner_claims=partner_claims,
    )


def _partner_of(req: ReplyRequest, past: Sequence[PastRound]) -> str | None:
    for r in reversed(past):
        for turn in reversed(r.turns):
            if turn.speaker != req.persona.name:
                return turn.speaker
    return req.partner_name


def back_fragments() -> tuple[Fragment, ...]:
    return BACK


def round_length(rng: random.Random) -> int:
    """Messages in a round (2–4, as the product says; mostly 3 or 4): a question, its answer
    and a reaction or a question back make a round; a lone question and answer are rarer."""
    return rng.choices([2, 3, 4], weights=[1, 5, 4])[0]
