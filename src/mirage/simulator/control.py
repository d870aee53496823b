"""``/_sim``: the simulator's own control plane, outside Evolution's namespace.

Scan a QR, type on a handset, configure external contacts, inject faults, inspect what the
network did. Everything but ``GET /_sim/info`` requires the global ``apikey``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from mirage.simulator.avatar import avatar_png
from mirage.simulator.config import EVOLUTION_VERSION, TUNABLE_FIELDS, SimulatorConfig
from mirage.simulator.degradation import Degradation, plan_from_json
from mirage.simulator.errors import SimError, bad_request, instance_missing, unauthorized
from mirage.simulator.evolution import is_global_key, json_body, network
from mirage.simulator.network import Contact, Instance, RequestFaults, profiles
from mirage.simulator.webhooks import WebhookFaults

SIMULATOR_NAME = "mirage-simulator"


def require_key(request: Request) -> None:
    if not is_global_key(request):
        raise unauthorized()


router = APIRouter(prefix="/_sim")
guarded = APIRouter(prefix="/_sim", dependencies=[Depends(require_key)])


def _instance(request: Request, name: str) -> Instance:
    inst = network(request).get(name)
    if inst is None:
        raise instance_missing(name)
    return inst


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) and kind is not bool:
        raise bad_request(f"{name} has the wrong type")
    if not isinstance(value, kind):
        raise bad_request(f"{name} has the wrong type")
    return value


def _rate(body: dict[str, Any], name: str) -> float:
    value = float(_field(body, name, (int, float), 0.0))
    if not 0.0 <= value <= 1.0:
        raise bad_request(f"{name} must be between 0 and 1")
    return value


def _non_negative(body: dict[str, Any], name: str) -> float:
    value = float(_field(body, name, (int, float), 0.0))
    if value < 0:
        raise bad_request(f"{name} must be >= 0")
    return value


def _request_faults(body: dict[str, Any]) -> RequestFaults:
    status = _field(body, "errorStatus", int, 500)
    if not 400 <= status <= 599:
        raise bad_request("errorStatus must be an HTTP error status (400-599)")
    mode = _field(body, "errorMode", str, "mixed")
    if mode not in ("before", "after", "mixed"):
        raise bad_request("errorMode must be one of before, after, mixed")
    return RequestFaults(
        latency_ms=_non_negative(body, "latencyMs"),
        spike_rate=_rate(body, "spikeRate"),
        spike_ms=_non_negative(body, "spikeMs"),
        error_rate=_rate(body, "errorRate"),
        error_status=status,
        error_mode=mode,
    )


def _faults_view(request: Request) -> dict[str, Any]:
    net = network(request)
    return {
        **net.faults.as_json(),
        "webhookDuplicateRate": net.webhooks.faults.duplicate_rate,
        "webhookReorderMs": net.webhooks.faults.reorder_ms,
    }


# --------------------------------------------------------------------------- info and state


@router.get("/info")
async def info(request: Request) -> JSONResponse:
    """Unauthenticated on purpose: the dashboard asks it to decide whether to show "scan"."""
    net = network(request)
    return JSONResponse(
        {
            "simulator": True,
            "name": SIMULATOR_NAME,
            "evolutionVersion": EVOLUTION_VERSION,
            "instances": len(net.instances),
            "contacts": sum(1 for a in net.accounts.values() if a.contact is not None),
        }
    )


@router.get("/avatars/{number}.png")
async def avatar(number: str) -> Response:
    """Profile pictures, public like WhatsApp's CDN URLs."""
    if not number.isdigit() or len(number) > 20:
        raise SimError(404, [f"Cannot GET /_sim/avatars/{number}.png"])
    return Response(avatar_png(number), media_type="image/png")


@guarded.post("/reset")
async def reset(request: Request) -> JSONResponse:
    body = await json_body(request)
    net = network(request)
    changes = body.get("config")
    if changes is not None:
        net.config = _patched_config(net.config, changes)
    await net.reset()
    return JSONResponse({"reset": True, "config": _config_view(net.config)})


def _config_view(config: SimulatorConfig) -> dict[str, Any]:
    return {camel: getattr(config, attr) for camel, attr in TUNABLE_FIELDS.items()}


