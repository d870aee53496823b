"""Column types shared by the models."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Enum


def str_enum(enum: type[StrEnum], length: int) -> Enum:
    """A ``StrEnum`` stored as its plain value in a ``varchar(length)`` (no database enum type,
    no extra constraint: each table keeps its own ``CHECK``). Rows load as enum members; raw
    SQL and the existing rows keep reading and writing the same words."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=_values,
    )


def _values(enum: Any) -> list[str]:
    return [m.value for m in enum]
