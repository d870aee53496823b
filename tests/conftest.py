"""Test infrastructure: a real, migrated PostgreSQL (embedded unless MIRAGE_TEST_DATABASE_URL),
the app over ASGI, a live `mirage api` process for browser and schema tests, and factories."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Settings are read once per process: fix them before anything imports mirage.config.
_DATA = Path(
    os.environ.get("MIRAGE_TEST_DATA_DIR") or Path(__file__).parent.parent / ".mirage" / "test"
)
# Under pytest-xdist each worker process has its own embedded PostgreSQL, data dir and live
# servers: nothing is shared between workers but Redis (whose test keys are unique).
if os.environ.get("PYTEST_XDIST_WORKER"):
    _DATA = _DATA / os.environ["PYTEST_XDIST_WORKER"]
_DATA.mkdir(parents=True, exist_ok=True)
os.environ.setdefault("MIRAGE_ENV", "test")
os.environ["MIRAGE_DATA_DIR"] = str(_DATA)
os.environ["MIRAGE_SECRET_KEY"] = "test-secret-key-not-for-production"
os.environ.setdefault("MIRAGE_LOG_JSON", "true")
# Human waits (reading, thinking, typing, pauses) run 20x faster; rules keep real time.
os.environ.setdefault("MIRAGE_TIME_SCALE", "0.05")
os.environ.setdefault("MIRAGE_JOB_POLL_SECONDS", "0.2")
# Password hashes at the lowest argon2id cost (refused outside tests): at the production cost
# each hash or sign-in is ~0.25 s of CPU, and the suite creates and signs in hundreds of users.
# tests/auth/test_password_cost.py checks the production cost and the re-hash to it.
os.environ.setdefault("MIRAGE_ARGON2_MEMORY_KIB", "64")
os.environ.setdefault("MIRAGE_ARGON2_TIME_COST", "1")
os.environ.setdefault("MIRAGE_ARGON2_PARALLELISM", "1")
os.environ.pop("MIRAGE_DATABASE_URL", None)
os.environ.pop("MIRAGE_REDIS_URL", None)
tempfile.tempdir = str(_DATA / "tmp")
Path(tempfile.tempdir).mkdir(exist_ok=True)

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import itertools  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from mirage.config import get_settings  # noqa: E402
from mirage.db import embedded  # noqa: E402
from mirage.db import engine as db_engine  # noqa: E402
from mirage.db.migrate import migrate  # noqa: E402
from mirage.db.urls import RoleUrls, derive  # noqa: E402
from mirage.kit import jobs  # noqa: E402
from mirage.kit.http import limits as pool_limits  # noqa: E402
from mirage.kit.logging import configure_logging  # noqa: E402
from tests import gateway_watch  # noqa: E402

# Hypothesis keeps every example count, but no timing checks: its per-example deadline and
# "too slow" health check are timed assertions, which fail on a loaded machine, not on a bug.
hypothesis_settings.register_profile(
    "mirage", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("mirage")

TEST_DB = f"mirage_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
PASSWORD = "correct horse battery"


def _server_url() -> str:
    explicit = os.environ.get("MIRAGE_TEST_DATABASE_URL")
    if explicit:
        return explicit
    return embedded.start(_DATA)


@pytest.fixture(scope="session")
def role_urls() -> Iterator[RoleUrls]:
    """A freshly created and migrated database for this test session."""
    server = make_url(_server_url())
    admin_conninfo = server.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin_conninfo, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{TEST_DB}" with (force)')
        conn.execute(f'create database "{TEST_DB}"')
    urls = derive(server.set(database=TEST_DB).render_as_string(hide_password=False))
    migrate(urls)
    yield urls


@pytest.fixture(scope="session")
async def database(role_urls: RoleUrls) -> AsyncIterator[db_engine.Database]:
    configure_logging("WARNING", json=True)
    db = db_engine.make_database(role_urls, pool_size=5, application_name="mirage-tests")
    db_engine.set_database(db)
    gateway_watch.watch_engines(db.app_engine, db.admin_engine)
    pool = await jobs.open_app(role_urls.libpq(role_urls.app), max_size=4)
    yield db
    await jobs.close_app(pool)
    gateway_watch.unwatch_engines(db.app_engine, db.admin_engine)
    await db.dispose()
    db_engine.set_database(None)


@pytest.fixture
def bootstrap_conninfo(role_urls: RoleUrls) -> str:
    """Superuser connection string (seeding across tenants, catalog checks)."""
    return RoleUrls.libpq(role_urls.bootstrap)


@pytest.fixture(scope="session")
def app(database: db_engine.Database):  # type: ignore[no-untyped-def]
    from mirage.app import create_app

    return create_app(get_settings(), manage_database=False)


_client_addresses = itertools.count(os.getpid() * 1000)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    # Each test's client has its own loopback address: per-IP limits (sign-in) are counted per
    # test, so one test's sign-ins never exhaust another's.
    n = next(_client_addresses)
    peer = (f"127.{n // 62500 % 250 + 1}.{n // 250 % 250}.{n % 250 + 1}", 50000)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=peer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- factories -------------------------------------------------------------------------


@dataclass
class TenantFixture:
    tenant_id: uuid.UUID
    slug: str
    user_id: uuid.UUID
    email: str
    password: str = PASSWORD
    # The user's authenticator: the TOTP secret enrolled through the real enrollment (None
    # when made with ``mfa=False``) and the last time step a code of it was used for.
    mfa_secret: str | None = None
    mfa_last_step: int | None = None
    # When ``step_up_principal`` last verified a code: reused for a minute, as a dashboard
    # session that stepped up once creates several tokens (a fresh code each time waited for
    # the next 30 s step after three: tests making five tokens slept a minute).
    mfa_verified_at: datetime | None = None


class _AheadClock:
    """The process clock running ``offset`` ahead of real time (``clock_ahead``)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


