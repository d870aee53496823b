"""A NUL character in any text is the client's mistake: 422 with a clear message and nothing
saved — never a 500 (PostgreSQL refuses NUL in text; web.errors.is_nul_text maps that refusal
for every route and form, whatever field it came through)."""

from __future__ import annotations

import httpx

from mirage.web.errors import is_nul_text
from tests.conftest import make_tenant, make_token


async def test_nul_in_api_text_is_a_422_and_nothing_is_saved(client: httpx.AsyncClient) -> None:
    t = await make_tenant()
    auth = {"Authorization": f"Bearer {await make_token(t)}"}
    r = await client.post("/api/v1/instances", headers=auth, json={"display_name": "Ana\x00"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in r.json()["detail"]
    listed = (await client.get("/api/v1/instances", headers=auth)).json()
    assert listed == []


def test_only_the_nul_refusal_is_recognised() -> None:
    import psycopg
    from sqlalchemy.exc import DBAPIError

    nul = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    wrapped = DBAPIError("insert ...", {}, nul)
    assert is_nul_text(nul) and is_nul_text(wrapped)
    try:
        try:
            raise nul
        except psycopg.DataError as inner:
            raise RuntimeError("while saving") from inner
    except RuntimeError as outer:
        assert is_nul_text(outer)
    assert not is_nul_text(psycopg.DataError("value too long for type character varying(80)"))
    assert not is_nul_text(ValueError("NUL"))
