"""`mirage demo`: everything a newcomer needs in one process, reusing its data across runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
import uvicorn
from pydantic import SecretStr

from mirage.ai.persona import DEFAULT_PERSONAS
from mirage.app import create_app as create_mirage_app
from mirage.auth import passwords
from mirage.auth.principal import ROLE_SCOPES, Principal
from mirage.auth.repository import UserRepository
from mirage.config import Settings
from mirage.contacts import service as contacts
from mirage.contacts.schemas import ContactIn
from mirage.conversations import service as conversations
from mirage.conversations.repository import ConversationRepository, RoundRepository
from mirage.conversations.schemas import ConversationIn, ParticipantIn
from mirage.conversations.windows import ALL_DAY, parse_windows
from mirage.db import engine as db_engine
from mirage.db.deps import bind_context
from mirage.db.migrate import migrate
from mirage.instances import service as instances
from mirage.instances.gateway import get_gateway, set_gateway, simulator_scan
from mirage.instances.repository import InstanceRepository
from mirage.kit import crypto
from mirage.kit.clock import utcnow
from mirage.kit.errors import Conflict
from mirage.kit.http import SERVER_KEEP_ALIVE_S
from mirage.kit.logging import configure_logging, get_logger
from mirage.models import Tenant
from mirage.models.tenancy import Role
from mirage.outreach import execution
from mirage.outreach import service as outreach
from mirage.outreach.schemas import CampaignIn, OutreachPolicyIn
from mirage.personas import service as personas
from mirage.personas.repository import PersonaRepository
from mirage.personas.schemas import Greetings, PersonaIn
from mirage.policy import WeeklyWindows, effective_windows
from mirage.providers import EvolutionGateway
from mirage.simulator import SimulatorClient, SimulatorConfig
from mirage.simulator import create_app as create_simulator_app
from mirage.simulator.server import BackgroundServer
from mirage.tenants import service as tenants
from mirage.tenants import settings as tenant_settings
from mirage.worker import run_worker

log = get_logger(__name__)

DEMO_EMAIL = "demo@mirage.local"
DEMO_TENANT = "Demo Agência"
DEMO_SLUG = "demo"
DEMO_CONVERSATION = "Aquecimento Vendas"
LOG_FILE_BYTES = 10 * 1024 * 1024


def configure_demo_logging(data_dir: Path) -> Path:
    """Everything the demo's parts log (requests, jobs, rounds, sends, the simulator), at INFO,
    into ``<data dir>/logs/demo.log`` (rotated at 10 MB, three kept); the terminal shows
    warnings and errors only, under the banner. Returns the log file's path."""
    path = (data_dir / "logs" / "demo.log").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_logging("INFO", json=False)  # the shared processor chain and renderer
    config = structlog.get_config()
    chain = list(config["processors"][:-1])  # without the renderer: the handlers render
    renderer = config["processors"][-1]
    structlog.configure(
        processors=[*chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )

    def handler(target: logging.Handler, level: int) -> logging.Handler:
        target.setLevel(level)
        target.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    renderer,
                ],
                foreign_pre_chain=chain,
            )
        )
        return target

    root = logging.getLogger()
    root.handlers[:] = [
        handler(logging.StreamHandler(sys.stderr), logging.WARNING),
        handler(
            RotatingFileHandler(path, maxBytes=LOG_FILE_BYTES, backupCount=3, encoding="utf-8"),
            logging.INFO,
        ),
    ]
    root.setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return path


def next_round_at(
    now: datetime,
    planned_at: datetime | None,
    *,
    running: bool,
    windows: WeeklyWindows,
    zone: ZoneInfo,
) -> datetime | None:
    """When the conversation's next round really starts: now when one is running; else its
    planned time, moved to the next open window when the policy would defer it (quiet hours,
    the conversation's windows). None when nothing is planned or nothing ever opens."""
    if running:
        return now
    if planned_at is None:
        return None
    start = max(now, planned_at).astimezone(zone)
    opened = windows.next_open(start)
    return opened.astimezone(UTC) if opened is not None else None


