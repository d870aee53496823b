"""Settings from the environment (prefix ``MIRAGE_``), validated once at start-up."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".mirage")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIRAGE_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    # Unset: an embedded PostgreSQL under ``data_dir`` is started and migrated.
    # Set: a URL whose user may create roles (``mirage migrate`` applies roles and schema);
    # the API and workers then log in as ``mirage_app``.
    database_url: str | None = None
    # Optional explicit URLs for the two runtime roles (else derived from database_url).
    app_database_url: str | None = None
    admin_database_url: str | None = None
    db_role_password: SecretStr | None = None
    db_pool_size: int = Field(default=10, ge=1, le=200)

    redis_url: str | None = None
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(""))
    data_dir: Path = DEFAULT_DATA_DIR

    public_url: str = "http://127.0.0.1:8000"
    evolution_url: str | None = None
    evolution_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    login_rate_per_ip: str = "20/minute"
    login_rate_per_account: str = "5/minute"
    api_rate_per_tenant: str = "600/minute"
    # Webhook JWTs (Evolution signs HS256 for 10 minutes): how far in our future ``iat`` may
    # be (gateway clock ahead; ``exp`` gets no grace), and the longest lifetime (exp - iat) a
    # token may claim.
    webhook_jwt_leeway_s: int = Field(default=5, ge=0, le=60)
    webhook_jwt_max_lifetime_s: int = Field(default=900, ge=60, le=3600)
    # Unauthenticated webhook calls (unknown instance/tenant pair, bad token) per source IP;
    # past it the source gets 429s without any database work until the window frees a slot.
    webhook_auth_failures_per_ip: str = "120/minute"
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def cookie_secure(self) -> bool:
        return self.public_url.startswith("https://")

    def resolved_secret_key(self) -> str:
        """The signing key; outside production one is kept under data_dir across restarts."""
        key = self.secret_key.get_secret_value()
        if key:
            return key
        if self.env == "prod":
            raise RuntimeError("MIRAGE_SECRET_KEY must be set in production")
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
