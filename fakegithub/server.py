"""The aiohttp side of the fake: one catch-all route that records the request, checks
it against GitHub's contract, applies injected faults, authenticates, dispatches to a
handler by ``operationId`` and decorates the answer the way GitHub does (rate-limit
headers, ``ETag``/``304``, ``Link``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web
from graphql import GraphQLError, parse

from fakegithub import auth, oauth
from fakegithub import serialize as ser
from fakegithub.contract import Violation
from fakegithub.graphql_api import execute_graphql
from fakegithub.http import Fault, HTTPError, RecordedRequest, Reply
from fakegithub.limits import (
    MAX_NODES,
    Charge,
    graphql_charge,
    is_mutation,
    query_cost,
    rest_charge,
)
from fakegithub.rest import HANDLERS, Context
from fakegithub.state import Installation, iso

if TYPE_CHECKING:
    from fakegithub.fake import FakeGitHub

FAKE_KEY: web.AppKey[FakeGitHub] = web.AppKey("fake_github")
#: Whether a request came while too many of its installation's were in flight.
CROWDED_KEY: web.RequestKey[bool] = web.RequestKey("crowded", bool)

#: Operations authenticated with the app's JWT instead of an installation token.
JWT_OPERATIONS = frozenset(
    {
        "apps/get-authenticated",
        "apps/list-installations",
        "apps/get-installation",
        "apps/get-repo-installation",
        "apps/create-installation-access-token",
        "apps/list-webhook-deliveries",
        "apps/get-webhook-delivery",
        "apps/redeliver-webhook-delivery",
    }
)
#: Operations GitHub serves without credentials.
PUBLIC_OPERATIONS = frozenset({"apps/create-from-manifest", "meta/root", "meta/zen"})


def build_app(fake: FakeGitHub) -> web.Application:
    """An aiohttp application serving ``fake``."""
    app = web.Application(client_max_size=25 * 1024 * 1024)
    app[FAKE_KEY] = fake
    oauth.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Serve one request (every path goes through here), counted as in flight for its
    installation until it is answered."""
    fake = request.app[FAKE_KEY]
    who, _ = _caller(fake, request)
    if who is None:
        return await _serve(request, fake)
    limiter = fake.limiter
    request[CROWDED_KEY] = limiter.enter(who)
    try:
        return await _serve(request, fake)
    finally:
        limiter.leave(who)


async def _serve(request: web.Request, fake: FakeGitHub) -> web.StreamResponse:
    raw = await request.read()
    if fake.latency > 0:
        await asyncio.sleep(fake.latency)
    query = dict(request.query.items())
    record = _record(request, query, raw)
    fake.requests.append(record)
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        return _finish(request, fake, record, Reply(ser.error("Problems parsing JSON", 400), 400))
    if request.method == "POST" and request.path == "/graphql":
        reply = await _graphql(request, fake, record, body)
    else:
        reply = await _rest(request, fake, record, query, body)
    if isinstance(reply, web.StreamResponse):
        return reply
    return _finish(request, fake, record, reply)


def _record(request: web.Request, query: dict[str, str], raw: bytes) -> RecordedRequest:
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "authorization"}
    try:
        parsed = json.loads(raw) if raw.strip() else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return RecordedRequest(request.method, request.path, query, parsed, headers)


async def _rest(
    request: web.Request,
    fake: FakeGitHub,
    record: RecordedRequest,
    query: dict[str, str],
    body: Any,
) -> Reply | web.StreamResponse:
    method = request.method
    found, violations = fake.contract.check(method, request.rel_url.raw_path, query, body)
    fake.violations.extend(violations)
    if found is None:
        return Reply(ser.error("Not Found", 404), 404)
    operation_id = found.operation.operation_id
    record.operation_id = operation_id
    fault = fake.take_fault(method, request.path)
    if fault is not None:
        return _apply_fault(request, fault)
    try:
        installation, app_id = _authenticate(request, fake, operation_id)
        _refuse_writes_with_a_read_token(method, installation)
        _reject_invalid(violations)
        handler = HANDLERS.get(operation_id)
        if handler is None:
            message = f"the fake GitHub does not implement {operation_id}"
            fake.violations.append(
                Violation(method, request.path, "not-implemented", message, operation_id)
            )
            raise HTTPError(404, "Not Found")
        charge = rest_charge(method, request.path)
        refused = _admit(fake, installation, charge, record, crowded=request.get(CROWDED_KEY))
        if refused is not None:
            return refused
        ctx = Context(
            fake, method, request.path, found.path_params, query, body, installation, app_id
        )
        if operation_id in oauth.USER_OPERATIONS:
            ctx.user = oauth.user_of(fake, request.headers.get("Authorization"))
        reply = await handler(ctx)
    except HTTPError as exc:
        return Reply(ser.error(exc.message, exc.status, **exc.extra), exc.status)
    if fake.check_responses:
        fake.violations.extend(
            fake.contract.check_response(
                method, request.path, operation_id, reply.status, reply.payload
            )
        )
    return reply


