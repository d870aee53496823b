"""Every live page asks its stream for the changes since the page was read: each
``sse-connect`` in every template (present and future) goes through ``live_url``, so no page can
open a stream that cannot tell it what it missed (kit.live.sse_response, mirage.js)."""

from __future__ import annotations

import re
from pathlib import Path

from mirage.web.templating import _template_dirs

SSE_CONNECT = re.compile(r"sse-connect\s*=\s*\"([^\"]*)\"")


def test_every_live_stream_url_carries_when_its_page_was_read() -> None:
    found: list[tuple[str, str]] = []
    for folder in _template_dirs():
        for path in Path(folder).rglob("*.htm*"):
            for url in SSE_CONNECT.findall(path.read_text(encoding="utf-8")):
                found.append((path.name, url))
    assert len(found) >= 8, found  # the scan sees the live pages
    bare = [(name, url) for name, url in found if not url.startswith("{{ live_url(")]
    assert not bare, f"sse-connect without live_url: {bare}"
