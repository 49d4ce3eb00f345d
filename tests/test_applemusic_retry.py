"""Retries, error mapping, timeouts, pacing, and secrets kept out of errors and logs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import time
from email.utils import formatdate

import aiohttp
import pytest

from bot.applemusic import (
    ApiErrorEntry,
    AppleMusicClient,
    AppleMusicError,
    BadRequest,
    DeveloperTokenRejected,
    RateLimited,
    ResourceType,
    RetryPolicy,
    TokenBucketPacer,
    UpstreamError,
    UpstreamTimeout,
    UserTokenInvalid,
    parse_retry_after,
)
from bot.applemusic.errors import parse_error_entries
from tests.fixtures.apple import FAST_RETRY, AppleKey
from tests.servers.apple import LoopbackApple

SONGS = ResourceType.SONGS


async def test_two_429s_then_success(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.set_state(apple_user, "songs", "1", 1)
    apple_server.fail_next(2, 429)
    rating = await apple_client.get_rating(SONGS, "1", apple_user)
    assert rating is not None and rating.value == 1
    assert [r.status for r in apple_server.requests] == [429, 429, 200]


async def test_retry_after_is_honoured(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, 429, retry_after=0.3)
    started = time.perf_counter()
    await apple_client.set_rating(SONGS, "1", 1, apple_user)
    assert time.perf_counter() - started >= 0.29  # the fast policy alone would wait ~0.01 s
    assert [r.status for r in apple_server.requests] == [429, 200]


async def test_429_until_attempts_run_out(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(100, 429, retry_after=0.01)
    with pytest.raises(RateLimited) as caught:
        await apple_client.get_ratings(SONGS, ["1", "2"], apple_user)
    assert apple_server.count() == FAST_RETRY.max_attempts
    assert caught.value.retry_after == pytest.approx(0.01)
    assert caught.value.status == 429
    assert caught.value.code == "42900"  # Apple's errors[] entries are carried


async def test_429_without_retry_after_backs_off(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(100, 429)
    with pytest.raises(RateLimited) as caught:
        await apple_client.set_rating(SONGS, "1", -1, apple_user)
    assert caught.value.retry_after is None
    stamps = [r.timestamp for r in apple_server.requests]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) == FAST_RETRY.max_attempts
    assert all(g >= FAST_RETRY.base_delay * (1 - FAST_RETRY.jitter) * 0.9 for g in gaps)


async def test_retry_after_beyond_the_budget_gives_up_at_once(
    apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, 429, retry_after=30)
    started = time.perf_counter()
    with pytest.raises(RateLimited) as caught:
        await apple_client.get_rating(SONGS, "1", apple_user)
    assert time.perf_counter() - started < 1
    assert caught.value.retry_after == 30
    assert apple_server.count() == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried(
    status: int, apple_server: LoopbackApple, apple_client: AppleMusicClient, apple_user: str
) -> None:
    apple_server.fail_next(1, status)
    await apple_client.delete_rating(SONGS, "1", apple_user)
    assert [r.status for r in apple_server.requests] == [status, 404]


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
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str
) -> None:
    apple_server.latency = 0.5
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, max_total_wait=1, timeout=0.1)
    async with aiohttp.ClientSession() as session:
        client = AppleMusicClient(
            apple_key.developer_token(), session=session, base_url=apple_server.base_url, retry=policy
        )
        started = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await client.get_rating(SONGS, "1", apple_user)
        assert time.perf_counter() - started < 0.6  # 2 x 0.1 s timeouts, not 2 x 0.5 s answers
    assert apple_server.count() == 2


async def test_unreachable_apple_is_an_upstream_error(apple_key: AppleKey) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        client = AppleMusicClient(
            apple_key.developer_token(),
            session=session,
            base_url=f"http://127.0.0.1:{port}",
            retry=FAST_RETRY,
        )
        with pytest.raises(UpstreamError, match="Could not reach Apple Music"):
            await client.get_rating(SONGS, "1", "mut-x")


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
    assert "40008" in str(err) and "parameter type" in str(err)
    assert repr(err).startswith("BadRequest(status=400, code='40008'")


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
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(formatdate(now + 7, usegmt=True), now=lambda: now) == pytest.approx(7)
    assert parse_retry_after(formatdate(now - 7, usegmt=True), now=lambda: now) == 0.0


# ---------------------------------------------------------------- pacing


class RecordingPacer:
    """A pacer that records the calls the client makes (a real Pacer implementation, not a mock)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def acquire(self) -> None:
        self.events.append("acquire")

    def on_rate_limited(self) -> None:
        self.events.append("429")

    def on_success(self) -> None:
        self.events.append("ok")


