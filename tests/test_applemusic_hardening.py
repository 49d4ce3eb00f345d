"""The Apple Music client trusts Apple only as far as it must (issue 13), over real HTTP against the loopback Apple
Music API and its hostile answers:

* no redirect is followed: another host never sees a request (nor its Music-User-Token), and the caller gets an
  error that is not retried;
* a body over the cap is refused, unread when its Content-Length says so, else as soon as the read passes the cap;
  the server could not deliver it all (the client hung up), and a command that hit it says so plainly;
* a body over the off-loop threshold is decoded on a worker thread;
* a zero, negative or unreadable Retry-After never makes a back-to-back retry; a huge one gives up;
* Apple's free text (an echoed, URL-encoded token) reaches no log line, error text or stored ``last_error``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from aiohttp import web

from bot.applemusic import (
    AppleMusicClient,
    AppleMusicError,
    BadRequest,
    RateLimited,
    Redirected,
    ResourceType,
    ResponseTooLarge,
    RetryPolicy,
)
from bot.applemusic.transport import MAX_RETRY_AFTER, PARSE_OFF_LOOP_BYTES, READ_CHUNK, decode_json
from bot.ui.errors import MESSAGES
from loopback.apple import LoopbackApple, RecordedRequest
from loopback.discord import LoopbackDiscord
from tests.fixtures.apple import FAST_RETRY, AppleKey
from tests.fixtures.bot import BotFactory
from tests.fixtures.e2e import eventually, share
from tests.fixtures.storage import stored_bytes
from tests.test_applemusic_retry import Sleeps, backoffs, recorded_client
from tests.test_ratings_errors import error_reply

SONGS = ResourceType.SONGS
#: the cap the clients here read up to (the setting's default is 8 MiB; a smaller one keeps the tests light)
CAP = 1024 * 1024
#: a body far larger than the cap and than what the kernel's socket buffers can hold for a client that hung up
HUGE = 64 * 1024 * 1024
#: a music user token as Apple issues them (base64: '+', '/' and '=' change when URL-encoded)
SLASHY_MUT = "Ag" + "Sl4sh/y+mUt" * 20 + "=="
#: words of the loopback's echoing error (see `fail_next(echo_token=True)`)
ECHO_WORDS = ("Invalid value", "is not valid here")


# ---------------------------------------------------------------- fixtures


@dataclass
class Elsewhere:
    """A second HTTP server, another host as far as the client knows: records every request with its headers."""

    base_url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        return web.json_response({"data": []})


@pytest.fixture
async def elsewhere() -> AsyncIterator[Elsewhere]:
    other = Elsewhere()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", other.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    other.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield other
    finally:
        await runner.cleanup()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(apple_server: LoopbackApple, apple_key: AppleKey, sleeps: Sleeps) -> AsyncIterator[AppleMusicClient]:
    """A client reading at most CAP bytes of an answer, with seeded jitter and the recording `sleeps`."""
    async with aiohttp.ClientSession() as session:
        yield recorded_client(session, apple_key, apple_server.base_url, sleeps, max_response_bytes=CAP)


def only_request(apple_server: LoopbackApple) -> RecordedRequest:
    [rec] = apple_server.requests  # one attempt: nothing was retried
    return rec


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_an_error_and_another_host_sees_nothing(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str, elsewhere: Elsewhere, status: int
) -> None:
    apple_server.redirect_next(2, elsewhere.base_url, status=status)
    with pytest.raises(Redirected) as caught:
        await client.get_storefront(apple_user)
    with pytest.raises(Redirected):
        await client.set_rating(SONGS, "1", 1, apple_user)  # a 307/308 would repeat the PUT and its body
    assert elsewhere.requests == [], "the other host received a request"
    assert [r.status for r in apple_server.requests] == [status, status], "a redirect is not retried"
    assert caught.value.status == status
    assert str(caught.value) == f"Apple Music answered with a redirect, which is not followed (HTTP {status})"
    assert apple_server.rating(apple_user, "songs", "1") is None


# ---------------------------------------------------------------- body size


async def test_an_answer_declared_larger_than_the_cap_is_refused_unread(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.huge_body_next(1, HUGE, content_length=True)
    with pytest.raises(ResponseTooLarge) as caught:
        await client.get_storefront(apple_user)
    assert (caught.value.limit, caught.value.received) == (CAP, 0)
    rec = only_request(apple_server)
    await eventually(lambda: rec.stream_done, what="the server to stop writing")
    assert rec.bytes_written < HUGE, "the client read the whole body instead of hanging up"


@pytest.mark.parametrize("status", [200, 503])
async def test_a_streamed_answer_is_refused_once_it_passes_the_cap(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str, status: int
) -> None:
    """A chunked body (no Content-Length), a success or an error body: at most one read chunk past the cap is read,
    and it is not retried (503 is retried otherwise)."""
    apple_server.huge_body_next(1, HUGE, content_length=False, status=status)
    with pytest.raises(ResponseTooLarge) as caught:
        await client.get_ratings(SONGS, ["1", "2"], apple_user)
    assert CAP < caught.value.received <= CAP + READ_CHUNK
    assert str(caught.value) == f"Apple Music's answer is larger than the allowed size ({CAP} bytes)"
    rec = only_request(apple_server)
    await eventually(lambda: rec.stream_done, what="the server to stop writing")
    assert rec.bytes_written < HUGE, "the client read the whole body instead of hanging up"


async def test_an_answer_just_under_the_cap_is_read(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str
) -> None:
    for content_length in (True, False):
        apple_server.huge_body_next(1, CAP, content_length=content_length)
        assert await client.get_ratings(SONGS, ["1"], apple_user) == {}  # the padded body has an empty `data`
    assert [r.bytes_written for r in apple_server.requests] == [CAP, CAP]


async def test_a_large_answer_within_the_cap_is_decoded_off_the_event_loop(
    apple_server: LoopbackApple, client: AppleMusicClient
) -> None:
    album = apple_server.add_album(tracks=300)  # one page of 300 tracks: about 260 KB here, over the threshold
    tracks = await client.get_tracks(ResourceType.ALBUMS, album, "us")
    assert [t.id for t in tracks] == [i for _, i in apple_server.tracks[("albums", album)]]

    threads: list[threading.Thread] = []

    def loads(body: bytes) -> Any:
        threads.append(threading.current_thread())
        return {"size": len(body)}

    small, large = b"{}", b"[" + b" " * (PARSE_OFF_LOOP_BYTES - 1) + b"]"
    assert await decode_json(small, loads=loads) == {"size": 2}
    assert await decode_json(large, loads=loads) == {"size": PARSE_OFF_LOOP_BYTES + 1}
    assert threads[0] is threading.current_thread(), "a small body is decoded inline"
    assert threads[1] is not threading.current_thread(), "a large body is decoded on a worker thread"


async def test_a_command_that_hits_a_huge_answer_or_a_redirect_says_so(
    bot_factory: BotFactory,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    elsewhere: Elsewhere,
) -> None:
    async with bot_factory(env={"APPLE_MAX_RESPONSE_BYTES": str(CAP)}) as bot:
        apple_server.add_user(SLASHY_MUT)
        await bot.svc.store.link_account(discord_server.alice_id, SLASHY_MUT, "us")
        song = apple_server.add_song()
        apple_server.huge_body_next(1, HUGE, content_length=False, path_contains="/v1/me/ratings/")
        text, _ = await error_reply(discord_server, "rating show", {"item": song})
        assert text == "⚠️ " + str(MESSAGES[ResponseTooLarge])
        apple_server.redirect_next(1, elsewhere.base_url, path_contains="/v1/me/ratings/")
        text, _ = await error_reply(discord_server, "rating like", {"item": song})
        assert text == "⚠️ " + str(MESSAGES[Redirected])
    assert elsewhere.requests == []
    assert apple_server.rating(SLASHY_MUT, "songs", song) is None
    huge = next(r for r in apple_server.requests if r.bytes_written)
    await eventually(lambda: huge.stream_done, what="the server to stop writing")
    assert huge.bytes_written < HUGE


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    "retry_after",
    ["-5", "0", "-0.5", "0.000001", "soon", "", formatdate(1_000_000_000, usegmt=True)],  # the last: 2001, past
)
async def test_a_retry_never_fires_back_to_back(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str, sleeps: Sleeps, retry_after: str
) -> None:
    apple_server.fail_next(1, 429, retry_after=retry_after)
    await client.set_rating(SONGS, "1", 1, apple_user)
    assert [r.status for r in apple_server.requests] == [429, 200]
    [delay] = sleeps.delays
    assert delay >= FAST_RETRY.base_delay * (1 - FAST_RETRY.jitter) > 0
    if retry_after != "0.000001":
        assert sleeps.delays == backoffs(FAST_RETRY, 1), "no usable Retry-After: the policy's backoff"


async def test_a_negative_retry_after_with_the_production_policy_waits_the_backoff(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str, sleeps: Sleeps
) -> None:
    policy = RetryPolicy()  # production: 4 attempts from 0.5 s
    apple_server.fail_next(3, 429, retry_after="-1")
    async with aiohttp.ClientSession() as session:
        client = recorded_client(session, apple_key, apple_server.base_url, sleeps, retry=policy)
        await client.get_ratings(SONGS, ["1"], apple_user)
    assert sleeps.delays == backoffs(policy, 3)
    assert min(sleeps.delays) >= policy.base_delay * (1 - policy.jitter)


async def test_a_huge_retry_after_is_capped_and_gives_up_at_once(
    apple_server: LoopbackApple, client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(1, 429, retry_after="1e12")
    with pytest.raises(RateLimited) as caught:
        await client.set_rating(SONGS, "1", 1, apple_user)
    assert sleeps.delays == [], "a wait past the retry budget is not slept"
    assert caught.value.retry_after == MAX_RETRY_AFTER
    assert apple_server.count() == 1


# ---------------------------------------------------------------- Apple's free text


def leaks(text: str, token: str) -> list[str]:
    """What of `token` (as sent, URL-encoded, or a 24-character piece of either) or of Apple's echoing words
    appears in `text`."""
    forms = [token, quote(token, safe=""), quote_plus(token)]
    pieces = [form[i : i + 24] for form in forms for i in range(0, len(form) - 24, 12)]
    return [p for p in (*forms, *pieces, *ECHO_WORDS) if p in text]


async def test_an_echoed_token_stays_out_of_errors_and_logs(
    apple_server: LoopbackApple, client: AppleMusicClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    apple_server.add_user(SLASHY_MUT)
    raised: list[AppleMusicError] = []
    for status, attempts in ((400, 1), (404, 1), (409, 1), (503, FAST_RETRY.max_attempts)):
        apple_server.fail_next(attempts, status, echo_token=True, path_contains="/ratings/albums")
        with pytest.raises(AppleMusicError) as caught:
            await client.get_ratings(ResourceType.ALBUMS, ["1"], SLASHY_MUT)
        raised.append(caught.value)
    assert (
        isinstance(raised[0], BadRequest) and str(raised[0]) == "Apple Music refused the request (HTTP 400): code 40000"
    )
    assert [e.code for e in raised] == ["40000", "40400", "40900", "50300"]
    # the server did echo the token; the entries hold Apple's words in memory, the token redacted even there
    assert raised[0].errors[0].detail == "The value '[redacted]' is not valid here"
    texts = [str(e) for e in raised] + [repr(e) for e in raised] + [repr(e.errors) for e in raised]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("HTTP 503" in r.getMessage() for r in caplog.records)  # the logs did say something
    assert [leaks(text, SLASHY_MUT) for text in texts] == [[] for _ in texts]


@pytest.mark.both_engines
async def test_an_echoed_token_is_neither_logged_nor_stored_by_the_running_bot(
    fast_bot: Callable[..., Any],
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A reaction whose rating Apple keeps failing (503: kept in the outbox with its last_error, retried) and one
    Apple refuses (400: dropped with a WARNING), both with errors quoting the URL-encoded token."""
    caplog.set_level(logging.DEBUG)
    alice = discord_server.alice_id
    apple_server.add_user(SLASHY_MUT)
    kept, dropped = apple_server.add_song(), apple_server.add_song()
    async with fast_bot() as bot:
        await bot.svc.store.link_account(alice, SLASHY_MUT, "us")
        kept_post = await share(bot, discord_server, alice, kept)
        dropped_post = await share(bot, discord_server, alice, dropped)
        apple_server.fail_next(10_000, 503, echo_token=True, path_contains=f"/songs/{kept}")
        apple_server.fail_next(1, 400, echo_token=True, path_contains=f"/songs/{dropped}")
        await discord_server.add_reaction(discord_server.channel_id, kept_post, alice, "👍")
        await discord_server.add_reaction(discord_server.channel_id, dropped_post, alice, "👎")

        async def settled() -> list[Any] | None:
            rows = await bot.svc.store.pending_for_user(alice)
            failed = [r for r in rows if r.attempts >= 1]
            dropped_done = apple_server.count("PUT", f"/v1/me/ratings/songs/{dropped}") == 1 and all(
                r.item_id != dropped for r in rows
            )
            return failed if failed and dropped_done else None

        [row] = await eventually(settled, what="one kept failure and one dropped rating")
        await bot.svc.outbox.stop()  # nothing else is attempted (or logged) while the texts are read
    puts = [r.status for r in apple_server.requests if r.method == "PUT"]
    assert puts.count(503) >= FAST_RETRY.max_attempts and puts.count(400) == 1 and 200 not in puts
    assert row.item_id == kept and row.last_error is not None
    assert "HTTP 503" in row.last_error and "50300" in row.last_error
    assert any("dropping" in r.getMessage() and "HTTP 400" in r.getMessage() for r in caplog.records)
    assert leaks(row.last_error, SLASHY_MUT) == []
    assert leaks(caplog.text, SLASHY_MUT) == []
    assert [leaks(r.getMessage(), SLASHY_MUT) for r in caplog.records] == [[] for _ in caplog.records]
    stored = (await stored_bytes(database_url)).decode("latin-1")
    assert leaks(stored, SLASHY_MUT) == []


