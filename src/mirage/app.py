"""The API process: dashboard pages, /api/v1, /webhooks, /health and /metrics in one ASGI app."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession

from mirage import __version__
from mirage.auth import mfa_views, passwords
from mirage.auth import router as auth_api
from mirage.auth import views as auth_views
from mirage.auth.deps import stream_viewer
from mirage.config import Settings, get_settings
from mirage.contacts import imports_router as contact_imports_api
from mirage.contacts import router as contacts_api
from mirage.contacts import views as contacts_views
from mirage.conversations import router as conversations_api
from mirage.conversations import service as conversations
from mirage.conversations import views as conversations_views
from mirage.db import engine as db_engine
from mirage.instances import router as instances_api
from mirage.instances import service as instances_service
from mirage.instances import views as instances_views
from mirage.instances.gateway import close_gateway
from mirage.kit import cache as read_cache
from mirage.kit import jobs
from mirage.kit.logging import configure_logging, get_logger
from mirage.kit.middleware import BodyLimitMiddleware, RequestContextMiddleware
from mirage.kit.ratelimit import RateLimiter
from mirage.messaging import service as messaging
from mirage.metrics import router as metrics_api
from mirage.metrics import views as metrics_views
from mirage.ops import router as ops_router
from mirage.outreach import campaign_views
from mirage.outreach import router as outreach_api
from mirage.outreach import views as outreach_views
from mirage.personas import router as personas_api
from mirage.personas import views as personas_views
from mirage.safety import alerts as safety_alerts
from mirage.safety import router as safety_api
from mirage.safety import service as safety_service
from mirage.safety import views as safety_views
from mirage.tenants import audit_router as audit_api
from mirage.tenants import audit_views, overview, team_views
from mirage.tenants import router as tenants_api
from mirage.tenants import team_router as team_api
from mirage.tenants import views as tenant_views
from mirage.web.errors import install_api_handlers, install_page_handlers
from mirage.web.streams import live_hub, set_authoriser
from mirage.webhooks import router as webhooks_router

log = get_logger(__name__)

API_DESCRIPTION = """
Mirage's HTTP API. Authenticate with a tenant API token: `Authorization: Bearer mrg_…`
(create one in the dashboard under Configurações → API tokens, or with `POST /tokens`).
Errors are RFC 9457 problem+json documents.
"""

# Swagger UI for /api/v1/docs, vendored under web/static (npm's swagger-ui-dist): the page must
# work without reaching a CDN (FastAPI's default loads it from jsDelivr, a blank page offline).
SWAGGER_UI = "vendor/swagger-ui-5.35.0"
API_PREFIX = "/api/v1"


# Every router the app serves; tests walk these (e.g. the cross-tenant probe).
API_ROUTERS = (
    auth_api.router,
    tenants_api.router,
    team_api.router,
    audit_api.router,
    instances_api.router,
    personas_api.router,
    conversations_api.router,
    contacts_api.router,
    contact_imports_api.router,
    outreach_api.router,
    outreach_api.campaigns,
    metrics_api.router,
    safety_api.router,
)
PAGE_ROUTERS = (
    auth_views.router,
    mfa_views.router,
    tenant_views.router,
    team_views.router,
    audit_views.router,
    instances_views.router,
    personas_views.router,
    conversations_views.router,
    contacts_views.router,
    outreach_views.router,
    campaign_views.router,
    metrics_views.router,
    safety_views.router,
)
# Machine-facing routes: no cookies, so no CSRF; authenticated by their own means.
MACHINE_ROUTERS = (ops_router.router,)


def create_api(settings: Settings) -> FastAPI:
    api = FastAPI(
        title="Mirage API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,  # served below, with local assets
        redoc_url=None,
    )

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")  # …/api/v1 (mounted)
        static = root.removesuffix(API_PREFIX) + "/static/" + SWAGGER_UI
        return get_swagger_ui_html(
            openapi_url=root + "/openapi.json",
            title="Mirage API",
            swagger_js_url=f"{static}/swagger-ui-bundle.js",
            swagger_css_url=f"{static}/swagger-ui.css",
            swagger_favicon_url=f"{static}/favicon-32x32.png",
        )

    for router in API_ROUTERS:
        api.include_router(router)
    api.state.api_routes = [r for router in API_ROUTERS for r in router.routes]
    install_api_handlers(api)
    return api


async def _fleet_risk(session: AsyncSession, now: datetime) -> overview.RiskPart:
    """The overview's risk part, read by the safety domain (which sits above tenants/)."""
    by_band, at_risk = await safety_service.fleet_risk(session, now)
    return overview.RiskPart(by_band, at_risk, await safety_alerts.count_open(session))


