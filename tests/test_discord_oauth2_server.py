"""The loopback Discord's OAuth2 (authorization-code grant, token exchange, revocation, Bearer ``/users/@me``) over
real HTTP, as https://discord.com/developers/docs/topics/oauth2 documents it; the refusals included.

A browser is an aiohttp session with its own cookie jar (the loopback knows it by its session cookie), redirects
not followed, so each step is seen.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import AsyncIterator

import aiohttp
import pytest

from loopback.discord import REDACTED, LoopbackDiscord
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.timeout(30)

SECRET = "loopback-client-secret-for-oauth2-tests"
REDIRECT = "http://127.0.0.1:9/link/discord/callback"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def server(discord_server: LoopbackDiscord) -> LoopbackDiscord:
    discord_server.set_oauth2_client(secret=SECRET, redirect_uris=[REDIRECT])
    return discord_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The bot's side: no cookies."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def authorize_query(server: LoopbackDiscord, **overrides: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": str(server.application_id),
        "scope": "identify",
        "redirect_uri": REDIRECT,
        "state": "st&te/é ?=#",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


async def sign_in(browser: aiohttp.ClientSession, server: LoopbackDiscord, user_id: int) -> None:
    async with browser.get(server.browser_sign_in_url(user_id, next="/after"), allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/after"


def form_fields(page: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    return {k: html.unescape(v) for k, v in fields.items()}


async def decide(
    browser: aiohttp.ClientSession, server: LoopbackDiscord, decision: str, **overrides: str | None
) -> aiohttp.ClientResponse:
    """Open the authorize page, press a button; the response to the POST (read)."""
    async with browser.get(server.authorize_url, params=authorize_query(server, **overrides)) as page:
        assert page.status == 200
        fields = form_fields(await page.text())
    async with browser.post(server.authorize_url, data={**fields, "decision": decision}, allow_redirects=False) as resp:
        await resp.read()
        return resp


def redirect_params(resp: aiohttp.ClientResponse) -> dict[str, str]:
    location = resp.headers["Location"]
    base, _, query = location.partition("?")
    assert base == REDIRECT
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    assert len(pairs) == len(dict(pairs))
    return dict(pairs)


async def authorized_code(browser: aiohttp.ClientSession, server: LoopbackDiscord, user_id: int) -> str:
    await sign_in(browser, server, user_id)
    resp = await decide(browser, server, "authorize")
    assert resp.status == 302
    return redirect_params(resp)["code"]


async def token_request(
    http: aiohttp.ClientSession,
    server: LoopbackDiscord,
    form: dict[str, str],
    *,
    auth: str | None = None,
    path: str = "/oauth2/token",
) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": auth if auth is not None else basic(str(server.application_id), SECRET)}
    async with http.post(server.api_base + path, data=form, headers=headers) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        return resp.status, await resp.json()


async def exchange(http: aiohttp.ClientSession, server: LoopbackDiscord, code: str) -> tuple[int, dict[str, object]]:
    return await token_request(
        http, server, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    )


async def me(http: aiohttp.ClientSession, server: LoopbackDiscord, authorization: str) -> tuple[int, dict[str, object]]:
    async with http.get(server.api_base + "/users/@me", headers={"Authorization": authorization}) as resp:
        return resp.status, await resp.json()


def basic(login: str, password: str) -> str:
    return aiohttp.encode_basic_auth(login, password)


UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


# ------------------------------------------------------------------------------------------------ the flow
async def test_the_authorization_code_flow_end_to_end(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    server.users[server.alice_id].global_name = "Alice A."
    server.users[server.alice_id].avatar = "a_1234abcd"
    await sign_in(browser, server, server.alice_id)
    async with browser.get(server.authorize_url, params=authorize_query(server)) as page:
        text = await page.text()
        assert page.status == 200 and page.content_type == "text/html"
        assert page.headers["X-Frame-Options"] == "DENY"
    assert "<h1 id='app-name'>Loopback Bot</h1>" in text
    assert "<strong id='signed-in-as'>Alice A.</strong>" in text
    assert ">Authorize</button>" in text and ">Cancel</button>" in text
    fields = form_fields(text)
    assert fields["state"] == "st&te/é ?=#" and fields["redirect_uri"] == REDIRECT
    async with browser.post(
        server.authorize_url, data={**fields, "decision": "authorize"}, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        params = redirect_params(resp)
    assert set(params) == {"code", "state"} and params["state"] == "st&te/é ?=#"

    status, token = await exchange(http, server, params["code"])
    assert status == 200
    assert set(token) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert token["token_type"] == "Bearer" and token["expires_in"] == 604800 and token["scope"] == "identify"
    status, user = await me(http, server, f"Bearer {token['access_token']}")
    assert status == 200
    assert user["id"] == str(server.alice_id) and user["username"] == "alice"
    assert user["global_name"] == "Alice A." and user["discriminator"] == "0" and user["avatar"] == "a_1234abcd"
    assert "email" not in user

    # the bot token still answers the bot user; no secret is recorded
    status, bot_user = await me(http, server, f"Bot {server.bot_token}")
    assert status == 200 and bot_user["id"] == str(server.bot_user_id)
    recorded = json.dumps([(r.json, r.headers, r.query, r.response) for r in server.requests if r.path != "/users/@me"])
    assert params["code"] not in recorded and SECRET not in recorded
    exchange_record = server.requests_to("POST", r"^/oauth2/token$")[0]
    assert exchange_record.json == {"grant_type": "authorization_code", "code": REDACTED, "redirect_uri": REDIRECT}


async def test_cancel_redirects_access_denied_with_the_state(
    server: LoopbackDiscord, browser: aiohttp.ClientSession
) -> None:
    await sign_in(browser, server, server.alice_id)
    resp = await decide(browser, server, "cancel", state="s1")
    assert resp.status == 302
    assert redirect_params(resp) == {
        "error": "access_denied",
        "error_description": "The resource owner or authorization server denied the request",
        "state": "s1",
    }
    resp = await decide(browser, server, "authorize", state=None)
    assert set(redirect_params(resp)) == {"code"}  # no state asked, none echoed


async def test_prompt_none_skips_the_page_only_once_authorized(
    server: LoopbackDiscord, browser: aiohttp.ClientSession
) -> None:
    await sign_in(browser, server, server.alice_id)
    query = authorize_query(server, prompt="none")
    async with browser.get(server.authorize_url, params=query, allow_redirects=False) as page:
        assert page.status == 200 and ">Authorize</button>" in await page.text()
    await decide(browser, server, "authorize")
    async with browser.get(server.authorize_url, params=query, allow_redirects=False) as resp:
        assert resp.status == 302 and set(redirect_params(resp)) == {"code", "state"}
    async with browser.get(server.authorize_url, params=authorize_query(server), allow_redirects=False) as page:
        assert page.status == 200  # prompt=consent (the default) asks again


# ------------------------------------------------------------------------------------ the authorize page
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"client_id": "1234"}, "Unknown application"),
        ({"client_id": None}, "Unknown application"),
        ({"redirect_uri": "http://evil.example/cb"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT + "/"}, "redirect_uri"),
        ({"redirect_uri": REDIRECT + "?x=1"}, "redirect_uri"),
        ({"redirect_uri": None}, "redirect_uri"),
        ({"response_type": "token"}, "response_type"),
        ({"response_type": None}, "response_type"),
        ({"scope": "email"}, "must include identify"),
        ({"scope": "identify bogus"}, "Invalid scope: bogus"),
        ({"scope": None}, "must include identify"),
        ({"prompt": "login"}, "prompt"),
    ],
)
async def test_an_invalid_authorization_request_is_an_error_page_not_a_redirect(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, overrides: dict[str, str | None], words: str
) -> None:
    await sign_in(browser, server, server.alice_id)
    query = authorize_query(server, **overrides)
    async with browser.get(server.authorize_url, params=query, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 400 and "Location" not in page.headers
        assert words in text and "<form" not in text
    posted = {**query, "decision": "authorize"}
    async with browser.post(server.authorize_url, data=posted, allow_redirects=False) as resp:
        assert resp.status == 400 and "Location" not in resp.headers and words in await resp.text()
    assert server.oauth2_authorizations == {}


async def test_without_a_discord_session_the_page_asks_to_sign_in(
    server: LoopbackDiscord, browser: aiohttp.ClientSession
) -> None:
    async with browser.get(server.authorize_url, params=authorize_query(server), allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200 and "sign in to Discord" in text and "<form" not in text
    async with browser.post(
        server.authorize_url, data={**authorize_query(server), "decision": "authorize"}, allow_redirects=False
    ) as resp:
        assert resp.status == 401 and "Location" not in resp.headers
    # signing out ends the session
    await sign_in(browser, server, server.alice_id)
    async with browser.get(server.browser_sign_out_url()) as resp:
        assert resp.status == 200
    async with browser.get(server.authorize_url, params=authorize_query(server), allow_redirects=False) as page:
        assert "<form" not in await page.text()


async def test_a_sign_in_link_works_once(server: LoopbackDiscord, browser: aiohttp.ClientSession) -> None:
    url = server.browser_sign_in_url(server.alice_id)
    async with browser.get(url) as resp:
        assert resp.status == 200 and "Signed in as alice" in await resp.text()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other, other.get(url) as resp:
        assert resp.status == 404 and "Set-Cookie" not in resp.headers


async def test_the_authorize_form_belongs_to_the_session_that_got_it(
    server: LoopbackDiscord, browser: aiohttp.ClientSession
) -> None:
    mallory = server.add_user("mallory")
    await sign_in(browser, server, mallory)
    async with browser.get(server.authorize_url, params=authorize_query(server)) as page:
        fields = form_fields(await page.text())
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as victim:
        await sign_in(victim, server, server.alice_id)
        async with victim.post(
            server.authorize_url, data={**fields, "decision": "authorize"}, allow_redirects=False
        ) as resp:
            assert resp.status == 400 and "Location" not in resp.headers
        async with victim.post(
            server.authorize_url, data={**authorize_query(server), "decision": "authorize"}, allow_redirects=False
        ) as resp:
            assert resp.status == 400  # no form token at all
    async with browser.post(
        server.authorize_url, data={**fields, "decision": "authorize"}, allow_redirects=False
    ) as resp:
        assert resp.status == 302
    async with browser.post(
        server.authorize_url, data={**fields, "decision": "authorize"}, allow_redirects=False
    ) as resp:
        assert resp.status == 400  # a form is used once


# --------------------------------------------------------------------------------------- token exchange
async def test_a_code_is_single_use_and_a_replay_revokes_its_token(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    code = await authorized_code(browser, server, server.alice_id)
    status, token = await exchange(http, server, code)
    assert status == 200
    assert await exchange(http, server, code) == (
        400,
        {"error": "invalid_grant", "error_description": 'Invalid "code" in request.'},
    )
    assert await me(http, server, f"Bearer {token['access_token']}") == (401, UNAUTHORIZED)


async def test_a_code_expires_on_the_servers_clock(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    server.clock = clock
    fresh = await authorized_code(browser, server, server.alice_id)
    stale = await authorized_code(browser, server, server.alice_id)
    clock.advance(server.oauth2_code_lifetime)
    assert (await exchange(http, server, fresh))[0] == 200
    clock.advance(0.001)
    assert await exchange(http, server, stale) == (
        400,
        {"error": "invalid_grant", "error_description": 'Invalid "code" in request.'},
    )


async def test_the_redirect_uri_must_be_the_one_the_code_was_issued_for(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    other = "http://127.0.0.1:9/other"
    server.set_oauth2_client(redirect_uris=[REDIRECT, other])
    code = await authorized_code(browser, server, server.alice_id)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": other}
    assert await token_request(http, server, form) == (
        400,
        {"error": "invalid_grant", "error_description": 'Invalid "redirect_uri" in request.'},
    )
    assert (await exchange(http, server, code))[0] == 200  # a refused try does not spend the code


async def test_client_authentication(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    code = await authorized_code(browser, server, server.alice_id)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    app_id = str(server.application_id)
    for auth in (basic(app_id, "wrong"), basic("1234", SECRET), basic(app_id, "")):
        assert await token_request(http, server, form, auth=auth) == (401, {"error": "invalid_client"})
    async with http.post(server.api_base + "/oauth2/token", data=form) as resp:  # no client authentication
        assert resp.status == 401 and await resp.json() == {"error": "invalid_client"}
    mismatch = {**form, "client_id": "1234"}
    assert await token_request(http, server, mismatch) == (401, {"error": "invalid_client"})
    in_body = {**form, "client_id": app_id, "client_secret": SECRET}
    async with http.post(server.api_base + "/oauth2/token", data=in_body) as resp:
        assert resp.status == 200 and (await resp.json())["token_type"] == "Bearer"
    assert all(r.json.get("client_secret") in (None, REDACTED) for r in server.requests_to("POST", "^/oauth2/token$"))


async def test_malformed_token_requests(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    code = await authorized_code(browser, server, server.alice_id)
    auth = basic(str(server.application_id), SECRET)
    good = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    async with http.post(server.api_base + "/oauth2/token", json=good, headers={"Authorization": auth}) as resp:
        body = await resp.json()
        assert resp.status == 400 and body["error"] == "invalid_request"
    assert (await token_request(http, server, {**good, "grant_type": "password"}))[1][
        "error"
    ] == "unsupported_grant_type"
    assert (await token_request(http, server, {"code": code, "redirect_uri": REDIRECT}))[1][
        "error"
    ] == "invalid_request"
    assert await token_request(http, server, {"grant_type": "authorization_code", "redirect_uri": REDIRECT}) == (
        400,
        {"error": "invalid_request", "error_description": 'Missing "code" in request.'},
    )
    assert (await token_request(http, server, {**good, "code": "made-up"}))[1]["error"] == "invalid_grant"
    repeated = aiohttp.FormData([*good.items(), ("code", code)])
    async with http.post(server.api_base + "/oauth2/token", data=repeated, headers={"Authorization": auth}) as resp:
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_request"
    assert (await exchange(http, server, code))[0] == 200  # none of those spent the code


async def test_refresh_gives_new_tokens_and_retires_the_old(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    _, first = await exchange(http, server, await authorized_code(browser, server, server.alice_id))
    status, second = await token_request(
        http, server, {"grant_type": "refresh_token", "refresh_token": str(first["refresh_token"])}
    )
    assert status == 200 and second["access_token"] != first["access_token"]
    assert (await me(http, server, f"Bearer {first['access_token']}"))[0] == 401
    assert (await me(http, server, f"Bearer {second['access_token']}"))[0] == 200
    again = await token_request(
        http, server, {"grant_type": "refresh_token", "refresh_token": str(first["refresh_token"])}
    )
    assert again[0] == 400 and again[1]["error"] == "invalid_grant"


# ------------------------------------------------------------------------------------ Bearer and revoke
async def test_bearer_tokens_are_refused_when_unknown_revoked_or_expired(
    server: LoopbackDiscord, browser: aiohttp.ClientSession, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    server.clock = clock
    _, token = await exchange(http, server, await authorized_code(browser, server, server.alice_id))
    bearer = f"Bearer {token['access_token']}"
    assert await me(http, server, "Bearer not-a-token") == (401, UNAUTHORIZED)
    assert await me(http, server, f"Bearer {token['refresh_token']}") == (401, UNAUTHORIZED)
    assert await me(http, server, f"Bot {token['access_token']}") == (401, UNAUTHORIZED)
    # a Bearer token is no bot token: other routes refuse it
    async with http.get(server.api_base + "/gateway/bot", headers={"Authorization": bearer}) as resp:
        assert resp.status == 401
    clock.advance(604800 - 1)
    assert (await me(http, server, bearer))[0] == 200
    clock.advance(1)
    assert await me(http, server, bearer) == (401, UNAUTHORIZED)

    _, token = await exchange(http, server, await authorized_code(browser, server, server.alice_id))
    bearer = f"Bearer {token['access_token']}"
    revoke = {"token": str(token["access_token"]), "token_type_hint": "access_token"}
    bad = basic(str(server.application_id), "wrong")
    assert await token_request(http, server, revoke, auth=bad, path="/oauth2/token/revoke") == (
        401,
        {"error": "invalid_client"},
    )
    assert (await me(http, server, bearer))[0] == 200
    assert await token_request(http, server, revoke, path="/oauth2/token/revoke") == (200, {})
    assert await me(http, server, bearer) == (401, UNAUTHORIZED)
    refresh = {"grant_type": "refresh_token", "refresh_token": str(token["refresh_token"])}
    assert (await token_request(http, server, refresh))[1]["error"] == "invalid_grant"  # the whole authorization
    assert await token_request(http, server, {"token": "unknown"}, path="/oauth2/token/revoke") == (200, {})


async def test_the_application_lists_its_redirect_uris(server: LoopbackDiscord, http: aiohttp.ClientSession) -> None:
    async with http.get(
        server.api_base + "/oauth2/applications/@me", headers={"Authorization": f"Bot {server.bot_token}"}
    ) as resp:
        assert (await resp.json())["redirect_uris"] == [REDIRECT]
