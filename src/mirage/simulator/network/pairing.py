"""Instance lifecycle: creation, pairing and the connection state machine.

close → connecting with rotating QR codes (Baileys qrTimeout, refused at ``qr_limit``) → a scan
→ the 515 restart → open. Transient drops reconnect silently; terminal codes (and bans) close
the session and need a new QR. Every transition emits the webhooks Evolution would send.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mirage.simulator import jids
from mirage.simulator.errors import SimError
from mirage.simulator.network.core import NetState, valid_number
from mirage.simulator.network.state import (
    PAIRING_RESTART_S,
    RECONNECT_S,
    TERMINAL_CODES,
    Instance,
    QRSession,
    iso_now,
)
from mirage.simulator.network.views import control_view, state_payload
from mirage.simulator.qr import new_pairing_code, new_qr_code, qr_data_url
from mirage.simulator.webhooks import WebhookConfig


class Pairing:
    """Creates instances and drives their connection state machine."""

    def __init__(self, net: NetState) -> None:
        self.net = net

    def create_instance(
        self,
        *,
        name: str,
        token: str | None,
        webhook: dict[str, Any] | None,
        settings: dict[str, Any],
        number: str | None,
    ) -> Instance:
        now = iso_now()
        inst = Instance(
            name=name,
            id=self.net.new_uuid(),
            token=token or self.net.new_token(),
            created_at=now,
            updated_at=now,
            pairing_number=jids.digits(number) if number else None,
        )
        inst.settings.update(settings)
        if webhook is not None:
            inst.webhook = self._webhook_row(inst, webhook, enabled=True)
        self.net.instances[name] = inst
        self.net.emit(inst, "instance.create", {"instanceName": inst.name, "instanceId": inst.id})
        return inst

    def _webhook_row(self, inst: Instance, spec: dict[str, Any], *, enabled: bool) -> WebhookConfig:
        now = iso_now()
        previous = inst.webhook
        return WebhookConfig(
            id=previous.id if previous else self.net.cuid(),
            instance_id=inst.id,
            url=str(spec.get("url") or ""),
            enabled=enabled,
            events=list(spec.get("events") or []) if enabled else [],
            by_events=bool(spec.get("byEvents", False)),
            base64=bool(spec.get("base64", False)),
            headers={str(k): str(v) for k, v in (spec.get("headers") or {}).items()},
            created_at=previous.created_at if previous else now,
            updated_at=now,
        )

    def set_webhook(self, inst: Instance, spec: dict[str, Any]) -> WebhookConfig:
        inst.webhook = self._webhook_row(inst, spec, enabled=bool(spec.get("enabled")))
        return inst.webhook

    async def connect(self, inst: Instance, number: str | None, *, wait_s: float) -> dict[str, Any]:
        if inst.state == "open":
            return state_payload(inst)
        if number:
            inst.pairing_number = jids.digits(number)
            inst.qr.pairing_code = new_pairing_code(self.net.rng)
        if inst.state == "close":
            self.start_pairing(inst)
            delay = self.net.scaled(wait_s)
            if delay > 0:
                await asyncio.sleep(delay)  # Evolution waits for the socket to produce a QR
            if inst.state == "open":
                return state_payload(inst)
        return inst.qr.payload()

    def start_pairing(self, inst: Instance) -> None:
        """close → connecting: the socket starts and shows its first QR (rendered lazily)."""
        inst.state = "connecting"
        inst.qr.count = 0
        self.net.emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        self._next_qr(inst)

    def _next_qr(self, inst: Instance) -> None:
        """A QR rotation (Baileys qrTimeout); at QRCODE_LIMIT the session is refused."""
        if inst.state != "connecting" or inst.paired:
            return
        if inst.qr.count >= self.net.config.qr_limit:
            self._refuse(inst)
            return
        inst.qr.count += 1
        inst.qr.code = new_qr_code(self.net.rng)
        inst.qr.png = None
        if inst.webhook is not None and inst.webhook.wants("qrcode.updated"):
            session = inst.qr
            session.emitting = self.net.scheduler.spawn(
                self._emit_qr(inst, session, inst.qr.code, after=session.emitting)
            )
        inst.qr.timer = self.net.scheduler.call_later(
            self.net.config.qr_interval_s, lambda: self._next_qr(inst)
        )

    async def _emit_qr(
        self,
        inst: Instance,
        session: QRSession,
        code: str,
        *,
        after: asyncio.Task[None] | None,
    ) -> None:
        # Render off the event loop: a PNG costs ~3 ms and a fleet rotates many per second.
        # Like Evolution, every code shown is announced, in order, even when the next one was
        # already generated while this one rendered (a loaded machine renders slowly).
        data_url = await asyncio.to_thread(qr_data_url, code)
        if after is not None:
            await asyncio.gather(after, return_exceptions=True)
        if self.net.instances.get(inst.name) is not inst or not (
            inst.qr is session or session.refused
        ):
            return  # scanned, logged out or deleted while rendering: this pairing is over
        if session.code == code:
            session.png = (code, data_url)
        qrcode = {
            "instance": inst.name,
            "pairingCode": inst.qr.pairing_code,
            "code": code,
            "base64": data_url,
        }
        self.net.emit(inst, "qrcode.updated", {"qrcode": qrcode})

    def _refuse(self, inst: Instance) -> None:
        refused: dict[str, Any] = {"instance": inst.name, "state": "refused", "statusReason": 428}
        if inst.sender_jid:
            refused.update(
                wuid=inst.sender_jid,
                profileName=inst.profile_name,
                profilePictureUrl=inst.picture_url(self.net.config.public_url),
            )
        # Evolution's ``no.connection`` handler logs the socket out and resets the QR count.
        self._cancel_timers(inst)
        inst.state = "close"
        session, inst.qr = inst.qr, QRSession()
        session.refused = True  # its codes were shown: they are still announced, then this
        self.net.scheduler.spawn(self._announce_refusal(inst, session.emitting, refused))

    async def _announce_refusal(
        self, inst: Instance, after: asyncio.Task[None] | None, refused: dict[str, Any]
    ) -> None:
        if after is not None:
            await asyncio.gather(after, return_exceptions=True)
        if self.net.instances.get(inst.name) is not inst:
            return
        self.net.emit(
            inst,
            "qrcode.updated",
            {"message": "QR code limit reached, please login again", "statusCode": 500},
        )
        self.net.emit(inst, "connection.update", refused)

    def _cancel_timers(self, inst: Instance) -> None:
        if inst.qr.timer is not None:
            inst.qr.timer.cancel()
            inst.qr.timer = None
        if inst.link_timer is not None:
            inst.link_timer.cancel()
            inst.link_timer = None

    def scan(self, inst: Instance, number: str | None, profile_name: str | None) -> dict[str, Any]:
        """The phone scans the displayed QR (or types the pairing code)."""
        if inst.state != "connecting" or inst.paired or inst.qr.code is None:
            raise SimError(
                409, [f'The "{inst.name}" instance is not showing a QR code; call connect first']
            )
        chosen = valid_number(number) if number else None
        chosen = chosen or inst.pairing_number or inst.number or self.net.allocate_number()
        acct = self.net.accounts.get(chosen)
        if acct is not None and acct.instance not in (None, inst.name):
            raise SimError(
                409, [f"The number {chosen} is already linked to instance {acct.instance!r}"]
            )
        if acct is not None and acct.banned:
            raise SimError(403, [f"The number {chosen} is banned"])
        if inst.number and inst.number != chosen:
            self._release_number(inst)
        acct = self.net.account(chosen)
        acct.instance = inst.name
        acct.contact = None
        inst.number = chosen
        inst.profile_name = profile_name or inst.profile_name or inst.name
        acct.name = inst.profile_name
        inst.paired = True
        self._cancel_timers(inst)
        inst.qr = QRSession()
        # WhatsApp answers a fresh pairing with a 515 restartRequired: Evolution reconnects
        # silently, so the receiver sees ``connecting`` then ``open``.
        self.net.emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        inst.link_timer = self.net.after(PAIRING_RESTART_S, lambda: self._open(inst))
        return control_view(self.net, inst)

    def _open(self, inst: Instance) -> None:
        if self.net.instances.get(inst.name) is not inst or not inst.paired:
            return
        inst.link_timer = None
        inst.state = "open"
        inst.updated_at = iso_now()
        inst.sender_jid = inst.owner_jid
        self.net.emit(
            inst,
            "connection.update",
            {
                "instance": inst.name,
                "wuid": inst.owner_jid,
                "profileName": inst.profile_name,
                "profilePictureUrl": inst.picture_url(self.net.config.public_url),
                "state": "open",
                "statusReason": 200,
            },
        )
        self.net.flush_pending(inst)

    def _release_number(self, inst: Instance) -> None:
        if (
            inst.number
            and (acct := self.net.accounts.get(inst.number))
            and acct.instance == inst.name
        ):
            acct.instance = None

    def disconnect(self, inst: Instance, code: int, *, reconnect: bool = True) -> dict[str, Any]:
        """The socket closes with a Baileys DisconnectReason code."""
        if not inst.paired:
            raise SimError(409, [f'The "{inst.name}" instance has no WhatsApp session to drop'])
        if code in TERMINAL_CODES:
            self._terminal_close(inst, code)
            return control_view(self.net, inst)
        # Transient: Evolution reconnects without telling anyone the socket was closed.
        self._cancel_timers(inst)
        inst.state = "connecting"
        inst.zombie = False
        self.net.emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "connecting", "statusReason": 200},
        )
        if reconnect:
            inst.link_timer = self.net.after(RECONNECT_S, lambda: self._open(inst))
        return control_view(self.net, inst)

    def _terminal_close(self, inst: Instance, code: int) -> None:
        self._cancel_timers(inst)
        now = iso_now()
        inst.disconnection_reason_code = code
        inst.disconnection_at = now
        # Evolution stores Baileys' lastDisconnect (a Boom error) as a JSON string.
        inst.disconnection_object = json.dumps(
            {
                "error": {
                    "data": None,
                    "isBoom": True,
                    "isServer": False,
                    "output": {"statusCode": code, "payload": {"statusCode": code}},
                },
                "date": now,
            },
            separators=(",", ":"),
        )
        self.net.emit(
            inst,
            "status.instance",
            {
                "instance": inst.name,
                "status": "closed",
                "disconnectionAt": now,
                "disconnectionReasonCode": code,
                "disconnectionObject": inst.disconnection_object,
            },
        )
        self.net.emit(inst, "logout.instance", None)
        inst.state = "close"
        inst.paired = False
        inst.zombie = False
        inst.qr = QRSession()
        self.net.emit(
            inst,
            "connection.update",
            {"instance": inst.name, "state": "close", "statusReason": code},
        )

    def restart(self, inst: Instance) -> dict[str, Any]:
        if inst.state == "close":
            # Evolution catches its own BadRequestException and stringifies the object.
            return {"error": True, "message": "[object Object]"}
        inst.zombie = False  # a fresh socket: this is why "restart" is the first recovery step
        if inst.paired:
            self._cancel_timers(inst)
            inst.state = "connecting"
            self.net.emit(
                inst,
                "connection.update",
                {"instance": inst.name, "state": "connecting", "statusReason": 200},
            )
            inst.link_timer = self.net.after(RECONNECT_S, lambda: self._open(inst))
            return state_payload(inst)
        # Unpaired: a new socket, new QR; the count carries on like Evolution's.
        if inst.qr.timer is not None:
            inst.qr.timer.cancel()
        self._next_qr(inst)
        return inst.qr.payload()

    def logout(self, inst: Instance) -> None:
        if inst.state == "close":
            raise SimError(400, [f'The "{inst.name}" instance is not connected'])
        if inst.paired:
            self._terminal_close(inst, 401)
        else:
            self._cancel_timers(inst)
            inst.state = "close"
            inst.qr = QRSession()
            self.net.emit(
                inst,
                "connection.update",
                {"instance": inst.name, "state": "close", "statusReason": 401},
            )

    def delete(self, inst: Instance) -> None:
        if inst.state != "close":
            self.logout(inst)
        self.net.emit(inst, "instance.delete", {"instanceName": inst.name, "instanceId": inst.id})
        self.net.emit(inst, "remove.instance", None)
        self._cancel_timers(inst)
        self._release_number(inst)
        del self.net.instances[inst.name]

    def ban(self, inst: Instance, code: int) -> dict[str, Any]:
        if inst.number is None:
            raise SimError(409, [f'The "{inst.name}" instance has never been paired'])
        self.net.accounts[inst.number].banned = True
        if inst.paired:
            self._terminal_close(inst, code)
        return control_view(self.net, inst)

    def unban(self, inst: Instance) -> dict[str, Any]:
        if inst.number is not None:
            self.net.accounts[inst.number].banned = False
        return control_view(self.net, inst)

    def set_zombie(self, inst: Instance, zombie: bool) -> None:
        inst.zombie = zombie
        self.net.flush_pending(inst)
