"""Profile pictures for simulated accounts: a small solid-colour PNG per number.

Evolution reports ``profilePictureUrl`` (a WhatsApp CDN URL); the simulator serves its own so
the dashboard can show something and the field keeps its documented type (a string).
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

_SIZE = 64


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=4096)
def avatar_png(number: str) -> bytes:
    digest = zlib.crc32(number.encode())
    rgb = bytes(((digest >> shift) & 0x7F) + 0x60 for shift in (0, 8, 16))  # soft colours
    row = b"\x00" + rgb * _SIZE  # filter type 0 + one RGB pixel per column
    header = struct.pack(">IIBBBBB", _SIZE, _SIZE, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * _SIZE, 9))
        + _chunk(b"IEND", b"")
    )