def create_app(settings: Settings | None = None, *, manage_database: bool = True) -> FastAPI:
    """Build the ASGI app. ``manage_database=False`` when the caller already set the database."""
    settings = settings or get_settings()
    set_authoriser(stream_viewer)  # live streams are for signed-in users (auth decides)
    tenant_views.add_settings_section(
        "decisions", lambda session: messaging.recent_decisions(session, 15)
    )
    # The Numbers page's and API's sends against the caps: the messaging domain's counts.
    instances_service.provide_usage(messaging.usage)
    # The overview's parts owned by domains above tenants/.
    overview.provide(
        sends=messaging.overview_sends,
        conversations=conversations.overview,
        risk=_fleet_risk,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = False
        if manage_database:
            urls = db_engine.resolve_urls(settings)
            if settings.database_url is None:
                # The embedded server is ours: keep it migrated. An external server is
                # migrated explicitly with `mirage migrate`. Lazy (not a cycle): Alembic is
                # loaded only when the embedded server is used.
                from mirage.db.migrate import migrate

                migrate(urls)
            db_engine.set_database(
                db_engine.make_database(
                    urls, pool_size=settings.db_pool_size, application_name="mirage-api"
                )
            )
            owned = True
        db = db_engine.get_database()
        pool = await jobs.open_app(db.urls.libpq(db.urls.app), max_size=2)
        # The sign-in of an unknown e-mail verifies against a dummy hash: make it now, so the
        # first such sign-in takes as long as any other.
        await asyncio.to_thread(passwords.warm)
        # Everything built so far (modules, routes, templates, ORM mappers: ~250k objects)
        # lives as long as the process: move it out of the collector's sight, so a full
        # collection walks only what requests create (measured: 50-200 ms pauses before).
        gc.collect()
        gc.freeze()
        log.info("api.started", public_url=settings.public_url)
        try:
            yield
        finally:
            gc.unfreeze()
            await live_hub(app).close()
            await read_cache.listener.close()
            await close_gateway()
            await app.state.rate_limiter.aclose()
            await jobs.close_app(pool)
            if owned:
                await db.dispose()
                db_engine.set_database(None)

    app = FastAPI(
        title="Mirage", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    # Shared in Redis when configured; per process (stricter) while that Redis is down.
    app.state.rate_limiter = RateLimiter(
        settings.redis_url, fallback_replicas=settings.redis_fallback_replicas
    )
    api = create_api(settings)
    api.state.rate_limiter = app.state.rate_limiter
    app.mount(API_PREFIX, api)
    app.mount(
        "/static",
        StaticFiles(directory=str(resources.files("mirage") / "web" / "static")),
        name="static",
    )
    app.router.routes.extend(webhooks_router.ROUTES)
    for router in (*MACHINE_ROUTERS, *PAGE_ROUTERS):
        app.include_router(router)
    install_page_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # CSV uploads (the file is checked against the same limit as it is stored).
        overrides=dict.fromkeys(
            ("/api/v1/contact-imports", "/contacts/imports/upload"),
            settings.contact_import_max_bytes + 64 * 1024,
        ),
    )
    app.add_middleware(RequestContextMiddleware)
    return app


def asgi() -> FastAPI:
    """Entry point for `uvicorn mirage.app:asgi --factory`."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