_ahead: _AheadClock | None = None


@contextlib.contextmanager
def clock_ahead() -> Iterator[None]:
    """Inside the block, ``totp_code`` moves this process's clock on to the next TOTP step
    instead of waiting up to 30 s for it. Only for an app served in this process (the ASGI
    client): a live server's clock is its own."""
    global _ahead
    from mirage.kit.clock import set_clock

    _ahead = _AheadClock()
    set_clock(_ahead.now)
    try:
        yield
    finally:
        set_clock(None)
        _ahead = None


@pytest.fixture
def totp_clock_ahead() -> Iterator[None]:
    """``clock_ahead`` for the whole test."""
    with clock_ahead():
        yield


async def totp_code(t: TenantFixture) -> str:
    """The next code the user's authenticator shows that the server will still accept: a
    later time step than the last one used (codes are single-use), within ±1 step of now;
    waits for the next step when those are used up (or, in ``clock_ahead``, moves the clock
    on to it)."""
    from mirage.auth import mfa
    from mirage.kit.clock import utcnow

    assert t.mfa_secret, "this user has no MFA (made with mfa=False)"
    while True:
        now = utcnow()
        now_step = mfa.time_step(now)
        # The previous step's code is the earliest still accepted — but not in the last seconds
        # of a step: by the time the server checks it, the step may have turned and it is two
        # steps old (a sign-in failed so, now and then, on a loaded machine).
        late = now.timestamp() % mfa.STEP_SECONDS > mfa.STEP_SECONDS - 5
        low = now_step if late else now_step - 1
        step = low if t.mfa_last_step is None else max(low, t.mfa_last_step + 1)
        if step <= now_step + 1:
            t.mfa_last_step = step
            return mfa.code_at(t.mfa_secret, step)
        # At most a step's wait; much more means the (pinned) clock went back past codes used.
        assert step <= now_step + 2, "the clock is before this user's last code: pin it later"
        if _ahead is not None:
            into_step = now.timestamp() % mfa.STEP_SECONDS
            _ahead.offset += timedelta(seconds=mfa.STEP_SECONDS - into_step + 0.5)
            continue
        await asyncio.sleep(1)


