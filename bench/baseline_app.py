"""The baseline: a bare FastAPI endpoint that inserts the body into PostgreSQL and answers.

Same server (uvicorn), same driver (SQLAlchemy async + psycopg 3), same database: the
difference to Mirage's receiver is everything Mirage adds (auth, RLS context, validation,
normalization, idempotent upserts, logging, metrics).
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(os.environ["BASELINE_DATABASE_URL"], pool_size=10, max_overflow=10)
app = FastAPI()


@app.post("/ingest")
async def ingest(request: Request) -> JSONResponse:
    body = await request.body()
    async with engine.begin() as conn:
        await conn.execute(
            text("insert into bench_baseline (payload) values (cast(:p as jsonb))"),
            {"p": body.decode()},
        )
    return JSONResponse({"received": True})


@app.get("/instances")
async def instances(tenant: str) -> JSONResponse:
    """bench/api_latency.py's bare read: one transaction that sets the tenant (RLS) and reads
    its numbers, as JSON."""
    async with engine.begin() as conn:
        await conn.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": tenant})
        rows = await conn.execute(
            text(
                "select id, display_name, phone, state, health from instances order by display_name"
            )
        )
        body = [
            {
                "id": str(r.id),
                "name": r.display_name,
                "phone": r.phone,
                "state": r.state,
                "health": r.health,
            }
            for r in rows
        ]
    return JSONResponse(body)