async def test_the_pacer_is_asked_before_every_attempt(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str
) -> None:
    pacer = RecordingPacer()
    apple_server.fail_next(2, 429)
    async with aiohttp.ClientSession() as session:
        client = AppleMusicClient(
            apple_key.developer_token(),
            session=session,
            base_url=apple_server.base_url,
            retry=FAST_RETRY,
            pacer=pacer,
        )
        await client.set_rating(SONGS, "1", 1, apple_user)
    assert pacer.events == ["acquire", "429", "acquire", "429", "acquire", "ok"]


async def test_token_bucket_paces_to_its_rate() -> None:
    pacer = TokenBucketPacer(rate_per_s=50, burst=5)
    started = time.perf_counter()
    for _ in range(15):
        await pacer.acquire()
    elapsed = time.perf_counter() - started
    assert 0.17 <= elapsed < 0.5  # 5 at once, then 10 at 50/s = 0.2 s


async def test_token_bucket_serves_concurrent_waiters() -> None:
    pacer = TokenBucketPacer(rate_per_s=100, burst=1)
    started = time.perf_counter()
    await asyncio.gather(*(pacer.acquire() for _ in range(11)))
    assert 0.08 <= time.perf_counter() - started < 0.4


def test_token_bucket_is_aimd() -> None:
    clock = [0.0]
    pacer = TokenBucketPacer(rate_per_s=40, burst=2, clock=lambda: clock[0])
    pacer.on_rate_limited()
    assert pacer.rate == 20
    pacer.on_rate_limited()
    assert pacer.rate == 10
    for _ in range(5):
        pacer.on_success()
    assert pacer.rate == pytest.approx(10 + 5 * 40 / 50)
    for _ in range(1000):
        pacer.on_success()
    assert pacer.rate == 40  # never above the ceiling
    for _ in range(100):
        pacer.on_rate_limited()
    assert pacer.rate == pytest.approx(40 / 16)  # never below the floor
    assert pacer.rate_limited_count == 102


async def test_pacer_keeps_the_bot_near_a_rate_limit(
    apple_server: LoopbackApple, apple_key: AppleKey, apple_user: str
) -> None:
    policy = RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.2, max_total_wait=5, timeout=5)

    async def run(pacer: TokenBucketPacer | None) -> int:
        apple_server.reset_requests()
        apple_server.rate_limit(100, burst=5)
        async with aiohttp.ClientSession() as session:
            client = AppleMusicClient(
                apple_key.developer_token(),
                session=session,
                base_url=apple_server.base_url,
                retry=policy,
                pacer=pacer,
            )
            await asyncio.gather(*(client.set_rating(SONGS, str(n), 1, apple_user) for n in range(1, 41)))
        return sum(1 for r in apple_server.requests if r.status == 429)

    unpaced = await run(None)
    paced = await run(TokenBucketPacer(rate_per_s=90, burst=5))
    assert unpaced > 20  # without pacing, most of a burst of 40 is refused at first
    assert paced < unpaced / 4
    assert all(apple_server.rating(apple_user, "songs", str(n)) == 1 for n in range(1, 41))
