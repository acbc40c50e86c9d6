"""What a browser is told besides the answer: how far to trust it, and which methods a path
takes. Plain ASGI, so it costs a look at each answer's headers.

- Every answer carries ``X-Content-Type-Options: nosniff``: a browser takes the type it is
  given (an upload served as ``image/png`` is never run as HTML).
- An SVG (the schedule's timeline) is a picture that could carry script: it gets
  ``DOWNLOAD_POLICY``, its own styles and nothing that runs.
- An HTML answer that sets no ``Content-Security-Policy`` of its own gets ``LOCKED``: nothing
  loads or runs, no form posts, no page may frame it (``frame-ancestors 'none'``, and
  ``X-Frame-Options: DENY`` for browsers that predate it). A page that needs more (the
  status page's style, Swagger UI's script) is made with ``page``: its policy names what it
  loads and the hash of each inline script and style element, so nothing else runs even
  if text found its way into it.
- ``OPTIONS`` is answered 204 with every method the path takes, and a 405's ``Allow`` is made
  whole the same way: FastAPI makes a route per method, and Starlette's own answer names
  only the methods of the first route whose path matches (a GET, never the PATCH beside it).
  A path with an ``OPTIONS`` route of its own (``/api/v1/uploads``: tus) is answered by it.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.responses import HTMLResponse
from fastapi.routing import iter_route_contexts
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "content-security-policy"
_LOCKED_DOWN = {
    "default-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
_INLINE = {
    "script-src": re.compile(r"<script>(.*?)</script>", re.DOTALL),
    "style-src": re.compile(r"<style>(.*?)</style>", re.DOTALL),
}
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _directives(sources: dict[str, str]) -> dict[str, str]:
    """``script_src="'self'"`` as the policy writes it: ``{"script-src": "'self'"}``."""
    return {name.replace("_", "-"): value for name, value in sources.items()}


def _written(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in (_LOCKED_DOWN | directives).items())


def policy(**sources: str) -> str:
    """A Content-Security-Policy that allows nothing but ``sources`` (``script_src="'self'"``
    for ``script-src 'self'``) and never lets the page be framed."""
    return _written(_directives(sources))


LOCKED = policy()


def _hash(inline: str) -> str:
    digest = hashlib.sha256(inline.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def page(content: str, **sources: str) -> HTMLResponse:
    """An HTML answer with its own policy: ``sources``, and the hash of each inline
    ``<script>`` and ``<style>`` element in ``content`` (unless its sources allow any
    inline code, which a hash would switch off)."""
    directives = _directives(sources)
    for directive, pattern in _INLINE.items():
        allowed = directives.get(directive, "")
        hashes = [_hash(inline) for inline in pattern.findall(content)]
        if hashes and "'unsafe-inline'" not in allowed:
            directives[directive] = " ".join(filter(None, [allowed, *hashes]))
    return HTMLResponse(content, headers={CSP: _written(directives)})


def allowed_methods(scope: Scope) -> str | None:
    """Every method some route takes at the request's path, OPTIONS among them; None when no
    route has the path."""
    methods: set[str] = set()
    for route in iter_route_contexts(scope["app"].router.routes):  # into included routers
        taken = route.methods
        if taken and route.matches(scope)[0] is not Match.NONE:
            methods |= taken
    if not methods:
        return None
    methods.add("OPTIONS")
    order = {method: place for place, method in enumerate(_METHOD_ORDER)}
    return ", ".join(sorted(methods, key=lambda method: (order.get(method, 99), method)))


def _answers_options(scope: Scope) -> bool:
    """Whether a route of the path answers ``OPTIONS`` itself (tus's upload endpoint tells
    its protocol there): it gets the request."""
    return any(
        route.methods and "OPTIONS" in route.methods and route.matches(scope)[0] is Match.FULL
        for route in iter_route_contexts(scope["app"].router.routes)
    )


class BrowserHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                _protect(scope, message)
            await send(message)

        if scope["method"] == "OPTIONS" and not _answers_options(scope):
            allow = allowed_methods(scope)
            if allow is not None:
                await Response(status_code=204, headers={"Allow": allow})(scope, receive, answer)
                return
        await self.app(scope, receive, answer)


def _protect(scope: Scope, message: Message) -> None:
    """The answer's headers, with what every answer and every HTML page carries."""
    message.setdefault("headers", [])
    headers = MutableHeaders(scope=message)
    headers.setdefault("x-content-type-options", "nosniff")
    if message["status"] == 405:
        allow = allowed_methods(scope)
        if allow is not None:
            headers["allow"] = allow
    content_type = headers.get("content-type", "")
    if content_type.startswith("text/html"):
        headers.setdefault(CSP, LOCKED)
        headers.setdefault("x-frame-options", "DENY")
    elif content_type.startswith("image/svg+xml"):  # a picture that could carry script
        headers.setdefault(CSP, DOWNLOAD_POLICY)


DOWNLOAD_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
"""A download opened in a tab: an image shows (the browser's image page keeps its style),
nothing in it runs or loads, and it is a sandbox of its own origin."""


def download(filename: str, *, inline: bool) -> dict[str, str]:
    """The headers of a stored file: shown in place (``inline``, for the image types an
    upload is decoded as) or saved (``attachment``); cached privately, and revalidated each
    time (``no-cache``) so that who may read it is asked again (a 304 costs no body)."""
    disposition = "inline" if inline else "attachment"
    return {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "Content-Security-Policy": DOWNLOAD_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (a weak comparison, as RFC 9110 has it for
    a GET)."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
