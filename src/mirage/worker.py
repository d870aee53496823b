"""The worker process: runs procrastinate jobs (and periodic tasks) against the same database."""

from __future__ import annotations

import asyncio
import socket

from mirage.config import Settings
from mirage.db import engine as db_engine
from mirage.kit import jobs
from mirage.kit.logging import get_logger

log = get_logger(__name__)


async def run_worker(
    settings: Settings,
    *,
    concurrency: int = 4,
    install_signal_handlers: bool = True,
    manage_database: bool = True,
    wait: bool = True,
) -> None:
    owned = False
    if manage_database:
        urls = db_engine.resolve_urls(settings)
        db_engine.set_database(
            db_engine.make_database(
                urls, pool_size=concurrency + 2, application_name="mirage-worker"
            )
        )
        owned = True
    db = db_engine.get_database()
    pool = await jobs.open_app(db.urls.libpq(db.urls.app), max_size=concurrency + 3)
    name = f"{socket.gethostname()}:{id(asyncio.get_running_loop()):x}"
    log.info("worker.started", concurrency=concurrency, name=name)
    try:
        await jobs.app.run_worker_async(
            concurrency=concurrency,
            install_signal_handlers=install_signal_handlers,
            name=name,
            wait=wait,
            update_heartbeat_interval=5,
            fetch_job_polling_interval=settings.job_poll_seconds,
            shutdown_graceful_timeout=10,
        )
    finally:
        await jobs.close_app(pool)
        if owned:
            await db.dispose()
            db_engine.set_database(None)
        log.info("worker.stopped")
