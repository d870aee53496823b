"""`mirage demo`: everything a newcomer needs in one process, reusing its data across runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from mirage.auth import passwords
from mirage.auth.repository import UserRepository
from mirage.config import Settings
from mirage.db import engine as db_engine
from mirage.db.migrate import migrate
from mirage.kit import crypto
from mirage.kit.logging import get_logger
from mirage.models.tenancy import Role
from mirage.tenants import service as tenants
from mirage.tenants.repository import MembershipRepository

log = get_logger(__name__)

DEMO_EMAIL = "demo@mirage.local"
DEMO_TENANT = "Demo Agência"
DEMO_SLUG = "demo"


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal capture: the demo owns Ctrl-C for all its parts."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _credentials_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-credentials.json"


async def seed(settings: Settings) -> dict[str, str]:
    """Create the demo tenant and owner once; later runs reuse them (and their password)."""
    path = _credentials_file(settings)
    saved = json.loads(path.read_text()) if path.exists() else {}
    password = saved.get("password") or crypto.random_token(9)
    async with db_engine.session_scope() as session:
        users = UserRepository(session)
        user = await users.by_email(DEMO_EMAIL)
        if user is None:
            user = await tenants.create_user(
                session,
                email=DEMO_EMAIL,
                password=password,
                display_name="Demo Owner",
                locale="pt_BR",
            )
        elif not passwords.verify_password(user.password_hash, password):
            # Credentials file lost (e.g. external database): set a fresh known password.
            await users.set_password_hash(user.id, passwords.hash_password(password))
        from mirage.db.deps import bind_context

        await bind_context(session, tenant_id=None, user_id=user.id)
        if not await MembershipRepository(session).for_user(user.id):
            tenant = await tenants.create_tenant(session, name=DEMO_TENANT, slug=DEMO_SLUG)
            await tenants.add_member(session, tenant_id=tenant.id, user_id=user.id, role=Role.OWNER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"email": DEMO_EMAIL, "password": password}))
    path.chmod(0o600)
    return {"email": DEMO_EMAIL, "password": password}


async def run_demo(settings: Settings, *, host: str, port: int) -> None:
    from mirage.app import create_app
    from mirage.worker import run_worker

    urls = db_engine.resolve_urls(settings)
    migrate(urls)
    db = db_engine.make_database(
        urls, pool_size=settings.db_pool_size, application_name="mirage-demo"
    )
    db_engine.set_database(db)
    creds = await seed(settings)

    app = create_app(settings, manage_database=False)
    server = _QuietServer(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    worker = asyncio.create_task(
        run_worker(settings, install_signal_handlers=False, manage_database=False)
    )
    api = asyncio.create_task(server.serve())
    while not server.started and not api.done():  # noqa: ASYNC110 - uvicorn exposes a flag only
        await asyncio.sleep(0.05)
    if api.done():
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await db.dispose()
        raise SystemExit(f"could not start the web server on {host}:{port} (port in use?)")

    url = f"http://{host}:{port}"
    banner = [
        "",
        "  Mirage demo is running.",
        f"  Open {url} and sign in with:",
        f"    e-mail:   {creds['email']}",
        f"    password: {creds['password']}",
        "  Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(banner), flush=True)  # noqa: T201 - the one line a newcomer must see

    await stop.wait()
    print("  Stopping…", flush=True)  # noqa: T201
    server.should_exit = True
    worker.cancel()
    await asyncio.gather(api, worker, return_exceptions=True)
    await db.dispose()
    db_engine.set_database(None)