def _limiter() -> Any:
    from mirage.kit.ratelimit import RateLimiter

    return RateLimiter(None)


async def enroll_mfa(t: TenantFixture) -> str:
    """Enroll the user through the real service (the secret the QR code carries, confirmed
    with a code computed from it); returns the secret."""
    from mirage.auth import mfa
    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope
    from mirage.models import User

    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        user = await session.get(User, t.user_id)
        assert user is not None
        await mfa.begin(session, user)
        await session.refresh(user)
        enrollment = mfa.pending(user)
        assert enrollment is not None
        t.mfa_secret = enrollment.secret
        codes = await mfa.confirm(
            session,
            _limiter(),
            user_id=t.user_id,
            session_id=None,
            code=await totp_code(t),
            tenant_id=t.tenant_id,
            ip=None,
        )
        assert codes is not None and len(codes) == mfa.RECOVERY_CODES
    return enrollment.secret


async def make_tenant(
    role: str = "owner", *, name: str | None = None, mfa: bool = True
) -> TenantFixture:
    from mirage.db.engine import session_scope
    from mirage.models.tenancy import Role
    from mirage.tenants import service

    suffix = uuid.uuid4().hex[:8]
    async with session_scope() as session:
        tenant = await service.create_tenant(
            session, name=name or f"Tenant {suffix}", slug=f"t-{suffix}"
        )
        user = await service.create_user(
            session,
            email=f"user-{suffix}@example.com",
            password=PASSWORD,
            display_name=f"User {suffix}",
        )
        await service.add_member(session, tenant_id=tenant.id, user_id=user.id, role=Role(role))
        made = TenantFixture(tenant.id, tenant.slug, user.id, user.email)
    if mfa:
        await enroll_mfa(made)
    return made


# Well inside any tenant's step-up window (1 minute at least).
REUSE_STEP_UP = timedelta(seconds=50)


async def step_up_principal(t: TenantFixture, role: str = "owner") -> Any:
    """The user as a principal that has just verified a real authenticator code (a step-up),
    as a dashboard session does (``None`` session: the verification is not tied to one)."""
    from mirage.auth import mfa
    from mirage.auth.principal import ROLE_SCOPES, Principal
    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope
    from mirage.kit.clock import utcnow
    from mirage.models.tenancy import Role

    verified_at = None
    last = t.mfa_verified_at
    if t.mfa_secret and last is not None and timedelta(0) <= utcnow() - last < REUSE_STEP_UP:
        verified_at = last
    elif t.mfa_secret:
        async with session_scope() as session:
            await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
            ok = await mfa.verify(
                session,
                _limiter(),
                user_id=t.user_id,
                session_id=None,
                code=await totp_code(t),
                tenant_id=t.tenant_id,
                ip=None,
            )
            assert ok is not None
            verified_at = t.mfa_verified_at = ok.at
    return Principal(
        kind="user",
        tenant_id=t.tenant_id,
        role=Role(role),
        user_id=t.user_id,
        scopes=ROLE_SCOPES[Role(role)],
        mfa_enrolled=t.mfa_secret is not None,
        mfa_verified_at=verified_at,
    )


async def make_token(t: TenantFixture, scopes: tuple[str, ...] = ("read", "write", "admin")) -> str:
    """An API token created the way the dashboard creates one: right after a step-up (so,
    with the admin scope, it may do the sensitive operations)."""
    from mirage.auth import service
    from mirage.db.deps import bind_context
    from mirage.db.engine import session_scope

    principal = await step_up_principal(t)
    async with session_scope() as session:
        await bind_context(session, tenant_id=t.tenant_id, user_id=t.user_id)
        _, plaintext = await service.create_token(
            session, principal, name="test", scopes=list(scopes), expires_at=None
        )
        return plaintext


