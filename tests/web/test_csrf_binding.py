"""CSRF tokens are bound to the session: a token from elsewhere (an anonymous sign-in page,
another user's session) planted in a signed-in victim's cookie and form is refused on every
unsafe dashboard route, discovered from the app's routers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import GatewayWorld, make_tenant, sign_in
from tests.web.dashboard import UNSAFE, client_for, fill, page_routes, seed


def _cookie_header(**cookies: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


async def _anonymous_token(app: Any) -> str:
    async with client_for(app) as c:
        await c.get("/signin")
        token = c.cookies.get("mirage_csrf")
        assert token
        return token


async def _post_as(
    app: Any, path: str, session: str, cookie_token: str, form_token: str
) -> httpx.Response:
    # A client with an empty jar: exactly the cookies a (victim's) browser would send.
    async with client_for(app) as c:
        return await c.post(
            path,
            data={"csrf_token": form_token, "name": "x", "lang": "en"},
            headers=_cookie_header(mirage_session=session, mirage_csrf=cookie_token),
        )


async def test_anonymous_token_planted_in_a_signed_in_victim_is_refused(app: Any) -> None:
    planted = await _anonymous_token(app)  # the attacker's, from GET /signin
    async with client_for(app) as victim:
        t = await make_tenant()
        await victim.get("/signin")
        before = victim.cookies.get("mirage_csrf")
        own = await sign_in(victim, t)
        session = victim.cookies.get("mirage_session")
        assert session and before and own != before  # rotated on sign-in
    for token in (planted, before):
        r = await _post_as(app, "/settings/tokens", session, token, token)
        assert r.status_code == 403, r.text[:300]
        # The header HTMX uses is checked the same way.
        async with client_for(app) as c:
            r = await c.post(
                "/language",
                data={"lang": "en"},
                headers={
                    **_cookie_header(mirage_session=session, mirage_csrf=token),
                    "X-CSRF-Token": token,
                },
            )
            assert r.status_code == 403
    # The normal flow: the victim's own (session-bound) token works.
    r = await _post_as(app, "/language", session, own, own)
    assert r.status_code == 303
    async with client_for(app) as c:
        r = await c.post(
            "/settings/tokens",
            data={"name": "mine", "scopes": "read", "expires_in_days": "1", "csrf_token": own},
            headers=_cookie_header(mirage_session=session, mirage_csrf=own),
        )
        assert r.status_code == 201, r.text[:300]


async def test_an_anonymous_token_is_bound_to_its_browser(app: Any) -> None:
    """Login CSRF: the attacker's anonymous token (from their own sign-in page) planted in
    another browser's cookie and form is refused; each browser's own token works."""
    t = await make_tenant()
    async with client_for(app) as attacker, client_for(app) as victim:
        await attacker.get("/signin")
        planted = attacker.cookies.get("mirage_csrf")
        await victim.get("/signin")
        own = victim.cookies.get("mirage_csrf")
        presession = victim.cookies.get("mirage_presession")
        assert planted and own and presession and planted != own
    creds = {"email": t.email, "password": t.password}
    async with client_for(app) as c:
        r = await c.post(
            "/signin",
            data={**creds, "csrf_token": planted},
            headers=_cookie_header(mirage_presession=presession, mirage_csrf=planted),
        )
        assert r.status_code == 403
        # No pre-session cookie at all: no token is valid.
        r = await c.post(
            "/signin",
            data={**creds, "csrf_token": planted},
            headers=_cookie_header(mirage_csrf=planted),
        )
        assert r.status_code == 403
        r = await c.post(
            "/signin",
            data={**creds, "csrf_token": own},
            headers=_cookie_header(mirage_presession=presession, mirage_csrf=own),
        )
        assert r.status_code == 303


async def test_sign_out_rotates_the_token(app: Any) -> None:
    async with client_for(app) as c:
        own = await sign_in(c, await make_tenant())
        r = await c.post("/signout", data={"csrf_token": own})
        assert r.status_code == 303
        after = c.cookies.get("mirage_csrf")
        assert after and after != own
        # The anonymous sign-in form works with the new token, not with the old one.
        t = await make_tenant()
        r = await c.post(
            "/signin", data={"email": t.email, "password": t.password, "csrf_token": own}
        )
        assert r.status_code == 403
        r = await c.post(
            "/signin", data={"email": t.email, "password": t.password, "csrf_token": after}
        )
        assert r.status_code == 303


async def test_every_unsafe_route_refuses_a_foreign_or_anonymous_token(
    gw: GatewayWorld, app: Any
) -> None:
    async with client_for(app) as victim, client_for(app) as other:
        s = await seed(victim)
        session = victim.cookies.get("mirage_session")
        assert session
        foreign = await sign_in(other, await make_tenant())  # valid, but another session's
        anonymous = await _anonymous_token(app)
        routes = page_routes(UNSAFE)
        assert len(routes) >= 10
        for route in routes:
            path = fill(route.path, s.ids)
            for cookie_token, form_token in (
                (anonymous, anonymous),
                (foreign, foreign),
                (s.csrf, anonymous),  # own cookie, someone else's form value
                (s.csrf, ""),
            ):
                r = await _post_as(app, path, session, cookie_token, form_token)
                assert r.status_code == 403, (path, r.status_code, r.text[:300])
        # ... while the victim's own token still passes the check (here: a harmless route).
        r = await _post_as(app, "/language", session, s.csrf, s.csrf)
        assert r.status_code == 303