def next_round_line(now: datetime, at: datetime | None, zone: ZoneInfo) -> str:
    """The banner's line about the warm-up conversation, true to the planned time."""
    who = f"The warm-up conversation '{DEMO_CONVERSATION}' (Conversas)"
    if at is None:
        return f"  {who} has no round planned yet: the scheduler plans one shortly."
    wait = (at - now).total_seconds()
    if wait <= 60:
        return f"  {who} starts its next round within a minute."
    local = at.astimezone(zone)
    day = "today" if local.date() == now.astimezone(zone).date() else f"{local:%a %d/%m}"
    hours, rest = divmod(round(wait / 60), 60)
    span = f"{hours} h {rest:02d} min" if hours else f"{rest} min"
    return (
        f"  {who}: next round at {local:%H:%M} {day} ({zone.key}), in {span}"
        " — the policy (quiet hours, windows) defers it until then."
    )


async def read_next_round() -> tuple[datetime | None, ZoneInfo]:
    """The demo conversation's next round (see ``next_round_at``) and the tenant's zone."""
    async with db_engine.session_scope() as session:
        user = await UserRepository(session).by_email(DEMO_EMAIL)
        if user is None:
            return None, ZoneInfo("UTC")
        await bind_context(session, tenant_id=None, user_id=user.id)
        tenant_id = (await UserRepository(session).memberships(user.id))[0].tenant.id
        await bind_context(session, tenant_id=tenant_id, user_id=user.id)
        tenant = await session.get(Tenant, tenant_id)
        zone = ZoneInfo(tenant.timezone if tenant else "UTC")
        conversation = await ConversationRepository(session).by_name(DEMO_CONVERSATION)
        if conversation is None or tenant is None:
            return None, zone
        rnd = await RoundRepository(session).open_round(conversation.id)
        policy = tenant_settings.as_policy(
            await tenant_settings.get_or_create(session, tenant_id), tenant.timezone
        )
        windows = effective_windows(policy, parse_windows(conversation.windows))
        at = next_round_at(
            utcnow(),
            rnd.planned_at if rnd else None,
            running=rnd is not None and rnd.state == "running",
            windows=windows,
            zone=zone,
        )
        return at, zone


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
        await bind_context(session, tenant_id=None, user_id=user.id)
        if not await UserRepository(session).memberships(user.id):
            tenant = await tenants.create_tenant(session, name=DEMO_TENANT, slug=DEMO_SLUG)
            await tenants.add_member(session, tenant_id=tenant.id, user_id=user.id, role=Role.OWNER)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"email": DEMO_EMAIL, "password": password}))
    path.chmod(0o600)
    return {"email": DEMO_EMAIL, "password": password}


DEMO_NUMBERS = (
    # (name, phone, connected at start)
    ("Vendas 01", "5511987650001", True),
    ("Vendas 02", "5521987650002", True),
    ("Suporte 01", "5531987650003", False),
    ("Suporte 02", "5541987650004", False),
)


async def start_sandbox(settings: Settings, host: str, sim_port: int) -> tuple[Any, str]:
    """The simulator (gateway + WhatsApp network) as this demo's gateway, on ``sim_port``."""
    api_key = crypto.random_token(18)
    url = f"http://{host}:{sim_port}"
    server = BackgroundServer(
        create_simulator_app(SimulatorConfig(api_key=api_key, public_url=url)),
        host=host,
        port=sim_port,
    )
    await server.start()
    settings.evolution_url = url
    settings.evolution_api_key = SecretStr(api_key)
    set_gateway(EvolutionGateway(url, api_key), simulator=True)
    return server, url


