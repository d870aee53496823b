"""argon2id password hashing, at the cost the settings give (see ``Settings.argon2_*``)."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mirage.config import get_settings

MIN_LENGTH = 10


@cache
def _hasher() -> PasswordHasher:
    s = get_settings()
    return PasswordHasher(
        time_cost=s.argon2_time_cost,
        memory_cost=s.argon2_memory_kib,
        parallelism=s.argon2_parallelism,
    )


@cache
def _dummy() -> str:
    """Verified against when the account does not exist, so timing does not reveal which
    e-mails exist. Made on first use (not at import: every `mirage` process would pay a hash),
    and the API warms it at start-up."""
    return _hasher().hash("mirage-dummy-password")


def warm() -> None:
    _dummy()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher().verify(password_hash or _dummy(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def check_strength(password: str) -> str | None:
    """A readable reason when the password is unacceptable, else None."""
    if len(password) < MIN_LENGTH:
        return f"password must have at least {MIN_LENGTH} characters"
    if len(password) > 256:
        return "password is too long (256 characters at most)"
    return None
