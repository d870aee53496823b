"""The Evolution API v2 surface: same paths, ``apikey`` auth, guard order, status codes,
validation messages and error envelope as the real gateway (reference/evolution-api.md).
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from mirage.simulator.config import EVOLUTION_VERSION
from mirage.simulator.errors import SimError, bad_request, instance_missing, unauthorized
from mirage.simulator.network import (
    CONNECT_QR_WAIT_S,
    CREATE_QR_WAIT_S,
    DEFAULT_SETTINGS,
    INTEGRATION,
    PRESENCES,
    Instance,
    Network,
)
from mirage.simulator.webhooks import EVENTS

router = APIRouter()

INTEGRATIONS = ("WHATSAPP-BAILEYS", "WHATSAPP-BUSINESS", "EVOLUTION")
WA_WEB_VERSION = "2.3000.1028950219"


def network(request: Request) -> Network:
    net: Network = request.app.state.network
    return net


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def is_global_key(request: Request) -> bool:
    return _same(request.headers.get("apikey"), network(request).config.api_key)


def guard(request: Request, name: str) -> Instance:
    """Evolution's guard order: the instance must exist (404) before the key is checked (401)."""
    inst = network(request).get(name)
    if inst is None:
        raise instance_missing(name)
    if not (is_global_key(request) or _same(request.headers.get("apikey"), inst.token)):
        raise unauthorized()
    return inst


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}  # Express' body parser yields {} and the schema then names what is missing
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", 0)
        raise bad_request(f"Unexpected token in JSON at position {pos}") from exc
    if not isinstance(body, dict):
        raise bad_request("instance is not of a type(s) object")
    return body


# --- JSON-schema style validation (messages as Evolution's jsonschema validator words them) ---


def _required(body: dict[str, Any], field: str, where: str = "instance") -> Any:
    if body.get(field) is None:
        raise bad_request(f'{where} requires property "{field}"')
    return body[field]


def _type_error(field: str, kind: str, where: str = "instance") -> SimError:
    return bad_request(f"{where}.{field} is not of a type(s) {kind}")


def _opt_str(body: dict[str, Any], field: str, where: str = "instance") -> str | None:
    value = body.get(field)
    if value is not None and not isinstance(value, str):
        raise _type_error(field, "string", where)
    return value


def _opt_bool(body: dict[str, Any], field: str, where: str = "instance") -> bool | None:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        raise _type_error(field, "boolean", where)
    return value


def _opt_int(body: dict[str, Any], field: str, where: str = "instance") -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise _type_error(field, "integer", where)
    return int(value)


def _number(body: dict[str, Any]) -> str:
    value = _required(body, "number")
    if not isinstance(value, str) or not value.strip():
        raise bad_request("Invalid format")
    return value


def _presence(body: dict[str, Any]) -> str:
    value = _required(body, "presence")
    if value not in PRESENCES:
        raise bad_request(f"instance.presence is not one of enum values: {','.join(PRESENCES)}")
    return str(value)


def _events(spec: dict[str, Any], where: str) -> list[str]:
    events = spec.get("events")
    if events is None:
        # Evolution dereferences ``events.length`` without a check (reference §3.1 gotchas).
        raise bad_request("Cannot read properties of undefined (reading 'length')")
    if not isinstance(events, list):
        raise _type_error("events", "array", where)
    for i, event in enumerate(events):
        if event not in EVENTS:
            raise bad_request(f"{where}.events[{i}] is not one of enum values: {','.join(EVENTS)}")
    return list(events)


def _webhook_spec(raw: Any, where: str = "instance.webhook") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request(f"{where} is not of a type(s) object")
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise bad_request(f'{where} requires property "url"')
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise bad_request(f"{where}.headers is not of a type(s) object")
    spec: dict[str, Any] = {
        "url": url,
        "headers": headers,
        "byEvents": bool(_opt_bool(raw, "byEvents", where)),
        "base64": bool(_opt_bool(raw, "base64", where)),
        "enabled": raw.get("enabled", True),
    }
    spec["events"] = _events(raw, where)
    return spec


# --------------------------------------------------------------------------- general


