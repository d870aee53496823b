"""Settings from the environment (prefix ``MIRAGE_``), validated once at start-up."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Standard library only (imports nothing of Mirage): settings validate networks with it.
from mirage.kit.netguard import AddressPolicy, IPNetwork, parse_networks

DEFAULT_DATA_DIR = Path(".mirage")


# OWASP Password Storage Cheat Sheet, argon2id: "a minimum configuration of 19 MiB of memory,
# an iteration count of 2, and 1 degree of parallelism".
OWASP_ARGON2_MIN_MEMORY_KIB = 19 * 1024
OWASP_ARGON2_MIN_TIME_COST = 2


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
    # While a configured Redis is unreachable, rate limits are counted in each process's
    # memory, each limit divided by this (floor, at least 1): set it to the number of API
    # processes, so the deployment as a whole never allows more than the shared limit.
    redis_fallback_replicas: int = Field(default=2, ge=1, le=1000)
    secret_key: SecretStr = Field(default_factory=lambda: SecretStr(""))
    data_dir: Path = DEFAULT_DATA_DIR

    public_url: str = "http://127.0.0.1:8000"
    evolution_url: str | None = None
    evolution_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    # Tenants' AI base URLs may not reach private, loopback, link-local or metadata
    # addresses. Comma-separated host names, addresses or CIDR networks listed here are the
    # explicit exceptions (a private LLM server), e.g. "llm.internal,10.0.5.0/24".
    ai_allow_private_hosts: str = ""
    # The same for the targets of a tenant's safety alerts (its webhook URL, its SMTP server):
    # private, loopback and metadata addresses are refused unless listed here.
    alert_allow_private_hosts: str = ""
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses or CIDRs). Empty:
    # the direct peer is the client, whatever headers it sends.
    trusted_proxies: str = ""

    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    # argon2id cost for password hashes. Defaults: RFC 9106's second recommendation (64 MiB,
    # 3 passes, 4 lanes), argon2-cffi's own. Outside tests nothing below OWASP's floor
    # (19 MiB with 2 passes) is accepted; the test suite lowers it (each hash costs ~0.25 s of
    # CPU at these defaults, and the suite creates hundreds of users). A stored hash made with
    # other parameters is re-hashed with these at its owner's next sign-in.
    argon2_memory_kib: int = Field(default=65_536, ge=8, le=4_194_304)
    argon2_time_cost: int = Field(default=3, ge=1, le=20)
    argon2_parallelism: int = Field(default=4, ge=1, le=64)
    # How often an open live stream (SSE) re-checks its session, membership and role.
    stream_recheck_seconds: float = Field(default=5.0, gt=0, le=60)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # Largest CSV a contact import accepts (uploads to /api/v1/contact-imports, the CLI).
    contact_import_max_bytes: int = Field(default=200_000_000, ge=1024)
    # Sign-in limits (``limits`` notation, ";" separates tiers: each further tier is a
    # longer wait). Per address; per address and account; per account for devices that
    # never signed in to it (a known device with the right password is never locked out);
    # per known device and account.
    login_rate_per_ip: str = "20/minute"
    login_rate_per_ip_account: str = "5/minute;20/hour"
    login_rate_per_account: str = "10/minute;30/hour;100/day"
    login_rate_per_device: str = "10/minute;30/hour"
    known_device_days: int = Field(default=180, ge=1, le=3650)
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
    # Compresses the human waits (reading, thinking, typing, the pauses before and between
    # rounds) by this factor, so a test round runs in seconds. Rules (quiet hours, caps, gaps,
    # windows) are never scaled. Refused in production; the demo keeps real human delays.
    time_scale: float = Field(default=1.0, gt=0, le=1)
    # How often a worker looks for jobs scheduled for now (new jobs arrive by LISTEN/NOTIFY;
    # a job scheduled for later is found by this poll, so it bounds send lateness).
    job_poll_seconds: float = Field(default=0.5, gt=0, le=30)
    # Sends one process may have held by the gateway (typing) at once; a send job beyond it
    # waits for room. Each costs a coroutine and an HTTP connection, no database connection.
    send_in_flight: int = Field(default=1000, ge=1, le=100_000)
    # How long a stopping worker (SIGTERM) lets running jobs finish before aborting them.
    # Unset: longer than the longest send (typing delay at this time scale + the gateway's
    # request timeout + a margin; 45 s in production), see mirage.worker.
    worker_shutdown_seconds: float | None = Field(default=None, gt=0, le=3600)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, v: str) -> str:
        parse_networks(v)
        return v

    @field_validator("ai_allow_private_hosts", "alert_allow_private_hosts")
    @classmethod
    def _check_allow_private(cls, v: str) -> str:
        AddressPolicy.from_setting(v)
        return v

    @field_validator(
        "login_rate_per_ip",
        "login_rate_per_ip_account",
        "login_rate_per_account",
        "login_rate_per_device",
        "api_rate_per_tenant",
    )
    @classmethod
    def _check_rate(cls, v: str) -> str:
        from limits import parse_many

        if not parse_many(v):
            raise ValueError(f"not a rate limit: {v!r}")
        return v

    @model_validator(mode="after")
    def _real_time_in_production(self) -> Settings:
        if self.env == "prod" and self.time_scale != 1:
            raise ValueError("MIRAGE_TIME_SCALE is for tests: production runs at human speed (1)")
        return self

    @model_validator(mode="after")
    def _password_cost_floor(self) -> Settings:
        if self.env != "test" and (
            self.argon2_memory_kib < OWASP_ARGON2_MIN_MEMORY_KIB
            or self.argon2_time_cost < OWASP_ARGON2_MIN_TIME_COST
        ):
            raise ValueError(
                "MIRAGE_ARGON2_*: below OWASP's minimum for argon2id "
                f"({OWASP_ARGON2_MIN_MEMORY_KIB} KiB of memory with "
                f"{OWASP_ARGON2_MIN_TIME_COST} passes); lower costs are for the test suite only"
            )
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def ai_address_policy(self) -> AddressPolicy:
        return AddressPolicy.from_setting(self.ai_allow_private_hosts)

    @property
    def alert_address_policy(self) -> AddressPolicy:
        return AddressPolicy.from_setting(self.alert_allow_private_hosts)

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


def human_seconds(seconds: float) -> float:
    """A human wait (reading, thinking, typing, a pause) as this deployment runs it: real
    seconds in production, compressed by ``MIRAGE_TIME_SCALE`` in tests. Never use it for a
    rule (quiet hours, caps, gaps): rules keep real time."""
    return seconds * get_settings().time_scale