@pytest.fixture
async def tenant_a(database: db_engine.Database) -> TenantFixture:
    return await make_tenant()


@pytest.fixture
async def tenant_b(database: db_engine.Database) -> TenantFixture:
    return await make_tenant()


async def sign_in(client: httpx.AsyncClient, t: TenantFixture, *, step_up: bool = True) -> str:
    """Sign in through the real form (CSRF included) and, when the user has MFA, confirm a
    real authenticator code (the step-up); returns the CSRF token for later posts."""
    page = await client.get("/signin")
    token = page.cookies.get("mirage_csrf") or client.cookies.get("mirage_csrf")
    assert token
    r = await client.post(
        "/signin", data={"email": t.email, "password": t.password, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text
    # Sign-in issues a token bound to the new session (the anonymous one is no longer valid).
    rotated = r.cookies.get("mirage_csrf") or client.cookies.get("mirage_csrf")
    assert rotated and rotated != token
    if step_up and t.mfa_secret:
        await step_up_session(client, t, str(rotated))
    return str(rotated)


async def step_up_session(client: httpx.AsyncClient, t: TenantFixture, csrf: str) -> None:
    """Confirm the signed-in session with a real authenticator code (the step-up form)."""
    r = await client.post(
        "/account/security/verify",
        data={"code": await totp_code(t), "csrf_token": csrf, "next": "/"},
    )
    assert r.status_code == 303, r.text


# --- a live `mirage api` process (browser and schema tests) -------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    # One client for the whole wait: each new one builds an SSL context (~20-50 ms of CPU),
    # which every 0.2 s poll of a starting server paid.
    with httpx.Client(limits=pool_limits(), timeout=1) as probe:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early with {proc.returncode}")
            try:
                if probe.get(url).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start")


@pytest.fixture(scope="session")
def live_server(
    role_urls: RoleUrls, database: db_engine.Database, world: GatewayWorld
) -> Iterator[LiveServer]:
    """`mirage api` as a real process on the test database. Its jobs are run by the test
    process's own worker (the `world` fixture), so that tests that stub a service in-process
    (respx) or kill a worker on purpose know exactly which worker runs what."""
    port = free_port()
    env = dict(os.environ)
    env["MIRAGE_DATABASE_URL"] = role_urls.bootstrap.render_as_string(hide_password=False)
    env["MIRAGE_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    # The gateway is the simulator running in the test process (its loop serves it while
    # async tests await).
    env["MIRAGE_EVOLUTION_URL"] = world.sim.url
    env["MIRAGE_EVOLUTION_API_KEY"] = world.sim.config.api_key
    env["MIRAGE_LOGIN_RATE_PER_ACCOUNT"] = "5/minute"
    env["MIRAGE_API_RATE_PER_TENANT"] = "100000/minute"  # the schema fuzzer is fast
    log = open(_DATA / "live-server.log", "ab")  # noqa: SIM115 - closed at teardown
    api = subprocess.Popen(
        [sys.executable, "-m", "mirage", "api", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", api)
        yield LiveServer(url=f"http://127.0.0.1:{port}", process=api)
    finally:
        api.terminate()
        try:
            api.wait(timeout=15)
        except subprocess.TimeoutExpired:
            api.kill()
        log.close()


# --- the simulator as the gateway, and Mirage served over real HTTP in this loop -----------


@dataclass
class GatewayWorld:
    sim: Any  # mirage.simulator.testing.SimulatorHarness
    mirage_url: str
    worker: Any = None  # the in-process worker task

    def start_worker(self) -> None:
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(
                jobs.app.run_worker_async(
                    install_signal_handlers=False,
                    concurrency=4,
                    update_heartbeat_interval=2,
                    fetch_job_polling_interval=get_settings().job_poll_seconds,
                )
            )

    async def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
            self.worker = None


@pytest.fixture(scope="session")
async def world(app, database: db_engine.Database) -> AsyncIterator[GatewayWorld]:  # type: ignore[no-untyped-def]
    """Simulator (gateway + WhatsApp network) and Mirage on real sockets; webhooks flow
    simulator → Mirage over HTTP exactly as they would from Evolution."""
    from pydantic import SecretStr

    from mirage.instances.gateway import set_gateway
    from mirage.providers import EvolutionGateway
    from mirage.simulator.server import BackgroundServer
    from mirage.simulator.testing import SimulatorHarness, fast_config

    harness = SimulatorHarness(fast_config(api_key="world-key"))
    await harness.start()
    server = BackgroundServer(app)
    url = await server.start()
    settings = get_settings()
    settings.public_url = url
    settings.evolution_url = harness.url
    settings.evolution_api_key = SecretStr(harness.config.api_key)
    # Watched: a test fails when anything calls the gateway holding a database connection.
    real = EvolutionGateway(harness.url, harness.config.api_key)
    set_gateway(gateway_watch.WatchingGateway(real), simulator=True)  # type: ignore[arg-type]
    from mirage.instances import gateway as gateway_module

    gateway_watch.watch_function(gateway_module, "simulator_scan")
    # Mirage is an API *and* a worker: jobs the webhooks enqueue run here, in this loop.
    w = GatewayWorld(sim=harness, mirage_url=url)
    w.start_worker()
    try:
        yield w
    finally:
        await w.stop_worker()
        set_gateway(None)
        await server.stop()
        await harness.stop()


@pytest.fixture(autouse=True)
def _no_gateway_call_holding_a_connection() -> Iterator[None]:
    """Fails the test if a request, job or webhook called the gateway holding a database
    connection during it (tests/gateway_watch.py)."""
    gateway_watch.violations.clear()
    yield
    found = list(gateway_watch.violations)
    gateway_watch.violations.clear()
    assert not found, "\n\n".join(found)


@pytest.fixture
async def gw(world: GatewayWorld) -> GatewayWorld:
    await world.sim.reset()
    return world


@pytest.fixture
async def no_background_jobs(world: GatewayWorld) -> AsyncIterator[None]:
    """The session's in-process worker stops for the test, then resumes. Once any test of this
    process has started it, it runs every job any later test defers (a confirmation planned a
    tenth of a second ahead, an import): a test that asserts a state such a job would change,
    or runs the jobs itself, takes this fixture rather than racing it."""
    await world.stop_worker()
    try:
        yield
    finally:
        world.start_worker()


# The variables above that only a test process may set (Settings refuses them in production).
SUITE_ONLY_ENV = (
    "MIRAGE_TIME_SCALE",
    "MIRAGE_ARGON2_MEMORY_KIB",
    "MIRAGE_ARGON2_TIME_COST",
    "MIRAGE_ARGON2_PARALLELISM",
)


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read as a production process reads them: without the suite's overrides."""
    for name in SUITE_ONLY_ENV:
        monkeypatch.delenv(name, raising=False)


async def sql(conninfo: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Run one statement (autocommit) without blocking the event loop. The app, the simulator
    and a job worker run in the test's loop: a blocking write that waits for a row lock one of
    them holds would wait forever (tests/test_test_hygiene.py enforces this)."""
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute(query, args or None)  # type: ignore[arg-type]
        return await cur.fetchall() if cur.description else []


async def eventually(
    check,
    *,
    timeout_s: float = 30.0,
    what: Any = "condition",  # type: ignore[no-untyped-def]
    interval_s: float = 0.02,
):
    """Poll an async predicate until it holds (waiting on the system, not timing it: it
    returns as soon as the predicate holds, and the timeout only bounds how long a failure
    takes to be reported — generous, since on a loaded machine a job chain can take seconds).
    ``what``: its description, or a function giving one (what was found instead) when it
    times out."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(interval_s)
