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
