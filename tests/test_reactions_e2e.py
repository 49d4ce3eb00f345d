"""End to end: /share, 👍/👎 reactions → durable outbox → Apple Music, with the loopback Discord and Apple.

The bot runs with a short debounce (0.2 s) so bursts collapse fast; everything else is the real code path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.services.outbox import OutboxConfig
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import (
    FAST_OUTBOX,
    RATINGS,
    buttons,
    eventually,
    handled,
    message_text,
    settled,
    share,
    writes,
)


@pytest.fixture
async def bot(fast_bot: Callable[..., Any]) -> AsyncIterator[RatingsBot]:
    async with fast_bot() as running:
        yield running


@pytest.fixture
async def alice(bot: RatingsBot, apple_server: LoopbackApple, discord_server: LoopbackDiscord) -> int:
    apple_server.add_user(ALICE_MUT, storefront="us")
    await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
    return discord_server.alice_id


# ---------------------------------------------------------------------------------------------- /share


async def test_share_posts_a_quiet_card_rated_with_reactions_only(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    song = apple_server.add_song(name="Entropy", artist="Grimes", album="Miss Anthropocene")
    mid = await share(bot, discord_server, alice, song)
    msg = discord_server.messages[mid]
    assert msg.author_id == discord_server.bot_user_id and msg.channel_id == discord_server.channel_id
    embed = msg.embeds[0]
    assert embed["title"] == "Entropy" and embed["url"].startswith("https://music.apple.com/")
    assert embed["description"] == "Grimes · Miss Anthropocene"
    # nobody's rating, not who shared it (Discord says so above the card), one hint: the reactions
    assert "fields" not in embed and "author" not in embed
    assert embed["footer"]["text"] == "React 👍 or 👎 to rate it in your own Apple Music."
    # one way to rate: the reactions; and (on by default) the song's song.link page, for members without Apple Music
    assert [(b["style"], b["label"], b["url"]) for b in buttons(msg.components)] == [
        (5, "Listen on other services", f"https://song.link/i/{song}")
    ]
    shared = await bot.svc.store.get_shared_message(mid)
    assert shared is not None and (shared.item_type, shared.item_id) == ("songs", song)
    assert not writes(apple_server), "sharing rates nothing"


async def test_a_server_can_turn_share_buttons_on_and_off(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    song = apple_server.add_song(name="Button Share")
    admin = discord_server.add_user("admin")
    discord_server.add_member(discord_server.guild_id, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)

    async def switch(setting: str) -> str:
        rec = await discord_server.send_command(
            "ratings-admin share-buttons", admin, discord_server.channel_id, {"setting": setting}
        )
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None and callback.data["flags"] & (1 << 6)
        return str(callback.data["content"])

    assert not await bot.svc.store.share_buttons(discord_server.guild_id), "off unless a server turns them on"
    on = "From now on, `/share` cards in this server have Like and Dislike buttons besides 👍 👎."
    assert await switch("on") == on
    assert await switch("on") == "`/share` cards already have Like and Dislike buttons besides 👍 👎."
    assert await bot.svc.store.share_buttons(discord_server.guild_id)
    msg = discord_server.messages[await share(bot, discord_server, alice, song)]
    found = [(b.get("custom_id"), b["label"], b["style"]) for b in buttons(msg.components)]
    # quiet grey buttons, no state: each press answers the presser privately
    assert found == [
        (f"rating:like:songs:{song}", "Like", 2),
        (f"rating:dislike:songs:{song}", "Dislike", 2),
        (None, "Listen on other services", 5),
    ]
    assert "footer" in msg.embeds[0] and "author" not in msg.embeds[0]

    off = "From now on, `/share` cards in this server have only the 👍 👎 reactions, no buttons."
    assert await switch("off") == off
    assert not await bot.svc.store.share_buttons(discord_server.guild_id)
    msg = discord_server.messages[await share(bot, discord_server, alice, song)]
    assert [b["label"] for b in buttons(msg.components)] == ["Listen on other services"]


# ---------------------------------------------------------------------------------------------- reactions


async def test_a_burst_of_reactions_costs_exactly_one_put(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    ch = discord_server.channel_id
    await discord_server.add_reaction(ch, mid, alice, "👍")
    await discord_server.add_reaction(ch, mid, alice, "👎")
    await discord_server.remove_reaction(ch, mid, alice, "👎")  # not the intent (-1 matches): clears
    await discord_server.remove_reaction(ch, mid, alice, "👍")  # intent is 0 now: ignored
    await discord_server.add_reaction(ch, mid, alice, "👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the like")
    await settled(bot, 5)
    assert writes(apple_server) == [("PUT", RATINGS + song)]
    put = next(r for r in apple_server.requests if r.method == "PUT")
    assert put.json == {"type": "ratings", "attributes": {"value": 1}}


async def test_bots_and_other_emojis_cause_no_request(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    ch = discord_server.channel_id
    other_bot = discord_server.add_user("another-bot", bot=True)
    discord_server.add_member(discord_server.guild_id, other_bot)
    apple_server.add_user("OTHER-BOT-TOKEN")
    await bot.svc.store.link_account(other_bot, "OTHER-BOT-TOKEN", "us")  # even if a bot were linked
    custom = discord_server.add_emoji(discord_server.guild_id, "thumbsup")
    await discord_server.add_reaction(ch, mid, other_bot, "👍")
    await discord_server.add_reaction(ch, mid, alice, "🎵")
    await discord_server.add_reaction(ch, mid, alice, {"id": str(custom), "name": "thumbsup", "animated": False})
    await discord_server.remove_reaction(ch, mid, alice, "🎵")
    await discord_server.remove_reaction(ch, mid, other_bot, "👍")
    # a reaction on a message that shares nothing
    plain = await discord_server.send_message(ch, alice, "hello")
    await discord_server.add_reaction(ch, plain.id, alice, "👎")
    # control: a real like afterwards is applied (events are handled in order)
    await discord_server.add_reaction(ch, mid, alice, "👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the control like")
    await settled(bot, 2)
    assert handled(bot) == 2, "only alice's 👎 on the plain message and her control 👍 were handled"
    assert writes(apple_server) == [("PUT", RATINGS + song)]
    assert apple_server.rating("OTHER-BOT-TOKEN", "songs", song) is None


async def test_removing_the_like_clears_the_rating(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    ch = discord_server.channel_id
    await discord_server.add_reaction(ch, mid, alice, "👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the like")
    await discord_server.remove_reaction(ch, mid, alice, "👍")
    await eventually(lambda: ("DELETE", RATINGS + song) in writes(apple_server), what="the DELETE")
    assert apple_server.rating(ALICE_MUT, "songs", song) is None
    assert writes(apple_server) == [("PUT", RATINGS + song), ("DELETE", RATINGS + song)]


async def test_with_manage_messages_the_other_reaction_is_removed(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    discord_server.set_bot_permissions(discord_server.guild_id, Permissions.BOT_DEFAULT | Permissions.MANAGE_MESSAGES)
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    ch = discord_server.channel_id
    await eventually(lambda: bot.get_guild(discord_server.guild_id).me.guild_permissions.manage_messages)  # type: ignore[union-attr]
    await discord_server.add_reaction(ch, mid, alice, "👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the like")
    await discord_server.add_reaction(ch, mid, alice, "👎")

    def thumbs_up_gone() -> bool:
        r = next((r for r in discord_server.messages[mid].reactions.values() if r.emoji.get("name") == "👍"), None)
        return r is not None and alice not in r.user_ids

    await eventually(thumbs_up_gone, what="the bot removing alice's 👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the dislike")
    await settled(bot, 3)  # 👍, 👎, and the removal of 👍 the bot made itself
    assert writes(apple_server) == [("PUT", RATINGS + song), ("PUT", RATINGS + song)], (
        "the bot's removal is not a clear"
    )
    assert apple_server.rating(ALICE_MUT, "songs", song) == -1


# ---------------------------------------------------------------------------------------------- unlinked users


@pytest.mark.both_engines
async def test_unlinked_user_gets_one_dm_and_the_rating_is_applied_after_linking(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    bob = discord_server.add_user("bob")
    discord_server.add_member(discord_server.guild_id, bob)
    song = apple_server.add_song()
    mid = await share(bot, discord_server, alice, song)
    ch = discord_server.channel_id
    await discord_server.add_reaction(ch, mid, bob, "👍")
    dm = discord_server.dm_channel(bob)
    prompt = await discord_server.wait_for_message(dm, author_id=discord_server.bot_user_id)
    assert "link" in message_text(prompt).lower()
    assert any(c["custom_id"] == "link:start" for row in prompt.components for c in row["components"])
    await discord_server.add_reaction(ch, mid, bob, "👎")
    await eventually(lambda: handled(bot) >= 2, what="both reactions handled")
    pending = await bot.svc.store.pending_for_user(bob)
    assert [(e.value, e.held) for e in pending] == [(-1, "unlinked")]
    await bot.svc.sharing.idle()  # every notice is sent
    assert len([m for m in discord_server.channel_messages(dm) if m.author_id == discord_server.bot_user_id]) == 1
    assert not writes(apple_server)

    bob_token = "Ag" + "B0bMuT00" * 24
    apple_server.add_user(bob_token)
    await bot.svc.store.link_account(bob, bob_token, "us")
    await eventually(lambda: apple_server.rating(bob_token, "songs", song) == -1, what="bob's held dislike")
    assert writes(apple_server) == [("PUT", RATINGS + song)]


async def test_the_unlinked_reaction_dm_is_a_card_naming_the_song_the_server_and_the_post(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, alice: int
) -> None:
    bob = discord_server.add_user("bob")
    discord_server.add_member(discord_server.guild_id, bob)
    song = apple_server.add_song(name="Night Drive", artist="The Loopbacks")
    mid = await share(bot, discord_server, alice, song)
    await discord_server.add_reaction(discord_server.channel_id, mid, bob, "👍")
    prompt = await discord_server.wait_for_message(discord_server.dm_channel(bob), author_id=discord_server.bot_user_id)
    [card] = prompt.embeds
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert card["title"] == "Link Apple Music to save your rating"
    # the title links to the song's page on Apple Music (the catalog's own url)
    assert fields["Song"].startswith("**[Night Drive](https://music.apple.com/us/")
    assert fields["Song"].endswith(f"i={song})** by The Loopbacks")
    assert fields["Server"] == discord_server.guilds[discord_server.guild_id].name
    post = f"https://discord.com/channels/{discord_server.guild_id}/{discord_server.channel_id}/{mid}"
    assert fields["Post"] == f"[Go to the post]({post})"
    assert [c["custom_id"] for row in prompt.components for c in row["components"]] == ["link:start"]
    assert not prompt.content


# ---------------------------------------------------------------------------------------------- durability


@pytest.mark.both_engines
async def test_a_rating_queued_while_apple_is_down_is_applied_after_a_restart(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(ALICE_MUT)
    song = apple_server.add_song()
    alice = discord_server.alice_id
    slow_retry = OutboxConfig(debounce=0.2, max_delay=2.0, poll_interval=0.2, retry_base=1.0, retry_max=2.0)
    async with fast_bot(outbox_config=slow_retry) as first:
        await first.svc.store.link_account(alice, ALICE_MUT, "us")
        mid = await share(first, discord_server, alice, song)
        apple_server.fail_next(4, 503)  # every call the first apply makes (the client tries 4 times)
        await discord_server.add_reaction(discord_server.channel_id, mid, alice, "👍")

        async def failed_once() -> bool:
            rows = await first.svc.store.pending_for_user(alice)
            return bool(rows) and rows[0].attempts >= 1

        await eventually(failed_once, what="a failed, kept attempt")
        # /account tells alice her rating is waiting, and why
        rec = await discord_server.send_command("account", alice, discord_server.channel_id)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and callback.data is not None
        fields = {f["name"]: f["value"] for f in callback.data["embeds"][0]["fields"]}
        assert fields["Ratings waiting"] == "1 (Apple Music is busy; retrying)"
    puts = [r.status for r in apple_server.requests if r.method == "PUT"]
    assert puts == [503, 503, 503, 503]
    assert apple_server.rating(ALICE_MUT, "songs", song) is None

    async with fast_bot(outbox_config=slow_retry) as second:
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == 1, what="the like after restart")
        await second.svc.outbox.wait_until_drained()  # type: ignore[union-attr]
    assert [r.status for r in apple_server.requests if r.method == "PUT"] == [503, 503, 503, 503, 200]


@pytest.mark.both_engines
async def test_reactions_made_while_the_bot_was_offline_are_caught_up(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_user(ALICE_MUT)
    song = apple_server.add_song()
    alice = discord_server.alice_id
    async with fast_bot() as first:
        await first.svc.store.link_account(alice, ALICE_MUT, "us")
        mid = await share(first, discord_server, alice, song)
    await discord_server.add_reaction(discord_server.channel_id, mid, alice, "👎")  # nobody is listening
    async with fast_bot():
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the caught-up dislike")
    async with fast_bot() as third:  # a second restart re-reads but writes nothing (Apple already agrees)
        await asyncio.wait_for(third.svc.sharing.caught_up.wait(), 10)
        await third.svc.outbox.wait_until_drained()
    assert apple_server.count("GET", RATINGS.rstrip("/")) == 2, "each catch-up read alice's ratings once"
    assert writes(apple_server) == [("PUT", RATINGS + song)]


async def test_a_sharded_process_catches_up_only_its_own_servers(
    fast_bot: Callable[..., Any], discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """With SHARD_IDS, each process reconciles only the servers Discord sends it; another process owns the rest."""
    apple_server.add_user(ALICE_MUT)
    alice = discord_server.alice_id
    posts: dict[int, tuple[int, int, str]] = {}  # shard -> (channel, message, song)
    async with fast_bot() as first:  # one process with every shard shares a song in a server of each shard
        await first.svc.store.link_account(alice, ALICE_MUT, "us")
        await first.sync_commands(None)  # global commands: the new servers have them too
        for shard in (0, 1):
            guild = discord_server.add_guild(f"shard {shard}", discord_server.make_guild_id(shard, 2))
            channel = discord_server.add_text_channel(guild.id, "music")
            discord_server.add_member(guild.id, alice)
            song = apple_server.add_song()
            await eventually(lambda gid=guild.id: first.get_guild(gid), what="the new guild")
            rec = await discord_server.send_command("share", alice, channel, {"item": song})
            message = await discord_server.wait_for_original(rec)
            await eventually(lambda mid=message.id: first.svc.store.get_shared_message(mid), what="the record")
            posts[shard] = (channel, message.id, song)
    for channel, mid, _ in posts.values():
        await discord_server.add_reaction(channel, mid, alice, "👎")  # nobody is listening

    def read(shard: int) -> int:
        channel, mid, _ = posts[shard]
        return len(discord_server.requests_to("GET", rf"/channels/{channel}/messages/{mid}$"))

    async with fast_bot(shard_count=2, shard_ids=[1]) as shard1:
        song1 = posts[1][2]
        await asyncio.wait_for(shard1.svc.sharing.caught_up.wait(), 10)
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song1) == -1, what="shard 1's catch-up")
    assert read(0) == 0, "the shard-1 process never read a shard-0 server's message"
    assert apple_server.rating(ALICE_MUT, "songs", posts[0][2]) is None
    async with fast_bot(shard_count=2, shard_ids=[0]):
        song0 = posts[0][2]
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song0) == -1, what="shard 0's catch-up")
    assert read(1) == 1, "the shard-0 process left shard 1's server alone"


# ---------------------------------------------------------------------------------------------- chosen channels


async def test_admin_chosen_channel_gets_reactions_on_shared_links(
    fast_bot: Callable[..., Any],
    bot_settings: Any,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    settings = bot_settings.model_copy(update={"message_content_intent": True})
    apple_server.add_user(ALICE_MUT)
    song = apple_server.add_song()
    alice = discord_server.alice_id
    admin = discord_server.add_user("admin")
    discord_server.add_member(discord_server.guild_id, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    async with fast_bot(settings=settings) as bot:
        await bot.svc.store.link_account(alice, ALICE_MUT, "us")
        ch = discord_server.channel_id
        before = await discord_server.send_message(ch, alice, f"https://music.apple.com/us/song/x/{song}")
        rec = await discord_server.send_command("ratings-admin channels add", admin, ch)
        callback = await discord_server.wait_for_callback(rec)
        assert callback.accepted and "now a sharing channel" in callback.data["content"]  # type: ignore[index]
        assert await bot.svc.store.list_share_channels(discord_server.guild_id) == [ch]
        # the earlier post delivered again now (as a RESUME replays missed events): still older than the choice
        await discord_server._dispatch_message("MESSAGE_CREATE", before)
        msg = await discord_server.send_message(ch, alice, f"listen https://music.apple.com/us/song/x/{song} !")
        await eventually(lambda: bot.svc.store.get_shared_message(msg.id), what="the link post recorded")
        await eventually(lambda: len(discord_server.messages[msg.id].reactions) == 2, what="the bot's 👍 👎")
        assert not discord_server.messages[before.id].reactions, "only in chosen channels"
        await discord_server.add_reaction(ch, msg.id, alice, "👎")
        await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", song) == -1, what="the dislike")
    command = discord_server.find_command("ratings-admin", guild_id=discord_server.guild_id)
    assert command is not None and int(command["default_member_permissions"]) == Permissions.MANAGE_GUILD


# ---------------------------------------------------------------------------------------------- pacing


@pytest.mark.parametrize(
    ("rate", "pacing"), [("19", None), (None, None), (None, "off")], ids=["ceiling", "learned", "off"]
)
async def test_apple_requests_per_second_keeps_the_outbox_under_apples_limit(
    rate: str | None,
    pacing: str | None,
    bot_factory: Callable[..., contextlib.AbstractAsyncContextManager[RatingsBot]],
    bot_env: dict[str, str],
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
) -> None:
    """APPLE_REQUESTS_PER_SECOND at 95% of Apple's limit: 30 queued ratings go out with no 429 at all; without it
    the pacer learns the limit from a start under it, and the same queue meets at most two 429s. With
    APPLE_PACING=off (the benchmarks' baseline) nothing is paced: the client has no pacer, and the ratings still
    land."""
    from bot.config import load_settings

    env = {
        **bot_env,
        **({"APPLE_REQUESTS_PER_SECOND": rate} if rate else {}),
        **({"APPLE_PACING": pacing} if pacing else {}),
    }
    settings = load_settings(env, env_file=None)
    assert settings.apple_requests_per_second == (float(rate) if rate else None)
    apple_server.add_user(ALICE_MUT)
    songs = [apple_server.add_song() for _ in range(30)]
    alice = discord_server.alice_id
    async with bot_factory(settings=settings, outbox_config=FAST_OUTBOX) as bot:
        await bot.svc.store.link_account(alice, ALICE_MUT, "us")
        assert (bot.svc.apple.pacer is None) is (pacing == "off") and (bot.svc.apple_pace() is None) is (
            pacing == "off"
        )
        apple_server.reset_requests()
        apple_server.rate_limit(20, burst=2)  # a little slack for jitter on a loaded machine
        for song in songs:
            await bot.svc.store.enqueue(alice, "songs", song, 1, debounce=0)
        assert bot.svc.outbox is not None
        bot.svc.outbox.wake()
        await bot.svc.outbox.wait_until_drained(timeout=30)
    assert all(apple_server.rating(ALICE_MUT, "songs", song) == 1 for song in songs)
    puts = [r for r in apple_server.requests if r.method == "PUT"]
    refused = [r for r in puts if r.status == 429]
    if rate:
        assert not refused and len(puts) == 30
        assert puts[-1].timestamp - puts[0].timestamp >= 29 / 19 * 0.95
    elif pacing is None:
        assert len(refused) <= 2 and len(puts) == 30 + len(refused)
