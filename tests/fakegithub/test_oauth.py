"""The OAuth web flow ("Sign in with GitHub") and the ``/user`` operations of the fake."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.fakegithub.helpers import INSTALLATION_ID, OWNER, REPO, Served


async def _sign_in(served: Served, login: str) -> str:
    served.fake.oauth.approve_as = login
    served.fake.oauth.clients["Iv1.x"] = "shh"
    query = {"client_id": "Iv1.x", "state": "s1", "redirect_uri": "http://app/cb"}
    async with served.session.get(
        served.base + "/login/oauth/authorize", params=query, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        back = urlsplit(resp.headers["Location"])
    params = parse_qs(back.query)
    assert back.path == "/cb" and params["state"] == ["s1"]
    form = {"client_id": "Iv1.x", "client_secret": "shh", "code": params["code"][0]}
    async with served.session.post(served.base + "/login/oauth/access_token", data=form) as resp:
        token = (await resp.json())["access_token"]
    async with served.session.post(served.base + "/login/oauth/access_token", data=form) as resp:
        assert (await resp.json())["error"] == "bad_verification_code"  # a code works once
    assert token.startswith("ghu_")
    return str(token)


async def test_a_collaborator_signs_in_and_sees_the_installation(served: Served) -> None:
    token = await _sign_in(served, "alice")
    auth = {"Authorization": f"Bearer {token}"}
    status, user, _ = await served.call("GET", "/user", headers=auth)
    assert status == 200 and user["login"] == "alice"
    status, found, _ = await served.call("GET", "/user/installations", headers=auth)
    assert status == 200 and [i["id"] for i in found["installations"]] == [INSTALLATION_ID]
    path = f"/user/installations/{INSTALLATION_ID}/repositories"
    status, repos, _ = await served.call("GET", path, headers=auth)
    assert [r["full_name"] for r in repos["repositories"]] == [f"{OWNER}/{REPO}"]
    assert not [v for v in served.fake.violations if v.kind != "response-body"]


async def test_a_stranger_reaches_nothing_and_a_bad_token_is_401(served: Served) -> None:
    token = await _sign_in(served, "mallory")
    auth = {"Authorization": f"Bearer {token}"}
    status, found, _ = await served.call("GET", "/user/installations", headers=auth)
    assert status == 200 and found["installations"] == []
    path = f"/user/installations/{INSTALLATION_ID}/repositories"
    assert (await served.call("GET", path, headers=auth))[0] == 404
    bad = {"Authorization": "Bearer ghu_nope"}
    assert (await served.call("GET", "/user", headers=bad))[0] == 401


async def test_a_wrong_client_secret_gets_no_token(served: Served) -> None:
    served.fake.oauth.approve_as = "alice"
    served.fake.oauth.clients["Iv1.x"] = "shh"
    served.fake.oauth.codes["c0de"] = ("alice", "Iv1.x")
    form = {"client_id": "Iv1.x", "client_secret": "guess", "code": "c0de"}
    async with served.session.post(served.base + "/login/oauth/access_token", data=form) as resp:
        assert (await resp.json())["error"] == "incorrect_client_credentials"