@router.get("/")
async def root(request: Request) -> JSONResponse:
    base = network(request).config.public_url
    return JSONResponse(
        {
            "status": 200,
            "message": "Welcome to the Evolution API, it is working!",
            "version": EVOLUTION_VERSION,
            "clientName": "evolution_exchange",
            "manager": f"{base}/manager",
            "documentation": "https://doc.evolution-api.com",
            "whatsappWebVersion": WA_WEB_VERSION,
        }
    )


@router.post("/verify-creds")
async def verify_creds(request: Request) -> JSONResponse:
    if not is_global_key(request):
        raise unauthorized()
    return JSONResponse(
        {
            "status": 200,
            "message": "Credentials are valid",
            "facebookAppId": None,
            "facebookConfigId": None,
            "facebookUserToken": None,
        }
    )


# --------------------------------------------------------------------------- instances


@router.post("/instance/create")
async def create_instance(request: Request) -> JSONResponse:
    net = network(request)
    body = await json_body(request)
    name = body.get("instanceName")
    # The name guard runs before authentication: a duplicate is 403 even with a bad key.
    if isinstance(name, str) and net.get(name) is not None:
        raise SimError(403, [f'This name "{name}" is already in use.'])
    if not is_global_key(request):
        raise unauthorized()
    name = _required(body, "instanceName")
    if not isinstance(name, str):
        raise _type_error("instanceName", "string")
    if not name.strip():
        raise bad_request("instance.instanceName does not meet minimum length of 1")
    integration = body.get("integration")
    if integration not in INTEGRATIONS:
        raise bad_request("Invalid integration")
    if integration != INTEGRATION:
        raise bad_request(f"Integration {integration} is not simulated; use {INTEGRATION}")
    token = _opt_str(body, "token")
    qrcode = bool(_opt_bool(body, "qrcode"))
    number = _opt_str(body, "number")
    settings: dict[str, Any] = {}
    for key, default in DEFAULT_SETTINGS.items():
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, type(default)):
            raise _type_error(key, "string" if isinstance(default, str) else "boolean")
        settings[key] = value
    webhook = _webhook_spec(body["webhook"]) if body.get("webhook") is not None else None

    inst = net.create_instance(
        name=name, token=token or None, webhook=webhook, settings=settings, number=number
    )
    qr: dict[str, Any] | None = None
    if qrcode:
        qr = await net.connect(inst, number, wait_s=CREATE_QR_WAIT_S)
        qr = qr if "count" in qr else {"count": 0}
    wh = inst.webhook
    response: dict[str, Any] = {
        "instance": {
            "instanceName": inst.name,
            "instanceId": inst.id,
            "integration": INTEGRATION,
            "webhookWaBusiness": None,
            "accessTokenWaBusiness": "",
            "status": "connecting" if qrcode else "close",
        },
        "hash": inst.token,
        "webhook": (
            {
                "webhookUrl": wh.url,
                "webhookHeaders": dict(wh.headers),
                "webhookByEvents": wh.by_events,
                "webhookBase64": wh.base64,
            }
            if wh is not None
            else {}
        ),
        "websocket": {},
        "rabbitmq": {},
        "nats": {},
        "sqs": {},
        "settings": {**inst.settings, "wavoipToken": ""},
    }
    if qr is not None:
        response["qrcode"] = qr
    return JSONResponse(response, status_code=201)


@router.get("/instance/connect/{name}")
async def connect(name: str, request: Request, number: str | None = None) -> JSONResponse:
    inst = guard(request, name)
    payload = await network(request).connect(inst, number or None, wait_s=CONNECT_QR_WAIT_S)
    return JSONResponse(payload)


