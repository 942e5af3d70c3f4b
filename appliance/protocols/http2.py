"""HTTP/2 in clear text: a side that opens with the connection preface.

Arkime's http2.c classifies a TCP session as "http2" when a side's first bytes are the 24-byte
client connection preface ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n`` (prior-knowledge h2c). The
preface also parses as an HTTP/1 request line, so the HTTP parser reports method PRI beside it,
as Arkime does. HTTP/2 negotiated by TLS ALPN is named by the TLS parser from the ServerHello.
Header blocks (HPACK) are not decoded yet, so no http.* values come from the frames.
"""

from __future__ import annotations

from typing import Any, Final

from appliance.protocols import TCP, Protocol, register

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _detect(session: Any, data: bytes, direction: int) -> bool:
    return data.startswith(PREFACE)


register(Protocol("http2", TCP, _detect, prefixes=(PREFACE,)))
