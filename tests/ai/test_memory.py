"""Issue 9, the reviewer's gaps: reactions fit what was shared (its mood, the thing it names),
statements are remembered per speaker (never contradicted, known answers not asked again,
picked up in a later round, quoted to the LLM), and no sentence skeleton twice in a round."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from mirage.ai.dialogue import claims_in, read_memory, resolve_topic
from mirage.ai.guard import skeleton_repeat, skeletons
from mirage.ai.llm import system_prompt
from mirage.ai.mood import fits, mood_of
from mirage.ai.offline import OfflineGenerator
from mirage.ai.persona import DEFAULT_PERSONAS, PastRound, PersonaSpec, ReplyRequest, Turn
from mirage.ai.rehearsal import rehearse
from mirage.ai.text import fold
from tests.ai.factories import PERSONAS

GEN = OfflineGenerator()
ZONE = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=ZONE)
# Happy reactions, and sympathetic ones, as a reader would sort them (not the module's cues).
HAPPY = re.compile(
    r"que massa|ai sim|amei|adorei|que demais|que otimo|que bacana|noticia boa|fico feliz"
    r"|muito bom|que incrivel|que legal|que chique|que luxo|que tudo|que maximo|parabens"
    r"|mandando muito bem|que bom|bom demais|morri|babado|\bboa\b|\btop\b|\bshow\b|\bmasa\b"
)
SORRY = re.compile(
    r"putz|vish|poxa|que pena|que chato|acontece|forca ai|aguenta firme|sinto muito|\baf\b"
    r"|ah nao|faz parte|tomara que|imprevisto"
)
BAD_NEWS = {
    "academia": "Faltei no treino ontem, bateu a preguiça.",
    "viagem": "O voo atrasou três horas, que sufoco.",
    "futebol": "O Inter perdeu de 3 a 1 ontem, nem gosto de lembrar.",
    "trabalho": "Hoje o sistema caiu e parou tudo por uma hora.",
    "família": "Tô com saudade da minha avó.",
}
GOOD_NEWS = {
    "trabalho": "Consegui fechar o relatório antes do prazo, fiquei feliz demais.",
    "academia": "Hoje bati meu recorde na corrida.",
    "viagem": "Conheci um lugar incrível em Bonito.",
    "pets": "Nada melhor que a festa que o pet faz quando a gente chega.",
}


def _plain(p: PersonaSpec) -> PersonaSpec:
    # Typos and emoji would only hide the words the assertions look for.
    return dataclasses.replace(p, typo_rate=0.0, emoji_rate=0.0)


def _reply(p: PersonaSpec, partner: str, topic: str, said: str, seed: int, **kw: object) -> str:
    req = ReplyRequest(
        persona=_plain(p),
        partner_name=partner,
        topic=topic,
        daypart="afternoon",
        history=(Turn(partner, said),),
        opening=False,
        closing=bool(kw.get("closing", True)),
        earlier=tuple(kw.get("earlier", ())),  # type: ignore[arg-type]
        now=NOW,
    )
    draft = GEN.compose(req, random.Random(seed))
    return draft.reaction or ""


# -- 1. reactions fit the share ---------------------------------------------------------------


def test_mood_is_read_from_the_words() -> None:
    assert mood_of("Faltei no treino ontem, bateu a preguiça.") == "bad"
    assert mood_of("Consegui fechar o relatório antes do prazo!") == "good"
    assert mood_of("Troquei de academia, essa é mais perto de casa.") == "neutral"
    # A negated good word is bad news; good and bad at once is mixed.
    assert mood_of("O jogo não foi bom.") == "bad"
    assert mood_of("Foi puxado, mas deu certo.") == "mixed"
    assert fits("neutral", "bad") and fits("good", "neutral") and not fits("good", "bad")
    assert not fits("bad", "good") and not fits("bad", "neutral")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    p=st.sampled_from(DEFAULT_PERSONAS),
    news=st.sampled_from(sorted(BAD_NEWS.items())),
    seed=st.integers(0, 10_000),
)
def test_bad_news_never_gets_a_happy_reaction(
    p: PersonaSpec, news: tuple[str, str], seed: int
) -> None:
    topic, said = news
    reaction = _reply(p, "Ana", topic, said, seed)
    assert reaction, "a share with nothing to answer gets a reaction"
    assert not HAPPY.search(fold(reaction)), (said, reaction)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    p=st.sampled_from(DEFAULT_PERSONAS),
    news=st.sampled_from(sorted(GOOD_NEWS.items())),
    seed=st.integers(0, 10_000),
)
def test_good_news_never_gets_sympathy(p: PersonaSpec, news: tuple[str, str], seed: int) -> None:
    topic, said = news
    reaction = _reply(p, "Ana", topic, said, seed)
    assert reaction
    assert not SORRY.search(fold(reaction)), (said, reaction)


def test_a_reaction_is_about_what_was_shared() -> None:
    # "Que sonho" and "Depois me manda as fotos" are about a trip somewhere: not about a
    # suitcase still packed. "Nem me fala, o {team}..." needs a team: not a pickup game.
    trip_words = re.compile(r"sonho|inesquecivel|fotos|aproveita cada|quero ir tambem")
    team_names = re.compile(r"flamengo|corinthians|palmeiras|gremio|inter\b|santos|vasco|bahia")
    agree = re.compile(r"^(verdade|e verdade|faz sentido|realmente|e mesmo)$")
    for seed in range(80):
        p = DEFAULT_PERSONAS[seed % len(DEFAULT_PERSONAS)]
        suitcase = _reply(
            p, "Ana", "viagem", "Minha mala ainda tá desfeita da última viagem.", seed
        )
        assert not trip_words.search(fold(suitcase)), suitcase
        pelada = _reply(p, "Ana", "futebol", "Joguei uma pelada ontem com o pessoal.", seed)
        assert not team_names.search(fold(pelada)), pelada
        # "Verdade." agrees with an opinion; "troquei de academia" is news.
        news = _reply(p, "Ana", "academia", "Troquei de academia, essa é mais perto de casa.", seed)
        assert not agree.search(fold(news)), news


# -- 2. statements remembered -----------------------------------------------------------------


def _past(topic: str, *turns: tuple[str, str], days_ago: float = 1) -> PastRound:
    return PastRound(topic, tuple(Turn(s, t) for s, t in turns), NOW - timedelta(days=days_ago))


def test_statements_are_read_back_from_the_text_in_any_register() -> None:
    futebol = resolve_topic("futebol")
    academia = resolve_topic("academia")
    said = [
        ("futebol", "parei faz um tempo, o joelho n deixa mais, mano. e vc?"),
        ("academia", "Estou parado, preciso voltar."),  # formal: "estou", not "tô"
        ("academia", "Helena, troquei de academia, essa é mais perto de casa kkkk"),
    ]
    claims = [f.claim for topic, text in said for f in claims_in(text, resolve_topic(topic))]
    assert claims == [
        ("futebol.pelada", "no"),
        ("academia.training", "no"),
        ("academia.gym", "new"),
    ]
    # A statement about a thing is remembered with the thing: wanting to visit Paraty
    # contradicts having been there, not wanting to visit Bonito.
    viagem = resolve_topic("viagem")
    assert [f.claim for f in claims_in("Quero muito conhecer Paraty, na moral.", viagem)] == [
        ("viagem.been.Paraty", "no")
    ]
    assert [f.claim for f in claims_in("foi em Bonito, queria voltar todo ano", viagem)] == [
        ("viagem.been.Bonito", "yes")
    ]
    # A question naming the same things states nothing; nor does a neighbouring sentence.
    assert claims_in("Você ainda joga aquela pelada?", futebol) == ()
    assert claims_in("Tô fazendo resumo de tudo.", academia) == ()
    memory = read_memory([("futebol", [Turn("Rafa", said[0][1])])], at=[NOW])
    claim = memory.claims["Rafa"]["futebol.pelada"]
    assert (claim.value, claim.at, claim.index) == ("no", NOW, 0)


def test_an_answer_never_contradicts_what_its_writer_said_before() -> None:
    earlier = (
        _past(
            "futebol",
            ("Helena", "Ainda joga aquela pelada?"),
            ("Rafa", "Parei faz um tempo, o joelho não deixa mais."),
        ),
    )
    plays = re.compile(r"^jogo|de vez em quando, quando fecha|\brolou\b|joguei uma pelada")
    for seed in range(40):
        req = ReplyRequest(
            persona=_plain(PERSONAS["Rafa"]),
            partner_name="Helena",
            topic="futebol",
            daypart="afternoon",
            history=(Turn("Helena", "Você ainda joga bola?"),),
            opening=False,
            closing=False,
            earlier=earlier,
            now=NOW,
        )
        draft = GEN.compose(req, random.Random(seed))
        assert draft.answered == ("futebol.pelada:",), draft.text
        assert not plays.search(fold(draft.text)), draft.text
        # Opening a later futebol round, he does not tell of last night's pickup game either.
        opening = dataclasses.replace(req, history=(), opening=True)
        text = GEN.generate(opening, random.Random(seed))
        assert "joguei uma pelada" not in fold(text), text


def test_what_the_partner_said_is_not_asked_again_and_is_picked_up_later() -> None:
    # Helena said, two days ago, that she's a beach person and that she changed gyms.
    earlier = (
        _past("viagem", ("Helena", "Praia, sempre. E você?"), ("Rafa", "Montanha."), days_ago=1.5),
        _past(
            "academia",
            ("Helena", "Troquei de academia, essa é mais perto de casa."),
            ("Rafa", "Boa!"),
            days_ago=1,
        ),
        *(_past("futebol", ("Rafa", "Viu o jogo?"), ("Helena", "Vi."), days_ago=0.5),) * 4,
    )
    asked_style = picked_up = 0
    for seed in range(60):
        for topic in ("viagem", "academia"):
            req = ReplyRequest(
                persona=_plain(PERSONAS["Rafa"]),
                partner_name="Helena",
                topic=topic,
                daypart="afternoon",
                history=(),
                opening=True,
                closing=False,
                earlier=earlier,
                now=NOW,
            )
            draft = GEN.compose(req, random.Random(seed))
            asked_style += any(r.startswith("viagem.style") for r in draft.asked)
            if topic == "academia":
                picked_up += "academia nova" in fold(draft.text)
    assert asked_style == 0
    assert picked_up >= 15, picked_up


def test_the_llm_prompt_quotes_what_each_side_said() -> None:
    earlier = (
        _past(
            "futebol",
            ("Helena", "Ainda joga aquela pelada?"),
            ("Rafa", "Parei faz um tempo, o joelho não deixa mais."),
        ),
        _past("séries", ("Helena", "Não curto novela, prefiro série."), ("Rafa", "Eu curto.")),
    )
    req = ReplyRequest(
        persona=PERSONAS["Rafa"],
        partner_name="Helena",
        topic="futebol",
        daypart="afternoon",
        history=(Turn("Helena", "E aí, tudo certo?"),),
        opening=False,
        closing=False,
        earlier=earlier,
        now=NOW,
    )
    prompt = system_prompt(req)
    assert "não contradiga" in prompt
    assert '"Parei faz um tempo, o joelho não deixa mais."' in prompt
    assert '"Não curto novela, prefiro série."' in prompt


# -- 3. no skeleton twice in a round ------------------------------------------------------------


def test_sentence_skeletons() -> None:
    assert skeleton_repeat("Tô numa fase de MPB.", ["Olha, tô numa fase de filme antigo!"])
    assert skeleton_repeat(
        "Estou fazendo natação duas vezes por semana.", ["tô fazendo pilates toda semana"]
    )
    # Two sentences alike in one message count too.
    assert skeleton_repeat("Tô numa fase bem rock. Tô numa fase de série.", [])
    # Formulas are said by anyone; different templates are different.
    assert skeleton_repeat("tudo bem por aqui", ["Tudo bem por aqui!"]) is None
    assert (
        skeleton_repeat("Tô fazendo natação duas vezes por semana.", ["Tô numa fase de MPB."])
        is None
    )
    assert skeletons("E o projeto, como ficou?") == skeletons("E o trabalho, como tá?")


def test_a_reply_does_not_reuse_the_partners_sentence_skeleton() -> None:
    said = "Tô numa fase bem sertanejo. O que você tá ouvindo ultimamente?"
    for seed in range(60):
        p = DEFAULT_PERSONAS[seed % len(DEFAULT_PERSONAS)]
        req = ReplyRequest(
            persona=_plain(p),
            partner_name="Ana",
            topic="música",
            daypart="night",
            history=(Turn("Ana", said),),
            opening=False,
            closing=seed % 2 == 0,
        )
        text = GEN.generate(req, random.Random(seed))
        assert skeleton_repeat(text, [said]) is None, text


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    pair=st.sampled_from([("Rafa", "Helena"), ("Bia", "Léo"), ("Seu Carlos", "Juliana")]),
    seed=st.integers(0, 10_000),
)
def test_rehearsed_rounds_hold_statements_and_skeletons(pair: tuple[str, str], seed: int) -> None:
    rounds = rehearse(
        PERSONAS[pair[0]],
        PERSONAS[pair[1]],
        topics=("academia", "futebol", "viagem", "séries"),
        rounds=12,
        rng=random.Random(seed),
        start=NOW,
    )
    said: dict[tuple[str, str], str] = {}
    for rnd in rounds:
        topic = resolve_topic(rnd.topic)
        for i, msg in enumerate(rnd.messages):
            assert skeleton_repeat(msg.text, [m.text for m in rnd.messages[:i]]) is None
            for frag in claims_in(msg.text, topic):
                assert frag.claim is not None
                key, value = frag.claim
                assert said.setdefault((msg.speaker, key), value) == value, (msg.speaker, msg.text)