async def seed_numbers() -> None:
    """Four simulated numbers in the demo tenant, two of them connected. The simulator keeps
    its state in memory, so later runs give it back the numbers Mirage already has."""
    to_pair: list[tuple[str, str, str]] = []
    async with db_engine.session_scope() as session:
        user = await UserRepository(session).by_email(DEMO_EMAIL)
        if user is None:
            raise RuntimeError("the demo user is missing: run the demo set-up again")
        await bind_context(session, tenant_id=None, user_id=user.id)
        tenant_id = (await UserRepository(session).memberships(user.id))[0].tenant.id
        await bind_context(session, tenant_id=tenant_id, user_id=user.id)
        principal = Principal(
            kind="user",
            tenant_id=tenant_id,
            role=Role.OWNER,
            user_id=user.id,
            scopes=ROLE_SCOPES[Role.OWNER],
        )
        existing = {i.display_name: i for i in await InstanceRepository(session).list()}
        for inst in existing.values():
            was_open = inst.connected and inst.phone
            await instances.provision(session, inst)
            if was_open:
                to_pair.append((inst.gateway_name, inst.phone or "", inst.display_name))
        for name, phone, connected in DEMO_NUMBERS:
            if name not in existing:
                created = await instances.create_instance(session, principal, display_name=name)
                if connected:
                    to_pair.append((created.gateway_name, phone, name))
    # Pair after the commit, so the webhooks find the rows they update.
    for gateway_name, phone, name in to_pair:
        await get_gateway().connect(gateway_name)
        await simulator_scan(gateway_name, number=phone, profile_name=name)
    # The "open" webhooks arrive a moment later; wait (briefly) so the banner is true.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while to_pair and loop.time() < deadline:
        async with db_engine.session_scope() as session:
            await bind_context(session, tenant_id=tenant_id, user_id=user.id)
            states = {i.gateway_name: i.connected for i in await InstanceRepository(session).list()}
        if all(states.get(g) for g, _, _ in to_pair):
            break
        await asyncio.sleep(0.2)


def mfa_lines(url: str) -> list[str]:
    """The banner's lines about two-factor authentication: mandatory for owners and admins
    (the demo user is an owner), the same rule as everywhere — no bypass in the demo."""
    return [
        "  Two-factor authentication is mandatory for owners: before adding or deleting a",
        f"  number, creating an API token or changing roles, open {url}/account/security,",
        "  scan the QR code with any authenticator app and enter the code it shows.",
    ]


def demo_quiet_hours(now_local: datetime) -> tuple[time, time]:
    """Six quiet hours, placed twelve hours away from now: the demo shows rounds at once
    whatever the hour, while quiet hours still exist, show in Configurações and are enforced."""
    start = (now_local + timedelta(hours=9)).replace(minute=0, second=0, microsecond=0)
    return start.time(), (start + timedelta(hours=6)).time()


async def seed_conversation() -> str | None:
    """Demo personas and one active conversation between the two connected numbers."""
    async with db_engine.session_scope() as session:
        user = await UserRepository(session).by_email(DEMO_EMAIL)
        if user is None:
            raise RuntimeError("the demo user is missing: run the demo set-up again")
        await bind_context(session, tenant_id=None, user_id=user.id)
        tenant_id = (await UserRepository(session).memberships(user.id))[0].tenant.id
        await bind_context(session, tenant_id=tenant_id, user_id=user.id)
        principal = Principal(
            kind="user",
            tenant_id=tenant_id,
            role=Role.OWNER,
            user_id=user.id,
            scopes=ROLE_SCOPES[Role.OWNER],
        )
        if await conversations.list_conversations(session, principal):
            return None
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise RuntimeError("the demo tenant is missing: run the demo set-up again")
        quiet_start, quiet_end = demo_quiet_hours(datetime.now(ZoneInfo(tenant.timezone)))
        # Demo cadence: short (a round in about a minute) but never zero.
        await tenant_settings.update_settings(
            session,
            principal,
            tenant_settings.CadenceSettings(
                timezone=tenant.timezone,
                delay_min_s=3,
                delay_max_s=12,
                quiet_start=quiet_start,
                quiet_end=quiet_end,
                hourly_cap_per_number=20,
                daily_cap_per_number=120,
                burst_per_hour=200,
                min_gap_seconds=5,
                reply_timeout_s=180,
                kill_switch=False,
            ),
        )
        created = []
        for spec in DEFAULT_PERSONAS:
            if await personas_repo_has(session, spec.name):
                continue
            created.append(
                await personas.create_persona(
                    session,
                    principal,
                    PersonaIn(
                        name=spec.name,
                        style=spec.style,
                        vocabulary=list(spec.vocabulary),
                        emoji_rate=spec.emoji_rate,
                        typo_rate=spec.typo_rate,
                        min_length=spec.min_length,
                        max_length=spec.max_length,
                        greetings=Greetings(**{k: list(v) for k, v in spec.greetings.items()}),
                    ),
                )
            )
        numbers = {i.display_name: i for i in await InstanceRepository(session).list()}
        first, second = numbers.get("Vendas 01"), numbers.get("Vendas 02")
        if first is None or second is None or len(created) < 2:
            return None
        await conversations.create_conversation(
            session,
            principal,
            ConversationIn(
                name=DEMO_CONVERSATION,
                participants=[
                    ParticipantIn(instance_id=first.id, persona_id=created[0].id),
                    ParticipantIn(instance_id=second.id, persona_id=created[1].id),
                ],
                topics=["futebol", "fim de semana", "trabalho", "comida", "séries"],
                rounds_per_window=40,
                windows=ALL_DAY,
            ),
        )
        return f"{quiet_start:%H:%M}–{quiet_end:%H:%M}"


