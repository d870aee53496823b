"""Two-factor authentication: TOTP (RFC 6238: 30 s steps, 6 digits, ±1 step of clock drift),
enrollment with a QR code, single-use recovery codes, and the verification a step-up records.

- The secret is encrypted at rest (``kit.crypto.encrypt`` with the deployment's secret key).
- A code is never accepted twice: the user's last accepted time step is stored, and only a
  later step is accepted (the user row is locked while a code is checked).
- Recovery codes are argon2id hashes (``auth.passwords``), single-use, shown once.
- Attempts are rate-limited per user (``kit.ratelimit``); every event is audited.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyotp
import segno
from sqlalchemy.ext.asyncio import AsyncSession

from mirage.auth import passwords
from mirage.auth.repository import MfaRepository
from mirage.config import get_settings
from mirage.kit import crypto
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict, RateLimited
from mirage.kit.i18n import N_
from mirage.kit.ratelimit import RateLimiter
from mirage.models import User
from mirage.ops import audit

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "Mirage"
RECOVERY_CODES = 10
# Per user: a 6-digit code cannot be guessed in the attempts these allow.
ATTEMPTS = "10/minute;40/hour;100/day"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i

TOO_MANY = N_("Too many attempts. Wait a minute and try again.")
WRONG_CODE = N_("That code is not valid (or was already used). Enter the current code.")


# --- TOTP (pure) -----------------------------------------------------------------------------


def new_secret() -> str:
    """A random 160-bit secret, base32 (what authenticator apps take)."""
    return pyotp.random_base32(32)


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def matching_step(secret: str, code: str, now: datetime, last_step: int | None) -> int | None:
    """The time step (now ±1) whose code this is, later than the last one accepted; else None."""
    code = normalize_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (constant work whatever matches).
        if hmac.compare_digest(code_at(secret, step), code) and (
            last_step is None or step > last_step
        ):
            found = step
    return found


def normalize_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()[:40]


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no external request, no image file)."""
    return str(
        segno.make(uri, error="m", micro=False).svg_inline(
            scale=5, border=2, dark="#111", omitsize=True
        )
    )


def new_recovery_codes() -> list[str]:
    """Ten codes like ``k7m2p-x9qra`` (50 bits each)."""
    out = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def _key() -> str:
    return get_settings().resolved_secret_key()


# --- enrollment and verification ------------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    """What the enrollment page shows while the user confirms: the secret, its URI, the QR."""

    secret: str
    uri: str

    @property
    def svg(self) -> str:
        # Drawn when the page shows it (~7-10 ms of CPU): not for a caller that needs only the
        # secret (every signed-in test user enrolls through here).
        return qr_svg(self.uri)


@dataclass(frozen=True)
class Verified:
    how: Literal["totp", "recovery"]
    at: datetime
    recovery_left: int | None = None


async def _limit(limiter: RateLimiter, user_id: uuid.UUID) -> None:
    result = await limiter.hit_tiers(ATTEMPTS, "mfa", str(user_id))
    if not result.allowed:
        raise RateLimited(TOO_MANY, retry_after=result.reset_after, headers=result.headers())


async def _audit(
    session: AsyncSession,
    tenant_id: uuid.UUID | None,
    user_id: uuid.UUID,
    action: str,
    ip: str | None,
    recovery_codes_left: int | None = None,
) -> None:
    if tenant_id is None:  # the audit log is per tenant: the one the user is looking at
        return
    if recovery_codes_left is None:
        await audit.record(
            session,
            tenant_id=tenant_id,
            action=action,
            user_id=user_id,
            ip=ip,
            target_type="user",
            target_id=user_id,
        )
    else:
        await audit.record(
            session,
            tenant_id=tenant_id,
            action=action,
            user_id=user_id,
            ip=ip,
            target_type="user",
            target_id=user_id,
            recovery_codes_left=recovery_codes_left,
        )


async def begin(session: AsyncSession, user: User) -> None:
    """Start (or restart) an enrollment: a new pending secret, stored encrypted."""
    if user.mfa_enabled_at is not None:
        raise Conflict(N_("two-factor authentication is already on; disable it first"))
    await MfaRepository(session).set_state(
        user.id, mfa_pending_enc=crypto.encrypt(_key(), new_secret())
    )


def pending(user: User) -> Enrollment | None:
    """The enrollment under way (the QR code and the secret in text), if any."""
    if user.mfa_enabled_at is not None or not user.mfa_pending_enc:
        return None
    secret = crypto.decrypt(_key(), user.mfa_pending_enc)
    uri = provisioning_uri(secret, user.email)
    return Enrollment(secret=secret, uri=uri)