@pytest.mark.parametrize("fault", ["redirect", "huge"])
async def test_a_reaction_rating_that_meets_a_redirect_or_a_huge_answer_is_kept_and_applied_later(
    fast_bot: Callable[..., Any],
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    elsewhere: Elsewhere,
    fault: str,
) -> None:
    """Not the rating's fault: the outbox keeps it (as for a refused developer token) and applies it later."""
    alice = discord_server.alice_id
    apple_server.add_user(SLASHY_MUT)
    song = apple_server.add_song()
    async with fast_bot(env={"APPLE_MAX_RESPONSE_BYTES": str(CAP)}) as bot:
        await bot.svc.store.link_account(alice, SLASHY_MUT, "us")
        post = await share(bot, discord_server, alice, song)
        if fault == "redirect":
            apple_server.redirect_next(1, elsewhere.base_url, path_contains=f"/songs/{song}")
        else:
            apple_server.huge_body_next(1, HUGE, content_length=False, path_contains=f"/songs/{song}")
        await discord_server.add_reaction(discord_server.channel_id, post, alice, "👍")
        await eventually(lambda: apple_server.rating(SLASHY_MUT, "songs", song) == 1, what="the like, applied later")
        await bot.svc.outbox.wait_until_drained()  # Apple has it; the row is completed right after
        assert await bot.svc.store.pending_for_user(alice) == []
    assert [r.status for r in apple_server.requests if r.method == "PUT"][-1] == 200
    assert elsewhere.requests == []
