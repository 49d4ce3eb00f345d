"""End to end: what happens to a share post's reactions across restarts, edits, deletions and long downtimes.

* The last rating a member asked for is durable: an old reaction removed after a restart does not undo it.
* A post edited to another link stops counting; a deleted post (one by one or in bulk) is forgotten.
* The catch-up after downtime reads every reactor (pages of 100), within ``CATCH_UP_HOURS`` / ``CATCH_UP_MESSAGES``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import RATINGS, eventually, settled, share, writes

LIKE, DISLIKE = "👍", "👎"


def shows(discord: LoopbackDiscord, message_id: int, user_id: int) -> set[str]:
    """The 👍/👎 the user visibly has on the message."""
    return {
        str(r.emoji.get("name"))
        for r in discord.messages[message_id].reactions.values()
        if user_id in r.user_ids and r.emoji.get("name") in (LIKE, DISLIKE)
    }


async def caught_up(bot: RatingsBot) -> None:
    await asyncio.wait_for(bot.svc.sharing.caught_up.wait(), 30)
    await bot.svc.outbox.wait_until_drained(timeout=30)


async def share_and_like(bot: RatingsBot, discord: LoopbackDiscord, apple: LoopbackApple, song: str) -> int:
    """Alice links, shares ``song`` and reacts 👍; returns the post once Apple has her like and all is settled."""
    alice = discord.alice_id
    apple.add_user(ALICE_MUT)
    await bot.svc.store.link_account(alice, ALICE_MUT, "us")
    mid = await share(bot, discord, alice, song)
    await discord.add_reaction(discord.channel_id, mid, alice, LIKE)
    await eventually(lambda: apple.rating(ALICE_MUT, "songs", song) == 1, what="the like")
    await settled(bot, 1)
    return mid


# ---------------------------------------------------------------------------------------------- durable intent


@pytest.mark.both_engines
async def test_an_old_reaction_removed_after_a_restart_leaves_the_members_choice(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """Without Manage Messages alice shows 👍 and 👎 (her choice: 👎). After a restart she removes the old 👍:
    Apple keeps her dislike, as the message shows. Removing the 👎 then still clears it."""
    song = apple_server.add_song()
    alice, ch = discord_server.alice_id, discord_server.channel_id
    async with fast_bot() as first:
        mid = await share_and_like(first, discord_server, apple_server, song)
        await discord_server.add_reaction(ch, mid, alice, DISLIKE)
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the dislike")
        await settled(first, 2)
    assert shows(discord_server, mid, alice) == {LIKE, DISLIKE}, "the bot may not remove her 👍"

    async with fast_bot() as second:
        await caught_up(second)  # both shown: the catch-up leaves her alone
        await discord_server.remove_reaction(ch, mid, alice, LIKE)
        await settled(second, 1)
        assert shows(discord_server, mid, alice) == {DISLIKE}
        assert apple_server.rating(ALICE_MUT, "songs", song) == -1, "Apple's rating is what the message shows"
        assert writes(apple_server) == [("PUT", RATINGS + song), ("PUT", RATINGS + song)]

        await discord_server.remove_reaction(ch, mid, alice, DISLIKE)  # her choice removed: cleared
        await eventually(lambda: ("DELETE", RATINGS + song) in writes(apple_server), what="the clear")
        assert apple_server.rating(ALICE_MUT, "songs", song) is None


@pytest.mark.both_engines
async def test_after_a_restart_the_opposite_reaction_is_removed_where_the_bot_may(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """With Manage Messages, a 👎 added after a restart takes back the 👍 given before it (the bot remembers it)."""
    discord_server.set_bot_permissions(discord_server.guild_id, Permissions.BOT_DEFAULT | Permissions.MANAGE_MESSAGES)
    song = apple_server.add_song()
    alice, ch = discord_server.alice_id, discord_server.channel_id
    async with fast_bot() as first:
        mid = await share_and_like(first, discord_server, apple_server, song)
    async with fast_bot() as second:
        await caught_up(second)
        await eventually(lambda: second.get_guild(discord_server.guild_id).me.guild_permissions.manage_messages)  # type: ignore[union-attr]
        await discord_server.add_reaction(ch, mid, alice, DISLIKE)
        await eventually(lambda: shows(discord_server, mid, alice) == {DISLIKE}, what="the bot removing her old 👍")
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the dislike")
        await settled(second, 2)  # her 👎 and the removal of 👍 the bot made itself
    assert writes(apple_server) == [("PUT", RATINGS + song), ("PUT", RATINGS + song)], "the removal is not a clear"


async def test_a_button_press_is_the_members_latest_choice(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """👍, then the card's Dislike button (a server that turned them on): removing the 👍 afterwards leaves the
    dislike."""
    song = apple_server.add_song()
    alice, ch = discord_server.alice_id, discord_server.channel_id
    async with fast_bot() as bot:
        await bot.svc.sharing.set_share_buttons(discord_server.guild_id, True)
        mid = await share_and_like(bot, discord_server, apple_server, song)
        press = await discord_server.send_component(alice, ch, mid, f"rating:dislike:songs:{song}")
        assert (await discord_server.wait_for_callback(press)).accepted
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the button's dislike")
        await eventually(lambda: bot.svc.store.get_intent(alice, "songs", song), what="the choice remembered")
        await discord_server.remove_reaction(ch, mid, alice, LIKE)
        await settled(bot, 2)
    assert apple_server.rating(ALICE_MUT, "songs", song) == -1
    assert ("DELETE", RATINGS + song) not in writes(apple_server)


# ---------------------------------------------------------------------------------------------- edits, deletions


@pytest.fixture
def watching(bot_settings: Any) -> Any:
    return bot_settings.model_copy(update={"message_content_intent": True})


async def choose_channel(discord: LoopbackDiscord) -> None:
    admin = discord.add_user("admin")
    discord.add_member(discord.guild_id, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    rec = await discord.send_command("ratings-admin channels add", admin, discord.channel_id)
    assert (await discord.wait_for_callback(rec)).accepted


def link(song: str) -> str:
    return f"https://music.apple.com/us/song/x/{song}"


@pytest.mark.both_engines
async def test_a_post_edited_to_another_song_stops_counting(
    fast_bot: Callable[..., Any], watching: Any, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(ALICE_MUT)
    bob_token = "Ag" + "B0bMuT00" * 24
    apple_server.add_user(bob_token)
    bob = discord_server.add_user("bob")
    discord_server.add_member(discord_server.guild_id, bob)
    first_song, second_song = apple_server.add_song(), apple_server.add_song()
    alice, ch, me = discord_server.alice_id, discord_server.channel_id, discord_server.bot_user_id
    async with fast_bot(settings=watching) as bot:
        await bot.svc.store.link_account(alice, ALICE_MUT, "us")
        await bot.svc.store.link_account(bob, bob_token, "us")
        await choose_channel(discord_server)
        post = await discord_server.send_message(ch, alice, f"listen {link(first_song)}")
        await eventually(lambda: shows(discord_server, post.id, me) == {LIKE, DISLIKE}, what="the bot's 👍 👎")
        await discord_server.add_reaction(ch, post.id, alice, LIKE)
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", first_song) == 1, what="alice's like")

        await discord_server.edit_message(post.id, f"listen to this one {link(first_song)} !")  # same song
        await eventually(lambda: bot.svc.sharing.edits_handled == 1, what="the first edit")
        assert await bot.svc.store.get_shared_message(post.id) is not None, "the same song: still counting"
        assert shows(discord_server, post.id, me) == {LIKE, DISLIKE}

        await discord_server.edit_message(post.id, f"oops, I meant {link(second_song)}")
        await eventually(lambda: bot.svc.sharing.edits_handled == 2, what="the second edit")
        assert await bot.svc.store.get_shared_message(post.id) is None
        await eventually(lambda: not shows(discord_server, post.id, me), what="the bot taking back its 👍 👎")
        assert shows(discord_server, post.id, alice) == {LIKE}, "alice's reaction stays (it was for the first song)"

        await discord_server.add_reaction(ch, post.id, bob, LIKE)  # rates nothing now
        await discord_server.remove_reaction(ch, post.id, alice, LIKE)  # clears nothing
        await settled(bot, 3)
    assert apple_server.rating(ALICE_MUT, "songs", first_song) == 1
    assert apple_server.rating(bob_token, "songs", second_song) is None
    assert apple_server.rating(bob_token, "songs", first_song) is None
    assert writes(apple_server) == [("PUT", RATINGS + first_song)]


@pytest.mark.both_engines
async def test_deleted_posts_are_forgotten_one_by_one_and_in_bulk(
    fast_bot: Callable[..., Any], watching: Any, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(ALICE_MUT)
    alice, ch = discord_server.alice_id, discord_server.channel_id
    songs = [apple_server.add_song() for _ in range(4)]
    async with fast_bot(settings=watching) as bot:
        await bot.svc.store.link_account(alice, ALICE_MUT, "us")
        await choose_channel(discord_server)
        shared = [await share(bot, discord_server, alice, song) for song in songs[:2]]
        posted = []
        for song in songs[2:]:
            post = await discord_server.send_message(ch, alice, link(song))
            await eventually(lambda mid=post.id: bot.svc.store.get_shared_message(mid), what="the post recorded")
            posted.append(post.id)
        kept = shared[1]

        await discord_server.delete_message(shared[0])  # a /share card deleted by a moderator
        await eventually(lambda: _gone(bot, shared[0]), what="the deleted card forgotten")
        await discord_server.bulk_delete_messages(ch, posted)  # a moderator's purge: one MESSAGE_DELETE_BULK
        await eventually(lambda: _all_gone(bot, posted), what="the purged posts forgotten")
        assert await bot.svc.store.get_shared_message(kept) is not None

        await discord_server.add_reaction(ch, kept, alice, DISLIKE)  # the one left still counts
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", songs[1]) == -1, what="the dislike")
        await settled(bot, 1)
    assert writes(apple_server) == [("PUT", RATINGS + songs[1])]


async def _gone(bot: RatingsBot, message_id: int) -> bool:
    return await bot.svc.store.get_shared_message(message_id) is None


async def _all_gone(bot: RatingsBot, message_ids: list[int]) -> bool:
    return all([await _gone(bot, mid) for mid in message_ids])


# ---------------------------------------------------------------------------------------------- catch-up


@pytest.mark.both_engines
async def test_150_reactions_made_while_the_bot_was_offline_are_all_caught_up(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    alice, ch = discord_server.alice_id, discord_server.channel_id
    apple_server.add_user(ALICE_MUT)
    members: dict[int, str] = {}
    for i in range(150):
        user = discord_server.add_user(f"fan{i}")
        discord_server.add_member(discord_server.guild_id, user)
        members[user] = "Ag" + f"Fan{i:05d}" * 24
        apple_server.add_user(members[user])
    async with fast_bot() as first:
        await first.svc.store.link_account(alice, ALICE_MUT, "us")
        for user, token in members.items():
            await first.svc.store.link_account(user, token, "us")
        mid = await share(first, discord_server, alice, song)
    for user in members:  # nobody is listening
        await discord_server.add_reaction(ch, mid, user, LIKE)
    async with fast_bot() as second:
        await caught_up(second)
    missing = [user for user, token in members.items() if apple_server.rating(token, "songs", song) != 1]
    assert missing == [], f"{len(missing)} of 150 reactions were not caught up"
    pages = [r.query for r in discord_server.requests_to("GET", rf"/channels/{ch}/messages/{mid}/reactions/")]
    assert [p.get("limit") for p in pages] == ["100", "51"], "151 reactors (the bot too): pages of 100"
    assert "after" not in pages[0] and int(pages[1]["after"]) == sorted([*members, discord_server.bot_user_id])[99]


async def test_the_catch_up_reads_at_most_catch_up_messages_posts(
    fast_bot: Callable[..., Any], bot_settings: Any, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(ALICE_MUT)
    older, newer = apple_server.add_song(), apple_server.add_song()
    alice, ch = discord_server.alice_id, discord_server.channel_id
    async with fast_bot() as first:
        await first.svc.store.link_account(alice, ALICE_MUT, "us")
        posts = [await share(first, discord_server, alice, song) for song in (older, newer)]
    for mid in posts:
        await discord_server.add_reaction(ch, mid, alice, DISLIKE)
    async with fast_bot(settings=bot_settings.model_copy(update={"catch_up_messages": 1})) as second:
        assert second.svc.sharing.catch_up_window.messages == 1
        await caught_up(second)
    assert apple_server.rating(ALICE_MUT, "songs", newer) == -1
    assert apple_server.rating(ALICE_MUT, "songs", older) is None, "beyond CATCH_UP_MESSAGES: not read"
    assert not discord_server.requests_to("GET", rf"/channels/{ch}/messages/{posts[0]}$")
