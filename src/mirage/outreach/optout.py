"""The opt-out detector: is this inbound message a request to stop? Pure (no I/O, no clock).

``classify(text, extra_keywords)`` returns a ``Verdict``:

- ``certain`` — suppress the number at once: a built-in keyword alone in the message (PARAR,
  SAIR, STOP, BAJA…, ``contacts.keywords``), one of the tenant's own keywords (the
  ``optout_keywords`` of its outreach policies) alone in the message, or a clear phrase ("não
  quero mais receber", "me tira da lista", "stop texting me", "dejen de enviarme mensajes");
- ``probable`` — stop automatic sends to the contact and let a person decide ("me deixa em
  paz", "leave me alone", "no me interesa");
- ``none`` — anything else, including the innocent look-alikes ("vou parar no mercado", "não
  consigo parar de rir", "pode cancelar a reunião?", "stop by later").

Each verdict names the rule that decided it (a stable id: ``keyword.parar``,
``pt.nao_quero_receber``, ``tenant.keyword``…) and the language it was read in (``pt``,
``en``, ``es``; ``None`` for the tenant's own keywords and for ``none``). The rules read the
message folded (``contacts.keywords.fold``: lower case, no accents, punctuation and emoji as
spaces, "paraaar" → "parar"). ``tests/outreach/optout_corpus.tsv`` is the labelled corpus;
``bench/optout.py`` prints precision and recall over it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from mirage.contacts.keywords import (
    OPT_IN_KEYWORDS,
    OPT_OUT_WORDS,
    KeywordSet,
    bare_keyword,
    fold,
    keyword_set,
)

#: Only the start of a long message is read (an opt-out is short; bounded work per message).
MAX_TEXT = 1000


class Tier(StrEnum):
    CERTAIN = "certain"  # suppress at once
    PROBABLE = "probable"  # stop automatic sends, flag for a human
    NONE = "none"


@dataclass(frozen=True)
class Verdict:
    tier: Tier
    rule: str | None = None
    language: str | None = None

    @property
    def opt_out(self) -> bool:
        """What ``mirage optout classify`` prints as 1: a certain opt-out."""
        return self.tier is Tier.CERTAIN


NONE = Verdict(Tier.NONE)


@dataclass(frozen=True)
class Rule:
    id: str
    language: str
    tier: Tier
    pattern: re.Pattern[str]
    #: Word beginnings one of which every match contains: a rule runs only on a message that
    #: has one (most messages have none, and cost one scan instead of every pattern).
    triggers: tuple[str, ...]


def _rule(rule_id: str, tier: Tier, pattern: str, triggers: str) -> Rule:
    language = rule_id.split(".", 1)[0]
    return Rule(rule_id, language, tier, re.compile(pattern), tuple(triggers.split()))


C, P = Tier.CERTAIN, Tier.PROBABLE
# Not preceded by a negation (a fixed-width look-behind per word): "ele não para de me mandar
# meme" is about someone else; "never stop texting me" is the opposite of a request to stop.
_NOT_NEGATED_PT = r"(?<!\bnao )(?<!\bnunca )"
_NOT_NEGATED_EN = r"(?<!\bdont )(?<!\bdon t )(?<!\bnever )(?<!\bnot )"
_NOT_NEGATED_ES = r"(?<!\bno )(?<!\bnunca )"
_MSG_PT = r"(mensage\w*|msg\w*|mensg\w*|propaganda\w*|promoc\w*|isso|essas? coisas?|spam)"
_MSG_EN = r"(messages?|msgs?|texts?|sms|spam|ads|promotions?|this|these)"
_MSG_ES = r"(mensajes?|msj\w*|mensajitos|promociones|publicidad|spam|esto)"
_LIST_PT = r"(lista\w*|cadastro|base|contatos|grupo de envio|mailing|envios?)"
_LIST_ES = r"(lista|base de datos|contactos|envios)"
_SEND_PT = r"(mand\w*|envi\w*|mandando|enviando)"
_SEND_ES = r"(mand\w*|envi\w*|escrib\w*)"

# Certain rules first: a message with a certain phrase and a probable one is certain.
RULES: tuple[Rule, ...] = (
    # --- Portuguese -------------------------------------------------------------------
    _rule(
        "pt.nao_quero_receber",
        C,
        r"\bnao (quero|desejo|gostaria de) (mais )?(receber|continuar recebendo|ser contatad)",
        "nao",
    ),
    _rule("pt.nao_quero_mais", C, rf"\bnao (quero|desejo) mais (nenhuma? )?{_MSG_PT}", "nao"),
    _rule(
        "pt.tira_da_lista",
        C,
        r"\b(me )?(tira|tire|tirem|retira|retire|remove|remova|removam|exclui|exclua|excluam"
        r"|apaga|apague|deleta|delete|descadastra|descadastre|descadastrem)( me)? "
        rf"(da|dessa|desta|de sua|da sua|de vossa|do|desse|deste|do seu|de seu) {_LIST_PT}",
        "lista cadastro base contatos grupo mailing envio",
    ),
    _rule(
        "pt.remove_meu_numero",
        C,
        r"\b(tira|tire|tirem|tirar|retira|retire|retirem|retirar|remove|remova|removam|remover"
        r"|exclui|exclua|excluam|excluir|apaga|apague|apaguem|apagar|deleta|delete|deletem"
        r"|deletar|descadastra|descadastre|descadastrem|descadastrar)( o)? (meu|esse|este) "
        r"(numero|contato|telefone|cadastro|whats\w*|zap)\b",
        "numero contato telefone cadastro whats zap",
    ),
    _rule(
        "pt.me_remove",
        C,
        r"\bme (remov\w*|exclu\w*|descadastr\w*|desinscrev\w*)|"
        r"\b(remov\w*|exclu\w*|descadastr\w*|tir\w*) me (da|de|do|dessa|desta)\b",
        "remov exclu descadastr desinscrev tir",
    ),
    _rule(
        "pt.descadastrar", C, r"\b(quero|queria|gostaria de|como) (me )?descadastr\w*", "descadastr"
    ),
    _rule(
        "pt.ser_removido",
        C,
        r"\b(quero|queria|gostaria de|favor|pode|podem|por favor) (me )?(ser )?"
        r"(removid|excluid|retirad|tirad|descadastrad)\w*",
        "removid excluid retirad tirad descadastr",
    ),
    _rule("pt.sair_da_lista", C, rf"\bsair (da|dessa|desta|de sua|da sua|do) {_LIST_PT}", "sair"),
    _rule(
        "pt.para_de_mandar",
        C,
        _NOT_NEGATED_PT + rf"\b(para|pare|parem|parar|paren) de (me |nos )?{_SEND_PT}",
        "par",
    ),
    _rule(
        "pt.nao_mande_mais",
        C,
        rf"\bnao (me |nos )?{_SEND_PT} mais(?! de\b)(?! que\b)|\bnao (me |nos )?{_SEND_PT} "
        rf"(nenhuma? )?{_MSG_PT} (mais|nunca mais)\b|\bnunca mais (me )?{_SEND_PT}",
        "nao nunca",
    ),
    _rule(
        "pt.cancelar_envio",
        C,
        r"\bcancel\w* (o |a |as |os |essas |estas |esse |este |meu |minha )?"
        r"(recebimento|envio|envios|inscricao|mensagens|msgs|notificacoes|cadastro)\b",
        "cancel",
    ),
    _rule(
        "pt.chega_de_mensagens", C, rf"\bchega (de |dess\w* |dest\w* )(tant\w* )?{_MSG_PT}", "chega"
    ),
    _rule(
        "pt.deixa_em_paz",
        P,
        r"\b(me |nos )?(deixa|deixe|deixem|largue|larga) (me |nos )?em paz\b"
        # "deixa quieto" alone is "never mind": only "me deixa quieto" asks for quiet
        r"|\b(me|nos) (deixa|deixe|deixem) (quiet|sossegad)\w*"
        r"|\b(deixa|deixe|deixem) (me|nos) (quiet|sossegad)\w*",
        "paz quiet sossegad",
    ),
    _rule(
        "pt.que_saco",
        P,
        rf"\b(que saco|que chato|que chatice|cansei|to cansad\w|estou cansad\w|que porre) "
        rf"(dess\w* |de |com )?(ess\w* )?{_MSG_PT}",
        "saco chat cansei cansad porre",
    ),
    _rule(
        "pt.para_de_incomodar",
        P,
        _NOT_NEGATED_PT + r"\b(para|pare|parem) de (me |nos )?(encher|incomodar|perturbar"
        r"|importunar|ligar|chamar|insistir|atormentar)",
        "par",
    ),
    _rule("pt.nao_me_incomode", P, r"\bnao (me )?(incomode|incomodem|perturbe|perturbem)\b", "nao"),
    _rule("pt.sem_interesse", P, r"\bnao tenho (nenhum )?interesse\b|\bsem interesse\b", "interes"),
    _rule(
        "pt.vou_denunciar",
        P,
        r"\b(vou|vou te|vou lhe|irei) (denunciar|bloquear|reportar)\b",
        "denunciar bloquear reportar",
    ),
    _rule("pt.spam", P, r"\b(isso e|isto e|que|e) spam\b|^spam$", "spam"),
    _rule(
        "pt.quem_deu_meu_numero", P, r"\bquem (te |lhe |vos )?(deu|passou) (o )?meu numero", "quem"
    ),
    # --- English ----------------------------------------------------------------------
    _rule(
        "en.unsubscribe",
        C,
        r"\b(how (do|can) i|i want to|i wanna|i d like to|id like to|i would like to|let me"
        r"|please|pls|plz|want to) (unsubscribe|opt out|optout)\b|\bunsubscribe me\b"
        r"|\bopt me out\b",
        "unsubscribe opt",
    ),
    _rule(
        "en.stop_texting",
        C,
        _NOT_NEGATED_EN + r"\b(stop|quit|cease) (texting|messaging|sending|contacting"
        r"|spamming|writing to|emailing|msging|txting)( me| us| this)?\b",
        "stop quit cease",
    ),
    _rule(
        "en.remove_me",
        C,
        r"\b(remove|take|delete|erase|drop|get) (me|my number|my contact|my details) "
        r"(from|off|out of) (your|the|this|ur|that) (list|lists|database|contacts|mailing)",
        "list database contacts mailing",
    ),
    _rule(
        "en.remove_my_number",
        C,
        r"\b(remove|delete|erase) (me|my number|my contact)$",
        "remove delete erase",
    ),
    _rule(
        "en.do_not_text",
        C,
        r"\b(do not|dont|don t|never) (text|message|contact|msg|sms|write to|send) "
        r"(me|us)( (again|anymore|any more|ever|ever again|messages|texts))?$|"
        r"\b(do not|dont|don t|never) (text|message|contact|msg|sms|write to) (me|us) "
        r"(again|anymore|any more|ever)\b",
        "not dont don never",
    ),
    _rule(
        "en.no_more", C, rf"\bno more {_MSG_EN}\b|\bnot (want|wish) to receive\b", "more receive"
    ),
    _rule(
        "en.dont_want",
        C,
        rf"\b(i )?(do not|dont|don t) want (any more |anymore |more |these |your |any )"
        rf"{_MSG_EN}|\b(i )?(do not|dont|don t) want to (receive|get) (any|these|your|more)",
        "not dont don",
    ),
    _rule("en.leave_me_alone", P, r"\bleave (me|us) alone\b", "alone"),
    _rule("en.not_interested", P, r"\b(not|no longer|im not|i m not) interested\b", "interes"),
    _rule(
        "en.stop_bothering",
        P,
        _NOT_NEGATED_EN + r"\b(stop|quit) (bothering|bugging|harassing|pestering) (me|us)\b",
        "stop quit",
    ),
    _rule(
        "en.spam",
        P,
        r"\b(this is|thats|that s|its|it s) spam\b|\breport(ing)? (you|this)\b",
        "spam report",
    ),
    _rule(
        "en.who_gave",
        P,
        r"\bwho gave you (my|this) number\b|\bhow did you get my number\b",
        "number",
    ),
    # --- Spanish ----------------------------------------------------------------------
    _rule(
        "es.no_quiero_recibir",
        C,
        r"\bno (quiero|deseo) (recibir|seguir recibiendo|que me (envien|manden|escriban))|"
        rf"\bno (quiero|deseo) (mas|ningun|ninguna) {_MSG_ES}",
        "no",
    ),
    _rule("es.dar_de_baja", C, r"\b(dar|darme|dame|denme|den|darnos) de baja\b|^de baja$", "baja"),
    _rule(
        "es.dejen_de_enviar",
        C,
        _NOT_NEGATED_ES + rf"\b(deja|dejen|dejar|para|paren|pare) de {_SEND_ES}",
        "dej par",
    ),
    _rule("es.no_me_envien", C, rf"\bno (me |nos )?{_SEND_ES} mas\b(?! de\b)", "no"),
    _rule(
        "es.sacame_de_la_lista",
        C,
        r"\b(sacame|saquenme|sacarme|eliminame|eliminenme|borrame|borrenme|quitame|quitenme"
        r"|eliminar mi numero|borrar mi numero|quitar mi numero|eliminen mi numero"
        rf"|borren mi numero|quiten mi numero)( de)?( (la|su|esta|tu|sus) {_LIST_ES})?\b",
        "saca saque elimin borr quit",
    ),
    _rule(
        "es.dejame_en_paz", P, r"\b(dejame|dejenme|dejanos|dejennos) (en paz|tranquil\w*)\b", "dej"
    ),
    _rule(
        "es.no_me_interesa",
        P,
        r"\bno (me|nos) interesa\b|\bsin interes\b|\bno (estoy|estamos) interesad\w*",
        "interes",
    ),
    _rule("es.no_me_molesten", P, r"\bno (me |nos )?(molest\w*|fastidi\w*)\b", "no"),
    _rule(
        "es.spam", P, r"\b(esto es|es) spam\b|\bvoy a (denunciar|reportar|bloquear)\w*", "spam voy"
    ),
)
#: Words that alone are probably, not certainly, a request to stop ("Para!" as a whole
#: reply; "Chega" — enough; "Não quero").
PROBABLE_WORDS: dict[str, str] = {
    "PARA": "pt",
    "CHEGA": "pt",
    "NAO QUERO": "pt",
    "NAO OBRIGADO": "pt",
    "BASTA": "es",
    "NO GRACIAS": "es",
    "NO THANKS": "en",
    "ENOUGH": "en",
}


def _minimal(prefixes: Iterable[str]) -> dict[str, str]:
    """Each trigger → the shortest trigger it starts with (the scan reports that one)."""
    every = sorted(set(prefixes), key=len)
    return {p: next(q for q in every if p.startswith(q)) for p in every}


_SHORTEST = _minimal(t for rule in RULES for t in rule.triggers)
_RULE_TRIGGERS = tuple(frozenset(_SHORTEST[t] for t in rule.triggers) for rule in RULES)
_SCAN = re.compile(r"\b(?:" + "|".join(sorted(set(_SHORTEST.values()))) + ")")
_BUILT_IN = KeywordSet(OPT_OUT_WORDS)
_PROBABLE_WORDS = KeywordSet(PROBABLE_WORDS)
_OPT_IN = KeywordSet(sorted(OPT_IN_KEYWORDS))


def _rule_id(word: str) -> str:
    return "keyword." + "_".join(fold(word).split())


def classify(text: str, extra_keywords: Iterable[str] = ()) -> Verdict:
    """The verdict on one inbound message (see the module's docstring)."""
    return _classify(fold(text[:MAX_TEXT]), extra_keywords)


def examine(text: str, extra_keywords: Iterable[str] = ()) -> tuple[Verdict, str | None]:
    """The verdict and, when there is none, the opt-in keyword the message is (VOLTAR,
    START) if it is one — the message folded once (the webhook receiver's screen)."""
    folded = fold(text[:MAX_TEXT])
    verdict = _classify(folded, extra_keywords)
    return verdict, bare_keyword(folded, _OPT_IN) if verdict.tier is Tier.NONE else None


def _classify(folded: str, extra_keywords: Iterable[str]) -> Verdict:
    if not folded:
        return NONE
    extra = keyword_set(tuple(extra_keywords))
    if extra and bare_keyword(folded, extra) is not None:
        return Verdict(C, "tenant.keyword", None)
    word = bare_keyword(folded, _BUILT_IN)
    if word is not None:
        return Verdict(C, _rule_id(word), OPT_OUT_WORDS[word])
    probable: Verdict | None = None
    present = set(_SCAN.findall(folded))
    for rule, needs in zip(RULES, _RULE_TRIGGERS, strict=True):
        if (rule.tier is P and probable is not None) or present.isdisjoint(needs):
            continue
        if rule.pattern.search(folded):
            if rule.tier is C:
                return Verdict(C, rule.id, rule.language)
            probable = Verdict(P, rule.id, rule.language)
    if probable is not None:
        return probable
    word = bare_keyword(folded, _PROBABLE_WORDS)
    if word is not None:
        return Verdict(P, _rule_id(word), PROBABLE_WORDS[word])
    return NONE


def opt_in_keyword(text: str) -> str | None:
    """VOLTAR or START when the message is that word alone (opts the contact back in)."""
    return bare_keyword(fold(text[:MAX_TEXT]), _OPT_IN)