DEMO_CAMPAIGN = "Campanha de ensaio"
DEMO_POLICY = "Ensaio (sandbox)"
DEMO_AUDIENCE_TAG = "ensaio"
#: Twelve simulated people (Rio de Janeiro mobiles) and how they behave: the simulator's
#: profiles (simulator/network/profiles.py) — three of them opt out, so the loop shows whole:
#: sends, receipts, replies, opt-outs with their one confirmation, a block, a skip.
DEMO_PEOPLE = [f"+552199100{i:04d}" for i in range(1, 13)]
# Different first names: the duplicate-content guard (the same text to many people in an hour)
# holds back a message that would be identical for everyone.
DEMO_NAMES = (
    "Ana Souza",
    "Bruno Lima",
    "Carla Dias",
    "Diego Alves",
    "Elisa Rocha",
    "Fábio Nunes",
    "Gabi Torres",
    "Hugo Melo",
    "Isabel Cruz",
    "João Pires",
    "Karina Reis",
    "Lucas Moraes",
)
DEMO_MIX = {"responsive": 4.0, "silent": 3.0, "leaver": 3.0, "blocker": 1.0, "absent": 1.0}


async def seed_sandbox_campaign(sim_url: str, api_key: str) -> str | None:
    """A small sandbox campaign to simulated contacts, started once: contacts with consent
    tagged ``ensaio``, an outreach policy, the campaign from the two connected numbers. The
    simulator forgets its people on restart, so they are set up again on every run. Every send
    still goes through the policy engine; nothing here bypasses a rule."""
    async with SimulatorClient(sim_url, api_key) as sim:
        await sim.populate([p.lstrip("+") for p in DEMO_PEOPLE], DEMO_MIX, seed=11)
    async with db_engine.session_scope() as session:
        user = await UserRepository(session).by_email(DEMO_EMAIL)
        if user is None:
            raise RuntimeError("the demo user is missing: run the demo set-up again")
        await bind_context(session, tenant_id=None, user_id=user.id)
        tenant_id = (await UserRepository(session).memberships(user.id))[0].tenant.id
        await bind_context(session, tenant_id=tenant_id, user_id=user.id)
        principal = Principal(
            kind="user",
            tenant_id=tenant_id,
            role=Role.OWNER,
            user_id=user.id,
            scopes=ROLE_SCOPES[Role.OWNER],
        )
        if any(c.name == DEMO_CAMPAIGN for c in await outreach.list_campaigns(session, principal)):
            return None
        numbers = {i.display_name: i for i in await InstanceRepository(session).list()}
        pool = [numbers[n].id for n in ("Vendas 01", "Vendas 02") if n in numbers]
        if not pool:
            return None
        for i, phone in enumerate(DEMO_PEOPLE, start=1):
            try:
                async with session.begin_nested():
                    await contacts.create_contact(
                        session,
                        principal,
                        ContactIn(
                            phone=phone,
                            name=DEMO_NAMES[i - 1],
                            legal_basis="consent",
                            provenance_source="demo: simulated contact",
                            tags=[DEMO_AUDIENCE_TAG],
                        ),
                    )
            except Conflict:
                pass  # kept from an earlier run
        tag = next(
            t for t in await contacts.list_tags(session, principal) if t.name == DEMO_AUDIENCE_TAG
        )
        policies = {p.name: p for p in await outreach.list_policies(session, principal)}
        policy = policies.get(DEMO_POLICY) or await outreach.create_policy(
            session,
            principal,
            OutreachPolicyIn(
                name=DEMO_POLICY,
                weekdays=list(range(7)),
                contact_start=time(0),
                contact_end=time(0),
                skip_holidays=False,
            ),
        )
        campaign = await outreach.create_campaign(
            session,
            principal,
            CampaignIn(
                name=DEMO_CAMPAIGN,
                policy_id=policy.id,
                variants=[
                    "{Oi|Olá} {primeiro_nome}! {Esta é|Segue} uma mensagem de ensaio da Mirage.",
                    "{primeiro_nome:Oi}, tudo bem? {Mensagem|Recado} de teste no sandbox.",
                ],
                include_tag_ids=[tag.id],
            ),
        )
        await execution.start_campaign(
            session, principal, campaign.id, execution.StartPlan(sender_ids=pool), utcnow()
        )
        return DEMO_CAMPAIGN