def _refuse_writes_with_a_read_token(method: str, installation: Installation | None) -> None:
    """A token narrowed to read permissions cannot write, as GitHub answers an
    integration without the permission (403)."""
    if installation is None or method in ("GET", "HEAD"):
        return
    if installation.permissions and all(v == "read" for v in installation.permissions.values()):
        raise HTTPError(403, "Resource not accessible by integration")


def _reject_invalid(violations: list[Violation]) -> None:
    """Answer like GitHub: a bad body is a 422, a malformed path parameter a 404."""
    if any(v.kind == "path-parameter" for v in violations):
        raise HTTPError(404, "Not Found")
    bad_body = [v.message for v in violations if v.kind == "request-body"]
    if bad_body:
        raise HTTPError(422, "Invalid request.\n\n" + "\n".join(bad_body))


def _authenticate(
    request: web.Request, fake: FakeGitHub, operation_id: str
) -> tuple[Installation | None, int | None]:
    """The installation (token calls) or app id (JWT calls) behind a request."""
    if operation_id in PUBLIC_OPERATIONS or operation_id in oauth.USER_OPERATIONS:
        return None, None
    creds = auth.parse_authorization(request.headers.get("Authorization"))
    if operation_id in JWT_OPERATIONS:
        if creds is None or creds.scheme != "bearer":
            raise HTTPError(401, "A JSON web token could not be decoded")
        try:
            # A JWT's times are the App's wall clock, whatever speed the fake's runs at.
            wall = datetime.fromtimestamp(fake.wall_epoch(fake.now()), UTC)
            app = auth.verify_app_jwt(creds.secret, fake.apps, wall)
        except auth.AuthError as exc:
            raise HTTPError(401, str(exc)) from exc
        return None, app.app_id
    return _installation_for(fake, creds), None


def _installation_for(fake: FakeGitHub, creds: auth.Credentials | None) -> Installation:
    if creds is None or creds.scheme not in {"token", "bearer"}:
        raise HTTPError(401, "Requires authentication")
    token = fake.tokens.get(creds.secret)
    if token is None or token.expires_at <= fake.now():
        raise HTTPError(401, "Bad credentials")
    installation = fake.installations.get(token.installation_id)
    if installation is None:  # uninstalled since the token was minted
        raise HTTPError(401, "Bad credentials")
    return token.scope(installation)


def _resource(path: str) -> str:
    if path.startswith("/search/"):
        return "search"
    return "graphql" if path == "/graphql" else "core"


def _bucket(installation: Installation | None) -> str:
    return f"installation:{installation.id}" if installation else "anonymous"


def _caller(fake: FakeGitHub, request: web.Request) -> tuple[str | None, Installation | None]:
    """The rate-limit bucket and installation of a request's token (None: not one)."""
    creds = auth.parse_authorization(request.headers.get("Authorization"))
    token = fake.tokens.get(creds.secret) if creds else None
    installation = fake.installations.get(token.installation_id) if token else None
    return (_bucket(installation) if installation else None), installation


def _admit(
    fake: FakeGitHub,
    installation: Installation | None,
    charge: Charge,
    record: RecordedRequest,
    *,
    crowded: bool | None = False,
) -> Reply | None:
    """Count the request against its installation's limits; GitHub's refusal if the
    fake enforces them and one is reached (its body checked against ``basic-error``)."""
    label = str(installation.id) if installation else "anonymous"
    refusal = fake.limiter.admit(_bucket(installation), charge, label=label, crowded=bool(crowded))
    if refusal is None:
        return None
    payload = refusal.payload()
    if not refusal.graphql or refusal.kind == "secondary":
        fake.violations.extend(
            fake.contract.check_error(record.method, record.path, refusal.status, payload)
        )
    return Reply(payload, refusal.http_status, dict(refusal.headers))


