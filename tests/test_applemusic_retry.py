"""Retries, error mapping, timeouts, pacing, and secrets kept out of errors and logs.

Time is injected: the clients here wait between retries with `Sleeps`, which records each delay and returns
at once, so the tests assert the exact delays asked for instead of measuring wall-clock time.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.applemusic import (
    ApiErrorEntry,
    AppleMusicClient,
    AppleMusicError,
    BadRequest,
    DeveloperTokenRejected,
    NotFound,
    Priority,
    RateLimited,
    Redirected,
    ResourceType,
    RetryPolicy,
    UpstreamError,
    UpstreamTimeout,
    UserTokenInvalid,
    parse_retry_after,
)
from bot.applemusic.errors import STATUS_ERRORS, error_class, error_for_status, parse_error_entries
from bot.applemusic.retry import Retry, RetryingSender, decide, retry_rate_limited, retry_upstream
from bot.applemusic.transport import MAX_RETRY_AFTER, HttpTransport, NoAnswer, Outcome, Request, Response
from bot.retrying import Backoff
from loopback.apple import LoopbackApple
from tests.fixtures.apple import FAST_RETRY, AppleKey

SONGS = ResourceType.SONGS
#: Seed of the clients' jitter; the tests draw the same numbers from their own `random.Random(SEED)`.
SEED = 12


class Sleeps:
    """An injected `sleep`: records every delay asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def backoffs(policy: RetryPolicy, retries: int) -> list[float]:
    """The delays a client seeded with SEED computes for its first `retries` backoffs."""
    rng = random.Random(SEED)
    return [policy.backoff(n, rng) for n in range(1, retries + 1)]


def recorded_client(
    session: aiohttp.ClientSession, key: AppleKey, base_url: str, sleeps: Sleeps, **kwargs: Any
) -> AppleMusicClient:
    """A client with seeded jitter that waits through `sleeps`; FAST_RETRY unless `retry=` says otherwise."""
    kwargs.setdefault("retry", FAST_RETRY)
    token = key.developer_token()
    return AppleMusicClient(token, session=session, base_url=base_url, rng=random.Random(SEED), sleep=sleeps, **kwargs)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def apple_client(
    apple_server: LoopbackApple, apple_key: AppleKey, sleeps: Sleeps
) -> AsyncIterator[AppleMusicClient]:
    """Like the shared `apple_client` (FAST_RETRY), with seeded jitter and the recording `sleeps`."""
    async with aiohttp.ClientSession() as session:
        yield recorded_client(session, apple_key, apple_server.base_url, sleeps)


