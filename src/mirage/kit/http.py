"""Keep-alive on both ends: how long a pooled HTTP connection may sit idle and still be
reused by every client Mirage builds (the gateway's, the simulator's, egress to tenants' URLs),
and how long Mirage's own servers keep one open.

A server closes a keep-alive connection that has idled past its own timeout — Node's default,
and so Evolution API's, is 5 s; uvicorn's (the simulator, Mirage's API) is 5 s too. A client
that reuses the connection at that very moment writes its request into a closing socket and
gets a reset with no answer. For a send that is an outcome nobody can know (the round ends
"unknown"; a full test run hit it once in a few). httpx's own default idle reuse is also 5 s,
so the two clocks race. Reusing a connection only while it is well inside any such server's
timeout removes the race; a new connection to a nearby gateway costs far less than an
ambiguous send.

The same race, the other way round, is why Mirage's servers (`mirage api`, `mirage demo`)
keep an idle connection longer than their clients reuse one: httpx, most SDKs and a load
balancer in front (60 s idle by default on the common ones) must always be the side that
closes first.
"""

from __future__ import annotations

from typing import Final

import httpx

#: Idle seconds after which a pooled connection is dropped instead of reused. Below the
#: shortest keep-alive timeout of the servers Mirage talks to (Node/Evolution 5 s, uvicorn
#: 5 s), with room for an event loop that runs late on a loaded machine.
IDLE_REUSE_S: Final = 2.0


#: Idle seconds Mirage's own HTTP servers keep a connection open: above the idle reuse of its
#: clients (httpx 5 s, a load balancer's 60 s), so the client always closes first. The
#: simulator keeps uvicorn's 5 s, like Evolution's Node server: it keeps our clients honest.
SERVER_KEEP_ALIVE_S: Final = 65


def limits(*, max_connections: int | None = 100, max_keepalive: int | None = 20) -> httpx.Limits:
    """Pool limits whose idle reuse is `IDLE_REUSE_S` (httpx's defaults otherwise)."""
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=IDLE_REUSE_S,
    )