async def _graphql(
    request: web.Request, fake: FakeGitHub, record: RecordedRequest, body: Any
) -> Reply | web.StreamResponse:
    record.operation_id = "graphql"
    fault = fake.take_fault("POST", request.path)
    if fault is not None:
        return _apply_fault(request, fault)
    try:
        creds = auth.parse_authorization(request.headers.get("Authorization"))
        installation = _installation_for(fake, creds)
    except HTTPError as exc:
        return Reply(ser.error(exc.message, exc.status), exc.status)
    cost, nodes, mutation = _graphql_cost(body)
    if nodes > MAX_NODES:
        return Reply({"errors": [_too_many_nodes(nodes)]})
    charge = graphql_charge(cost, mutation=mutation)
    refused = _admit(fake, installation, charge, record, crowded=request.get(CROWDED_KEY))
    if refused is not None:
        return refused
    status = fake.rate_status(installation, "graphql")
    rate = {
        "cost": cost,
        "limit": status["limit"],
        "remaining": status["remaining"],
        "used": status["used"],
        "resetAt": iso(datetime.fromtimestamp(status["reset"], UTC)),
        "nodeCount": nodes,
    }
    return Reply(await execute_graphql(fake, installation, body, rate=rate))


def _graphql_cost(body: Any) -> tuple[int, int, bool]:
    """``(points, nodes, is a mutation)`` of a GraphQL request body (1, 0, False when it
    does not parse: its errors are execution's to report)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return 1, 0, False
    try:
        document = parse(body["query"])
    except GraphQLError:
        return 1, 0, False
    variables = body.get("variables") if isinstance(body.get("variables"), dict) else None
    points, nodes = query_cost(document, variables, body.get("operationName"))
    return points, nodes, is_mutation(document)


def _too_many_nodes(nodes: int) -> dict[str, Any]:
    return {
        "type": "MAX_NODE_LIMIT_EXCEEDED",
        "message": f"This query requests up to {nodes:,} possible nodes which exceeds the "
        f"maximum limit of {MAX_NODES:,}.",
    }


def _apply_fault(request: web.Request, fault: Fault) -> Reply | web.StreamResponse:
    if fault.drop_connection and request.transport is not None:
        # Abort the TCP connection: the client sees a disconnect, not an HTTP answer.
        request.transport.abort()
        return web.Response(status=500)
    return Reply(fault.body, fault.status, dict(fault.headers))


def _finish(
    request: web.Request, fake: FakeGitHub, record: RecordedRequest, reply: Reply
) -> web.Response:
    """Serialize a reply with GitHub's headers; ``ETag`` and ``304`` for GETs."""
    text = json.dumps(reply.payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
        **_rate_headers(fake, request),
    }
    status = reply.status
    if request.method == "GET" and 200 <= status < 300:
        etag = 'W/"' + hashlib.sha256(text.encode()).hexdigest() + '"'
        headers["ETag"] = etag
        if _etag_matches(request.headers.get("If-None-Match"), etag):
            # GitHub does not count a conditional request answered 304.
            fake.limiter.refund(_caller(fake, request)[0] or "anonymous", _resource(request.path))
            headers.update(_rate_headers(fake, request))
            record.status = 304
            headers.update(reply.headers)
            return web.Response(status=304, headers=headers)
    headers.update(reply.headers)
    record.status = status
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(status=status, text=text, headers=headers, content_type=None)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    # Clients may drop the weak prefix; GitHub compares the opaque part.
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag.removeprefix("W/") in wanted or "*" in wanted


def _rate_headers(fake: FakeGitHub, request: web.Request) -> dict[str, str]:
    _, installation = _caller(fake, request)
    status = fake.rate_status(installation, _resource(request.path))
    return {
        "x-ratelimit-limit": str(status["limit"]),
        "x-ratelimit-remaining": str(status["remaining"]),
        "x-ratelimit-reset": str(status["reset"]),
        "x-ratelimit-used": str(status["used"]),
        "x-ratelimit-resource": status["resource"],
    }
