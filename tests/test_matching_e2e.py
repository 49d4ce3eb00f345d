"""Links of other services in the running bot (issue 19): the real bot against the loopback Discord, Apple, and the
loopback stand-ins of Odesli, Spotify (accounts, Web API, oEmbed) and YouTube's oEmbed (``loopback/elsewhere``).

* a Spotify link posted in a chosen channel gets 👍/👎, and a member's 👍 rates the matched Apple song;
* ``/rating like`` with a YouTube link shows the match and how it was found; an unsure match asks first;
* with Odesli and Spotify down, commands answer with a clear message, a post waits (durably), members' reactions on
  it are applied once the services are back and the retry loop (its clock moved, woken: no sleeps) matches it;
* the "Listen on other services" button: on by default, a server can turn it off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, Permissions
from loopback.elsewhere import LoopbackOdesli, LoopbackOEmbed, LoopbackSpotify
from tests.fixtures.bot import ALICE_MUT
from tests.fixtures.e2e import buttons, eventually, handled, writes
from tests.fixtures.elsewhere import ElsewhereServers
from tests.fixtures.storage import FakeClock

pytestmark = pytest.mark.usefixtures("no_late_callbacks")

SP_TRACK = "4uLU6hMCjMI75M1A2tKUQC"
ISRC = "USAB12300001"
YT, YT_UNSURE = "dQw4w9WgXcQ", "aBcDeFgHiJk"
EPHEMERAL = 1 << 6
UNAVAILABLE = (
    "⚠️ Couldn't reach the services that match Spotify links just now. "
    "Try again in a few minutes, or use an Apple Music link."
)


@dataclass
class Elsewhere:
    odesli: LoopbackOdesli
    spotify: LoopbackSpotify
    youtube: LoopbackOEmbed
    clock: FakeClock
    songs: dict[str, str]


@pytest.fixture
def elsewhere(apple_server: LoopbackApple, elsewhere_servers: ElsewhereServers) -> Elsewhere:
    w = elsewhere_servers
    songs = {
        "night": apple_server.add_song(name="Night Drive", artist="Mira Vale", isrc=ISRC),
        "moon": apple_server.add_song(name="Paper Moon", artist="Odin Lark"),
        "lantern": apple_server.add_song(name="Lantern Glow (Acoustic)", artist="Ivy Stone"),
    }
    w.spotify.add_track(SP_TRACK, name="Night Drive", artist="Mira Vale", isrc=ISRC)
    w.youtube.add(
        f"https://www.youtube.com/watch?v={YT}", title="Odin Lark - Paper Moon (Official Video)", author="OdinLarkVEVO"
    )
    # Apple Music has only another version of it: a guess, to confirm
    w.youtube.add(
        f"https://www.youtube.com/watch?v={YT_UNSURE}", title="Ivy Stone - Lantern Glow", author="IvyStoneVEVO"
    )
    return Elsewhere(w.odesli, w.spotify, w.youtube, w.clock, songs)


@pytest.fixture
async def bot(
    elsewhere_servers: ElsewhereServers, elsewhere: Elsewhere, fast_bot: Callable[..., Any]
) -> AsyncIterator[RatingsBot]:
    # the stand-ins listen before fast_bot's settings pick a free WEB_PORT, so none of them can take that port
    env = {"MESSAGE_CONTENT_INTENT": "true", **elsewhere_servers.env}
    async with fast_bot(env=env, pending_clock=elsewhere.clock) as running:
        yield running


@pytest.fixture
async def alice(bot: RatingsBot, apple_server: LoopbackApple, discord_server: LoopbackDiscord) -> int:
    apple_server.add_user(ALICE_MUT, storefront="us")
    await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
    assert await bot.svc.sharing.add_channel(discord_server.guild_id, discord_server.channel_id, chosen_by=0)
    return discord_server.alice_id


def bot_reactions(discord: LoopbackDiscord, message_id: int) -> set[str]:
    message = discord.messages[message_id]
    return {r.emoji.get("name") for r in message.reactions.values() if discord.bot_user_id in r.user_ids}


async def command(discord: LoopbackDiscord, name: str, user: int, options: dict[str, Any]) -> tuple[Any, Any]:
    """Run a command; returns (its interaction, the first edit of its deferred answer)."""
    rec = await discord.send_command(name, user, discord.channel_id, options)
    callback = await discord.wait_for_callback(rec)
    # acknowledged in time, by a deferral: matching may ask outside services
    assert callback.accepted and callback.type == 5
    return rec, await discord.wait_for_original_edit(rec)


# ---------------------------------------------------------------------------------------------- must show 2


@pytest.mark.both_engines  # shared_messages and the outbox
async def test_a_spotify_link_posted_in_a_chosen_channel_gets_reactions_that_rate_the_match(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, elsewhere: Elsewhere, alice: int
) -> None:
    ch = discord_server.channel_id
    post = await discord_server.send_message(
        ch, alice, f"this one! https://open.spotify.com/track/{SP_TRACK}?si=x1 (or https://youtu.be/{YT})"
    )
    await eventually(lambda: bot_reactions(discord_server, post.id) == {"👍", "👎"}, what="the bot's 👍 👎")
    shared = await bot.svc.store.get_shared_message(post.id)
    night = elsewhere.songs["night"]
    assert shared is not None and (shared.item_type, shared.item_id) == ("songs", night)
    assert any(r.path.startswith(f"/v1/tracks/{SP_TRACK}") for r in elsewhere.spotify.requests), "matched by ISRC"
    assert elsewhere.youtube.count() == 0, "only a post's first music link is matched (one 👍/👎 pair, one item)"
    await discord_server.add_reaction(ch, post.id, alice, "👍")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", night) == 1, what="the like of the match")
    assert writes(apple_server) == [("PUT", f"/v1/me/ratings/songs/{night}")]


async def test_rating_a_youtube_link_shows_the_match_and_how_it_was_found(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, elsewhere: Elsewhere, alice: int
) -> None:
    link = f"https://youtu.be/{YT}"
    _, edit = await command(discord_server, "rating like", alice, {"item": link})
    moon = elsewhere.songs["moon"]
    assert apple_server.rating(ALICE_MUT, "songs", moon) == 1
    embed = edit["embeds"][0]
    assert embed["title"] == "👍 You like this"
    lines = embed["description"].split("\n")
    assert lines[0].startswith("**[Paper Moon](") and lines[1] == "Odin Lark · Loopback Album"
    assert lines[2] == f"Best match by title · from [YouTube](https://www.youtube.com/watch?v={YT})"
    elsewhere_button = [b for b in buttons(edit["components"]) if b.get("style") == 5]
    assert [(b["label"], b["url"]) for b in elsewhere_button] == [
        ("Listen on other services", f"https://song.link/i/{moon}")
    ]
    # a Spotify link is matched by its ISRC, and says so
    _, edit = await command(
        discord_server, "rating show", alice, {"item": f"https://open.spotify.com/track/{SP_TRACK}"}
    )
    assert "Matched by ISRC · from [Spotify]" in edit["embeds"][0]["description"]


async def test_an_unsure_match_asks_first_and_rates_only_after_yes(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, elsewhere: Elsewhere, alice: int
) -> None:
    lantern = elsewhere.songs["lantern"]
    link = f"https://www.youtube.com/watch?v={YT_UNSURE}"
    for answer in ("no", "yes"):
        rec, edit = await command(discord_server, "rating like", alice, {"item": link})
        card = await discord_server.wait_for_original(rec)
        assert card.flags & EPHEMERAL
        embed = edit["embeds"][0]
        assert embed["title"] == "Is this the song you meant?"
        assert "Best match by title · from [YouTube]" in embed["description"]
        found = [(b["custom_id"], b["label"]) for b in buttons(edit["components"])]
        assert found == [
            (f"match:yes:like:{alice}:songs:{lantern}", "Yes, rate it"),
            (f"match:no:like:{alice}:songs:{lantern}", "No"),
        ]
        assert not writes(apple_server), "nothing is rated before the answer"
        # only the asker may answer
        bob = discord_server.add_user(f"bob-{answer}")
        discord_server.add_member(discord_server.guild_id, bob)
        other = await discord_server.send_component(
            bob, rec.channel_id, card.id, f"match:yes:like:{alice}:songs:{lantern}"
        )
        refusal = await discord_server.wait_for_callback(other)
        assert refusal.data is not None and refusal.data["flags"] & EPHEMERAL
        assert "belongs to the member who ran the command" in refusal.data["content"]
        press = await discord_server.send_component(
            alice, rec.channel_id, card.id, f"match:{answer}:like:{alice}:songs:{lantern}"
        )
        assert (await discord_server.wait_for_callback(press)).accepted
        if answer == "no":
            await eventually(
                lambda card=card: discord_server.messages[card.id].content.startswith("Nothing was rated"), what="no"
            )
            assert discord_server.messages[card.id].components == []
            assert not writes(apple_server), "No rates nothing"
        else:
            await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", lantern) == 1, what="the like after yes")
            await eventually(
                lambda card=card: discord_server.messages[card.id].embeds[0]["title"] == "👍 You like this",
                what="the card",
            )
    assert writes(apple_server) == [("PUT", f"/v1/me/ratings/songs/{lantern}")]


async def test_an_unsure_share_is_posted_only_after_yes(
    bot: RatingsBot, discord_server: LoopbackDiscord, elsewhere: Elsewhere, alice: int
) -> None:
    lantern = elsewhere.songs["lantern"]
    rec = await discord_server.send_command(
        "share", alice, discord_server.channel_id, {"item": f"https://youtu.be/{YT_UNSURE}"}
    )
    question = await discord_server.wait_for_followup(rec)
    assert question.flags & EPHEMERAL and question.embeds[0]["title"] == "Is this the song you meant?"
    assert not await bot.svc.store.recent_shared_messages(0.0), "nothing posted before the answer"
    press = await discord_server.send_component(
        alice, rec.channel_id, question.id, f"match:yes:share:{alice}:songs:{lantern}"
    )
    post = await discord_server.wait_for_original(press)
    await eventually(lambda: bot_reactions(discord_server, post.id) == {"👍", "👎"}, what="the post's 👍 👎")
    assert not post.flags & EPHEMERAL and post.embeds[0]["title"] == "Lantern Glow (Acoustic)"
    shared = await bot.svc.store.get_shared_message(post.id)
    assert shared is not None and shared.item_id == lantern


# ---------------------------------------------------------------------------------------------- must show 3


@pytest.mark.both_engines  # pending_matches is a table
async def test_while_odesli_and_spotify_are_down_posts_wait_and_reactions_are_applied_after(
    bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple, elsewhere: Elsewhere, alice: int
) -> None:
    elsewhere.odesli.down = elsewhere.spotify.down = True
    link = f"https://open.spotify.com/track/{SP_TRACK}"
    night = elsewhere.songs["night"]
    # a command: acknowledged (deferred), then a clear message, privately
    rec, edit = await command(discord_server, "rating like", alice, {"item": link})
    assert [e["description"] for e in edit["embeds"]] == [UNAVAILABLE]
    assert (await discord_server.wait_for_original(rec)).flags & EPHEMERAL
    share = await discord_server.send_command("share", alice, discord_server.channel_id, {"item": link})
    answer = await discord_server.wait_for_followup(share)
    assert answer.flags & EPHEMERAL and [e["description"] for e in answer.embeds] == [UNAVAILABLE]
    # a post: no 👍/👎 yet, kept waiting
    ch = discord_server.channel_id
    post = await discord_server.send_message(ch, alice, f"listen {link}")
    waiting = await eventually(bot.svc.sharing.waiting_posts, what="the post kept waiting")
    assert [(w.message_id, w.author_id, w.link, w.attempts) for w in waiting] == [(post.id, alice, link, 0)]
    assert waiting[0].next_try_at >= elsewhere.clock.now + 60.0, "tried again later, not at once"
    assert not discord_server.messages[post.id].reactions
    # a member reacts meanwhile: nothing to rate yet, and nothing is lost
    await discord_server.add_reaction(ch, post.id, alice, "👍")
    await eventually(lambda: handled(bot) >= 1, what="the reaction seen")
    assert await bot.svc.store.get_shared_message(post.id) is None and not writes(apple_server)
    # still down when its time comes: one more attempt, kept
    elsewhere.clock.advance(61.0)
    bot.svc.sharing.wake_pending()
    await eventually(lambda: _attempts(bot, post.id, 1), what="a second attempt while still down")
    # back: the retry loop matches it, adds 👍 👎 and applies the member's earlier 👍 at Apple
    elsewhere.odesli.down = elsewhere.spotify.down = False
    elsewhere.clock.advance(3600.0)
    bot.svc.sharing.wake_pending()
    await eventually(lambda: bot_reactions(discord_server, post.id) == {"👍", "👎"}, what="the bot's 👍 👎 after")
    await eventually(lambda: apple_server.rating(ALICE_MUT, "songs", night) == 1, what="the earlier 👍 applied")
    assert await bot.svc.sharing.waiting_posts() == []
    shared = await bot.svc.store.get_shared_message(post.id)
    assert shared is not None and shared.item_id == night


async def _attempts(bot: RatingsBot, message_id: int, attempts: int) -> bool:
    return [(w.message_id, w.attempts) for w in await bot.svc.sharing.waiting_posts()] == [(message_id, attempts)]


# ---------------------------------------------------------------------------------------------- listen elsewhere


async def test_listen_elsewhere_is_on_by_default_and_a_server_can_turn_it_off(
    bot: RatingsBot, discord_server: LoopbackDiscord, elsewhere: Elsewhere, alice: int
) -> None:
    admin = discord_server.add_user("admin")
    discord_server.add_member(discord_server.guild_id, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    night = elsewhere.songs["night"]

    async def shared_card(item: str) -> Any:
        rec = await discord_server.send_command("share", alice, discord_server.channel_id, {"item": item})
        await discord_server.wait_for_original_edit(rec)
        return await discord_server.wait_for_original(rec)

    card = await shared_card(f"https://open.spotify.com/track/{SP_TRACK}")
    assert [(b["label"], b["url"]) for b in buttons(card.components)] == [
        ("Listen on other services", f"https://song.link/i/{night}")
    ]
    assert "Matched by ISRC · from [Spotify]" in card.embeds[0]["description"]

    async def switch(setting: str, user: int) -> Any:
        rec = await discord_server.send_command(
            "ratings-admin listen-elsewhere", user, discord_server.channel_id, {"setting": setting}
        )
        return await discord_server.wait_for_callback(rec)

    assert await bot.svc.store.listen_elsewhere(discord_server.guild_id), "on unless a server turns it off"
    off = await switch("off", admin)
    assert off.data["content"] == "From now on, shared songs in this server have no “Listen on other services” button."
    assert not await bot.svc.store.listen_elsewhere(discord_server.guild_id)
    card = await shared_card(f"songs:{night}")
    assert card.components == []