async def _replace_codes(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    codes = new_recovery_codes()
    hashes = await asyncio.to_thread(
        lambda: [passwords.hash_password(normalize_code(c)) for c in codes]
    )
    await MfaRepository(session).replace_codes(user_id, hashes)
    return codes


async def confirm(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    code: str,
    tenant_id: uuid.UUID | None,
    ip: str | None,
) -> list[str] | None:
    """Confirm the pending enrollment with a code from the app: MFA is on, the session counts
    as verified, and the ten recovery codes are returned (shown once). None: wrong code."""
    await _limit(limiter, user_id)
    repo = MfaRepository(session)
    user = await repo.lock_user(user_id)
    if user is None or user.mfa_enabled_at is not None or not user.mfa_pending_enc:
        raise Conflict(N_("there is no enrollment under way: start again"))
    secret = crypto.decrypt(_key(), user.mfa_pending_enc)
    now = utcnow()
    step = matching_step(secret, code, now, None)
    if step is None:
        return None
    await repo.set_state(
        user_id,
        mfa_secret_enc=user.mfa_pending_enc,
        mfa_pending_enc=None,
        mfa_enabled_at=now,
        mfa_last_step=step,
    )
    codes = await _replace_codes(session, user_id)
    if session_id is not None:
        await repo.set_session_verified(session_id, now)
    await _audit(session, tenant_id, user_id, "mfa.enroll", ip)
    return codes


async def _check(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    user_id: uuid.UUID,
    code: str,
    allow_recovery: bool,
) -> Verified | None:
    """A code of the enrolled user: a TOTP code of a later step than the last accepted, or
    (when allowed) an unused recovery code, marked used. None when it is neither."""
    await _limit(limiter, user_id)
    repo = MfaRepository(session)
    user = await repo.lock_user(user_id)
    if user is None or user.mfa_enabled_at is None or not user.mfa_secret_enc:
        raise Conflict(N_("two-factor authentication is not on for this account"))
    now = utcnow()
    secret = crypto.decrypt(_key(), user.mfa_secret_enc)
    step = matching_step(secret, code, now, user.mfa_last_step)
    if step is not None:
        await repo.set_state(user_id, mfa_last_step=step)
        return Verified("totp", now)
    typed = normalize_code(code)
    if not allow_recovery or len(typed) != 10:
        return None
    unused = list(await repo.unused_codes(user_id))
    matches = await asyncio.to_thread(
        lambda: [row for row in unused if passwords.verify_password(row.code_hash, typed)]
    )
    if matches and await repo.use_code(matches[0].id, now):
        return Verified("recovery", now, recovery_left=len(unused) - 1)
    return None


async def verify(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    user_id: uuid.UUID,
    session_id: uuid.UUID | None,
    code: str,
    tenant_id: uuid.UUID | None,
    ip: str | None,
) -> Verified | None:
    """A step-up: the code (or a recovery code) is checked and, if good, this browser
    session counts as verified now. Failures and recovery-code uses are audited."""
    ok = await _check(session, limiter, user_id=user_id, code=code, allow_recovery=True)
    if ok is None:
        await _audit(session, tenant_id, user_id, "mfa.step_up_failed", ip)
        return None
    if session_id is not None:
        await MfaRepository(session).set_session_verified(session_id, ok.at)
    if ok.how == "recovery":
        await _audit(
            session,
            tenant_id,
            user_id,
            "mfa.recovery_code_used",
            ip,
            recovery_codes_left=ok.recovery_left,
        )
    else:
        await _audit(session, tenant_id, user_id, "mfa.step_up", ip)
    return ok


async def regenerate_codes(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    user_id: uuid.UUID,
    code: str,
    tenant_id: uuid.UUID | None,
    ip: str | None,
) -> list[str] | None:
    """New recovery codes (the old ones stop working), with a fresh authenticator code."""
    ok = await _check(session, limiter, user_id=user_id, code=code, allow_recovery=False)
    if ok is None:
        await _audit(session, tenant_id, user_id, "mfa.step_up_failed", ip)
        return None
    codes = await _replace_codes(session, user_id)
    await _audit(session, tenant_id, user_id, "mfa.recovery_codes_regenerated", ip)
    return codes


async def disable(
    session: AsyncSession,
    limiter: RateLimiter,
    *,
    user_id: uuid.UUID,
    code: str,
    tenant_id: uuid.UUID | None,
    ip: str | None,
) -> bool:
    """Turn MFA off with a fresh authenticator code: the secret and recovery codes go, the
    user's sessions lose their step-up and their tokens here their step-up mark."""
    ok = await _check(session, limiter, user_id=user_id, code=code, allow_recovery=False)
    if ok is None:
        await _audit(session, tenant_id, user_id, "mfa.step_up_failed", ip)
        return False
    repo = MfaRepository(session)
    await repo.set_state(
        user_id, mfa_secret_enc=None, mfa_pending_enc=None, mfa_enabled_at=None, mfa_last_step=None
    )
    await repo.replace_codes(user_id, [])
    await repo.end_step_up(user_id)
    if tenant_id is not None:
        await repo.drop_token_step_up(user_id)
    await _audit(session, tenant_id, user_id, "mfa.disable", ip)
    return True


async def current_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user's MFA state as stored now (a signed-in user may come from the session cache)."""
    return await MfaRepository(session).user(user_id)


async def recovery_left(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await MfaRepository(session).count_unused(user_id)