def _patched_config(config: SimulatorConfig, changes: Any) -> SimulatorConfig:
    if not isinstance(changes, dict):
        raise bad_request("config must be an object")
    unknown = sorted(set(changes) - set(TUNABLE_FIELDS))
    if unknown:
        raise bad_request(f"not tunable: {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for camel, value in changes.items():
        attr = TUNABLE_FIELDS[camel]
        current = getattr(config, attr)
        ok = (
            isinstance(value, bool)
            if isinstance(current, bool)
            else (isinstance(value, int | float) and not isinstance(value, bool))
        )
        if not ok:
            raise bad_request(f"{camel} has the wrong type")
        kwargs[attr] = type(current)(value)
    try:
        return config.with_changes(**kwargs)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


@guarded.get("/config")
async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(_config_view(network(request).config))


@guarded.put("/config")
async def put_config(request: Request) -> JSONResponse:
    net = network(request)
    net.config = _patched_config(net.config, await json_body(request))
    return JSONResponse(_config_view(net.config))


@guarded.get("/stats")
async def stats(request: Request) -> JSONResponse:
    return JSONResponse(network(request).stats())


@guarded.get("/instances")
async def list_instances(request: Request) -> JSONResponse:
    net = network(request)
    return JSONResponse([net.control_view(i) for i in net.instances.values()])


@guarded.get("/instances/{name}")
async def get_instance(name: str, request: Request) -> JSONResponse:
    return JSONResponse(network(request).control_view(_instance(request, name)))


# --------------------------------------------------------------------------- the handset


@guarded.post("/instances/{name}/scan")
async def scan(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    number = _field(body, "number", str, None)
    profile = _field(body, "profileName", str, None)
    return JSONResponse(network(request).scan(inst, number, profile))


@guarded.post("/instances/{name}/disconnect")
async def disconnect(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    code = _field(body, "statusCode", int, None)
    if code is None:
        raise bad_request("statusCode is required (e.g. 401, 403, 408, 428, 440, 500, 515)")
    reconnect = _field(body, "reconnect", bool, True)
    return JSONResponse(network(request).disconnect(inst, code, reconnect=reconnect))


@guarded.post("/instances/{name}/ban")
async def ban(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    code = _field(body, "statusCode", int, 403)
    return JSONResponse(network(request).ban(inst, code))


@guarded.delete("/instances/{name}/ban")
async def unban(name: str, request: Request) -> JSONResponse:
    return JSONResponse(network(request).unban(_instance(request, name)))


@guarded.put("/instances/{name}/faults")
async def put_instance_faults(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    inst.faults = _request_faults(body)
    network(request).set_zombie(inst, bool(_field(body, "zombie", bool, False)))
    return JSONResponse(network(request).control_view(inst))


@guarded.put("/instances/{name}/degradation")
async def put_degradation(name: str, request: Request) -> JSONResponse:
    """Degrade the number when it writes to too many strangers (mirage.simulator.degradation):
    rising failures, then the 463 time lock, then a ban. Sending it again starts over."""
    inst = _instance(request, name)
    inst.degradation = Degradation(plan_from_json(await json_body(request)))
    return JSONResponse(inst.degradation.as_json())


@guarded.delete("/instances/{name}/degradation")
async def delete_degradation(name: str, request: Request) -> JSONResponse:
    _instance(request, name).degradation = None
    return JSONResponse({"degradation": None})


@guarded.delete("/instances/{name}/faults")
async def delete_instance_faults(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    inst.faults = None
    network(request).set_zombie(inst, False)
    return JSONResponse(network(request).control_view(inst))


@guarded.put("/instances/{name}/handset")
async def put_handset(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    inst.auto_read = bool(_field(body, "autoRead", bool, inst.auto_read))
    device = _field(body, "device", str, inst.device)
    if device not in ("android", "ios", "web", "desktop"):
        raise bad_request("device must be one of android, ios, web, desktop")
    inst.device = device
    return JSONResponse(network(request).control_view(inst))


@guarded.post("/instances/{name}/phone/send")
async def phone_send(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    to = _field(body, "to", str, None)
    text = _field(body, "text", str, None)
    if not to or not text:
        raise bad_request('"to" and "text" are required')
    return JSONResponse(network(request).phone_send(inst, to, text), status_code=201)


@guarded.post("/instances/{name}/inbound")
async def inbound(name: str, request: Request) -> JSONResponse:
    inst = _instance(request, name)
    body = await json_body(request)
    sender = _field(body, "from", str, None)
    text = _field(body, "text", str, None)
    if not sender or not text:
        raise bad_request('"from" and "text" are required')
    data = network(request).inbound(
        inst,
        sender=sender,
        text=text,
        push_name=_field(body, "pushName", str, None),
        lid=_field(body, "lid", bool, None),
        group=_field(body, "group", str, None),
    )
    return JSONResponse(data, status_code=201)


# --------------------------------------------------------------------------- contacts


@guarded.get("/contacts")
async def list_contacts(request: Request) -> JSONResponse:
    net = network(request)
    return JSONResponse(
        [net.contact_view(a) for a in net.accounts.values() if a.contact is not None]
    )


@guarded.put("/contacts/{number}")
async def put_contact(number: str, request: Request) -> JSONResponse:
    body = await json_body(request)
    behavior = _field(body, "behavior", str, "ignore")
    if behavior not in ("reply", "ignore", "optout", "block"):
        raise bad_request("behavior must be one of reply, ignore, optout, block")
    probability = _field(body, "replyProbability", (int, float), 1.0)
    if not 0 <= probability <= 1:
        raise bad_request("replyProbability must be between 0 and 1")
    delay_ms = _field(body, "replyDelayMs", (int, float), None)
    if delay_ms is not None and delay_ms < 0:
        raise bad_request("replyDelayMs must be >= 0")
    device = _field(body, "device", str, "android")
    if device not in ("android", "ios", "web", "desktop"):
        raise bad_request("device must be one of android, ios, web, desktop")
    contact = Contact(
        behavior=behavior,
        reads=_field(body, "reads", bool, True),
        exists=_field(body, "exists", bool, True),
        lid_addressing=_field(body, "lidAddressing", bool, False),
        reply_text=_field(body, "replyText", str, None),
        optout_text=_field(body, "optoutText", str, "PARAR"),
        reply_delay_s=None if delay_ms is None else delay_ms / 1000,
        device=device,
        reply_probability=float(probability),
        human_delay=_field(body, "humanDelay", bool, False),
    )
    net = network(request)
    acct = net.upsert_contact(number, _field(body, "name", str, None), contact)
    return JSONResponse(net.contact_view(acct))


@guarded.post("/contacts/population")
async def populate_contacts(request: Request) -> JSONResponse:
    """A crowd of contacts for ``numbers`` behaving by a mix of profiles (``mix``: weights of
    responsive, silent, leaver, blocker, absent, and ``reply_probability``)."""
    body = await json_body(request)
    numbers = _field(body, "numbers", list, None)
    if not numbers or not all(isinstance(n, str) for n in numbers):
        raise bad_request('"numbers" must be a non-empty list of phone numbers')
    if len(numbers) > 10_000:
        raise bad_request('"numbers": at most 10000 at a time')
    spec = _field(body, "mix", dict, {})
    unknown = set(spec) - {f.name for f in dataclasses.fields(profiles.Mix)}
    if unknown:
        raise bad_request(f"mix: unknown profile(s) {', '.join(sorted(unknown))}")
    mix = profiles.Mix(**spec)
    problems = mix.problems()
    if problems:
        raise bad_request(f"mix: {'; '.join(problems)}")
    seed = _field(body, "seed", int, None)
    net = network(request)
    made = net.populate_contacts(numbers, mix, seed)
    return JSONResponse([net.contact_view(a) for a in made], status_code=201)


@guarded.delete("/contacts/{number}")
async def delete_contact(number: str, request: Request) -> JSONResponse:
    if not network(request).remove_contact(number):
        raise SimError(404, [f"No simulated contact {number}"])
    return JSONResponse({"deleted": True})


@guarded.post("/contacts/{number}/send")
async def contact_send(number: str, request: Request) -> JSONResponse:
    body = await json_body(request)
    to = _field(body, "to", str, None)
    text = _field(body, "text", str, None)
    if not to or not text:
        raise bad_request('"to" (an instance name or number) and "text" are required')
    return JSONResponse(network(request).contact_send(number, to, text), status_code=201)


# --------------------------------------------------------------------------- faults and logs


@guarded.get("/faults")
async def get_faults(request: Request) -> JSONResponse:
    return JSONResponse(_faults_view(request))


@guarded.put("/faults")
async def put_faults(request: Request) -> JSONResponse:
    body = await json_body(request)
    net = network(request)
    net.faults = _request_faults(body)
    net.webhooks.faults = WebhookFaults(
        duplicate_rate=_rate(body, "webhookDuplicateRate"),
        reorder_ms=_non_negative(body, "webhookReorderMs"),
    )
    return JSONResponse(_faults_view(request))


@guarded.delete("/faults")
async def delete_faults(request: Request) -> JSONResponse:
    net = network(request)
    net.faults = RequestFaults()
    net.webhooks.faults = WebhookFaults()
    for inst in net.instances.values():
        inst.faults = None
        net.set_zombie(inst, False)
    return JSONResponse(_faults_view(request))


@guarded.get("/messages")
async def messages(
    request: Request,
    instance: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> JSONResponse:
    entries = list(network(request).message_log)
    if instance is not None:
        entries = [e for e in entries if instance in (e["fromInstance"], e["toInstance"])]
    return JSONResponse(entries[-limit:])


@guarded.get("/webhooks")
async def webhooks(
    request: Request,
    instance: str | None = None,
    event: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> JSONResponse:
    entries = [d.summary() for d in network(request).webhooks.log]
    if instance is not None:
        entries = [e for e in entries if e["instance"] == instance]
    if event is not None:
        entries = [e for e in entries if e["event"] == event]
    return JSONResponse(entries[-limit:])


__all__ = ["SIMULATOR_NAME", "guarded", "router"]
