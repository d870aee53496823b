"""Brazilian Portuguese grammar fragments for the offline generator.

Data, not logic. Every fragment is a sentence template with slots (`{team}`, `{dest.to}`,
`{good}`) filled by the generator. A fragment may start with tags:

- ``@fcp``: styles allowed (f formal, c casual, p playful); default all;
- ``#man``: dayparts allowed (m morning, a afternoon, n night); default all.

Slot entities use the same tags, so "um sol lindo" never shows up at night. Entities with
several grammatical forms are dicts (``{"to": "pra Bahia", "in": "na Bahia"}``); ``name`` is
the form searched for in the partner's message to ask a follow-up about it.

Writing rules that keep the output grammatical (tests check the mechanical ones):

- templates never start with a slot (a proper noun must not be lowercased by casual style);
- first-person and second-person sentences avoid gendered adjectives (the persona's and
  the partner's genders are unknown): "tô na correria", never "tô cansado";
- the base register is neutral colloquial ("tá", "pra", "tô"); the formal style expands it,
  the casual style abbreviates it;
- no fragment names a daypart greeting ("bom dia", "boa tarde", "boa noite") unless tagged
  with that daypart only;
- no emoji in text (emoji are added at the persona's rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from mirage.ai.text import DAYPARTS, Daypart

_STYLE_CODES: Final = {"f": "formal", "c": "casual", "p": "playful"}
_DAYPART_CODES: Final[Mapping[str, Daypart]] = {"m": "morning", "a": "afternoon", "n": "night"}
ALL_STYLES: Final = frozenset(_STYLE_CODES.values())
ALL_DAYPARTS: Final = frozenset(DAYPARTS)


@dataclass(frozen=True, slots=True)
class Fragment:
    text: str
    styles: frozenset[str] = ALL_STYLES
    dayparts: frozenset[Daypart] = ALL_DAYPARTS

    def allowed(self, style: str, daypart: Daypart) -> bool:
        return style in self.styles and daypart in self.dayparts


@dataclass(frozen=True, slots=True)
class Entity:
    """A slot filler; `forms[""]` is the default form, `forms["name"]` the searchable one."""

    forms: Mapping[str, str]
    styles: frozenset[str] = ALL_STYLES
    dayparts: frozenset[Daypart] = ALL_DAYPARTS

    def allowed(self, style: str, daypart: Daypart) -> bool:
        return style in self.styles and daypart in self.dayparts


def _tags(raw: str) -> tuple[str, frozenset[str], frozenset[Daypart]]:
    styles: frozenset[str] = ALL_STYLES
    dayparts: frozenset[Daypart] = ALL_DAYPARTS
    text = raw
    while text[:1] in {"@", "#"}:
        head, _, rest = text.partition(" ")
        codes = head[1:]
        if head[0] == "@":
            styles = frozenset(_STYLE_CODES[c] for c in codes)
        else:
            dayparts = frozenset(_DAYPART_CODES[c] for c in codes)
        text = rest
    return text, styles, dayparts


def frags(*raw: str) -> tuple[Fragment, ...]:
    out = []
    for item in raw:
        text, styles, dayparts = _tags(item)
        out.append(Fragment(text, styles, dayparts))
    return tuple(out)


def ents(*raw: str | Mapping[str, str]) -> tuple[Entity, ...]:
    out = []
    for item in raw:
        if isinstance(item, str):
            text, styles, dayparts = _tags(item)
            out.append(Entity(MappingProxyType({"": text, "name": text}), styles, dayparts))
        else:
            forms = dict(item)
            _, styles, dayparts = _tags(forms.pop("tags", ""))
            forms.setdefault("", forms.get("np") or forms.get("name") or next(iter(forms.values())))
            out.append(Entity(MappingProxyType(forms), styles, dayparts))
    return tuple(out)


def by_style(**per_style: tuple[str, ...]) -> Mapping[str, tuple[Entity, ...]]:
    return MappingProxyType({style: ents(*items) for style, items in per_style.items()})


def by_daypart(**per_part: tuple[str, ...]) -> Mapping[str, tuple[Entity, ...]]:
    return MappingProxyType({part: ents(*items) for part, items in per_part.items()})


@dataclass(frozen=True, slots=True)
class Topic:
    key: str
    label: str
    aliases: tuple[str, ...]
    slots: Mapping[str, tuple[Entity, ...]]
    statements: tuple[Fragment, ...]
    questions: tuple[Fragment, ...]
    reactions: tuple[Fragment, ...]
    # Questions about something the partner mentioned, keyed by the slot it was found in.
    followups: Mapping[str, tuple[Fragment, ...]] = field(default_factory=dict)
    emoji: tuple[Fragment, ...] = ()


# --------------------------------------------------------------------------------------------
# Slots shared by every topic
# --------------------------------------------------------------------------------------------

SHARED_SLOTS: Final[Mapping[str, tuple[Entity, ...]]] = MappingProxyType(
    {
        "when_past": ents(
            "ontem",
            "anteontem",
            "no fim de semana",
            "semana passada",
            "no sábado",
            "no domingo",
            "esses dias",
            "outro dia",
            "na sexta",
        ),
        "when_future": ents(
            "amanhã",
            "no sábado",
            "no domingo",
            "semana que vem",
            "no feriado",
            "mês que vem",
            "depois de amanhã",
            "no próximo fim de semana",
            "na sexta",
        ),
        "freq": ents(
            "toda semana",
            "de vez em quando",
            "quase todo dia",
            "sempre que dá",
            "umas três vezes por semana",
            "religiosamente",
        ),
        "friend": ents(
            "um amigo meu",
            "minha prima",
            "meu irmão",
            "uma colega do trabalho",
            "meu vizinho",
            "minha irmã",
            "meu cunhado",
            "uma amiga minha",
            "o pessoal da firma",
        ),
    }
)

# Register-dependent words: the same template reads formal, casual or playful.
STYLE_SLOTS: Final[Mapping[str, Mapping[str, tuple[Entity, ...]]]] = MappingProxyType(
    {
        "good": by_style(
            formal=("muito bom", "excelente", "ótimo", "maravilhoso", "muito agradável"),
            casual=("muito bom", "massa", "top", "show de bola", "bom demais", "daora", "irado"),
            playful=("incrível", "maravilhoso", "perfeito", "um sonho", "tudo de bom", "demais"),
        ),
        "bad": by_style(
            formal=("complicado", "difícil", "cansativo", "bem puxado"),
            casual=("tenso", "puxado", "osso", "complicado", "punk", "chato demais"),
            playful=("um caos", "um drama", "tenso demais", "uma novela", "um filme de terror"),
        ),
        "adv": by_style(
            formal=("muito", "bastante", "realmente"),
            casual=("muito", "bem", "mó", "muito mesmo"),
            playful=("super", "muito", "mega", "hiper"),
        ),
    }
)

# Time-of-day words: what "now" and "later" mean depends on the daypart.
DAYPART_SLOTS: Final[Mapping[str, Mapping[str, tuple[Entity, ...]]]] = MappingProxyType(
    {
        "today_part": by_daypart(
            morning=("hoje de manhã", "agora cedo", "logo cedo"),
            afternoon=("hoje à tarde", "agora à tarde", "depois do almoço"),
            night=("hoje à noite", "agora à noite", "no fim do dia"),
        ),
        "later": by_daypart(
            morning=("mais tarde", "depois do almoço", "à tarde", "hoje à noite"),
            afternoon=("mais tarde", "à noite", "daqui a pouco", "no fim do dia"),
            night=("amanhã cedo", "daqui a pouco", "amanhã", "depois"),
        ),
    }
)

# --------------------------------------------------------------------------------------------
# Conversation moves that do not depend on the topic
# --------------------------------------------------------------------------------------------

HOW_ARE_YOU: Final = frags(
    "@f Tudo bem?",
    "@f Como vai?",
    "@f Como você está?",
    "@f Tudo bem com você?",
    "@f Como tem passado?",
    "@f Espero que esteja tudo bem.",
    "@f Tudo certo por aí?",
    "@f Como vão as coisas?",
    "@f Espero que esteja tudo em ordem por aí.",
    "@f Como está a semana por aí?",
    "@f Tudo tranquilo por aí?",
    "@c tudo certo?",
    "@c de boa?",
    "@c beleza?",
    "@c tudo bem?",
    "@c como cê tá?",
    "@c suave?",
    "@c tudo tranquilo?",
    "@c como tão as coisas?",
    "@c tudo em paz?",
    "@c firmeza?",
    "@c como tá a vida aí?",
    "@c tudo nos conformes?",
    "@c e aí, como tá?",
    "@p Tudo bem com você?",
    "@p Como vai essa força?",
    "@p Tudo lindo por aí?",
    "@p Como tá a vida?",
    "@p Quanto tempo!",
    "@p Tudo em cima?",
    "@p Sumiu, hein!",
    "@p Como tá essa vida boa?",
    "@p Como anda essa pessoa maravilhosa?",
    "@p Tudo certinho por aí?",
    "@p Me conta, como tá tudo?",
    "#m Dormiu bem?",
    "#m Acordou bem?",
    "#n Como foi o dia?",
    "#a Como tá sendo o dia?",
)

# "Tudo certo por aqui" + ", " + "só um pouco de correria": answers are composed.
HOW_ARE_YOU_ANSWERS: Final = frags(
    "@f Estou bem, agradeço por perguntar",
    "@f Tudo bem por aqui",
    "@f Vou bem",
    "@f Tudo tranquilo por aqui",
    "@f Por aqui está tudo em ordem",
    "@f Estou bem",
    "@f Tudo certo por aqui",
    "@f Vou indo bem",
    "@f Está tudo bem, felizmente",
    "@c tudo certo por aqui",
    "@c de boa",
    "@c tô bem",
    "@c tudo tranquilo",
    "@c tudo indo",
    "@c suave por aqui",
    "@c tudo na paz",
    "@c tô suave",
    "@c tudo certo",
    "@c de boa aqui",
    "@c tranquilo",
    "@c na paz",
    "@c tudo nos conformes",
    "@p Tudo ótimo por aqui",
    "@p Sobrevivendo",
    "@p Melhor agora",
    "@p Tudo lindo",
    "@p Na luta, mas feliz",
    "@p Vivendo e aprendendo",
    "@p Tudo maravilhoso",
    "@p Tudo certinho",
    "@p Melhor impossível",
    "@p Tudo em paz por aqui",
)

HOW_ARE_YOU_DETAILS: Final = frags(
    "só um pouco de correria",
    "correria de sempre",
    "na medida do possível",
    "graças a Deus",
    "com muito trabalho essa semana",
    "tentando dar conta de tudo",
    "um dia de cada vez",
    "sem muita novidade",
    "aproveitando que hoje tá mais calmo",
    "@cp vivendo um dia de cada vez",
    "@cp na luta de sempre",
    "@cp tudo indo",
    "@p com saudade de você",
    "@p com mil coisas pra fazer, mas feliz",
    "@f dentro do possível",
    "@f apesar do corre-corre",
    "#m começando o dia agora",
    "#m ainda acordando",
    "#m já na correria desde cedo",
    "#a depois de um almoço bem servido",
    "#a tentando vencer a preguiça da tarde",
    "#a a tarde tá rendendo",
    "#n cansaço de fim de dia, mas tudo certo",
    "#n finalmente em casa",
    "#n descansando um pouco agora",
)

RECIPROCALS: Final = frags(
    "@f E você, como está?",
    "@f E com você, tudo bem?",
    "@f E por aí, como estão as coisas?",
    "@f E você, como vai?",
    "@f E você, como tem passado?",
    "@f E como vão as coisas com você?",
    "@c e você?",
    "@c e contigo?",
    "@c e aí, tudo certo?",
    "@c e por aí?",
    "@c e com você?",
    "@c e aí, como cê tá?",
    "@c e por aí, de boa?",
    "@c e você, tudo na paz?",
    "@p E você?",
    "@p E aí, como tá a vida?",
    "@p E por aí, novidades?",
    "@p E você, me conta!",
    "@p E você, como tá?",
    "@p E aí, tudo lindo por aí?",
    "@p E você, quais as fofocas?",
)

# Reactions to whatever the partner said.
ACKS: Final = frags(
    "@f Que bom.",
    "@f Entendo.",
    "@f Faz sentido.",
    "@f Interessante.",
    "@f Que ótimo.",
    "@f Verdade.",
    "@f Imagino.",
    "@f Compreendo.",
    "@f Realmente.",
    "@f Que coisa, hein.",
    "@f Fico feliz em saber.",
    "@f Que notícia boa.",
    "@f Muito bom saber disso.",
    "@f Entendo perfeitamente.",
    "@f Que bacana.",
    "@f Olha só que interessante.",
    "@f Isso é muito bom.",
    "@f Não sabia disso.",
    "@c pois é",
    "@c verdade",
    "@c faz sentido",
    "@c sério?",
    "@c ah, massa",
    "@c caramba",
    "@c nossa",
    "@c que isso",
    "@c entendi",
    "@c tendi",
    "@c aí sim",
    "@c boa",
    "@c é mesmo",
    "@c demais",
    "@c putz",
    "@c olha só",
    "@c que massa",
    "@c eita",
    "@c vish",
    "@c top",
    "@c show",
    "@c é verdade",
    "@c imagino",
    "@c bom demais",
    "@c sei como é",
    "@p Amei!",
    "@p Socorro!",
    "@p Morri!",
    "@p Jura?",
    "@p Para tudo!",
    "@p Não acredito!",
    "@p Que babado!",
    "@p Que demais!",
    "@p Gente!",
    "@p Aaah, que máximo!",
    "@p Mentira!",
    "@p Adorei!",
    "@p Que chique!",
    "@p Que tudo!",
    "@p Que incrível!",
    "@p Sério mesmo?",
    "@p Ai, que legal!",
    "@p Não me diga!",
    "@p Que luxo!",
)

# Lead-ins for answering a question ("Olha, ...").
ANSWER_OPENERS: Final = frags(
    "@f Olha,",
    "@f Então,",
    "@f Sinceramente,",
    "@f Bem,",
    "@f Veja,",
    "@f Na verdade,",
    "@f Pois então,",
    "@f Boa pergunta.",
    "@c então,",
    "@c olha,",
    "@c cara,",
    "@c ah,",
    "@c pior que",
    "@c sei lá,",
    "@c tipo,",
    "@c na real,",
    "@c ó,",
    "@p Olha,",
    "@p Gente,",
    "@p Então,",
    "@p Ah,",
    "@p Olha só,",
    "@p Menina,",
    "@p Ai, então,",
    "@p Pois é,",
)

OPENERS: Final = frags(
    "Passando pra dar um oi.",
    "Lembrei de você agora.",
    "Faz tempo que a gente não conversa.",
    "@cp Tava com saudade de conversar.",
    "@f Espero não estar atrapalhando.",
    "@f Resolvi mandar uma mensagem.",
    "@c bateu vontade de puxar assunto",
    "@p Vim te encher um pouquinho!",
    "@cp Vim dar sinal de vida.",
    "@f Faz um tempinho que não nos falamos.",
    "@c passando aqui rapidinho",
    "@p Apareci!",
    "Lembrei de uma coisa e quis te contar.",
)

# Small talk tied to the time of day (or to no time).
LIFE: Final = frags(
    "#m Acordei cedo hoje.",
    "#m Tô tomando um café pra acordar.",
    "#m O trânsito hoje cedo tava {bad}.",
    "#m Já tô na correria desde cedo.",
    "#m A manhã tá rendendo por aqui.",
    "#m Ainda tô acordando, na verdade.",
    "#m Hoje acordei com uma disposição que nem sei de onde veio.",
    "#m O despertador hoje foi cruel.",
    "#m Saí de casa sem tomar café, erro grave.",
    "#m Hoje a manhã começou com reunião.",
    "#a Acabei de almoçar.",
    "#a A tarde tá passando devagar.",
    "#a Bateu aquela preguiça depois do almoço.",
    "#a Tô precisando de um café pra aguentar a tarde.",
    "#a Essa tarde tá {adv} corrida.",
    "#a Comi demais no almoço, tô com sono.",
    "#a O almoço hoje foi rapidinho, muita coisa pra fazer.",
    "#a A tarde voou hoje.",
    "#n Acabei de chegar em casa.",
    "#n Tô jantando aqui.",
    "#n Hoje o dia foi longo.",
    "#n Daqui a pouco vou dormir.",
    "#n Finalmente deu pra descansar um pouco.",
    "#n Agora que consegui parar um pouco.",
    "#n Tô no sofá, vendo qualquer coisa na TV.",
    "#n Hoje vou tentar dormir cedo.",
    "#n O dia rendeu, mas agora é descanso.",
    "Hoje o dia tá {adv} corrido.",
    "Essa semana passou voando.",
    "Tô tentando organizar umas coisas por aqui.",
    "Hoje tá tudo meio devagar por aqui.",
    "@cp A semana tá {bad}, mas vamo que vamo.",
    "@f A semana tem sido produtiva.",
    "Hoje resolvi um monte de pendência.",
    "Tô com a cabeça cheia de coisa hoje.",
    "Essa semana tá passando {adv} rápido.",
    "Hoje o dia tá {good} por aqui.",
)

GENERIC_QUESTIONS: Final = frags(
    "Quais as novidades?",
    "O que você tem feito de bom?",
    "#an Como foi seu dia?",
    "#m Dormiu bem?",
    "Como tá sendo sua semana?",
    "#n Já jantou?",
    "#a Já almoçou?",
    "E aí, alguma novidade por aí?",
    "@cp Fazendo o que de bom?",
    "@f Como estão as coisas no trabalho?",
    "Tem feito alguma coisa diferente?",
    "O que você vai fazer {later}?",
    "Tem algum plano pra {when_future}?",
)

LAUGHS: Final = frags(
    "@c kkk",
    "@c kkkk",
    "@c kkkkk",
    "@c rsrs",
    "@c haha",
    "@c kkkkkk",
    "@c kkkkkkkk",
    "@c ksksks",
    "@c hahah",
    "@p kkkkkkk",
    "@p KKKKKK",
    "@p hahaha",
    "@p rsrsrs",
    "@p hahahaha",
    "@p kkkkk socorro",
    "@p KKKKKKKKK",
    "@p ashuashuas",
    "@p kkkkkkkkkkk",
)

# Before the goodbye: why the persona is leaving.
PRE_CLOSERS: Final = frags(
    "@f Bom, preciso voltar ao trabalho.",
    "@f Bem, vou precisar sair agora.",
    "@f Preciso resolver umas coisas agora.",
    "@f Vou precisar me ausentar agora.",
    "@f Tenho um compromisso daqui a pouco.",
    "@f Preciso terminar algumas tarefas.",
    "@c bom, vou nessa que tenho umas coisas pra fazer",
    "@c deixa eu ir ali, tô no meio de umas coisas",
    "@c tenho que ir agora",
    "@c vou ter que sair aqui",
    "@c bom, deixa eu voltar aqui",
    "@c vou ali resolver uma parada",
    "@p Preciso correr aqui!",
    "@p Vou ter que ir, a vida me chama!",
    "@p Vou lá, que o dever me chama!",
    "@p Tenho que sair correndo!",
    "#n Vou ali dormir que amanhã tem mais.",
    "#n Vou tomar um banho e capotar.",
    "#m Deixa eu ir trabalhar.",
    "#m Vou ali que o dia tá só começando.",
    "#a Vou voltar pro trabalho.",
    "#a Deixa eu terminar umas coisas aqui.",
)

CLOSERS: Final = frags(
    "@f Preciso ir agora, mas falamos depois.",
    "@f Foi bom conversar com você.",
    "@f Até mais!",
    "@f Depois conversamos com calma.",
    "@f Um abraço!",
    "@f Até a próxima.",
    "@f Fico por aqui, até logo.",
    "@f Falamos depois.",
    "@f Um grande abraço.",
    "@f Até breve!",
    "@f Foi um prazer conversar.",
    "@f Depois continuamos a conversa.",
    "@f #m Tenha um ótimo dia!",
    "@f #m Tenha um bom dia!",
    "@f #m Bom trabalho pra você!",
    "@f #m Uma excelente manhã pra você!",
    "@f #a Tenha uma ótima tarde!",
    "@f #a Uma boa tarde pra você!",
    "@f #a Bom resto de tarde!",
    "@f #n Tenha uma boa noite!",
    "@f #n Boa noite e até amanhã!",
    "@f #n Descanse bem!",
    "@c falou!",
    "@c tmj!",
    "@c depois a gente se fala",
    "@c vou nessa",
    "@c abraço!",
    "@c fui!",
    "@c até mais",
    "@c valeu, até depois",
    "@c depois a gente conversa mais",
    "@c flw!",
    "@c até logo",
    "@c valeu!",
    "@c tamo junto!",
    "@c abração!",
    "@c depois continua o papo",
    "@c até mais tarde",
    "@c fica com Deus",
    "@c #m bom trabalho aí",
    "@c #m bora que o dia tá só começando",
    "@c #m bom dia pra você aí",
    "@c #a boa tarde aí",
    "@c #a bom resto de tarde",
    "@c #a bora que a tarde ainda tá longa",
    "@c #n boa noite aí",
    "@c #n até amanhã",
    "@c #n dorme bem",
    "@c #n boa noite, descansa aí",
    "@p Beijos!",
    "@p Tchau, tchau!",
    "@p Fui!",
    "@p Até mais, hein!",
    "@p Beijinhos!",
    "@p Me conta depois!",
    "@p Depois quero saber de tudo!",
    "@p Beijo, beijo!",
    "@p Até daqui a pouco!",
    "@p Não some, hein!",
    "@p Saudades já!",
    "@p Bjs, se cuida!",
    "@p #m Tenha um dia lindo!",
    "@p #m Arrasa hoje!",
    "@p #m Um dia incrível pra você!",
    "@p #a Aproveita a tarde!",
    "@p #a Uma tarde linda pra você!",
    "@p #a Boa tarde pra você!",
    "@p #n Boa noite, dorme com os anjinhos!",
    "@p #n Sonha com os anjos!",
    "@p #n Boa noite, até amanhã!",
)

# An extra good wish after a goodbye ("Falou! Bom descanso.").
WISHES: Final = frags(
    "Se cuida!",
    "@f Fique com Deus.",
    "@cp Juízo, hein!",
    "@f Cuide-se.",
    "Boa semana!",
    "@c Manda um abraço pro pessoal aí!",
    "@p Manda beijo pra todo mundo aí!",
    "#m Bom almoço!",
    "#ma Bom trabalho!",
    "#a Bom fim de expediente!",
    "#n Bom descanso!",
    "#n Durma bem!",
    "#n Amanhã a gente se fala.",
)

# Short pieces used to reach a persona's minimum length.
FILLERS: Final = frags(
    "@f Enfim.",
    "@f Pois é.",
    "@f Certo.",
    "@f Bem, é isso.",
    "@f Sem dúvida.",
    "@c enfim",
    "@c pois é",
    "@c né",
    "@c rs",
    "@c sim",
    "@c é isso aí",
    "@c fazer o quê",
    "@p Enfim!",
    "@p Né!",
    "@p Aff!",
    "@p Rs!",
    "@p É isso!",
    "@p Vida que segue!",
)

STYLE_EMOJI: Final[Mapping[str, tuple[Fragment, ...]]] = MappingProxyType(
    {
        "formal": frags("🙂", "😊", "👍", "🙏", "#m ☀️", "#m ☕", "#n 🌙"),
        "casual": frags("😂", "👍", "😅", "🤙", "✌️", "👊", "😎", "🙌", "😄", "#n 😴", "#m ☕"),
        "playful": frags(
            "😂",
            "🤣",
            "😍",
            "🥳",
            "✨",
            "🙈",
            "💃",
            "😜",
            "🥰",
            "🤪",
            "😆",
            "❤️",
            "💖",
            "#m ☀️",
            "#n 🌙",
            "#n 😴",
        ),
    }
)

# --------------------------------------------------------------------------------------------
# Topics
# --------------------------------------------------------------------------------------------

_FUTEBOL = Topic(
    key="futebol",
    label="futebol",
    aliases=(
        "futebol",
        "jogo",
        "jogos",
        "time",
        "bola",
        "campeonato",
        "brasileirão",
        "libertadores",
        "copa",
        "esporte",
        "esportes",
        "partida",
        "torcida",
        "estádio",
        "gol",
    ),
    slots={
        "team": ents(
            "Flamengo",
            "Corinthians",
            "Palmeiras",
            "São Paulo",
            "Santos",
            "Vasco",
            "Botafogo",
            "Fluminense",
            "Grêmio",
            "Inter",
            "Atlético",
            "Cruzeiro",
            "Bahia",
            "Fortaleza",
            "Sport",
            "Athletico",
            "Ceará",
            "Vitória",
        ),
        "comp": ents(
            {"name": "Brasileirão", "the": "o Brasileirão", "in": "no Brasileirão"},
            {"name": "Libertadores", "the": "a Libertadores", "in": "na Libertadores"},
            {"name": "Copa do Brasil", "the": "a Copa do Brasil", "in": "na Copa do Brasil"},
            {"name": "estadual", "the": "o estadual", "in": "no estadual"},
            {"name": "Sul-Americana", "the": "a Sul-Americana", "in": "na Sul-Americana"},
        ),
        "result": ents(
            "ganhou de 2 a 0",
            "perdeu de 3 a 1",
            "empatou em 1 a 1",
            "ganhou de virada",
            "empatou sem gols",
            "perdeu nos acréscimos",
            "ganhou nos pênaltis",
            "tomou a virada no segundo tempo",
            "ganhou de 3 a 2",
        ),
        "role": ents(
            {"name": "goleiro", "the": "o goleiro", "of": "do goleiro"},
            {"name": "técnico", "the": "o técnico", "of": "do técnico"},
            {"name": "camisa 10", "the": "o camisa 10", "of": "do camisa 10"},
            {"name": "centroavante", "the": "o centroavante", "of": "do centroavante"},
            {"name": "lateral", "the": "o lateral", "of": "do lateral"},
            {"name": "zagueiro", "the": "o zagueiro", "of": "do zagueiro"},
        ),
    },
    statements=frags(
        "Vi o jogo do {team} {when_past} e foi {good}.",
        "O {team} {result} {when_past}.",
        "Tô achando que o {team} chega longe {comp.in} esse ano.",
        "Acho que {role.the} do {team} tá devendo.",
        "Vou ver o jogo do {team} {when_future} com {friend}.",
        "O jogo {when_past} foi {bad}, nem gosto de lembrar.",
        "Tô com uma sensação boa pro jogo {when_future}.",
        "Ainda não superei aquele jogo {when_past}.",
        "O {team} precisa ganhar {when_future} de qualquer jeito.",
        "@cp O {team} tá me deixando sem unha de tanto nervoso.",
        "Comprei a camisa nova do {team}, agora não tem desculpa.",
        "Faz tempo que não vou no estádio, tô com saudade.",
        "Esse ano {comp.the} tá {adv} disputado.",
        "Dizem que o {team} vai contratar um atacante novo.",
    ),
    questions=frags(
        "Você viu o jogo do {team} {when_past}?",
        "Vai assistir o jogo {when_future}?",
        "Pra que time você torce mesmo?",
        "Você acha que o {team} ganha {comp.the}?",
        "Quem você acha que leva {comp.the} esse ano?",
        "Bora ver o próximo jogo juntos?",
        "Você ainda joga aquela pelada {freq}?",
        "Viu a confusão no fim do jogo {when_past}?",
        "O que você achou {role.of} do {team} {when_past}?",
    ),
    reactions=frags(
        "Nem me fala, o {team} tá me dando dor de cabeça.",
        "Futebol é assim mesmo, uma semana é festa e na outra é velório.",
        "Aquele gol no final foi {good}.",
        "O juiz {when_past} foi {bad}.",
        "@cp Futebol brasileiro é uma novela, não tem jeito.",
        "Eu já nem crio expectativa, só assisto.",
        "Com esse elenco dá pra sonhar alto.",
    ),
    followups={
        "team": frags(
            "E o {team}, hein? Você acha que vai longe {comp.in}?",
            "Você vai no estádio ver o {team}?",
            "Desde quando você acompanha o {team}?",
            "Você acha que o {team} ganha {when_future}?",
        ),
        "comp": frags(
            "Quem você acha que leva {comp.the}?",
            "Tá acompanhando {comp.the} esse ano?",
        ),
    },
    emoji=frags("⚽", "🏆", "🥅"),
)

_TRABALHO = Topic(
    key="trabalho",
    label="trabalho",
    aliases=(
        "trabalho",
        "emprego",
        "serviço",
        "escritório",
        "firma",
        "carreira",
        "reunião",
        "chefe",
        "projeto",
        "trampo",
        "home office",
        "job",
        "empresa",
        "expediente",
    ),
    slots={
        "task": ents(
            "uma reunião atrás da outra",
            "um relatório enorme",
            "uma apresentação importante",
            "um projeto novo",
            "um monte de e-mail pra responder",
            "uma entrega pra sexta",
            "um treinamento",
            "uma planilha gigante",
            "uma visita de cliente",
        ),
        "deliverable": ents(
            {"name": "relatório", "": "aquele relatório"},
            {"name": "apresentação", "": "a apresentação"},
            {"name": "projeto", "": "o projeto"},
            {"name": "planilha", "": "a planilha"},
            {"name": "proposta", "": "aquela proposta"},
            {"name": "orçamento", "": "o orçamento"},
            {"name": "reunião", "": "a reunião"},
        ),
        "coworker": ents(
            "meu chefe",
            "minha chefe",
            "o pessoal do financeiro",
            "a equipe nova",
            "um cliente",
            "o RH",
            "a diretoria",
        ),
    },
    statements=frags(
        "Tô com {task} {today_part}.",
        "Hoje {coworker} pediu mais uma coisa pra ontem.",
        "O trabalho essa semana tá {adv} puxado.",
        "Finalmente terminei {deliverable}.",
        "Ainda tô enrolando com {deliverable}.",
        "Tô trabalhando de casa hoje, bem mais tranquilo.",
        "Tenho {task} {later}.",
        "O pessoal novo da equipe é {good}.",
        "Tô pensando em fazer um curso pra crescer na carreira.",
        "Semana que vem tenho uma entrega importante.",
        "@cp Segunda-feira devia ser proibida.",
        "#m Cheguei no trabalho e a caixa de e-mail tá lotada.",
        "#n Finalmente saí do trabalho, o dia foi {bad}.",
        "#a A reunião depois do almoço foi {bad}.",
        "Essa semana tá sendo de muita reunião.",
        "Recebi um elogio do cliente hoje, fiquei feliz demais.",
    ),
    questions=frags(
        "E o trabalho, como tá?",
        "Como tá a correria aí no trabalho?",
        "Você ainda tá naquele projeto?",
        "Tá trabalhando de casa ou no escritório agora?",
        "Como foi a reunião que você comentou?",
        "E o chefe novo, é gente boa?",
        "Já pensou em mudar de área?",
        "Muita coisa pra entregar essa semana?",
    ),
    reactions=frags(
        "Trabalho nunca acaba, né?",
        "Imagino a correria, aqui também tá assim.",
        "Pelo menos tá dando pra levar.",
        "Nada como terminar uma entrega grande.",
        "@cp Força aí, que sexta tá chegando.",
        "@f Faz parte, mas é importante cuidar da saúde também.",
        "Tem semana que parece que não acaba.",
    ),
    followups={
        "deliverable": frags(
            "E {deliverable}, conseguiu terminar?",
            "Deu tudo certo com {deliverable}?",
        ),
    },
    emoji=frags("💼", "💻", "☕", "📊"),
)

_FIM_DE_SEMANA = Topic(
    key="fim_de_semana",
    label="fim de semana",
    aliases=(
        "fim de semana",
        "fds",
        "final de semana",
        "sábado",
        "domingo",
        "feriado",
        "folga",
        "descanso",
        "rolê",
        "feriadão",
    ),
    slots={
        "plan": ents(
            {"name": "churrasco", "": "fazer um churrasco"},
            {"name": "praia", "": "ir pra praia"},
            {"name": "descansando", "": "ficar em casa descansando"},
            {"name": "amigos", "": "ver uns amigos"},
            {"name": "barzinho", "": "ir num barzinho"},
            {"name": "visitar", "": "visitar a família"},
            {"name": "maratonar", "": "maratonar uma série"},
            {"name": "dormir", "": "dormir até tarde"},
            {"name": "parque", "": "andar no parque"},
            {"name": "trilha", "": "fazer uma trilha"},
            {"name": "cinema", "": "ir no cinema"},
        ),
        "place": ents(
            "na casa da minha tia",
            "no sítio de um amigo",
            "num bar novo",
            "na praia",
            "num aniversário",
            "no parque",
            "na casa de uns amigos",
        ),
    },
    statements=frags(
        "Quero {plan} no fim de semana.",
        "Tô pensando em {plan} {when_future}.",
        "Passei o domingo {place}, foi {good}.",
        "Meu fim de semana foi {good}, deu até pra {plan}.",
        "Esse fim de semana vou só descansar, tô precisando.",
        "O sábado passou voando.",
        "Fui {place} {when_past} e foi {good}.",
        "Tô contando os dias pro fim de semana.",
        "Domingo tem almoço de família aqui em casa.",
        "@cp Fim de semana passa voando, não é justo.",
        "Ainda não sei o que fazer {when_future}.",
        "O feriado vai cair numa quinta, já tô pensando em emendar.",
    ),
    questions=frags(
        "E aí, planos pro fim de semana?",
        "O que você fez {when_past}?",
        "Vai fazer alguma coisa {when_future}?",
        "Bora {plan} {when_future}?",
        "Seu fim de semana foi bom?",
        "Você é mais de sair ou de ficar em casa no fim de semana?",
        "Vai emendar o feriado?",
    ),
    reactions=frags(
        "Fim de semana assim é o melhor.",
        "Que inveja boa, quero um desses.",
        "Descansar também é programa, viu.",
        "Nada como um fim de semana tranquilo.",
        "Fim de semana bom é assim, sem hora pra nada.",
    ),
    followups={
        "plan": frags("E aí, deu pra {plan}?", "Você vai mesmo {plan}?"),
    },
    emoji=frags("🏖️", "🍻", "😎", "🛋️"),
)

_COMIDA = Topic(
    key="comida",
    label="comida",
    aliases=(
        "comida",
        "culinária",
        "receita",
        "receitas",
        "almoço",
        "jantar",
        "janta",
        "restaurante",
        "cozinha",
        "gastronomia",
        "lanche",
        "comer",
        "churrasco",
        "pizza",
    ),
    slots={
        "dish": ents(
            {"name": "feijoada", "np": "uma feijoada"},
            {"name": "churrasco", "np": "um churrasco"},
            {"name": "lasanha", "np": "uma lasanha"},
            {"name": "strogonoff", "np": "um strogonoff"},
            {"name": "moqueca", "np": "uma moqueca"},
            {"name": "pastel", "np": "um pastel de feira"},
            {"name": "pizza", "np": "uma pizza"},
            {"name": "açaí", "np": "um açaí"},
            {"name": "pão de queijo", "np": "um pão de queijo"},
            {"name": "coxinha", "np": "uma coxinha"},
            {"name": "escondidinho", "np": "um escondidinho"},
            {"name": "bobó", "np": "um bobó de camarão"},
            {"name": "tapioca", "np": "uma tapioca"},
            {"name": "acarajé", "np": "um acarajé"},
            {"name": "hambúrguer", "np": "um hambúrguer artesanal"},
            {"name": "sushi", "np": "um sushi"},
        ),
        "place": ents(
            "naquele restaurante novo",
            "numa padaria perto de casa",
            "num japonês",
            "na casa da minha avó",
            "num food truck",
            "num boteco ótimo",
        ),
    },
    statements=frags(
        "Tô com uma vontade de comer {dish.np}.",
        "Comi {dish.np} {when_past} que tava {good}.",
        "Hoje quero tentar fazer {dish.np} em casa.",
        "Descobri um lugar que faz {dish.np} sensacional.",
        "Almocei {place} {when_past}.",
        "Tô tentando comer melhor, mas tá difícil.",
        "#m Tomei um café da manhã reforçado hoje.",
        "#a O almoço hoje foi {dish.np}.",
        "#n Hoje a janta vai ser {dish.np}.",
        "#n Tô pensando em pedir {dish.np} hoje.",
        "Minha avó faz {dish.np} que é de outro mundo.",
        "Fiz um prato novo e ficou {good}.",
        "Fui {place} {when_past} e comi demais.",
    ),
    questions=frags(
        "Você já comeu {dish.np} {place}?",
        "Qual sua comida preferida?",
        "Você cozinha ou é mais de pedir?",
        "Bora marcar de comer {dish.np} {when_future}?",
        "#ma O que vai ter de almoço aí?",
        "#n O que vai ser a janta hoje?",
        "Conhece algum lugar bom pra comer {dish.np}?",
        "Você tem alguma receita boa pra me passar?",
    ),
    reactions=frags(
        "Agora fiquei com fome.",
        "Comida boa resolve qualquer coisa.",
        "Nada bate comida caseira.",
        "Isso me deu uma fome...",
        "@cp Para, que eu tô de dieta.",
        "@f Parece delicioso.",
        "Só de ouvir já deu água na boca.",
    ),
    followups={
        "dish": frags(
            "Onde você comeu {dish.name}?",
            "Você que fez {dish.np}?",
            "Me passa a receita de {dish.name}?",
        ),
    },
    emoji=frags("🍕", "🍔", "😋", "🍲", "🤤"),
)

_CLIMA = Topic(
    key="clima",
    label="clima",
    aliases=(
        "clima",
        "tempo",
        "chuva",
        "calor",
        "frio",
        "previsão",
        "sol",
        "temperatura",
        "estação",
        "inverno",
        "verão",
        "chovendo",
    ),
    slots={
        "weather": ents(
            {"name": "calor", "this": "esse calor", "np": "um calor absurdo"},
            {"name": "chuva", "this": "essa chuva", "np": "uma chuva forte"},
            {"name": "frio", "this": "esse frio", "np": "um frio danado"},
            {"name": "sol", "this": "esse sol", "np": "um sol lindo", "tags": "#ma"},
            {"name": "garoa", "this": "essa garoa", "np": "uma garoa chata"},
            {"name": "vento", "this": "esse vento", "np": "um vento gelado"},
            {"name": "umidade", "this": "essa umidade", "np": "um tempo abafado"},
        ),
    },
    statements=frags(
        "Aqui tá fazendo {weather.np} {today_part}.",
        "Não aguento mais {weather.this}.",
        "Disseram que vai chover {when_future}.",
        "#m Hoje amanheceu nublado.",
        "Com {weather.this} só dá vontade de ficar em casa.",
        "Esqueci o guarda-chuva e peguei chuva no caminho.",
        "Tô torcendo pra esfriar um pouco.",
        "A previsão diz que o fim de semana vai ser de sol.",
        "#n Tá uma noite fresquinha, bem gostosa.",
        "#m Acordei com o barulho da chuva.",
        "#a O sol da tarde hoje tá de rachar.",
        "Esse tempo maluco muda toda hora.",
    ),
    questions=frags(
        "Como tá o tempo aí?",
        "Aí também tá fazendo {weather.np}?",
        "Você prefere frio ou calor?",
        "Viu a previsão do tempo pra essa semana?",
        "Tá chovendo aí também?",
    ),
    reactions=frags(
        "Esse tempo tá doido mesmo.",
        "Aqui também, não tá fácil.",
        "Pelo menos dá pra ficar em casa debaixo da coberta.",
        "Tempo assim pede um cafezinho.",
        "Tomara que melhore logo.",
    ),
    followups={
        "weather": frags(
            "E {weather.this} aí, vai durar até quando?",
            "Aí {weather.this} tá forte?",
        ),
    },
    emoji=frags("#ma ☀️", "🌧️", "🥶", "🥵", "☔"),
)

_FAMILIA = Topic(
    key="familia",
    label="família",
    aliases=(
        "família",
        "filhos",
        "filho",
        "filha",
        "mãe",
        "pai",
        "parentes",
        "crianças",
        "avó",
        "avô",
        "irmão",
        "irmã",
        "primos",
        "sobrinho",
    ),
    slots={
        "relative": ents(
            {"name": "mãe", "np": "minha mãe", "of": "da minha mãe", "your": "sua mãe"},
            {"name": "pai", "np": "meu pai", "of": "do meu pai", "your": "seu pai"},
            {"name": "avó", "np": "minha avó", "of": "da minha avó", "your": "sua avó"},
            {"name": "irmão", "np": "meu irmão", "of": "do meu irmão", "your": "seu irmão"},
            {"name": "irmã", "np": "minha irmã", "of": "da minha irmã", "your": "sua irmã"},
            {"name": "tia", "np": "minha tia", "of": "da minha tia", "your": "sua tia"},
            {
                "name": "sobrinho",
                "np": "meu sobrinho",
                "of": "do meu sobrinho",
                "your": "seu sobrinho",
            },
            {"name": "avô", "np": "meu avô", "of": "do meu avô", "your": "seu avô"},
        ),
        "fam_event": ents(
            "um almoço de família",
            "o aniversário da minha avó",
            "um churrasco na casa do meu tio",
            "uma reunião de família",
            "o batizado do meu sobrinho",
            "um jantar na casa dos meus pais",
        ),
    },
    statements=frags(
        "Fui visitar {relative.np} {when_past}.",
        "Tem {fam_event} {when_future}.",
        "Hoje liguei pra {relative.np}, fazia tempo.",
        "As crianças aqui estão {adv} agitadas hoje.",
        "O aniversário {relative.of} é {when_future}.",
        "Família reunida é sempre {good}.",
        "Tô com saudade {relative.of}.",
        "Domingo é dia de almoço na casa {relative.of}.",
        "Ajudei {relative.np} a arrumar a casa {when_past}.",
        "Meu sobrinho aprendeu a andar de bicicleta, foi uma festa.",
    ),
    questions=frags(
        "E a família, tudo bem?",
        "Como tá {relative.your}?",
        "Vocês vão se reunir {when_future}?",
        "Seus pais ainda moram na mesma cidade?",
        "Você tem irmãos?",
        "Como tá o pessoal aí da sua casa?",
    ),
    reactions=frags(
        "Família é tudo, né?",
        "Que bom que tá todo mundo bem.",
        "Essas reuniões de família rendem cada história.",
        "Saudade é fogo.",
        "Aproveita, que esses momentos valem ouro.",
    ),
    followups={
        "relative": frags(
            "E {relative.your}, como tá?",
            "Manda um abraço pra {relative.your}!",
            "E {relative.your}, ainda mora perto de você?",
        ),
    },
    emoji=frags("❤️", "🏡", "🥰"),
)

_SERIES = Topic(
    key="series",
    label="séries e filmes",
    aliases=(
        "séries",
        "série",
        "filme",
        "filmes",
        "netflix",
        "streaming",
        "tv",
        "novela",
        "cinema",
        "maratona",
        "temporada",
        "episódio",
    ),
    slots={
        "show": ents(
            "Round 6",
            "Stranger Things",
            "The Last of Us",
            "A Casa do Dragão",
            "The Bear",
            "Wandinha",
            "Sintonia",
            "DNA do Crime",
            "Cangaço Novo",
            "Ruptura",
            "Arcane",
            "Dark",
            "Ted Lasso",
            "Os Outros",
            "Succession",
            "La Casa de Papel",
        ),
        "genre": ents(
            "suspense",
            "comédia",
            "documentário",
            "drama",
            "terror",
            "ficção científica",
            "investigação",
        ),
        "platform": ents("na Netflix", "no Globoplay", "no Prime", "na Max", "no Disney+"),
    },
    statements=frags(
        "Comecei a ver {show} e não consigo parar.",
        "Terminei {show} {when_past}, que final!",
        "Tô maratonando {show} {platform}.",
        "Quero uma série de {genre} pra ver {when_future}.",
        "Vi a nova temporada de {show} e achei {good}.",
        "Fiquei acordando tarde por causa de {show}.",
        "Tô sem nada pra assistir, aceito sugestões.",
        "#n Hoje é dia de pipoca e {show}.",
        "Vi um filme {platform} {when_past} que era {good}.",
        "Ainda não vi o final de {show}, não me dá spoiler.",
        "Dizem que {show} vai ter mais uma temporada.",
    ),
    questions=frags(
        "Você já viu {show}?",
        "Tá assistindo alguma série boa?",
        "Me indica um filme pra ver {when_future}?",
        "Você curte série de {genre}?",
        "Viu o último episódio de {show}?",
        "Qual streaming você mais usa?",
    ),
    reactions=frags(
        "Essa tá na minha lista faz tempo.",
        "Sem spoiler, por favor!",
        "Tenho que ver isso logo.",
        "Essa eu já vi, é {good}.",
        "Série assim vicia demais.",
    ),
    followups={
        "show": frags(
            "Em que temporada de {show} você tá?",
            "E aí, vale a pena ver {show}?",
            "O que você tá achando de {show}?",
        ),
    },
    emoji=frags("📺", "🍿", "🎬"),
)

_VIAGEM = Topic(
    key="viagem",
    label="viagem",
    aliases=(
        "viagem",
        "viagens",
        "férias",
        "turismo",
        "passeio",
        "viajar",
        "praia",
        "hotel",
        "roteiro",
        "passagem",
        "passagens",
        "mochilão",
    ),
    slots={
        "dest": ents(
            {
                "name": "Bahia",
                "the": "a Bahia",
                "to": "pra Bahia",
                "in": "na Bahia",
                "from": "da Bahia",
            },
            {"name": "Rio", "the": "o Rio", "to": "pro Rio", "in": "no Rio", "from": "do Rio"},
            {
                "name": "Floripa",
                "the": "Floripa",
                "to": "pra Floripa",
                "in": "em Floripa",
                "from": "de Floripa",
            },
            {
                "name": "Gramado",
                "the": "Gramado",
                "to": "pra Gramado",
                "in": "em Gramado",
                "from": "de Gramado",
            },
            {
                "name": "Nordeste",
                "the": "o Nordeste",
                "to": "pro Nordeste",
                "in": "no Nordeste",
                "from": "do Nordeste",
            },
            {
                "name": "Chapada Diamantina",
                "the": "a Chapada Diamantina",
                "to": "pra Chapada Diamantina",
                "in": "na Chapada Diamantina",
                "from": "da Chapada Diamantina",
            },
            {
                "name": "Porto de Galinhas",
                "the": "Porto de Galinhas",
                "to": "pra Porto de Galinhas",
                "in": "em Porto de Galinhas",
                "from": "de Porto de Galinhas",
            },
            {
                "name": "Jericoacoara",
                "the": "Jericoacoara",
                "to": "pra Jericoacoara",
                "in": "em Jericoacoara",
                "from": "de Jericoacoara",
            },
            {
                "name": "Bonito",
                "the": "Bonito",
                "to": "pra Bonito",
                "in": "em Bonito",
                "from": "de Bonito",
            },
            {
                "name": "Paraty",
                "the": "Paraty",
                "to": "pra Paraty",
                "in": "em Paraty",
                "from": "de Paraty",
            },
            {
                "name": "Foz do Iguaçu",
                "the": "Foz do Iguaçu",
                "to": "pra Foz do Iguaçu",
                "in": "em Foz do Iguaçu",
                "from": "de Foz do Iguaçu",
            },
            {
                "name": "Maceió",
                "the": "Maceió",
                "to": "pra Maceió",
                "in": "em Maceió",
                "from": "de Maceió",
            },
            {
                "name": "Ilha Grande",
                "the": "a Ilha Grande",
                "to": "pra Ilha Grande",
                "in": "na Ilha Grande",
                "from": "da Ilha Grande",
            },
            {
                "name": "Lençóis Maranhenses",
                "the": "os Lençóis Maranhenses",
                "to": "pros Lençóis Maranhenses",
                "in": "nos Lençóis Maranhenses",
                "from": "dos Lençóis Maranhenses",
            },
            {
                "name": "Buenos Aires",
                "the": "Buenos Aires",
                "to": "pra Buenos Aires",
                "in": "em Buenos Aires",
                "from": "de Buenos Aires",
            },
            {
                "name": "Portugal",
                "the": "Portugal",
                "to": "pra Portugal",
                "in": "em Portugal",
                "from": "de Portugal",
            },
        ),
        "when_trip": ents(
            "nas férias",
            "no feriado",
            "em dezembro",
            "no ano que vem",
            "em julho",
            "no Carnaval",
            "no fim do ano",
        ),
        "transport": ents("de carro", "de avião", "de ônibus"),
    },
    statements=frags(
        "Tô planejando ir {dest.to} {when_trip}.",
        "Tô com saudade de viajar.",
        "Vi umas passagens baratas {dest.to}.",
        "Quando fui {dest.to}, achei {good}.",
        "Quero muito conhecer {dest.the}.",
        "Minha última viagem foi {dest.to}, e já quero voltar.",
        "Tô juntando dinheiro pra viajar {when_trip}.",
        "Viajar {transport} cansa, mas vale a pena.",
        "Um amigo meu acabou de voltar {dest.from} e disse que é {good}.",
        "A melhor parte de viajar é a comida, sem dúvida.",
        "Já tô montando o roteiro da próxima viagem.",
    ),
    questions=frags(
        "Você já foi {dest.to}?",
        "Tem alguma viagem planejada?",
        "Pra onde você quer viajar {when_trip}?",
        "Você prefere praia ou montanha?",
        "Vale a pena ir {transport} {dest.to}?",
        "Você já tirou férias esse ano?",
    ),
    reactions=frags(
        "Que delícia, viajar faz bem demais.",
        "Quero ir também!",
        "Já tô imaginando as fotos.",
        "Viagem boa é a que a gente planeja com calma.",
        "Depois me manda as fotos.",
    ),
    followups={
        "dest": frags(
            "Quanto tempo você vai ficar {dest.in}?",
            "O que tem pra fazer {dest.in}?",
            "Você vai {transport} {dest.to}?",
            "É a primeira vez que você vai {dest.to}?",
        ),
    },
    emoji=frags("✈️", "🏖️", "🧳", "🗺️", "🌴"),
)

_MUSICA = Topic(
    key="musica",
    label="música",
    aliases=(
        "música",
        "músicas",
        "show",
        "shows",
        "banda",
        "playlist",
        "festival",
        "cantor",
        "cantora",
        "álbum",
        "spotify",
        "sertanejo",
        "funk",
        "pagode",
        "samba",
        "forró",
    ),
    slots={
        "artist": ents(
            {"name": "Anitta", "of": "da Anitta"},
            {"name": "Marília Mendonça", "of": "da Marília Mendonça"},
            {"name": "Jorge e Mateus", "of": "do Jorge e Mateus"},
            {"name": "Gusttavo Lima", "of": "do Gusttavo Lima"},
            {"name": "Caetano Veloso", "of": "do Caetano Veloso"},
            {"name": "Gilberto Gil", "of": "do Gilberto Gil"},
            {"name": "Ludmilla", "of": "da Ludmilla"},
            {"name": "Henrique e Juliano", "of": "do Henrique e Juliano"},
            {"name": "Ana Castela", "of": "da Ana Castela"},
            {"name": "Liniker", "of": "da Liniker"},
            {"name": "Djavan", "of": "do Djavan"},
            {"name": "Seu Jorge", "of": "do Seu Jorge"},
            {"name": "Tim Maia", "of": "do Tim Maia"},
            {"name": "Zeca Pagodinho", "of": "do Zeca Pagodinho"},
            {"name": "Thiaguinho", "of": "do Thiaguinho"},
            {"name": "Iza", "of": "da Iza"},
            {"name": "Alceu Valença", "of": "do Alceu Valença"},
            {"name": "Legião Urbana", "of": "da Legião Urbana"},
        ),
        "genre": ents(
            "sertanejo",
            "pagode",
            "funk",
            "MPB",
            "forró",
            "rock nacional",
            "samba",
            "piseiro",
            "trap",
            "axé",
        ),
    },
    statements=frags(
        "Não consigo parar de ouvir {artist.name}.",
        "Vai ter show {artist.of} {when_future}.",
        "Fiz uma playlist nova só de {genre}.",
        "Passei o caminho todo ouvindo {artist.name}.",
        "Tô numa fase bem {genre}.",
        "Fui num show {when_past} e foi {good}.",
        "Curti demais a música nova {artist.of}.",
        "Descobri uma banda nova que não sai da minha playlist.",
        "Música boa muda o dia da gente.",
        "#m Acordei com uma música {artist.of} na cabeça.",
        "Tô aprendendo a tocar violão, devagarinho.",
    ),
    questions=frags(
        "Você curte {genre}?",
        "O que você tá ouvindo ultimamente?",
        "Vai no show {artist.of}?",
        "Me indica uma música boa pra minha playlist?",
        "Qual foi o último show que você foi?",
        "Você gosta {artist.of}?",
    ),
    reactions=frags(
        "Boa, vou colocar na playlist.",
        "Essa música não sai da minha cabeça.",
        "Tem música boa demais aí.",
        "Música é vida.",
        "Ainda bem que gosto musical não se discute.",
    ),
    followups={
        "artist": frags(
            "Qual música {artist.of} você mais gosta?",
            "Você já foi em algum show {artist.of}?",
        ),
        "genre": frags("Desde quando você curte {genre}?"),
    },
    emoji=frags("🎶", "🎧", "🎤", "🎸"),
)

_ACADEMIA = Topic(
    key="academia",
    label="academia e saúde",
    aliases=(
        "academia",
        "treino",
        "treinos",
        "exercício",
        "exercícios",
        "musculação",
        "corrida",
        "saúde",
        "fitness",
        "crossfit",
        "pilates",
        "dieta",
        "malhar",
        "treinar",
    ),
    slots={
        "muscle": ents("perna", "costas", "peito", "braço", "glúteo", "ombro"),
        "sport": ents(
            "corrida",
            "crossfit",
            "pilates",
            "funcional",
            "natação",
            "musculação",
            "spinning",
            "yoga",
            "beach tennis",
        ),
        "distance": ents("5 km", "3 km", "10 km", "uns 7 km", "8 km"),
        "goal": ents(
            "ganhar mais disposição",
            "correr uma meia maratona",
            "melhorar o condicionamento",
            "voltar a treinar direito",
            "dormir melhor",
            "ter mais constância",
        ),
    },
    statements=frags(
        "Hoje foi dia de {muscle} e agora não sinto nada.",
        "Voltei pra academia {when_past}.",
        "Corri {distance} {today_part}.",
        "Tô tentando {goal}.",
        "Meu objetivo esse ano é {goal}.",
        "Faltei no treino {when_past}, bateu a preguiça.",
        "A academia tava lotada {today_part}.",
        "Tô fazendo {sport} {freq}.",
        "O professor pegou pesado hoje.",
        "#m Treinei cedinho hoje, o dia rende mais.",
        "#n Fui treinar depois do trabalho, agora é só descanso.",
        "Comecei {sport} {when_past} e tô gostando.",
    ),
    questions=frags(
        "Você tá treinando?",
        "Bora treinar junto {when_future}?",
        "Você prefere treinar de manhã ou à noite?",
        "Como tá a dieta?",
        "Você já fez {sport}?",
        "Quantas vezes por semana você treina?",
    ),
    reactions=frags(
        "Tá de parabéns pela disciplina.",
        "Bora, que constância é tudo.",
        "Preciso voltar a treinar também.",
        "Exercício faz milagre no humor.",
        "Depois do treino o dia fica outro.",
    ),
    followups={
        "sport": frags("Faz tempo que você faz {sport}?", "Onde você faz {sport}?"),
    },
    emoji=frags("💪", "🏋️", "🏃", "🥗"),
)

_ESTUDOS = Topic(
    key="estudos",
    label="estudos",
    aliases=(
        "estudos",
        "estudo",
        "estudar",
        "faculdade",
        "escola",
        "curso",
        "prova",
        "aula",
        "concurso",
        "vestibular",
        "enem",
        "tcc",
        "inglês",
        "mestrado",
    ),
    slots={
        "subject": ents(
            "inglês",
            "cálculo",
            "programação",
            "espanhol",
            "direito constitucional",
            "estatística",
            "história",
            "contabilidade",
            "francês",
        ),
    },
    statements=frags(
        "Tô estudando {subject} {freq}.",
        "Tenho prova de {subject} {when_future} e ainda nem comecei a revisar.",
        "Comecei um curso de {subject} {when_past}.",
        "Hoje a aula rendeu bastante.",
        "Tô tentando estudar um pouco todo dia.",
        "Tô estudando pra prova de {subject}.",
        "Tô com uma pilha de coisa pra ler.",
        "#n Hoje vou virar a noite estudando.",
        "#m Acordei cedo pra estudar antes do trabalho.",
        "Descobri um canal ótimo pra estudar {subject}.",
    ),
    questions=frags(
        "Como estão os estudos?",
        "Você tá fazendo algum curso?",
        "Quando é sua prova?",
        "Você acha {subject} difícil?",
        "Tem alguma dica pra estudar com foco?",
    ),
    reactions=frags(
        "Estudar cansa, mas compensa.",
        "Você vai mandar bem, certeza.",
        "Foco que dá certo.",
        "Eu precisava voltar a estudar também.",
    ),
    followups={
        "subject": frags(
            "Faz tempo que você estuda {subject}?",
            "Tá gostando de estudar {subject}?",
        ),
    },
    emoji=frags("📚", "✍️", "🎓"),
)

_PETS = Topic(
    key="pets",
    label="pets",
    aliases=(
        "pets",
        "pet",
        "cachorro",
        "cachorra",
        "gato",
        "gata",
        "cachorros",
        "gatos",
        "animal",
        "animais",
        "bicho",
        "bichinho",
    ),
    slots={
        "pet": ents(
            {"name": "cachorro", "np": "meu cachorro", "your": "seu cachorro"},
            {"name": "gata", "np": "minha gata", "your": "sua gata"},
            {"name": "gato", "np": "meu gato", "your": "seu gato"},
            {"name": "cachorra", "np": "minha cachorra", "your": "sua cachorra"},
            {"name": "vira-lata", "np": "meu vira-lata", "your": "seu vira-lata"},
        ),
        "petname": ents("Thor", "Mel", "Luna", "Bob", "Pipoca", "Fred", "Nina", "Paçoca"),
    },
    statements=frags(
        "Hoje {pet.np} aprontou de novo.",
        "Levei {pet.np} no veterinário {when_past}.",
        "Tô pensando em adotar um cachorro.",
        "Meu vizinho adotou um gatinho chamado {petname}.",
        "Nada melhor que a festa que o pet faz quando a gente chega.",
        "#m Acordei com {pet.np} pedindo comida.",
        "#n Agora à noite {pet.np} resolveu que é hora de brincar.",
        "Comprei um brinquedo novo pro pet e ele nem ligou.",
    ),
    questions=frags(
        "Você tem pet?",
        "Como tá {pet.your}?",
        "Você é mais de cachorro ou de gato?",
        "Qual o nome do seu bichinho mesmo?",
    ),
    reactions=frags(
        "Pet é tudo de bom.",
        "Bicho é família, né?",
        "Que fofura!",
        "Quero ver foto!",
    ),
    followups={
        "pet": frags("E {pet.your}, já tá melhor?", "Quantos anos tem {pet.your}?"),
    },
    emoji=frags("🐶", "🐱", "🐾"),
)

TOPICS: Final[tuple[Topic, ...]] = (
    _FUTEBOL,
    _TRABALHO,
    _FIM_DE_SEMANA,
    _COMIDA,
    _CLIMA,
    _FAMILIA,
    _SERIES,
    _VIAGEM,
    _MUSICA,
    _ACADEMIA,
    _ESTUDOS,
    _PETS,
)

# Any other topic: the topic string itself fills {topic}.
GENERIC_TOPIC: Final = Topic(
    key="generic",
    label="assunto livre",
    aliases=(),
    slots={},
    statements=frags(
        "Tava pensando sobre {topic} hoje.",
        "Vi umas coisas sobre {topic} esses dias.",
        "Ultimamente tenho me interessado bastante por {topic}.",
        "Conversei com {friend} sobre {topic} {when_past}.",
        "Tem muita gente falando sobre {topic} ultimamente.",
        "Queria entender mais sobre {topic}.",
        "Li um artigo sobre {topic} que era {good}.",
        "Essa história de {topic} tá rendendo, hein.",
    ),
    questions=frags(
        "O que você acha sobre {topic}?",
        "Você tem acompanhado alguma coisa sobre {topic}?",
        "Você entende alguma coisa de {topic}?",
        "Já conversou com alguém sobre {topic}?",
    ),
    reactions=frags(
        "Faz todo sentido.",
        "Nunca tinha pensado por esse lado.",
        "É um assunto interessante, né?",
        "Concordo com você.",
        "Pois é, dá o que pensar.",
    ),
)