@router.get("/instance/connectionState/{name}")
async def connection_state(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    return JSONResponse(network(request).state_payload(inst))


@router.get("/instance/fetchInstances")
async def fetch_instances(
    request: Request,
    instance_name: Annotated[str | None, Query(alias="instanceName")] = None,
    instance_id: Annotated[str | None, Query(alias="instanceId")] = None,
    number: str | None = None,
) -> JSONResponse:
    net = network(request)
    instances = list(net.instances.values())
    if not is_global_key(request):
        key = request.headers.get("apikey")
        instances = [i for i in instances if _same(key, i.token)]
        if not instances:
            raise unauthorized()
    if instance_name is not None:
        instances = [i for i in instances if i.name == instance_name]
        if not instances:
            raise SimError(404, [f'Instance "{instance_name}" not found'])
    if instance_id is not None:
        instances = [i for i in instances if i.id == instance_id]
    if number is not None:
        instances = [i for i in instances if number in (i.number, i.pairing_number)]
    return JSONResponse([net.instance_row(i) for i in instances])


@router.post("/instance/restart/{name}")
async def restart(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    return JSONResponse(network(request).restart(inst))


@router.post("/instance/setPresence/{name}")
async def set_presence(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    presence = _presence(await json_body(request))
    inst.presence = presence
    return JSONResponse({"presence": presence}, status_code=201)


@router.delete("/instance/logout/{name}")
async def logout(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    network(request).logout(inst)
    return JSONResponse(
        {"status": "SUCCESS", "error": False, "response": {"message": "Instance logged out"}}
    )


@router.delete("/instance/delete/{name}")
async def delete(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    network(request).delete(inst)
    return JSONResponse(
        {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
    )


# --------------------------------------------------------------------------- messaging


@router.post("/message/sendText/{name}")
async def send_text(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    body = await json_body(request)
    number = _number(body)
    text = _required(body, "text")
    if not isinstance(text, str):
        raise _type_error("text", "string")
    if not text.strip():
        raise bad_request("Text is required")
    delay = _opt_int(body, "delay") or 0
    _opt_bool(body, "linkPreview")
    quoted = body.get("quoted")
    quoted_id: str | None = None
    if quoted is not None:
        key = quoted.get("key") if isinstance(quoted, dict) else None
        if not isinstance(key, dict) or not isinstance(key.get("id"), str):
            raise bad_request('instance.quoted.key requires property "id"')
        quoted_id = key["id"]
    mentioned = body.get("mentioned") or []
    if not isinstance(mentioned, list) or not all(isinstance(m, str) for m in mentioned):
        raise _type_error("mentioned", "array")
    record = await network(request).send_text(
        inst, number=number, text=text, delay_ms=delay, quoted_id=quoted_id, mentioned=mentioned
    )
    return JSONResponse(record, status_code=201)


@router.post("/chat/sendPresence/{name}")
async def send_presence(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    body = await json_body(request)
    number = _number(body)
    presence = _presence(body)
    _required(body, "delay")
    delay = _opt_int(body, "delay") or 0
    result = await network(request).send_presence(
        inst, number=number, presence=presence, delay_ms=delay
    )
    return JSONResponse(result, status_code=201)


@router.post("/chat/markMessageAsRead/{name}")
async def mark_message_as_read(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    body = await json_body(request)
    keys = _required(body, "readMessages")
    if not isinstance(keys, list):
        raise _type_error("readMessages", "array")
    for i, key in enumerate(keys):
        if not isinstance(key, dict):
            raise bad_request(f"instance.readMessages[{i}] is not of a type(s) object")
        for field in ("id", "fromMe", "remoteJid"):
            if key.get(field) is None:
                raise bad_request(f'instance.readMessages[{i}] requires property "{field}"')
    network(request).mark_read(inst, keys)
    return JSONResponse({"message": "Read messages", "read": "success"}, status_code=201)


@router.post("/chat/whatsappNumbers/{name}")
async def whatsapp_numbers(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    body = await json_body(request)
    numbers = _required(body, "numbers")
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise _type_error("numbers", "array")
    return JSONResponse(network(request).check_numbers(inst, numbers))


# --------------------------------------------------------------------------- webhook config


@router.post("/webhook/set/{name}")
async def set_webhook(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    body = await json_body(request)
    raw = _required(body, "webhook")
    if not isinstance(raw, dict):
        raise bad_request("instance.webhook is not of a type(s) object")
    enabled = _required(raw, "enabled", "instance.webhook")
    if not isinstance(enabled, bool):
        raise _type_error("enabled", "boolean", "instance.webhook")
    if enabled and raw.get("events") is None:
        # Evolution crashes on ``events.length`` here and answers 500 (reference §3.3).
        raise SimError(500, ["Cannot read properties of undefined (reading 'length')"])
    spec = _webhook_spec(raw if enabled else {**raw, "events": []})
    spec["enabled"] = enabled
    row = network(request).set_webhook(inst, spec)
    return JSONResponse(row.as_row(), status_code=201)


@router.get("/webhook/find/{name}")
async def find_webhook(name: str, request: Request) -> JSONResponse:
    inst = guard(request, name)
    return JSONResponse(inst.webhook.as_row() if inst.webhook else None)