async def personas_repo_has(session: Any, name: str) -> bool:
    return await PersonaRepository(session).by_name(name) is not None


async def run_demo(settings: Settings, *, host: str, port: int, sim_port: int) -> None:
    log_file = configure_demo_logging(settings.data_dir)
    log.info("demo.starting", data_dir=str(settings.data_dir.resolve()), port=port)
    urls = db_engine.resolve_urls(settings)
    migrate(urls)
    db = db_engine.make_database(
        urls, pool_size=settings.db_pool_size, application_name="mirage-demo"
    )
    db_engine.set_database(db)
    creds = await seed(settings)
    sandbox, sim_url = await start_sandbox(settings, host, sim_port)

    app = create_mirage_app(settings, manage_database=False)
    server = _QuietServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise.
            proxy_headers=bool(settings.trusted_proxies.strip()),
            forwarded_allow_ips=[str(n) for n in settings.trusted_proxy_networks],
            lifespan="on",
            timeout_graceful_shutdown=3,
            timeout_keep_alive=SERVER_KEEP_ALIVE_S,
        )
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
        await sandbox.stop()
        await db.dispose()
        raise SystemExit(f"could not start the web server on {host}:{port} (port in use?)")
    await seed_numbers()
    quiet = await seed_conversation()
    key = settings.evolution_api_key
    campaign = await seed_sandbox_campaign(sim_url, key.get_secret_value() if key else "")
    # A restarted demo may find its round deferred (quiet hours now): say when it really runs.
    # The worker plans a round a moment after start; read what it planned.
    at, zone = await read_next_round()
    for _ in range(20):
        if at is not None:
            break
        await asyncio.sleep(0.25)
        at, zone = await read_next_round()

    url = f"http://{host}:{port}"
    banner = [
        "",
        "  Mirage demo is running.",
        f"  Open {url} and sign in with:",
        f"    e-mail:   {creds['email']}",
        f"    password: {creds['password']}",
        f"  The WhatsApp gateway is the built-in simulator ({sim_url}): a safe sandbox.",
        *mfa_lines(url),
        next_round_line(utcnow(), at, zone),
        *([f"  Demo quiet hours: {quiet} (Configurações)."] if quiet else []),
        *(
            [f"  A sandbox campaign to simulated people is running: {url}/campaigns"]
            if campaign
            else []
        ),
        f"  Logs (requests, jobs, rounds, sends): {log_file}",
        "  Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(banner), flush=True)  # noqa: T201 - the one line a newcomer must see

    log.info("demo.started", url=url, log_file=str(log_file))
    await stop.wait()
    print("  Stopping…", flush=True)  # noqa: T201
    log.info("demo.stopping")
    server.should_exit = True
    worker.cancel()
    await asyncio.gather(api, worker, return_exceptions=True)
    await sandbox.stop()
    await db.dispose()
    db_engine.set_database(None)
