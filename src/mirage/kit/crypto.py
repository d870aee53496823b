"""Secrets at rest (Fernet keyed from the secret key), token hashing and constant-time checks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import uuid

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"mirage-at-rest:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret cannot be decrypted with the current key") from exc


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sign(secret_key: str, value: str) -> str:
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def tenant_token(prefix: str, tenant_id: uuid.UUID, nbytes: int = 32) -> str:
    """A new bearer secret that names the tenant it belongs to: ``<prefix><tenant>_<secret>``
    (the tenant as 22 characters of unpadded base64url). Whoever presents it is looked up
    under that tenant's row-level security: a forged claim finds nothing."""
    tenant_part = base64.urlsafe_b64encode(tenant_id.bytes).decode().rstrip("=")
    return f"{prefix}{tenant_part}_{random_token(nbytes)}"


def claimed_tenant(prefix: str, token: str) -> uuid.UUID | None:
    """The tenant a ``tenant_token`` claims (trusted only once its hash is found there)."""
    if not token.startswith(prefix) or len(token) > 200:
        return None
    body = token[len(prefix) :]
    # 16 bytes in unpadded base64url are always 22 characters (which may include "_").
    tenant_part, sep, secret = body[:22], body[22:23], body[23:]
    if sep != "_" or not secret:
        return None
    try:
        raw = base64.urlsafe_b64decode(tenant_part + "==")
        return uuid.UUID(bytes=raw) if len(raw) == 16 else None
    except (binascii.Error, ValueError):
        return None
