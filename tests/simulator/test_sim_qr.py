"""QR codes: real PNG symbols of the advertised code; they rotate, then are refused."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib

import segno

from mirage.simulator.qr import mask_for, qr_data_url
from mirage.simulator.testing import SimulatorHarness

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCALE, BORDER = 4, 3  # Evolution's qrcode.toDataURL options


def decode_png_1bit(png: bytes) -> tuple[int, int, list[list[int]]]:
    """A minimal decoder for segno's 1-bit greyscale PNGs (all five row filters)."""
    assert png[:8] == PNG_SIGNATURE
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, color, interlace) == (1, 0, 0), "expected 1-bit greyscale, not interlaced"
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8
    rows: list[list[int]] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - 1] if i else 0
            up, up_left = prev[i], prev[i - 1] if i else 0
            if ftype == 1:
                line[i] = (line[i] + left) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + up) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif ftype == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        prev = line
    return width, height, rows


def assert_png_encodes(data_url: str, code: str) -> None:
    assert data_url.startswith("data:image/png;base64,")
    png = base64.b64decode(data_url.split(",", 1)[1])
    width, height, pixels = decode_png_1bit(png)
    assert width == height
    modules = width // SCALE - 2 * BORDER
    assert width == (modules + 2 * BORDER) * SCALE
    assert (modules - 17) % 4 == 0, "a QR symbol is 17 + 4·version modules wide"
    # Sample the centre of every module: dark pixels are 0 in a greyscale PNG.
    seen = [
        [
            1 - pixels[(BORDER + r) * SCALE + SCALE // 2][(BORDER + c) * SCALE + SCALE // 2]
            for c in range(modules)
        ]
        for r in range(modules)
    ]
    symbol = segno.make(code, error="l", micro=False, boost_error=False, mask=mask_for(code))
    assert [list(row) for row in symbol.matrix] == seen, "the PNG is not the QR symbol of `code`"


async def test_qr_is_a_png_of_the_advertised_code(sim: SimulatorHarness) -> None:
    created = await sim.create("a", qrcode=True)
    qr = created["qrcode"]
    assert qr["count"] == 1
    assert qr["code"].startswith("2@") and qr["code"].count(",") == 3  # WhatsApp's QR payload
    assert_png_encodes(qr["base64"], qr["code"])
    event = await sim.recorder.wait_event("a", "qrcode.updated")
    assert event.data["qrcode"]["code"] == qr["code"]
    assert_png_encodes(event.data["qrcode"]["base64"], qr["code"])


async def test_qr_rotates_with_count_and_is_refused_after_the_limit(sim: SimulatorHarness) -> None:
    await sim.reset(qrIntervalS=0.1, qrLimit=4)
    await sim.create("a")
    first = (await sim.http.get("/instance/connect/a")).json()
    assert first["count"] == 1
    refused = await sim.recorder.wait_event(
        "a", "connection.update", lambda d: d["state"] == "refused", timeout_s=10
    )
    assert refused.data["statusReason"] == 428

    qr_events = [d.data for d in sim.recorder.accepted(instance="a", event="qrcode.updated")]
    codes = [d["qrcode"]["code"] for d in qr_events if "qrcode" in d]
    assert len(codes) == 4 and len(set(codes)) == 4  # one new code per rotation, up to the limit
    assert codes[0] == first["code"]
    for data in qr_events:
        if "qrcode" in data:
            assert_png_encodes(data["qrcode"]["base64"], data["qrcode"]["code"])
    assert qr_events[-1] == {
        "message": "QR code limit reached, please login again",
        "statusCode": 500,
    }

    # The session is closed: scanning is impossible, connect starts over at count 1.
    state = (await sim.http.get("/instance/connectionState/a")).json()
    assert state["instance"]["state"] == "close"
    scan = await sim.http.post("/_sim/instances/a/scan", json={})
    assert scan.status_code == 409
    again = (await sim.http.get("/instance/connect/a")).json()
    assert again["count"] == 1 and again["code"] not in codes


async def test_connect_reports_the_current_count(sim: SimulatorHarness) -> None:
    # The simulator renders each QR off the event loop and drops a code that rotated while it
    # was rendering (as a busy fleet would). Render once first (the first render pays for
    # imports) and rotate slowly enough that no code is dropped on a loaded machine, so the
    # n-th event really is the n-th code.
    await asyncio.to_thread(qr_data_url, "warm-up")
    await sim.reset(qrIntervalS=0.5, qrLimit=30)
    await sim.create("a")
    await sim.http.get("/instance/connect/a")
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="a", event="qrcode.updated")) >= 3, what="3 QR codes"
    )
    current = (await sim.http.get("/instance/connect/a")).json()
    assert current["count"] >= 3
    await sim.recorder.wait_for(
        lambda r: len(r.accepted(instance="a", event="qrcode.updated")) >= current["count"],
        what="the QR event of the current count",
    )
    codes = [
        d.data["qrcode"]["code"]
        for d in sim.recorder.accepted(instance="a", event="qrcode.updated")
    ]
    assert codes[current["count"] - 1] == current["code"]


async def test_pairing_code_and_scan(sim: SimulatorHarness) -> None:
    created = await sim.create("a", qrcode=True, number="5511988887777")
    pairing = created["qrcode"]["pairingCode"]
    assert isinstance(pairing, str) and len(pairing) == 8
    assert not set(pairing) & set("0OIU")  # Baileys' alphabet

    view = await sim.control.scan("a", profile_name="Acme")
    assert view["number"] == "5511988887777"  # the phone that typed the code
    open_event = await sim.recorder.wait_event(
        "a", "connection.update", lambda d: d["state"] == "open"
    )
    assert open_event.data["wuid"] == "5511988887777@s.whatsapp.net"
    # No more QR rotation once paired; a second scan is refused.
    assert (await sim.http.post("/_sim/instances/a/scan", json={})).status_code == 409
    picture = await sim.http.get(open_event.data["profilePictureUrl"].replace(sim.url, ""))
    assert picture.status_code == 200 and picture.content.startswith(PNG_SIGNATURE)


async def test_scan_needs_a_displayed_qr(sim: SimulatorHarness) -> None:
    await sim.create("a")
    resp = await sim.http.post("/_sim/instances/a/scan", json={})
    assert resp.status_code == 409
    assert "connect" in resp.json()["response"]["message"][0]
    resp = await sim.http.post("/_sim/instances/ghost/scan", json={})
    assert resp.status_code == 404
