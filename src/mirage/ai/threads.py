"""What people ask each other about a topic, and how they answer: data for the dialogue model.

An `Intent` is one question with its ways of being asked and answered. The answer is written
for that question only ("Você prefere treinar de manhã ou à noite?" gets "De manhã, antes do
trabalho", never "troquei de academia"), so a reply can always answer what was asked. Slots
and tags are those of `mirage.ai.lexicon` (``{team}``, ``{dest.to}``, ``@fcp``, ``#man``); the
writing rules of the lexicon apply (neutral colloquial base register, no gendered first- or
second-person adjectives, no daypart greeting unless tagged with that daypart).

Kinds of intent:

- plain: asked any time about the topic;
- ``about``: a follow-up, asked only about something the partner just mentioned (its slot's
  entity is bound to what they said); written to fit whether they did it, plan it or want it;
- ``callback``: opens a later round about what the partner said before ("E aí, conseguiu ir
  pra Bahia?"); the entity is the partner's remembered fact, or (``after``) the statement
  the partner made ("Troquei de academia" -> "E a academia nova, tá gostando?").

``fact`` names the slot an answer states about the answerer (the team they support): once a
persona has said it, memory keeps it the same. Answers tagged ``!key=value`` (see
`mirage.ai.lexicon`) state a fact about the answerer; the intent's `claim` is that key, so
a question whose answer the partner already gave is not asked, and an answer never
contradicts what its writer said before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from mirage.ai.lexicon import Fragment, frags

__all__ = ["BACK", "INTENTS", "PERSONAL_SLOTS", "RESUMES", "Intent", "intents_for"]


@dataclass(frozen=True, slots=True)
class Intent:
    key: str
    questions: tuple[Fragment, ...]
    answers: tuple[Fragment, ...]
    # The slot whose entity the question names or the answer states (None: no entity).
    slot: str | None = None
    # The answer states the answerer's own fact for `slot` (their team, their pet).
    fact: bool = False
    # Asked only about an entity the partner just mentioned / remembered from a past round.
    about: bool = False
    callback: bool = False
    # Can be asked back ("E você?") after answering it.
    back: bool = True
    # The statement key its answers state (from their ``!key=value`` tags), if any.
    claim: str | None = None
    # A callback about a statement the partner made: (key, value).
    after: tuple[str, str] | None = None


def _i(
    key: str,
    q: tuple[str, ...],
    a: tuple[str, ...],
    *,
    slot: str | None = None,
    fact: bool = False,
    about: bool = False,
    callback: bool = False,
    back: bool = True,
    after: tuple[str, str] | None = None,
) -> Intent:
    answers = frags(*a)
    keys = {f.claim[0] for f in answers if f.claim is not None}
    claim = next(iter(keys)) if len(keys) == 1 else None
    if after is not None:
        callback, back = True, False
    return Intent(key, frags(*q), answers, slot, fact, about, callback, back, claim, after)


# Asking the same question back after answering it.
BACK: Final = frags(
    "E você?",
    "E você?",
    "@f E você?",
    "@f E quanto a você?",
    "@c e vc?",
    "@c e você?",
    "@p E você?",
)

# Slots whose entity is a fact about a person that stays true across rounds.
PERSONAL_SLOTS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "futebol": frozenset({"team"}),
        "academia": frozenset({"sport"}),
        "pets": frozenset({"pet", "petname"}),
        "viagem": frozenset({"dest"}),
        "series": frozenset({"show"}),
        "musica": frozenset({"artist"}),
        "estudos": frozenset({"subject"}),
        "fim_de_semana": frozenset({"plan"}),
        "trabalho": frozenset({"deliverable"}),
        "clima": frozenset({"weather"}),
    }
)

_FUTEBOL = (
    _i(
        "futebol.team",
        ("Pra que time você torce?", "Você torce pra qual time?", "Qual é o seu time?"),
        (
            "Sou {team} desde criança.",
            "Sempre {team}, herança do meu pai.",
            "Torço pro {team}, pra minha tristeza às vezes.",
            "Sou {team}, não tem jeito. Sofro, mas não largo.",
            "Sou {team}, a família toda é.",
        ),
        slot="team",
        fact=True,
    ),
    _i(
        "futebol.watch_next",
        ("Vai assistir o próximo jogo?", "Vai ver o jogo {when_future}?"),
        (
            "Vou sim, já combinei de ver com {friend}.",
            "Vou tentar, se o trabalho deixar.",
            "Vou, não perco um jogo.",
            "Acho que não vou conseguir, mas vou acompanhar pelo celular.",
            "Com certeza, vou ver em casa com uma pizza.",
        ),
    ),
    _i(
        "futebol.stadium",
        ("Você costuma ir no estádio?", "Você vai muito no estádio?"),
        (
            "!futebol.stadium=rarely Vou umas duas vezes por ano, o ingresso tá caro.",
            "!futebol.stadium=rarely Já fui mais, hoje em dia vejo mais em casa.",
            "!futebol.stadium=often Vou sempre que dá, o clima do estádio não tem igual.",
            "!futebol.stadium=rarely Quase nunca, prefiro ver no sofá.",
        ),
    ),
    _i(
        "futebol.chances",
        ("Você acha que o {team} ganha {comp.the}?", "O {team} tem chance {comp.in}?"),
        (
            "Com esse elenco acho difícil, mas no futebol tudo pode acontecer.",
            "Acho que tem chance sim, o time tá encaixando.",
            "Se a defesa melhorar, dá pra sonhar.",
            "Sinceramente, acho que não. Mas torço.",
        ),
        slot="team",
    ),
    _i(
        "futebol.pelada",
        ("Você ainda joga bola?", "Ainda joga aquela pelada?"),
        (
            "!futebol.pelada=yes Jogo {freq}, é minha terapia.",
            "!futebol.pelada=no Parei faz um tempo, o joelho não deixa mais.",
            "!futebol.pelada=yes Jogo sim, toda quinta com o pessoal da firma.",
            "!futebol.pelada=yes De vez em quando, quando fecha o time.",
        ),
    ),
    _i(
        "futebol.since",
        ("Desde quando você torce pro {team}?", "Você acompanha o {team} faz tempo?"),
        (
            "Desde pequeno, meu avô me levava no estádio.",
            "Faz uns quinze anos, desde aquele título.",
            "A vida toda, é coisa de família.",
        ),
        slot="team",
        about=True,
        back=False,
    ),
    _i(
        "futebol.callback",
        ("E o {team}, hein? Como foi o último jogo?", "E aí, o {team} vai bem?"),
        (
            "Nem me fala, o {team} perdeu de novo.",
            "Tá indo, o {team} ganhou o último, agora dá pra respirar.",
            "Mais ou menos, o time jogou {bad}, mas saiu com o resultado.",
            "Só vi o segundo tempo do último jogo, mas o {team} {result}.",
        ),
        slot="team",
        callback=True,
        back=False,
    ),
    _i(
        "futebol.pelada_again",
        ("E a pelada, rolou essa semana?", "E aí, jogou bola essa semana?"),
        (
            "!futebol.pelada=yes Rolou, e meu time ganhou!",
            "!futebol.pelada=yes Essa semana não deu, choveu.",
            "!futebol.pelada=yes Rolou, mas saí mancando.",
        ),
        after=("futebol.pelada", "yes"),
    ),
)

_TRABALHO = (
    _i(
        "trabalho.how",
        ("E o trabalho, como tá?", "Como tá a correria no trabalho?"),
        (
            "Tá puxado, mas tá dando pra levar.",
            "Muita coisa, essa semana tá {bad}.",
            "Tá tranquilo, graças a Deus, finalmente uma semana calma.",
            "Corrido, tô com {task} essa semana.",
            "Tá bom, a equipe nova ajudou muito.",
        ),
    ),
    _i(
        "trabalho.remote",
        ("Tá trabalhando de casa ou no escritório?", "Você vai no escritório todo dia?"),
        (
            "!trabalho.remote=hybrid Tô indo três vezes por semana, o resto é de casa.",
            "!trabalho.remote=home Tô de casa quase sempre, só vou quando tem reunião.",
            "!trabalho.remote=office Todo dia no escritório, não tem jeito.",
            "!trabalho.remote=office Agora é tudo presencial de novo.",
        ),
    ),
    _i(
        "trabalho.weekend",
        ("Você trabalha no sábado também?", "Tem trabalhado no fim de semana?"),
        (
            "!trabalho.weekend=sometimes Só de vez em quando, quando aperta.",
            "!trabalho.weekend=no Não, sábado é sagrado.",
            "!trabalho.weekend=sometimes Esse mês tive que trabalhar em dois sábados.",
            "!trabalho.weekend=no Graças a Deus não, fim de semana é descanso.",
        ),
    ),
    _i(
        "trabalho.vacation",
        ("Já tirou férias esse ano?", "Quando saem suas férias?"),
        (
            "Ainda não, tô guardando pro fim do ano.",
            "Tirei uns dias em março, já tô precisando de novo.",
            "Devem sair {when_future}, tô contando os dias.",
            "Nem sei quando, tá tudo muito corrido.",
        ),
    ),
    _i(
        "trabalho.deliverable",
        ("E {deliverable}, como ficou?", "Conseguiu entregar {deliverable}?"),
        (
            "Deu certo, entreguei no prazo.",
            "Ainda tô terminando, mas tá quase.",
            "Deu um trabalhão, mas ficou bom.",
            "Tive que refazer uma parte, mas agora foi.",
        ),
        slot="deliverable",
        about=True,
        callback=True,
        back=False,
    ),
)

_FIM_DE_SEMANA = (
    _i(
        "fds.plans",
        ("E aí, planos pro fim de semana?", "O que você vai fazer no fim de semana?"),
        (
            "Quero {plan}, se o tempo ajudar.",
            "Acho que vou {plan}, tô precisando.",
            "Ainda não sei, talvez {plan}.",
            "Vou {plan}, já tá combinado.",
        ),
        slot="plan",
        fact=True,
    ),
    _i(
        "fds.past",
        ("Como foi seu fim de semana?", "Fez o que de bom no fim de semana?"),
        (
            "Foi {good}, fui {place}.",
            "Fiquei em casa, precisava descansar.",
            "Passei o domingo {place}, foi ótimo.",
            "Foi corrido, mas deu pra descansar um pouco no domingo.",
        ),
    ),
    _i(
        "fds.style",
        ("Você é mais de sair ou de ficar em casa?", "Prefere sair ou ficar em casa no fds?"),
        (
            "!fds.style=home Ultimamente mais de ficar em casa, confesso.",
            "!fds.style=out Gosto de sair, mas um domingo em casa não tem preço.",
            "!fds.style=out Sair, se ficar em casa eu durmo o dia todo.",
            "Depende da semana, se foi puxada eu nem saio.",
        ),
    ),
    _i(
        "fds.plan_about",
        ("Você curte {plan}, né?", "É bom {plan}, né?"),
        (
            "Curto demais, é meu programa preferido.",
            "Curto, mas faz tempo que não rola.",
            "Demais, recarrega as energias.",
            "É bom, ainda mais com {friend}.",
        ),
        slot="plan",
        about=True,
        back=False,
    ),
    _i(
        "fds.callback",
        ("E aí, deu pra {plan}?", "Conseguiu {plan} no fim de semana?"),
        (
            "Deu sim, foi {good}.",
            "Não deu, choveu e acabei ficando em casa.",
            "Deu, mas voltei morrendo de cansaço.",
            "Ficou pra próxima, surgiu um imprevisto.",
        ),
        slot="plan",
        callback=True,
        back=False,
    ),
)

_COMIDA = (
    _i(
        "comida.cook",
        ("Você gosta de cozinhar?", "Você cozinha ou é mais de pedir?"),
        (
            "!comida.cook=yes Gosto, principalmente no fim de semana.",
            "!comida.cook=some Cozinho o básico, o resto eu peço.",
            "!comida.cook=yes Adoro, é o que me relaxa.",
            "!comida.cook=no Sou mais de pedir, confesso.",
        ),
    ),
    _i(
        "comida.favorite",
        ("Qual sua comida preferida?", "Se pudesse comer uma coisa só, qual seria?"),
        (
            "Sem dúvida {dish.np}.",
            "Difícil, mas acho que {dish.np}.",
            "Comida de vó, qualquer uma.",
            "Nada bate {dish.np} bem feito.",
        ),
        slot="dish",
    ),
    _i(
        "comida.sweet",
        ("Você é mais de doce ou de salgado?", "Prefere doce ou salgado?"),
        (
            "!comida.sweet=savory Salgado, mas não recuso um doce.",
            "!comida.sweet=sweet Doce, sem dúvida nenhuma.",
            "!comida.sweet=savory Salgado. Doce só de vez em quando.",
            "!comida.sweet=both Os dois, esse é o problema.",
        ),
    ),
    _i(
        "comida.today",
        ("#ma O que vai ter de almoço aí?", "#n O que vai ser a janta hoje?"),
        (
            "Acho que vou de {dish.np}.",
            "Arroz, feijão e o que tiver na geladeira.",
            "Vou pedir alguma coisa, não tô com cabeça pra cozinhar.",
            "Sobrou comida de ontem, vai ser isso mesmo.",
        ),
    ),
    _i(
        "comida.dish_where",
        ("Onde tem {dish.name} bom aí?", "Conhece um lugar bom pra comer {dish.name}?"),
        (
            "Tem um lugar perto de casa que faz {dish.name} muito bom.",
            "Tem uma padaria aqui que é ótima pra isso.",
            "Bom mesmo só o da casa da minha avó.",
        ),
        slot="dish",
        about=True,
        back=False,
    ),
    _i(
        "comida.dish_cook",
        ("Você sabe fazer {dish.name}?", "Você arrisca fazer {dish.name} em casa?"),
        (
            "Sei fazer um {dish.name} razoável, aprendi vendo vídeo.",
            "Minha mãe que faz, eu só como.",
            "Já tentei uma vez, não ficou bom.",
        ),
        slot="dish",
        about=True,
        back=False,
    ),
)

_CLIMA = (
    _i(
        "clima.now",
        ("Como tá o tempo aí?", "Aí tá chovendo?"),
        (
            "Aqui tá fazendo {weather.np}.",
            "Nublado, com cara de chuva.",
            "Tá um tempo bom, fresquinho.",
            "Aqui {weather.this} não dá trégua.",
        ),
        slot="weather",
        fact=True,
    ),
    _i(
        "clima.prefer",
        ("Você prefere frio ou calor?", "Você é mais do frio ou do calor?"),
        (
            "!clima.prefer=cold Frio, dá pra dormir melhor.",
            "!clima.prefer=hot Calor, frio me deixa sem ânimo.",
            "!clima.prefer=mild Um meio-termo, não aguento extremo.",
            "!clima.prefer=cold Frio, mas sem chuva.",
        ),
    ),
    _i(
        "clima.rain",
        ("Você gosta de dia de chuva?", "Você fica com preguiça em dia de chuva?"),
        (
            "Gosto, se eu puder ficar em casa.",
            "Pra dormir é ótimo, pra sair é péssimo.",
            "Não gosto, o trânsito fica impossível.",
            "Adoro o barulho da chuva.",
        ),
    ),
    _i(
        "clima.callback",
        ("E {weather.this} aí, melhorou?", "Aí ainda tá com {weather.this}?"),
        (
            "Melhorou um pouco, ainda bem.",
            "Nada, continua igual.",
            "Mudou tudo, agora tá outro tempo.",
            "Deu uma trégua hoje.",
        ),
        slot="weather",
        about=True,
        callback=True,
        back=False,
    ),
)

_FAMILIA = (
    _i(
        "familia.how",
        ("E a família, tudo bem?", "O pessoal aí de casa tá bem?"),
        (
            "Tudo bem, graças a Deus.",
            "Tá todo mundo bem, só {relative.np} que pegou uma gripe.",
            "Tudo certo, cada um na sua correria.",
            "Tá bem, {fam_event} {when_future} vai juntar todo mundo.",
        ),
    ),
    _i(
        "familia.near",
        ("Sua família mora perto?", "Seus pais moram na mesma cidade?"),
        (
            "Moram a uns vinte minutos, dá pra ver sempre.",
            "Não, moram no interior. Vejo pouco.",
            "Mora todo mundo perto, às vezes até demais.",
            "Uma parte mora aqui, a outra no interior.",
        ),
    ),
    _i(
        "familia.meet",
        ("Vocês costumam se reunir em família?", "Tem almoço de família no domingo aí?"),
        (
            "Todo domingo, na casa {relative.of}.",
            "Uma vez por mês, mais ou menos.",
            "Só em data especial, é difícil juntar todo mundo.",
            "Sempre que dá, família grande é assim.",
        ),
    ),
    _i(
        "familia.relative",
        ("E {relative.your}, como tá?", "E {relative.your}, tá bem?"),
        (
            "Tá bem, mandou um abraço.",
            "Tá ótimo, cheio de energia.",
            "Tá melhorando, ainda bem.",
            "Tá bem, reclamando de tudo como sempre.",
        ),
        slot="relative",
        about=True,
        back=False,
    ),
)

_SERIES = (
    _i(
        "series.watching",
        ("Tá assistindo alguma série boa?", "O que você tá vendo agora?"),
        (
            "Tô vendo {show}, tô gostando muito.",
            "Comecei {show} {when_past}, me prendeu.",
            "Tô sem série no momento, aceito sugestão.",
            "Tô revendo {show}, melhor do que da primeira vez.",
        ),
        slot="show",
        fact=True,
    ),
    _i(
        "series.prefer",
        ("Você prefere série ou filme?", "Você é mais de série ou de filme?"),
        (
            "Série, gosto de acompanhar a história.",
            "Filme, série me dá ansiedade.",
            "Série, mas ultimamente não tenho tempo.",
            "Filme no fim de semana, série durante a semana.",
        ),
    ),
    _i(
        "series.genre",
        ("Você curte série de {genre}?", "Gosta de {genre}?"),
        (
            "Curto muito, é meu gênero preferido.",
            "Gosto, mas só se for bem feita.",
            "Não muito, prefiro coisa mais leve.",
            "Depende do dia, mas gosto sim.",
        ),
        slot="genre",
    ),
    _i(
        "series.show_about",
        ("Vale a pena ver {show}?", "É boa mesmo {show}?"),
        (
            "Vale muito, começa devagar mas depois prende.",
            "Vale, a primeira temporada é a melhor.",
            "Vale sim, mas precisa ter paciência no começo.",
            "É boa demais, vê sem ler nada antes.",
        ),
        slot="show",
        about=True,
        back=False,
    ),
    _i(
        "series.callback",
        ("E {show}, terminou?", "Continuou vendo {show}?"),
        (
            "Terminei, que final!",
            "Ainda não, tô no meio da temporada.",
            "Parei um pouco, mas vou voltar.",
            "Terminei {when_past}, já tô com saudade.",
        ),
        slot="show",
        callback=True,
        back=False,
    ),
    _i(
        "series.novela",
        ("Você curte novela?", "Tá vendo alguma novela?"),
        (
            "!series.novela=yes Curto, vejo quase todo dia.",
            "!series.novela=no Não curto muito, prefiro série.",
            "!series.novela=yes Só a das nove, quando dá.",
            "!series.novela=no Novela não é muito a minha praia.",
        ),
    ),
    _i(
        "series.novela_how",
        ("E a novela, tá boa?", "Continua vendo aquela novela?"),
        (
            "!series.novela=yes Tá boa demais, não perco um capítulo.",
            "!series.novela=yes Tá meio arrastada, mas continuo vendo.",
            "Parei um pouco, a semana tá corrida.",
        ),
        after=("series.novela", "yes"),
    ),
)

_VIAGEM = (
    _i(
        "viagem.next",
        ("Tem alguma viagem planejada?", "Pra onde você quer viajar?"),
        (
            "!viagem.trip=yes Quero ir {dest.to} {when_trip}.",
            "!viagem.trip=yes Tô planejando ir {dest.to}, mas ainda sem data.",
            "!viagem.trip=no Por enquanto nada, o bolso não deixa.",
            "!viagem.trip=yes Tô de olho em passagem {dest.to}.",
        ),
        slot="dest",
        fact=True,
    ),
    _i(
        "viagem.best",
        ("Qual foi a melhor viagem que você já fez?", "Qual lugar você mais gostou de conhecer?"),
        (
            "!viagem.been.{dest}=yes Acho que {dest.the}, foi inesquecível.",
            "!viagem.been.{dest}=yes Foi {dest.in}, queria voltar todo ano.",
            "!viagem.been.{dest}=yes Uma viagem com a família {dest.to}, anos atrás.",
        ),
        slot="dest",
    ),
    _i(
        "viagem.style",
        ("Você prefere praia ou montanha?", "Praia ou serra?"),
        (
            "!viagem.style=beach Praia, sempre.",
            "!viagem.style=mountain Montanha, gosto de friozinho.",
            "!viagem.style=both Praia no verão, serra no inverno.",
            "!viagem.style=mountain Montanha, praia lotada me cansa.",
        ),
    ),
    _i(
        "viagem.dest_stay",
        ("Quanto tempo você vai ficar {dest.in}?", "Vai ficar quantos dias {dest.in}?"),
        (
            "Uma semana, se tudo der certo.",
            "Uns cinco dias, é o que dá.",
            "Dez dias, finalmente umas férias de verdade.",
        ),
        slot="dest",
        about=True,
        back=False,
    ),
    _i(
        "viagem.dest_first",
        ("É a primeira vez {dest.in}?", "Você já conhece {dest.the}?"),
        (
            "Primeira vez, tô numa animação só.",
            "Já fui uma vez, mas quero conhecer mais.",
            "Já fui duas vezes, não canso.",
        ),
        slot="dest",
        about=True,
        back=False,
    ),
    _i(
        "viagem.callback",
        ("E a viagem {dest.to}, já tá tudo certo?", "Já comprou a passagem {dest.to}?"),
        (
            "Tá quase, só falta fechar a hospedagem.",
            "Comprei! Agora é contar os dias.",
            "Ainda não, tô esperando a passagem baixar.",
            "Adiei um pouco, mas vai sair.",
        ),
        slot="dest",
        # Only a trip they said they plan: "Conheci Jericoacoara" is no ticket to buy.
        after=("viagem.trip", "yes"),
    ),
    _i(
        "viagem.backpack",
        ("E o mochilão, já tem roteiro?", "E aquele mochilão, vai sair mesmo?"),
        (
            "!viagem.backpack=planned Tô montando aos poucos, já tenho umas cidades.",
            "!viagem.backpack=planned Vai sair sim, só falta acertar a data.",
            "Acho que vai ficar pro ano que vem.",
        ),
        after=("viagem.backpack", "planned"),
    ),
)

_MUSICA = (
    _i(
        "musica.listening",
        ("O que você tá ouvindo ultimamente?", "Qual artista você mais ouviu esse ano?"),
        (
            "Muito {artist.name}, não sai da minha playlist.",
            "Tô numa fase bem {genre}, acredita?",
            "Ouço {artist.name} direto.",
            "De tudo um pouco, mas muito {artist.name}.",
        ),
        slot="artist",
        fact=True,
    ),
    _i(
        "musica.instrument",
        ("Você toca algum instrumento?", "Já tentou aprender algum instrumento?"),
        (
            "!musica.instrument=guitar Arranho um violão, só pra mim mesmo.",
            "!musica.instrument=none Não toco nada, mas queria aprender piano.",
            "!musica.instrument=none Toquei bateria na adolescência.",
            "!musica.instrument=guitar Tô aprendendo violão, devagarinho.",
        ),
    ),
    _i(
        "musica.show",
        ("Qual foi o último show que você foi?", "Tem ido em show?"),
        (
            "Fui no show {artist.of} {when_past}, foi {good}.",
            "Faz tempo que não vou, tá tudo muito caro.",
            "Um pagode {when_past}, foi até de manhã.",
            "Fui num festival ano passado, foi o último.",
        ),
    ),
    _i(
        "musica.artist_song",
        ("Qual música {artist.of} você mais gosta?", "Qual sua preferida {artist.of}?"),
        (
            "Difícil escolher, mas as antigas são as melhores.",
            "Gosto de quase todas, sério.",
            "Uma das primeiras, me lembra uma época boa.",
        ),
        slot="artist",
        about=True,
        back=False,
    ),
    _i(
        "musica.artist_show",
        ("Já foi em show {artist.of}?", "Já viu {artist.name} ao vivo?"),
        (
            "Já fui uma vez, foi {good}.",
            "Nunca fui, mas tá na lista.",
            "Fui duas vezes, e iria de novo.",
        ),
        slot="artist",
        about=True,
        back=False,
    ),
)

_ACADEMIA = (
    _i(
        "academia.training",
        ("Você tá treinando?", "Tá fazendo alguma atividade física?"),
        (
            "!academia.training=yes Tô fazendo {sport} {freq}.",
            "!academia.training=yes Voltei a fazer {sport} {when_past}, tô gostando.",
            "!academia.training=no Tô parado, preciso voltar.",
            "!academia.training=yes Tô indo na academia {freq}, quando dá.",
        ),
        slot="sport",
        fact=True,
    ),
    _i(
        "academia.when",
        ("Você prefere treinar de manhã ou à noite?", "Você treina que horas?"),
        (
            "!academia.when=morning De manhã, antes do trabalho. À noite não tenho pique.",
            "!academia.when=night À noite, de manhã eu não funciono.",
            "!academia.when=afternoon Depois do almoço, a academia fica vazia.",
            "!academia.when=morning De manhã cedinho, o dia rende mais.",
        ),
    ),
    _i(
        "academia.favorite",
        ("Qual exercício você mais gosta?", "Qual treino você mais curte?"),
        (
            "Treino de perna, por incrível que pareça.",
            "Correr, me ajuda a desligar a cabeça.",
            "Gosto de {sport}, o tempo passa rápido.",
            "Costas e ombro, o resto é sofrimento.",
        ),
    ),
    _i(
        "academia.where",
        ("Você treina em casa ou na academia?", "Treina onde?"),
        (
            "!academia.where=gym Na academia perto de casa, é mais fácil manter.",
            "!academia.where=home Em casa, com uns pesinhos e muita força de vontade.",
            "!academia.where=gym Academia, em casa eu enrolo.",
            "!academia.where=home Corro na rua e faço o resto em casa.",
        ),
    ),
    _i(
        "academia.sport_about",
        ("Faz tempo que você faz {sport}?", "Tá gostando de {sport}?"),
        (
            "Uns seis meses, e tô gostando muito.",
            "Comecei faz pouco, ainda tô pegando o jeito.",
            "Faz uns dois anos, virou rotina.",
            "Tô gostando, mais do que eu esperava.",
        ),
        slot="sport",
        about=True,
        back=False,
    ),
    _i(
        "academia.callback",
        (
            "E aí, conseguiu fazer {sport} essa semana?",
            "Tá conseguindo manter a rotina de {sport}?",
        ),
        (
            "!academia.training=yes Fui duas vezes, já é alguma coisa.",
            "!academia.training=yes Tô mantendo, mesmo na correria.",
            "!academia.training=yes Faltei essa semana, bateu a preguiça.",
            "!academia.training=yes Fui ontem e hoje não sinto as pernas.",
        ),
        slot="sport",
        callback=True,
        back=False,
    ),
    _i(
        "academia.new_gym",
        ("E a academia nova, tá gostando?", "E aí, tá curtindo a academia nova?"),
        (
            "!academia.training=yes Tô gostando, é bem mais perto e nunca tá lotada.",
            "!academia.training=yes Gostei muito, devia ter trocado antes.",
            "!academia.training=yes Tô me acostumando ainda, mas o horário ficou melhor.",
        ),
        after=("academia.gym", "new"),
    ),
    _i(
        "academia.race_done",
        ("E a corrida de rua, como foi?", "E aí, correu aquela corrida de rua?"),
        (
            "Foi ótima, completei sem parar.",
            "Foi puxada, mas terminei.",
            "Ainda não, é daqui a uns dias. Tô na ansiedade.",
        ),
        after=("academia.race", "planned"),
    ),
    _i(
        "academia.back",
        ("E aí, voltou a treinar?", "Já conseguiu voltar pra academia?"),
        (
            "!academia.training=no Ainda não, mas semana que vem eu volto.",
            "!academia.training=no Ainda não, tá faltando coragem.",
            "Voltei essa semana, devagarinho.",
        ),
        after=("academia.training", "no"),
    ),
)

_ESTUDOS = (
    _i(
        "estudos.how",
        ("Como estão os estudos?", "Tá estudando alguma coisa?"),
        (
            "Tô estudando {subject}, devagar e sempre.",
            "Tô com prova de {subject} {when_future}.",
            "Dei uma pausa, mas volto logo.",
            "Tô fazendo um curso de {subject} online.",
        ),
        slot="subject",
        fact=True,
    ),
    _i(
        "estudos.when",
        ("Você estuda melhor de manhã ou à noite?", "Qual horário você rende mais estudando?"),
        (
            "!estudos.when=morning De manhã, à noite eu durmo em cima do livro.",
            "!estudos.when=night À noite, quando a casa fica em silêncio.",
            "!estudos.when=bus No ônibus, acredita? É o único tempo livre.",
            "!estudos.when=morning Cedinho, antes de todo mundo acordar.",
        ),
    ),
    _i(
        "estudos.tip",
        ("Tem alguma dica pra estudar com foco?", "Como você faz pra não se distrair?"),
        (
            "Celular longe e blocos de vinte e cinco minutos.",
            "Resumo à mão, me ajuda a fixar.",
            "Estudar com alguém, um cobra o outro.",
            "Sinceramente, ainda tô procurando essa dica.",
        ),
    ),
    _i(
        "estudos.subject_about",
        ("Tá gostando de estudar {subject}?", "Você acha {subject} difícil?"),
        (
            "Tô gostando, mas tem parte que é difícil.",
            "Difícil no começo, depois vai.",
            "Gosto muito, é o que eu mais curto estudar.",
            "Tem dia que sim, tem dia que não.",
        ),
        slot="subject",
        about=True,
        back=False,
    ),
    _i(
        "estudos.exam",
        ("E a prova de {subject}, como foi?", "Já fez a prova de {subject}?"),
        (
            "Acho que fui bem, agora é esperar.",
            "Foi difícil, mas acho que passei.",
            "Ainda não fiz, é {when_future}.",
        ),
        slot="subject",
        callback=True,
        back=False,
    ),
    _i(
        "estudos.progress",
        ("E {subject}, tá conseguindo estudar?", "Tá conseguindo estudar {subject}?"),
        (
            "Tô estudando um pouco todo dia.",
            "Mais ou menos, a semana tá corrida.",
            "Tô, separei uma hora por dia pra isso.",
        ),
        slot="subject",
        callback=True,
        back=False,
    ),
)

_PETS = (
    _i(
        "pets.have",
        ("Você tem pet?", "Você tem bichinho em casa?"),
        (
            "!pets.have=yes Tenho {pet.np}, que se chama {petname}, é meu xodó.",
            "!pets.have=yes Tenho {pet.np}, que manda na casa.",
            "!pets.have=no Não tenho, mas quero adotar um.",
            "!pets.have=yes Tenho {pet.np}, que apronta demais.",
        ),
        slot="pet",
        fact=True,
    ),
    _i(
        "pets.prefer",
        ("Você é mais de cachorro ou de gato?", "Cachorro ou gato?"),
        (
            "!pets.prefer=dog Cachorro, sempre tive.",
            "!pets.prefer=cat Gato, combina mais com a minha rotina.",
            "!pets.prefer=both Os dois, não consigo escolher.",
            "!pets.prefer=dog Cachorro, mas gato também é muito fofo.",
        ),
    ),
    _i(
        "pets.sleep",
        ("Seu bichinho dorme com você?", "Seu pet sobe na cama?"),
        (
            "Dorme, e ocupa metade da cama.",
            "Não deixo, mas ele sempre dá um jeito.",
            "Dorme no pé da cama, todo dia.",
            "Tem a caminha dele, mas prefere o sofá.",
        ),
    ),
    _i(
        "pets.pet_age",
        ("Quantos anos tem {pet.your}?", "E {pet.your}, já tem quantos anos?"),
        (
            "Tem uns três anos, mas age como filhote.",
            "Vai fazer cinco, já tá na melhor idade.",
            "Dois anos, cheio de energia.",
        ),
        slot="pet",
        about=True,
        callback=True,
        back=False,
    ),
    _i(
        "pets.pet_work",
        ("E {pet.your}, dá muito trabalho?", "E {pet.your}, tá aprontando muito?"),
        (
            "Apronta demais, mas é um amor.",
            "Dá trabalho, mas compensa.",
            "Tá mais calmo agora, ainda bem.",
        ),
        slot="pet",
        about=True,
        callback=True,
        back=False,
    ),
)

_GENERIC = (
    _i(
        "generic.opinion",
        ("O que você acha sobre {topic}?", "Qual sua opinião sobre {topic}?"),
        (
            "Acho importante, mas ainda tô me informando.",
            "Tenho minhas dúvidas, sinceramente.",
            "Acho que tem muita gente falando sem saber.",
            "Gosto do assunto, mas não tenho opinião fechada.",
        ),
    ),
    _i(
        "generic.follow",
        ("Você tem acompanhado {topic}?", "Tem lido alguma coisa sobre {topic}?"),
        (
            "Tenho acompanhado um pouco, pelo jornal.",
            "Só o que aparece no celular.",
            "Bastante, me interessa muito.",
            "Quase nada, a semana tá corrida.",
        ),
    ),
    _i(
        "generic.news",
        ("Tem alguma novidade sobre {topic}?", "Saiu alguma coisa nova sobre {topic}?"),
        (
            "Vi uma notícia {when_past}, mas nada demais.",
            "Que eu saiba não, tá tudo parado.",
            "Parece que tem novidade {when_future}.",
        ),
    ),
)

_SMALL_TALK = (
    _i(
        "day.news",
        ("Quais as novidades?", "E aí, alguma novidade?"),
        (
            "Nada demais, rotina de sempre.",
            "Poucas, a semana tá tranquila.",
            "Muita coisa, depois te conto com calma.",
            "Nenhuma, e isso é bom.",
        ),
    ),
    _i(
        "day.later",
        ("O que você vai fazer {later}?", "Tem algum plano {when_future}?"),
        (
            "Nada de mais, descansar.",
            "Tenho umas coisas pra resolver, mas nada demais.",
            "Vou ver {friend}, faz tempo que a gente não se vê.",
            "Ainda não sei, vou ver como tá o cansaço.",
        ),
    ),
    _i(
        "day.week",
        ("Como tá sendo sua semana?", "E a semana, como tá?"),
        (
            "Corrida, mas tá indo.",
            "Tranquila até agora, ainda bem.",
            "Puxada, mas sexta tá chegando.",
            "Tá boa, resolvi um monte de coisa.",
        ),
    ),
    _i(
        "day.meal",
        ("#a Já almoçou?", "#n Já jantou?", "#m Já tomou café?"),
        (
            "Já, agora é só aguentar o sono.",
            "Ainda não, tô terminando uma coisa aqui.",
            "Já, comi rapidinho.",
            "Ainda não, daqui a pouco.",
        ),
    ),
)

INTENTS: Final[Mapping[str, tuple[Intent, ...]]] = MappingProxyType(
    {
        "futebol": _FUTEBOL,
        "trabalho": _TRABALHO,
        "fim_de_semana": _FIM_DE_SEMANA,
        "comida": _COMIDA,
        "clima": _CLIMA,
        "familia": _FAMILIA,
        "series": _SERIES,
        "viagem": _VIAGEM,
        "musica": _MUSICA,
        "academia": _ACADEMIA,
        "estudos": _ESTUDOS,
        "pets": _PETS,
        "generic": _GENERIC,
        "small_talk": _SMALL_TALK,
    }
)


def intents_for(topic_key: str) -> tuple[Intent, ...]:
    """The topic's intents, then everyday small talk (asked rarely; always answerable)."""
    own = INTENTS.get(topic_key, ())
    return own if topic_key == "small_talk" else (*own, *_SMALL_TALK)


# A later round in the same daypart: no second greeting, at most a lead-in.
RESUMES: Final = frags(
    "Ah, esqueci de te falar.",
    "Voltando aqui rapidinho.",
    "@cp Ah, lembrei de uma coisa.",
    "@f Retomando nossa conversa.",
    "@c opa, voltei",
    "@p Voltei!",
    "Aproveitando que lembrei.",
)
