"""What every answer of ``steward serve`` carries, and what a request may claim.

- **Headers.** Every answer (the dashboard, the setup page, the receiver's JSON) carries
  a ``Content-Security-Policy`` that allows the page's own inline style and script by
  their SHA-256 and nothing else (no script at all on the dashboard; its plots are
  inline SVG, which needs none), ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer`` and ``X-Content-Type-Options: nosniff``. A handler may set its own
  policy (the setup page's script, its form that posts to GitHub); the rest is filled in.
- **Proxies.** The scheme and host a proxy forwards (``Forwarded``,
  ``X-Forwarded-Proto``, ``X-Forwarded-Host``) are believed only from the addresses in
  ``STEWARD_TRUSTED_PROXIES``, and then only the value the nearest proxy added (the
  last one), so nothing a client sends changes ``request.secure`` or the URLs built
  from ``request.host`` (cookies' ``Secure``, OAuth's ``redirect_uri``).
- **Comparisons.** Secrets a client sends are compared as bytes in constant time
  (:func:`same_secret`), so one with characters outside ASCII is a mismatch, not a 500.

The decisions are pure functions; :func:`secure_app` wires them into an application.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiohttp import web

from app.dashboard.views import STYLE as DASHBOARD_STYLE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: A host (name, IPv4 or bracketed IPv6) with an optional port: what a forwarded host may be.
HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")
SCHEMES = ("http", "https")


def same_secret(given: str, expected: str) -> bool:
    """Whether ``given`` equals ``expected``, in constant time, compared as bytes.

    ``hmac.compare_digest`` refuses ``str`` with characters outside ASCII (a
    ``TypeError``: a 500 for whoever sends one); as UTF-8 bytes (lone surrogates kept,
    which is how undecodable header bytes arrive) any text compares.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def source_hash(text: str) -> str:
    """The CSP source that allows one inline ``<style>`` or ``<script>`` with this text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def content_security_policy(
    *,
    styles: Sequence[str] = (),
    scripts: Sequence[str] = (),
    form_action: Sequence[str] = ("'self'",),
) -> str:
    """A policy that allows nothing but these inline styles and scripts (by hash), forms
    that post to ``form_action``, and no framing."""
    directives = [
        "default-src 'none'",
        "style-src " + (" ".join(source_hash(s) for s in styles) or "'none'"),
        "script-src " + (" ".join(source_hash(s) for s in scripts) or "'none'"),
        "img-src 'self'",
        "form-action " + " ".join(form_action),
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    return "; ".join(directives)


def security_headers(policy: str) -> dict[str, str]:
    """The four headers every answer carries, with ``policy`` as its CSP."""
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


#: What an answer carries unless its handler chose a policy: the dashboard's style only.
DEFAULT_HEADERS = security_headers(content_security_policy(styles=[DASHBOARD_STYLE]))


def trusted_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """The networks of ``STEWARD_TRUSTED_PROXIES`` (checked by the settings already)."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def is_trusted(peer: str | None, networks: Sequence[Network]) -> bool:
    """Whether the connection's peer address is one of the trusted proxies."""
    if not peer or not networks:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _last(value: str | None) -> str:
    """The last item of a comma-separated header: the one the nearest proxy added."""
    return (value or "").rsplit(",", 1)[-1].strip()


def _forwarded_pairs(value: str | None) -> dict[str, str]:
    """The parameters of the last element of an RFC 7239 ``Forwarded`` header."""
    pairs: dict[str, str] = {}
    for part in _last(value).split(";"):
        key, sep, raw = part.partition("=")
        if sep:
            pairs[key.strip().lower()] = raw.strip().strip('"')
    return pairs


def forwarded_origin(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(scheme, host) the nearest proxy says the client used, each None where it says
    nothing valid. ``Forwarded`` wins over ``X-Forwarded-Proto`` and ``-Host``."""
    pairs = _forwarded_pairs(headers.get("Forwarded"))
    scheme = (pairs.get("proto") or _last(headers.get("X-Forwarded-Proto"))).lower()
    host = pairs.get("host") or _last(headers.get("X-Forwarded-Host"))
    return (
        scheme if scheme in SCHEMES else None,
        host if HOST.fullmatch(host) else None,
    )


def trust_proxies(networks: Sequence[Network]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware that lets a trusted proxy's forwarded scheme and host stand for the
    request's own (``request.scheme``, ``request.secure``, ``request.host``)."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_trusted(request.remote, networks):
            scheme, host = forwarded_origin(request.headers)
            # One clone: a clone of a clone forgets the first one's scheme.
            changes: dict[str, Any] = {"scheme": scheme, "host": host}
            request = request.clone(**{k: v for k, v in changes.items() if v})
        return await handler(request)

    return forwarded


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Fill in the headers of :data:`DEFAULT_HEADERS` the handler did not set."""
    for name, value in DEFAULT_HEADERS.items():
        response.headers.setdefault(name, value)


def secure_app(app: web.Application, proxies: Iterable[str]) -> None:
    """Give ``app`` the security headers on every answer and the trusted proxies' view."""
    networks = trusted_networks(proxies)
    if networks:
        app.middlewares.append(trust_proxies(networks))
    app.on_response_prepare.append(add_security_headers)
