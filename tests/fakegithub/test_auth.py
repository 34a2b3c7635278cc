"""App JWT and installation token authentication behave like GitHub's."""

from __future__ import annotations

import time

import pytest

from fakegithub.fake import new_key_pair
from tests.fakegithub.helpers import APP_ID, INSTALLATION_ID, Served, make_jwt

TOKEN_PATH = f"/app/installations/{INSTALLATION_ID}/access_tokens"


@pytest.mark.parametrize(
    ("name", "make", "status"),
    [
        ("valid, iss as string", lambda: make_jwt(iss=str(APP_ID)), 201),
        ("valid, iss as int", lambda: make_jwt(iss=APP_ID), 201),
        ("signed with another key", lambda: make_jwt(private_pem=new_key_pair()[0]), 401),
        ("wrong issuer", lambda: make_jwt(iss=APP_ID + 1), 401),
        ("expired", lambda: make_jwt(iat=int(time.time()) - 1200, ttl=600), 401),
        ("lives longer than 10 minutes", lambda: make_jwt(ttl=900), 401),
        ("issued in the future", lambda: make_jwt(iat=int(time.time()) + 300), 401),
        ("not a JWT", lambda: "garbage", 401),
    ],
)
async def test_access_token_requires_a_valid_app_jwt(
    served: Served, name: str, make: object, status: int
) -> None:
    token = make()  # type: ignore[operator]
    got, body, _ = await served.call(
        "POST", TOKEN_PATH, headers={"Authorization": f"Bearer {token}"}
    )
    assert got == status, (name, body)
    if status == 201:
        assert body["token"].startswith("ghs_")
        assert body["expires_at"].endswith("Z")
        assert body["repository_selection"] == "selected"
        assert body["permissions"]["issues"] == "write"
    else:
        assert "message" in body
    assert served.fake.violations == []


async def test_minted_token_works_and_get_app_needs_the_jwt(served: Served) -> None:
    jwt_header = {"Authorization": f"Bearer {make_jwt()}"}
    status, app, _ = await served.call("GET", "/app", headers=jwt_header)
    assert (status, app["id"], app["slug"]) == (200, APP_ID, "steward")
    status, body, _ = await served.call("POST", TOKEN_PATH, headers=jwt_header)
    status, repo, _ = await served.call("GET", "/repos/acme/widgets", token=body["token"])
    assert (status, repo["full_name"]) == (200, "acme/widgets")
    status, _, _ = await served.call("GET", "/app")  # installation token, not a JWT
    assert status == 401
    assert served.fake.violations == []


async def test_token_expiry_gives_bad_credentials(served: Served) -> None:
    status, _, _ = await served.call("GET", "/repos/acme/widgets")
    assert status == 200
    served.clock.advance(11 * 60)
    status, body, _ = await served.call("GET", "/repos/acme/widgets")
    assert (status, body["message"]) == (401, "Bad credentials")


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("token ghs_unknown", 401), ("Bearer ghs_unknown", 401)],
)
async def test_rest_calls_need_an_installation_token(
    served: Served, authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with served.session.get(served.base + "/repos/acme/widgets", headers=headers) as resp:
        assert resp.status == status
        assert "message" in await resp.json()


async def test_token_only_sees_the_installation_repositories(served: Served) -> None:
    status, _, _ = await served.call("GET", "/repos/acme/private-stuff")
    assert status == 404


async def test_manifest_conversion_needs_no_auth_and_codes_are_single_use(
    served: Served,
) -> None:
    async with served.session.post(served.base + "/app-manifests/abc123/conversions") as resp:
        assert resp.status == 201
        body = await resp.json()
    assert {
        "id",
        "slug",
        "pem",
        "webhook_secret",
        "client_id",
        "client_secret",
        "html_url",
        "owner",
    } <= body.keys()
    assert body["pem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    new_jwt = make_jwt(private_pem=body["pem"], iss=body["id"])
    status, app, _ = await served.call(
        "GET", "/app", headers={"Authorization": f"Bearer {new_jwt}"}
    )
    assert (status, app["id"]) == (200, body["id"])
    async with served.session.post(served.base + "/app-manifests/abc123/conversions") as resp:
        assert resp.status == 404
    assert served.fake.violations == []
