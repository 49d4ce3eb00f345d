"""Link states, guild share channels, shared messages and notices."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.storage import LinkStateResult, SharedMessage, SqliteStore
from tests.fixtures.storage import StoreFactory

USER, OTHER = 4242, 4343
T0 = 1_700_000_000.0


# ---------------------------------------------------------------------- link states
async def test_link_state_ok_then_used(store: SqliteStore) -> None:
    await store.create_link_state("n-1", USER, T0 + 600, now=T0)
    assert await store.pending_link(USER, T0 + 1) == "n-1"
    assert await store.consume_link_state("n-1", USER, T0 + 10) is LinkStateResult.OK
    assert await store.consume_link_state("n-1", USER, T0 + 11) is LinkStateResult.USED
    assert await store.pending_link(USER, T0 + 12) is None


async def test_link_state_unknown_expired_wrong_user(store: SqliteStore) -> None:
    assert await store.consume_link_state("nope", USER, T0) is LinkStateResult.UNKNOWN
    await store.create_link_state("n-exp", USER, T0 + 600, now=T0)
    assert await store.consume_link_state("n-exp", USER, T0 + 600) is LinkStateResult.EXPIRED
    assert await store.pending_link(USER, T0 + 600) is None
    await store.create_link_state("n-mine", USER, T0 + 600, now=T0)
    assert await store.consume_link_state("n-mine", OTHER, T0 + 1) is LinkStateResult.WRONG_USER
    # A wrong user does not burn the nonce for its owner.
    assert await store.consume_link_state("n-mine", USER, T0 + 2) is LinkStateResult.OK


async def test_pending_link_is_latest_unexpired_unused(store: SqliteStore) -> None:
    await store.create_link_state("old", USER, T0 + 100, now=T0)
    await store.create_link_state("newer", USER, T0 + 700, now=T0 + 50)
    await store.create_link_state("others", OTHER, T0 + 700, now=T0 + 60)
    assert await store.pending_link(USER, T0 + 60) == "newer"
    await store.consume_link_state("newer", USER, T0 + 61)
    assert await store.pending_link(USER, T0 + 62) == "old"
    assert await store.pending_link(USER, T0 + 100) is None


async def test_duplicate_nonce_is_rejected(store: SqliteStore) -> None:
    await store.create_link_state("dup", USER, T0 + 600, now=T0)
    with pytest.raises(ValueError, match="already exists"):
        await store.create_link_state("dup", OTHER, T0 + 600, now=T0)
    with pytest.raises(ValueError):
        await store.create_link_state("", USER, T0 + 600, now=T0)


async def test_purge_expired_link_states(store: SqliteStore) -> None:
    await store.create_link_state("a", USER, T0 + 10, now=T0)
    await store.create_link_state("b", USER, T0 + 20, now=T0)
    await store.create_link_state("c", USER, T0 + 30, now=T0)
    assert await store.purge_expired_link_states(T0 + 20) == 2
    assert await store.consume_link_state("a", USER, T0 + 21) is LinkStateResult.UNKNOWN
    assert await store.consume_link_state("c", USER, T0 + 21) is LinkStateResult.OK


async def test_concurrent_consume_in_one_process(store: SqliteStore) -> None:
    await store.create_link_state("race", USER, T0 + 600, now=T0)
    results = await asyncio.gather(*(store.consume_link_state("race", USER, T0 + 1) for _ in range(10)))
    assert results.count(LinkStateResult.OK) == 1
    assert results.count(LinkStateResult.USED) == 9


async def test_concurrent_consume_across_connections(store_factory: StoreFactory) -> None:
    a = await store_factory()
    b = await store_factory()  # two connections to one file, like two bot processes
    nonces = [secrets.token_urlsafe(16) for _ in range(25)]
    for nonce in nonces:
        await a.create_link_state(nonce, USER, T0 + 600, now=T0)
    for nonce in nonces:
        results = await asyncio.gather(
            a.consume_link_state(nonce, USER, T0 + 1), b.consume_link_state(nonce, USER, T0 + 1)
        )
        assert sorted(results) == sorted([LinkStateResult.OK, LinkStateResult.USED])


async def test_link_state_keeps_the_member_and_counts_tries(store: SqliteStore) -> None:
    await store.create_link_state(
        "k-1", USER, T0 + 600, display_name="Alice (@alice)", avatar_url="https://cdn/a.png", now=T0
    )
    state = await store.get_link_state("k-1")
    assert state is not None
    assert (state.user_id, state.created_at, state.expires_at, state.used_at) == (USER, T0, T0 + 600, None)
    assert (state.display_name, state.avatar_url, state.attempts) == ("Alice (@alice)", "https://cdn/a.png", 0)
    assert (state.signin_hash, state.browser_hash) == (None, None)
    assert await store.get_link_state("nope") is None
    # tries are numbered up to the limit, then refused; an expired or used link has none
    assert [await store.count_link_attempt("k-1", 3, T0 + 1) for _ in range(4)] == [1, 2, 3, None]
    assert (await store.get_link_state("k-1")).attempts == 3  # type: ignore[union-attr]
    await store.create_link_state("k-2", USER, T0 + 600, now=T0)
    assert await store.count_link_attempt("k-2", 3, T0 + 600) is None
    assert await store.consume_link_state("k-2", USER, T0 + 2) is LinkStateResult.OK
    assert await store.count_link_attempt("k-2", 3, T0 + 3) is None
    assert await store.count_link_attempt("unknown", 3, T0) is None


async def test_link_signin_is_finished_once_and_binds_only_when_asked(store: SqliteStore) -> None:
    await store.create_link_state("k", USER, T0 + 600, now=T0)
    assert await store.begin_link_signin("k", "s-1", T0 + 1) is True
    assert await store.begin_link_signin("k", "s-2", T0 + 2) is True  # a newer sign-in replaces it
    assert await store.finish_link_signin("k", "s-1", "b-1", T0 + 3) is False
    # the wrong account: the sign-in ends, nothing is bound
    assert await store.finish_link_signin("k", "s-2", None, T0 + 3) is True
    assert await store.finish_link_signin("k", "s-2", "b-2", T0 + 3) is False  # once
    state = await store.get_link_state("k")
    assert state is not None and (state.signin_hash, state.browser_hash) == (None, None)
    assert await store.begin_link_signin("k", "s-3", T0 + 4) is True
    assert await store.finish_link_signin("k", "s-3", "b-3", T0 + 5) is True
    state = await store.get_link_state("k")
    assert state is not None and (state.signin_hash, state.browser_hash) == (None, "b-3")
    # an expired or used link starts no sign-in
    assert await store.begin_link_signin("k", "s-4", T0 + 600) is False
    assert await store.begin_link_signin("unknown", "s-5", T0) is False


async def test_concurrent_tries_across_connections_never_pass_the_limit(store_factory: StoreFactory) -> None:
    a = await store_factory()
    b = await store_factory()  # two connections, like two bot processes
    await a.create_link_state("tries", USER, T0 + 600, now=T0)
    results = await asyncio.gather(*(s.count_link_attempt("tries", 5, T0 + 1) for s in (a, b) * 20))
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert results.count(None) == 35


# ---------------------------------------------------------------------- guild settings
async def test_share_channels(store: SqliteStore) -> None:
    guild, other_guild = 10, 20
    assert await store.list_share_channels(guild) == []
    assert await store.is_share_channel(guild, 1) is False  # caches the empty set
    assert await store.add_share_channel(guild, 2) is True
    assert await store.add_share_channel(guild, 1) is True
    assert await store.add_share_channel(guild, 1) is False
    assert await store.add_share_channel(other_guild, 1) is True
    assert await store.is_share_channel(guild, 1) is True  # cache was refreshed on add
    assert await store.list_share_channels(guild) == [1, 2]
    assert await store.remove_share_channel(guild, 1) is True
    assert await store.remove_share_channel(guild, 1) is False
    assert await store.is_share_channel(guild, 1) is False
    assert await store.is_share_channel(other_guild, 1) is True


async def test_share_channels_persist(store_factory: StoreFactory) -> None:
    first = await store_factory()
    await first.add_share_channel(10, 99)
    await first.close()
    second = await store_factory()
    assert await second.is_share_channel(10, 99) is True
    assert await second.list_share_channels(10) == [99]


# ---------------------------------------------------------------------- shared messages
async def test_shared_messages(store: SqliteStore) -> None:
    first = await store.record_shared_message(501, 77, 10, "songs", "1613600188", T0)
    assert first == SharedMessage(501, 77, 10, "songs", "1613600188", T0)
    await store.record_shared_message(502, 78, None, "albums", "1613600183", T0 + 10)  # a DM
    await store.record_shared_message(503, 77, 10, "playlists", "pl.f4d106fed2bd41149aaacabb233eb5eb", T0 + 20)
    assert await store.get_shared_message(501) == first
    dm = await store.get_shared_message(502)
    assert dm is not None and dm.guild_id is None
    assert await store.get_shared_message(999) is None
    recent = await store.recent_shared_messages(T0 + 10)
    assert [m.message_id for m in recent] == [503, 502]
    assert [m.message_id for m in await store.recent_shared_messages(T0, limit=1)] == [503]
    # Re-recording a message replaces it (an edited share).
    await store.record_shared_message(501, 77, 10, "songs", "42", T0 + 5)
    edited = await store.get_shared_message(501)
    assert edited is not None and edited.item_id == "42" and edited.created_at == T0 + 5


# ---------------------------------------------------------------------- notices
async def test_claim_notice_once_per_interval(store: SqliteStore) -> None:
    day = 86400.0
    assert await store.claim_notice(USER, "not-linked", T0, day) is True
    assert await store.claim_notice(USER, "not-linked", T0 + 10, day) is False
    assert await store.claim_notice(USER, "stale", T0 + 10, day) is True  # other kind
    assert await store.claim_notice(OTHER, "not-linked", T0 + 10, day) is True  # other user
    assert await store.claim_notice(USER, "not-linked", T0 + day - 1, day) is False
    assert await store.claim_notice(USER, "not-linked", T0 + day, day) is True
    assert await store.claim_notice(USER, "not-linked", T0 + day + 1, day) is False


async def test_claim_notice_concurrently(store_factory: StoreFactory) -> None:
    a = await store_factory()
    b = await store_factory()
    results = await asyncio.gather(*(s.claim_notice(USER, "k", T0, 60) for s in (a, b, a, b)))
    assert results.count(True) == 1
