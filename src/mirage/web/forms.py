"""Form errors as translatable messages: never an exception text, never the user's input.

Views turn Pydantic errors and unparseable numbers into ``Message`` objects (a catalog id and
escaped parameters); templates show them with ``_(e)``, which translates the id and escapes
every parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError

from mirage.kit.errors import DomainError, ValidationFailed
from mirage.kit.i18n import N_, Message, known_ids

T = TypeVar("T")

# Pydantic error type -> (message id, the ctx key whose value fills %(limit)s).
_BY_TYPE: dict[str, tuple[str, str | None]] = {
    "missing": (N_("%(field)s: this field is required"), None),
    "string_too_short": (N_("%(field)s: enter at least %(limit)s characters"), "min_length"),
    "string_too_long": (N_("%(field)s: enter at most %(limit)s characters"), "max_length"),
    "too_short": (N_("%(field)s: give at least %(limit)s items"), "min_length"),
    "too_long": (N_("%(field)s: give at most %(limit)s items"), "max_length"),
    "greater_than_equal": (N_("%(field)s: must be at least %(limit)s"), "ge"),
    "greater_than": (N_("%(field)s: must be more than %(limit)s"), "gt"),
    "less_than_equal": (N_("%(field)s: must be at most %(limit)s"), "le"),
    "less_than": (N_("%(field)s: must be less than %(limit)s"), "lt"),
    "int_parsing": (N_("%(field)s: enter a whole number"), None),
    "int_type": (N_("%(field)s: enter a whole number"), None),
    "int_from_float": (N_("%(field)s: enter a whole number"), None),
    "float_parsing": (N_("%(field)s: enter a number"), None),
    "float_type": (N_("%(field)s: enter a number"), None),
    "finite_number": (N_("%(field)s: enter a number"), None),
    "uuid_parsing": (N_("%(field)s: choose an option from the list"), None),
    "uuid_type": (N_("%(field)s: choose an option from the list"), None),
    "literal_error": (N_("%(field)s: choose an option from the list"), None),
    "enum": (N_("%(field)s: choose an option from the list"), None),
    "time_parsing": (N_("%(field)s: enter a time (HH:MM)"), None),
}
INVALID = N_("%(field)s: invalid value")
SOME_FIELDS = N_("Some fields are missing or invalid.")
WHOLE_NUMBER = N_("%(field)s: enter a whole number")
NUMBER = N_("%(field)s: enter a number")
TIME = N_("%(field)s: enter a time (HH:MM)")


def _label(loc: tuple[Any, ...], labels: Mapping[str, str]) -> Message | str:
    names = [str(p) for p in loc if not isinstance(p, int)]
    for name in reversed(names):  # the most specific name we have a label for
        if name in labels:
            return Message(labels[name])
    return names[-1] if names else "?"


# Labels of the form fields that routes declare as parameters (FastAPI validates those).
COMMON_LABELS = {
    "display_name": N_("New number"),
    "name": N_("Name"),
    "email": N_("E-mail"),
    "password": N_("Password"),
    "phone": N_("Phone number with country and area code"),
    "scopes": N_("Scopes"),
    "expires_in_days": N_("Expires in (days, 0 = never)"),
}


def validation_messages(exc: ValidationError, labels: Mapping[str, str]) -> list[Message]:
    """One readable message per error; the input value is never part of it."""
    return error_list_messages(exc.errors(include_input=False, include_url=False), labels)


def error_list_messages(errors: Iterable[Any], labels: Mapping[str, str]) -> list[Message]:
    """Messages for Pydantic-style error dicts (also FastAPI's request validation errors)."""
    out: list[Message] = []
    for err in errors:
        kind = str(err.get("type", ""))
        field = _label(tuple(err.get("loc", ())), labels)
        ctx = err.get("ctx") or {}
        if kind in ("value_error", "assertion_error"):
            # Our own validators raise catalog messages; anything else gets a generic text.
            reason = str(ctx.get("error", ""))
            if reason in known_ids():
                out.append(Message(reason))
            elif field == "?":  # a rule across fields, worded for developers: not shown
                out.append(Message(SOME_FIELDS))
            else:
                out.append(Message(INVALID, {"field": field}))
            continue
        msgid, key = _BY_TYPE.get(kind, (INVALID, None))
        params: dict[str, object] = {"field": field}
        if key is not None:
            params["limit"] = ctx.get(key, "")
        out.append(Message(msgid, params))
    return out


class FieldErrors:
    """A form's errors by field (the ``name`` of the input they belong to), and those that
    belong to no single field. Templates show each field's next to it (``_form.html``)."""

    def __init__(self) -> None:
        self.fields: dict[str, list[Message]] = {}
        self.general: list[Message] = []

    def add(self, field: str | None, message: Message) -> None:
        if field:
            self.fields.setdefault(field, [])
            if message not in self.fields[field]:
                self.fields[field].append(message)
        elif message not in self.general:
            self.general.append(message)

    def get(self, field: str) -> list[Message]:
        return self.fields.get(field, [])

    def merge(self, other: FieldErrors) -> FieldErrors:
        """Add ``other``'s messages, except on fields that already have one (a value that did
        not parse says more than the rule across fields it then broke)."""
        for message in other.general:
            self.add(None, message)
        for field, messages in other.fields.items():
            if field not in self.fields:
                for message in messages:
                    self.add(field, message)
        return self

    def attempt(self, parse: Callable[[], T], default: T) -> T:
        """``parse()``, or ``default`` with its error recorded: a form reports every field
        that is wrong at once, not the first one only."""
        try:
            return parse()
        except ValidationFailed as exc:
            field = exc.extra.get("field")
            self.add(str(field) if field else None, exc.message)
            return default

    def __iter__(self) -> Iterator[Message]:
        yield from self.general
        for messages in self.fields.values():
            yield from messages

    def __len__(self) -> int:
        return len(self.general) + sum(len(m) for m in self.fields.values())

    def __bool__(self) -> bool:
        return len(self) > 0


NO_ERRORS = FieldErrors()


class FormInvalid(ValidationFailed):
    """A form's errors, field by field, raised by the code that reads the form."""

    def __init__(self, errors: FieldErrors) -> None:
        super().__init__(SOME_FIELDS)
        self.errors = errors


def _form_field(
    names: Iterable[str], labels: Mapping[str, str], fields: Mapping[str, str]
) -> str | None:
    """The form input a model location stands for: the most specific name the form maps
    (``fields``: model name -> input name) or shows (``labels``)."""
    names = list(names)
    dotted = ".".join(names)
    if dotted in fields:
        return fields[dotted]
    for name in reversed(names):
        if name in fields:
            return fields[name]
        if name in labels:
            return name
    return None


def form_errors(
    exc: Exception,
    labels: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
) -> FieldErrors:
    """What a form handler caught, each message attached to the input it is about.

    ``fields`` maps model field names (or a validator's message id, for rules across fields
    that Pydantic reports without a location) to the form's input names."""
    fields = fields or {}
    out = FieldErrors()
    if isinstance(exc, FormInvalid):
        return exc.errors
    if isinstance(exc, ValidationError):
        for err in exc.errors(include_input=False, include_url=False):
            names = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            [message] = error_list_messages([err], labels)
            field = fields.get(message.msgid) or _form_field(names, labels, fields)
            out.add(field, message)
    elif isinstance(exc, DomainError):
        named = exc.extra.get("field")
        field = fields.get(exc.message.msgid) or (
            _form_field([str(named)], labels, fields) if named else None
        )
        out.add(field or (str(named) if named else None), exc.message)
    else:
        out.add(None, Message(SOME_FIELDS))
    return out


def error_messages(exc: Exception, labels: Mapping[str, str]) -> list[Message]:
    """Messages for whatever a form handler caught (validation, domain, parse errors)."""
    if isinstance(exc, ValidationError):
        return validation_messages(exc, labels)
    if isinstance(exc, DomainError):
        return [exc.message]
    return [Message(SOME_FIELDS)]


BETWEEN = N_("%(field)s: enter a value from %(low)s to %(high)s")


def _in_range(value: float, name: str, label: str, low: float | None, high: float | None) -> None:
    """Bounds checked on the value as the form shows it (a percentage as a percentage), so the
    message speaks the form's units rather than the model's."""
    if (low is None or value >= low) and (high is None or value <= high):
        return
    if low is not None and high is not None:
        msgid, params = BETWEEN, {"low": f"{low:g}", "high": f"{high:g}"}
    elif low is not None:
        msgid, params = _BY_TYPE["greater_than_equal"][0], {"limit": f"{low:g}"}
    else:
        msgid, params = _BY_TYPE["less_than_equal"][0], {"limit": f"{high:g}"}
    raise ValidationFailed(msgid, params={"field": Message(label), **params}, field=name)


def whole_number(
    form: Mapping[str, str],
    name: str,
    label: str,
    default: int | None = None,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int:
    """Parse an integer form field; only ASCII digits (int() accepts other scripts' digits)."""
    raw = form.get(name, "").strip()
    if not raw and default is not None:
        return default
    body = raw[1:] if raw[:1] in "+-" else raw
    if not body or len(body) > 9 or not body.isascii() or not body.isdigit():
        raise ValidationFailed(WHOLE_NUMBER, params={"field": Message(label)}, field=name)
    value = int(raw)
    _in_range(value, name, label, low, high)
    return value


def decimal_number(
    form: Mapping[str, str],
    name: str,
    label: str,
    default: str = "0",
    *,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """Parse a decimal form field (comma or point, optional %); ASCII only."""
    raw = form.get(name, "").replace(",", ".").replace("%", "").strip() or default
    body = raw[1:] if raw[:1] in "+-" else raw
    digits = body.replace(".", "", 1)
    if not digits or len(digits) > 12 or not digits.isascii() or not digits.isdigit():
        raise ValidationFailed(NUMBER, params={"field": Message(label)}, field=name)
    value = float(raw)
    _in_range(value, name, label, low, high)
    return value


def text_field(form: Mapping[str, str], name: str, label: str, max_length: int) -> str:
    """A free-text form field, stripped, refused (not truncated) when longer than it can be
    stored."""
    value = form.get(name, "").strip()
    if len(value) > max_length:
        raise ValidationFailed(
            N_("%(field)s: enter at most %(limit)s characters"),
            params={"field": Message(label), "limit": max_length},
            field=name,
        )
    return value


def clean(value: str) -> str:
    """Form text without NUL and other control characters (PostgreSQL refuses NUL in text)."""
    return "".join(ch for ch in value if ch >= " " or ch in "\t\n\r")


async def read_form(request: Request) -> dict[str, str]:
    """The submitted text fields (files ignored), with control characters removed."""
    form = await request.form()
    return {k: clean(v) for k, v in form.items() if isinstance(v, str)}
