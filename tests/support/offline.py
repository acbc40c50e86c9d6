"""A device on a bad connection, over real sockets: a request whose body is cut off midway
(the headers promise a length, part of the body goes out, the connection closes), and the
photos a device takes (random pixels from the test's seeded generator, so each is its own
file)."""

from __future__ import annotations

import io
import random
import socket
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from PIL import Image


def cut_request(
    base: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    sent: int,
    *,
    arrived: Callable[[], bool] | None = None,
    timeout_s: float = 10,
) -> None:
    """``method path`` to the server at ``base`` with ``body``'s whole length declared
    (``Content-Length``), only its first ``sent`` bytes written, then the connection closed
    without reading an answer: the signal dropping mid-upload. Before closing, wait until
    ``arrived()`` says the server holds what was sent (a short pause when the server shows
    nothing of a body it has not finished)."""
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None, base
    lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(head + body[:sent])
        if arrived is None:
            time.sleep(0.3)
            return
        deadline = time.monotonic() + timeout_s
        while not arrived():
            assert time.monotonic() < deadline, "the server never took what was sent"
            time.sleep(0.02)


def photo(rng: random.Random, size: tuple[int, int] = (48, 36)) -> bytes:
    """A PNG of random pixels drawn from ``rng``: a real image (uploads are decoded whole),
    one of its own (no two share a SHA-256), and about as large as its pixels (noise does not
    compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(out, "PNG")
    return out.getvalue()