async def test_two_429s_then_success(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.set_state(apple_user, "songs", "1", 1)
    apple_server.fail_next(2, 429)
    rating = await apple_client.get_rating(SONGS, "1", apple_user)
    assert rating is not None and rating.value == 1
    assert [r.status for r in apple_server.requests] == [429, 429, 200]
    assert sleeps.delays == backoffs(FAST_RETRY, 2)


async def test_retry_after_is_honoured(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(1, 429, retry_after=0.3)
    await apple_client.set_rating(SONGS, "1", 1, apple_user)
    assert sleeps.delays == [0.3]  # Apple's word, not the fast policy's ~0.01 s
    assert [r.status for r in apple_server.requests] == [429, 200]


async def test_429_until_attempts_run_out(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(100, 429, retry_after=0.01)
    with pytest.raises(RateLimited) as caught:
        await apple_client.get_ratings(SONGS, ["1", "2"], apple_user)
    assert apple_server.count() == FAST_RETRY.max_attempts
    assert sleeps.delays == [0.01] * (FAST_RETRY.max_attempts - 1)
    assert caught.value.retry_after == pytest.approx(0.01)
    assert caught.value.status == 429
    assert caught.value.code == "42900"  # Apple's errors[] entries are carried


async def test_429_without_retry_after_backs_off(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(100, 429)
    with pytest.raises(RateLimited) as caught:
        await apple_client.set_rating(SONGS, "1", -1, apple_user)
    assert caught.value.retry_after is None
    assert apple_server.count() == FAST_RETRY.max_attempts
    assert sleeps.delays == backoffs(FAST_RETRY, FAST_RETRY.max_attempts - 1)
    # 0.01, 0.02, 0.04 s +/- 25 %: the ranges do not overlap, so every wait is longer than the one before.
    assert sleeps.delays == sorted(set(sleeps.delays))


async def test_retry_after_beyond_the_budget_gives_up_at_once(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(1, 429, retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await apple_client.get_rating(SONGS, "1", apple_user)
    assert sleeps.delays == []  # 30 s is past FAST_RETRY's 2 s budget: no wait at all
    assert caught.value.retry_after == 30
    assert apple_server.count() == 1


async def test_the_budget_counts_every_wait(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(100, 429, retry_after=0.9)
    with pytest.raises(RateLimited):
        await apple_client.get_rating(SONGS, "1", apple_user)
    assert sleeps.delays == [0.9, 0.9]  # a third 0.9 s would make 2.7 s, past the 2 s budget
    assert apple_server.count() == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried(
    status: int, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.fail_next(1, status)
    await apple_client.delete_rating(SONGS, "1", apple_user)
    assert [r.status for r in apple_server.requests] == [status, 404]
    assert sleeps.delays == backoffs(FAST_RETRY, 1)


async def test_5xx_until_attempts_run_out(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(100, 500)
    with pytest.raises(UpstreamError) as caught:
        await apple_client.get_rating(SONGS, "1", apple_user)
    assert caught.value.status == 500
    assert caught.value.errors and caught.value.errors[0].status == "500"
    assert apple_server.count() == FAST_RETRY.max_attempts


async def test_401_is_not_retried_and_its_empty_body_parses(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(5, 401)
    with pytest.raises(DeveloperTokenRejected) as caught:
        await apple_client.get_rating(SONGS, "1", apple_user)
    assert caught.value.status == 401
    assert caught.value.errors == ()
    assert caught.value.code is None
    assert apple_server.count() == 1
    assert apple_server.requests[0].status == 401


async def test_a_wrong_developer_key_gives_developer_token_rejected(
    apple_server: LoopbackApple, apple_user: str
) -> None:
    from bot.applemusic import generate_private_key

    stranger = AppleKey(pem=generate_private_key(), public_pem="")
    async with aiohttp.ClientSession() as session:
        client = AppleMusicClient(
            stranger.developer_token(), session=session, base_url=apple_server.base_url, retry=FAST_RETRY
        )
        with pytest.raises(DeveloperTokenRejected):
            await client.get_rating(SONGS, "1", apple_user)
    assert apple_server.count() == 1


async def test_no_subscription_gives_401(apple_server: LoopbackApple, apple_client: AppleMusicClient) -> None:
    token = apple_server.add_user("mut-nosub-000111222333", subscription=False)
    with pytest.raises(DeveloperTokenRejected):
        await apple_client.set_rating(SONGS, "1", 1, token)
    assert apple_server.count() == 1


@pytest.mark.parametrize("how", ["unknown", "revoked", "expired-mid-run"])
async def test_403_is_not_retried_and_maps_to_user_token_invalid(
    how: str, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    token = "mut-never-seen-by-apple" if how == "unknown" else apple_user
    if how == "revoked":
        apple_server.revoke(apple_user)
    if how == "expired-mid-run":
        apple_server.expire_after(apple_user, 2)
        await apple_client.set_rating(SONGS, "1", 1, apple_user)
        await apple_client.get_rating(SONGS, "1", apple_user)
        apple_server.reset_requests()
    with pytest.raises(UserTokenInvalid) as caught:
        await apple_client.get_rating(SONGS, "1", token)
    assert caught.value.status == 403
    assert caught.value.code == "40300"
    assert apple_server.count() == 1


async def test_400_maps_to_bad_request_with_apples_code(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, 400)
    with pytest.raises(BadRequest) as caught:
        await apple_client.get_ratings(SONGS, ["1"], apple_user)
    assert caught.value.code == "40000"
    assert apple_server.count() == 1


async def test_other_4xx_are_apple_music_errors(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, 409)
    with pytest.raises(AppleMusicError) as caught:
        await apple_client.set_rating(SONGS, "1", 1, apple_user)
    assert type(caught.value) is AppleMusicError
    assert caught.value.status == 409


async def test_timeouts_are_retried_then_upstream_timeout(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str, sleeps: Sleeps
) -> None:
    apple_server.latency = 5  # far longer than the 0.1 s timeout: each attempt times out
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, max_total_wait=1, timeout=0.1)
    async with aiohttp.ClientSession() as session:
        client = recorded_client(session, apple_key, apple_server.base_url, sleeps, retry=policy)
        with pytest.raises(UpstreamTimeout) as caught:
            await client.get_rating(SONGS, "1", apple_user)
    assert str(caught.value) == "Apple Music did not answer within 0.1 s"
    assert caught.value.status is None
    assert apple_server.count() == 2
    assert sleeps.delays == backoffs(policy, 1)


async def test_unreachable_apple_is_an_upstream_error(apple_key: AppleKey, sleeps: Sleeps) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = recorded_client(session, apple_key, f"http://127.0.0.1:{port}", sleeps)
        with pytest.raises(UpstreamError, match="Could not reach Apple Music") as caught:
            await client.get_rating(SONGS, "1", "mut-x")
    assert caught.value.status is None
    assert sleeps.delays == backoffs(FAST_RETRY, FAST_RETRY.max_attempts - 1)  # retried like a 5xx


async def test_a_chunk_failure_fails_the_call_and_cancels_the_rest(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, 403)
    with pytest.raises(UserTokenInvalid):
        await apple_client.get_ratings(SONGS, [str(n) for n in range(1, 301)], apple_user)


# ---------------------------------------------------------------- secrets


async def test_tokens_never_appear_in_errors_or_logs(
    apple_server: LoopbackApple,
    apple_client: AppleMusicClient,
    apple_user: str,
    apple_key: AppleKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dev_token = apple_key.developer_token().token
    raised: list[AppleMusicError] = []
    apple_server.fail_next(100, 429, path_contains="/songs/")
    for failure in [(1, 401), (1, 403), (1, 400), (100, 500)]:
        apple_server.fail_next(*failure, path_contains="/albums/")
        with pytest.raises(AppleMusicError) as caught:
            await apple_client.get_rating(ResourceType.ALBUMS, "1", apple_user)
        raised.append(caught.value)
    with pytest.raises(RateLimited) as limited:
        await apple_client.set_rating(SONGS, "1", 1, apple_user)
    raised.append(limited.value)
    apple_server.revoke(apple_user)
    with pytest.raises(UserTokenInvalid) as revoked:
        await apple_client.get_storefront(apple_user)
    raised.append(revoked.value)

    secrets = [apple_user, dev_token, dev_token.split(".")[1], apple_key.pem.splitlines()[1]]
    texts = [str(e) for e in raised] + [repr(e) for e in raised] + [repr(e.errors) for e in raised]
    texts += [r.getMessage() for r in caplog.records] + [repr(apple_client)]
    assert any("retry" in r.getMessage() for r in caplog.records)  # the logs did say something
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_error_entries_are_redacted_and_parsed_defensively() -> None:
    entry = ApiErrorEntry.from_api({"title": "Bad token mut-secret-1", "code": 40300, "status": "403"})
    assert entry.code == "40300"
    clean = entry.redacted(["mut-secret-1"])
    assert clean.title == "Bad token [redacted]"
    for payload in [None, "", b"", [], {"errors": "x"}, {"errors": [1, None]}, {"errors": [{}]}]:
        entries = parse_error_entries(payload)
        assert all(isinstance(e, ApiErrorEntry) for e in entries)
    full = parse_error_entries(
        {
            "errors": [
                {
                    "id": "X",
                    "title": "Invalid Path Value",
                    "detail": "bad type",
                    "status": "400",
                    "code": "40008",
                    "source": {"parameter": "type"},
                }
            ]
        }
    )
    err = BadRequest(status=400, errors=full)
    assert err.code == "40008"
    # status and code only: Apple's free text (title, detail, source) stays on the entries, out of str and repr
    assert str(err) == "Apple Music refused the request (HTTP 400): code 40008"
    assert repr(err).startswith("BadRequest(status=400, code='40008'")
    assert full[0].detail == "bad type" and "bad type" not in repr(full) and "Invalid Path" not in repr(full)


def test_error_tree() -> None:
    for cls in (
        DeveloperTokenRejected,
        UserTokenInvalid,
        BadRequest,
        RateLimited,
        UpstreamError,
        UpstreamTimeout,
    ):
        assert issubclass(cls, AppleMusicError)
        assert str(cls())  # a default message without any arguments


# ---------------------------------------------------------------- policy and Retry-After


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=0.25)
    rng = random.Random(1)
    for retry, nominal in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 4.0)]:
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert min(delays) >= nominal * 0.75 - 1e-9
        assert max(delays) <= min(4.0, nominal * 1.25) + 1e-9
        assert max(delays) - min(delays) > 0  # jitter is real
    assert RetryPolicy(jitter=0).backoff(1) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay": -1}, {"timeout": 0}, {"jitter": 1.0}, {"max_total_wait": -0.1}],
)
def test_retry_policy_validates(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    # zero, negative and past mean nothing usable: absent (the backoff applies), never "retry at once"
    assert parse_retry_after("-3") is None
    assert parse_retry_after("0") is None
    assert parse_retry_after("-inf") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(formatdate(now + 7, usegmt=True), now=lambda: now) == pytest.approx(7)
    assert parse_retry_after(formatdate(now - 7, usegmt=True), now=lambda: now) is None
    # huge is capped (the retry budget then gives up)
    assert parse_retry_after("1e308") == MAX_RETRY_AFTER
    assert parse_retry_after("inf") == MAX_RETRY_AFTER
    assert parse_retry_after(formatdate(now + 10 * 86_400, usegmt=True), now=lambda: now) == MAX_RETRY_AFTER


# ---------------------------------------------------------------- pacing


class RecordingPacer:
    """A pacer that records the calls the client makes (a real Pacer implementation, not a mock)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def acquire(self, priority: Priority = Priority.INTERACTIVE) -> float:
        self.events.append("acquire")
        return 0.0

    def on_rate_limited(self, granted_at: float) -> None:
        self.events.append("429")

    def on_success(self, granted_at: float) -> None:
        self.events.append("ok")


async def test_the_pacer_is_asked_before_every_attempt(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str, sleeps: Sleeps
) -> None:
    pacer = RecordingPacer()
    async with aiohttp.ClientSession() as session:
        client = recorded_client(session, apple_key, apple_server.base_url, sleeps, pacer=pacer)
        apple_server.fail_next(2, 429)
        await client.set_rating(SONGS, "1", 1, apple_user)
        assert pacer.events == ["acquire", "429", "acquire", "429", "acquire", "ok"]

        pacer.events.clear()
        apple_server.fail_next(1, 503)
        await client.get_rating(SONGS, "1", apple_user)
        assert pacer.events == ["acquire", "acquire", "ok"]  # a 5xx says nothing about our pace

        pacer.events.clear()
        apple_server.revoke(apple_user)
        with pytest.raises(UserTokenInvalid):
            await client.get_rating(SONGS, "1", apple_user)
        assert pacer.events == ["acquire", "ok"]  # a refusal is still an answer at our pace
    assert len(sleeps.delays) == 3


# ---------------------------------------------------------------- the layers, one at a time


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, DeveloperTokenRejected),
        (403, UserTokenInvalid),
        (404, NotFound),
        (429, RateLimited),
        (500, UpstreamError),
        (502, UpstreamError),
        (503, UpstreamError),
        (504, UpstreamError),
        (599, UpstreamError),
        (302, Redirected),
        (307, Redirected),
        (405, AppleMusicError),
        (409, AppleMusicError),
    ],
)
def test_status_to_error_table(status: int, cls: type[AppleMusicError]) -> None:
    entries = parse_error_entries({"errors": [{"status": str(status), "code": f"{status}00", "title": "Why"}]})
    error = error_for_status(status, entries)
    assert error_class(status) is cls
    assert type(error) is cls
    assert (error.status, error.errors, error.code) == (status, entries, f"{status}00")
    assert str(error) == f"{cls.default_message} (HTTP {status}): code {status}00"  # never Apple's "Why"
    assert set(STATUS_ERRORS) == {400, 401, 403, 404, 429}  # the rest is the 3xx and 5xx rules and the base type


def test_only_rate_limited_keeps_retry_after() -> None:
    limited = error_for_status(429, retry_after=1.5)
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    silent = error_for_status(429)
    assert isinstance(silent, RateLimited) and silent.retry_after is None
    assert not hasattr(error_for_status(503, retry_after=1.5), "retry_after")


DECISION_CASES = [
    ("429 with Retry-After", RateLimited(retry_after=2.0), Retry(after=2.0)),
    ("429 without", RateLimited(), Retry()),
    ("5xx", UpstreamError(status=503), Retry()),
    ("no connection", UpstreamError("Could not reach Apple Music (ClientConnectorError)"), Retry()),
    ("timeout", UpstreamTimeout(), Retry()),
    ("403", UserTokenInvalid(status=403), None),
    ("401", DeveloperTokenRejected(status=401), None),
    ("400", BadRequest(status=400), None),
    ("404", NotFound(status=404), None),
    ("409", AppleMusicError(status=409), None),
]


@pytest.mark.parametrize(("error", "expected"), [c[1:] for c in DECISION_CASES], ids=[c[0] for c in DECISION_CASES])
def test_retry_decisions(error: AppleMusicError, expected: Retry | None) -> None:
    assert decide(error) == expected


def test_each_decision_claims_only_its_own_errors_and_the_first_claim_wins() -> None:
    assert retry_rate_limited(UpstreamError(status=500)) is None
    assert retry_upstream(RateLimited()) is None
    assert decide(UpstreamError(status=500), [retry_rate_limited]) is None
    assert decide(RateLimited(retry_after=1), [lambda e: Retry(after=9), retry_rate_limited]) == Retry(after=9)
    assert decide(RateLimited(), []) is None


class ScriptedSender:
    """A `Sender` that answers from a script (a real implementation of the protocol, without HTTP)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Outcome:
        self.sent.append(request)
        return self.outcomes.pop(0)


def retrying(sender: ScriptedSender, sleeps: Sleeps, **kwargs: Any) -> RetryingSender:
    log = logging.getLogger("test.retry")
    return RetryingSender(sender, FAST_RETRY, rng=random.Random(SEED), log=log, sleep=sleeps, **kwargs)


async def test_retrying_sender_backs_off_after_no_answer(sleeps: Sleeps) -> None:
    timeout = NoAnswer(UpstreamTimeout("Apple Music did not answer within 0.1 s"), "timeout")
    ok = Response(200, {"data": []})
    sender = ScriptedSender(timeout, timeout, ok)
    assert await retrying(sender, sleeps).send(Request("GET", "/v1/me/storefront")) is ok
    assert len(sender.sent) == 3
    assert sleeps.delays == backoffs(FAST_RETRY, 2)


@pytest.mark.parametrize("not_found_ok", [True, False])
async def test_not_found_ok_makes_a_404_an_answer(not_found_ok: bool, sleeps: Sleeps) -> None:
    not_found = Response(404, None, parse_error_entries({"errors": [{"code": "40400"}]}))
    sender = ScriptedSender(not_found)
    request = Request("DELETE", "/v1/me/ratings/songs/1", not_found_ok=not_found_ok)
    if not_found_ok:
        assert await retrying(sender, sleeps).send(request) is not_found
    else:
        with pytest.raises(NotFound) as caught:
            await retrying(sender, sleeps).send(request)
        assert caught.value.code == "40400"
    assert (len(sender.sent), sleeps.delays) == (1, [])


async def test_decisions_are_replaceable(sleeps: Sleeps) -> None:
    sender = ScriptedSender(Response(503, None))
    with pytest.raises(UpstreamError):
        await retrying(sender, sleeps, decisions=[retry_rate_limited]).send(Request("GET", "/v1/me/storefront"))
    assert (len(sender.sent), sleeps.delays) == (1, [])


async def test_retries_are_logged_as_before(sleeps: Sleeps, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.retry")
    limited = Response(429, None, retry_after=0.5)
    sender = ScriptedSender(*[limited] * FAST_RETRY.max_attempts)
    with pytest.raises(RateLimited):
        await retrying(sender, sleeps).send(Request("PUT", "/v1/me/ratings/songs/1"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "Apple Music PUT /v1/me/ratings/songs/1: HTTP 429, retry 1/3 in 0.50 s"),
        ("INFO", "Apple Music PUT /v1/me/ratings/songs/1: HTTP 429, retry 2/3 in 0.50 s"),
        ("INFO", "Apple Music PUT /v1/me/ratings/songs/1: HTTP 429, retry 3/3 in 0.50 s"),
        ("WARNING", "Apple Music PUT /v1/me/ratings/songs/1 failed after 4 attempts: HTTP 429"),
    ]
    caplog.clear()
    sender = ScriptedSender(Response(429, None, retry_after=0.5), Response(429, None, retry_after=1.6))
    with pytest.raises(RateLimited):
        await retrying(sender, sleeps).send(Request("GET", "/v1/me/storefront"))
    assert [r.getMessage() for r in caplog.records] == [
        "Apple Music GET /v1/me/storefront: HTTP 429, retry 1/3 in 0.50 s",
        "Apple Music GET /v1/me/storefront: HTTP 429; next wait 1.60 s would exceed the 2.00 s budget",
    ]


async def test_the_transport_makes_one_attempt_and_reports_what_apple_said(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str
) -> None:
    storefront = Request("GET", "/v1/me/storefront", user_token=apple_user)
    async with aiohttp.ClientSession() as session:
        transport = HttpTransport(session, URL(apple_server.base_url), apple_key.developer_token(), timeout=5)
        apple_server.fail_next(1, 429, retry_after=0.25)
        limited = await transport.send(storefront)
        answered = await transport.send(storefront)
    assert isinstance(limited, Response)
    assert (limited.status, limited.retry_after, [e.code for e in limited.errors]) == (429, 0.25, ["42900"])
    assert isinstance(answered, Response)
    assert (answered.status, answered.errors, answered.retry_after) == (200, (), None)
    assert answered.payload["data"][0]["id"] == "us"
    assert [r.status for r in apple_server.requests] == [429, 200]
    assert apple_user not in repr(storefront)


async def test_tokens_apple_echoes_are_redacted_from_its_error_entries(apple_key: AppleKey) -> None:
    """Apple is not known to echo tokens in errors; if it ever does, they never reach an error or a log."""

    async def echo(request: web.Request) -> web.Response:
        user = request.headers["Music-User-Token"]
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        entry = {"status": "400", "code": "40000", "title": f"Bad token {user}", "detail": f"with {bearer}"}
        return web.json_response({"errors": [entry]}, status=400)

    app = web.Application()
    app.router.add_get("/v1/me/storefront", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            client = recorded_client(session, apple_key, f"http://127.0.0.1:{runner.addresses[0][1]}", Sleeps())
            with pytest.raises(BadRequest) as caught:
                await client.get_storefront("mut-echoed-secret-42")
    finally:
        await runner.cleanup()
    assert caught.value.errors[0].title == "Bad token [redacted]"
    assert caught.value.errors[0].detail == "with [redacted]"
    assert str(caught.value) == "Apple Music refused the request (HTTP 400): code 40000"


# ---------------------------------------------------------------- one backoff formula


def client_backoff_before(policy: RetryPolicy, retry: int, rng: random.Random) -> float:
    """`RetryPolicy.backoff` as it was written before `Backoff` existed."""
    delay = min(policy.max_delay, policy.base_delay * (2.0 ** max(0, retry - 1)))
    if policy.jitter:
        delay *= rng.uniform(1 - policy.jitter, 1 + policy.jitter)
    return min(policy.max_delay, delay)


def outbox_backoff_before(attempts: int, rng: random.Random) -> float:
    """`OutboxConfig.backoff` with its defaults (retry_base 2 s, retry_max 600 s), as written before."""
    return min(600.0, 2.0 * (2.0 ** max(0, attempts - 1))) * rng.uniform(0.5, 1.0)


def store_retry_delays_before(n: int) -> list[float]:
    """The sharing cog's store-retry waits, as its loop computed them."""
    delays, delay = [], 0.25
    for _ in range(n):
        delays.append(delay)
        delay = min(delay * 2, 10.0)
    return delays


@pytest.mark.parametrize(
    "policy", [RetryPolicy(), FAST_RETRY, RetryPolicy(jitter=0), RetryPolicy(base_delay=0.3, max_delay=4, jitter=0.5)]
)
def test_backoff_reproduces_the_clients_formula(policy: RetryPolicy) -> None:
    ours, before = random.Random(3), random.Random(3)
    assert [policy.backoff(n, ours) for n in range(15)] == [client_backoff_before(policy, n, before) for n in range(15)]
    assert ours.getstate() == before.getstate()  # the same random numbers were drawn, no more
    assert policy.backoff_formula == Backoff(
        policy.base_delay, policy.max_delay, (1 - policy.jitter, 1 + policy.jitter)
    )


def test_backoff_reproduces_the_outbox_formula() -> None:
    outbox = Backoff(2.0, 600.0, jitter=(0.5, 1.0))
    ours, before = random.Random(4), random.Random(4)
    assert [outbox.delay(n, ours) for n in range(15)] == [outbox_backoff_before(n, before) for n in range(15)]


def test_backoff_reproduces_the_store_retry() -> None:
    store = Backoff(0.25, 10.0)
    rng = random.Random(5)
    state = rng.getstate()
    delays = [store.delay(n, rng) for n in range(1, 11)]
    assert delays == store_retry_delays_before(10) == [0.25, 0.5, 1, 2, 4, 8, 10, 10, 10, 10]
    assert rng.getstate() == state  # no jitter: nothing drawn


def test_backoff_is_bounded_for_any_attempt() -> None:
    assert Backoff(0.5, 8.0, (0.75, 1.25)).delay(10_000, random.Random(1)) <= 8.0
    assert Backoff(0.0, 8.0).delay(10_000) == 0.0


@pytest.mark.parametrize(
    "args", [(-0.1, 1.0, (1.0, 1.0)), (0.1, -1.0, (1.0, 1.0)), (0.1, 1.0, (1.2, 0.8)), (0.1, 1.0, (-0.5, 1.0))]
)
def test_backoff_validates(args: tuple[float, float, tuple[float, float]]) -> None:
    with pytest.raises(ValueError):
        Backoff(*args)
