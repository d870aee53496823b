"""WhatsApp JIDs: Evolution's ``createJid`` normalisation and the lookups built on it."""

from __future__ import annotations

import re

USER_SUFFIX = "@s.whatsapp.net"
GROUP_SUFFIX = "@g.us"
LID_SUFFIX = "@lid"
BROADCAST_SUFFIX = "@broadcast"

_DEVICE = re.compile(r":\d+")
_BR = re.compile(r"^(\d{2})(\d{2})\d(\d{8})$")


def _format_mx_or_ar(number: str) -> str:
    # Mexico (52) and Argentina (54) mobiles carry an extra digit that WhatsApp drops.
    if number[:2] in ("52", "54") and len(number) == 13:
        return number[:2] + number[3:]
    return number


def _format_br(number: str) -> str:
    # Evolution drops the 9th digit for DDD >= 31 when the subscriber part starts with 7-9:
    # such accounts were registered before the 9th digit existed. The existence check then
    # returns the JID WhatsApp really uses (see ``br_variants``).
    match = _BR.match(number)
    if not match or match.group(1) != "55":
        return number
    joker = int(match.group(3)[0])
    ddd = int(match.group(2))
    if joker < 7 or ddd < 31:
        return number
    return match.group(1) + match.group(2) + match.group(3)


def create_jid(raw: str) -> str:
    """Port of Evolution's ``src/utils/createJid.ts``."""
    number = _DEVICE.sub("", raw, count=1)
    if any(s in number for s in (GROUP_SUFFIX, USER_SUFFIX, LID_SUFFIX, BROADCAST_SUFFIX)):
        return number
    for ch in (" ", "\t", "\n", "+", "(", ")"):
        number = number.replace(ch, "")
    number = number.split(":")[0].split("@")[0]
    if "-" in number and len(number) >= 24:
        return re.sub(r"[^\d-]", "", number) + GROUP_SUFFIX
    number = re.sub(r"\D", "", number)
    if len(number) >= 18:
        return number + GROUP_SUFFIX
    number = _format_br(_format_mx_or_ar(number))
    return number + USER_SUFFIX


def digits(raw: str) -> str:
    """A phone number as typed on a handset: digits only, no WhatsApp-side rewriting."""
    return re.sub(r"\D", "", user_part(raw))


def user_part(jid: str) -> str:
    return jid.split("@", 1)[0].split(":", 1)[0]


def user_jid(number: str) -> str:
    return number + USER_SUFFIX


def lid_jid(lid: str) -> str:
    return lid + LID_SUFFIX


def is_user_jid(jid: str) -> bool:
    return jid.endswith(USER_SUFFIX)


def is_group_jid(jid: str) -> bool:
    return jid.endswith(GROUP_SUFFIX)


def is_lid_jid(jid: str) -> bool:
    return jid.endswith(LID_SUFFIX)


def br_variants(number: str) -> list[str]:
    """The number itself, then its Brazilian 9th-digit twin (with or without the 9).

    WhatsApp answers the existence check with the form the account is registered under,
    so a lookup has to try both.
    """
    variants = [number]
    if number.startswith("55"):
        if len(number) == 12:
            variants.append(number[:4] + "9" + number[4:])
        elif len(number) == 13 and number[4] == "9":
            variants.append(number[:4] + number[5:])
    return variants
