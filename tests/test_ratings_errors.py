"""End to end: every error path of the ratings commands gets its own ephemeral message, and no "thinking…"
is left hanging; the 3-second deadline holds when Apple Music is slow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.app import RatingsBot
from bot.applemusic import RetryPolicy
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord, MessageFlags
from tests.fixtures.bot import ALICE_MUT, BotFactory
from tests.fixtures.e2e import eventually

EPHEMERAL = 1 << 6


#: every command is answered within Discord's deadline (the loopback refuses a late callback with 10062)
pytestmark = pytest.mark.usefixtures("no_late_callbacks")


async def error_reply(
    discord_server: LoopbackDiscord, command: str, options: dict[str, Any], user_id: int | None = None
) -> tuple[str, list[str]]:
    """Run a command that fails: the callback is in time, the answer is ephemeral and is one error embed
    that replaced the "thinking…" placeholder. Returns (description, button custom_ids)."""
    rec = await discord_server.send_command(
        command, user_id or discord_server.alice_id, discord_server.channel_id, options
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted, callback
    original = await discord_server.wait_for_original(rec)
    message = await discord_server.wait_for_message(
        predicate=lambda m: m.id == original.id and not m.flags & MessageFlags.LOADING and bool(m.embeds)
    )
    assert message.ephemeral
    assert len(message.embeds) == 1
    text = str(message.embeds[0]["description"])
    assert text.startswith("⚠️ ") and "Traceback" not in text
    assert ALICE_MUT not in text
    ids = [c["custom_id"] for row in message.components for c in row["components"]]
    return text, ids


async def test_unlinked_user_is_asked_to_link_with_a_button(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    for command in ("rating show", "rating like", "rating tracks"):
        text, ids = await error_reply(discord_server, command, {"item": song})
        assert "Link your Apple Music first" in text and ids == ["link:start"], command
    assert apple_server.count("PUT") == 0


async def test_stale_link_asks_to_relink(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    apple_server.revoke(linked_user)
    text, ids = await error_reply(discord_server, "rating like", {"item": song})
    assert "no longer accepts your Apple Music link" in text and ids == ["link:start"]
    account = await running_bot.svc.store.get_account(discord_server.alice_id)
    assert account is not None and not account.is_active
    # now known stale: the next command says so without asking Apple
    before = apple_server.count("PUT")
    text, _ = await error_reply(discord_server, "rating show", {"item": song})
    assert "Run `/link` to link it again" in text
    assert apple_server.count("PUT") == before


async def test_rate_limited_until_retries_run_out(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    apple_server.fail_next(50, 429, path_contains="/v1/me/ratings/")
    text, ids = await error_reply(discord_server, "rating like", {"item": song})
    assert "slow down" in text and "try again in a moment" in text and ids == []
    assert apple_server.rating(linked_user, "songs", song) is None
    assert apple_server.count("PUT", "/v1/me/ratings/songs") == 4  # FAST_RETRY: bounded attempts


async def test_apple_down(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    apple_server.fail_next(50, 500, path_contains="/v1/me/ratings/")
    text, _ = await error_reply(discord_server, "rating dislike", {"item": song})
    assert "Apple Music is having trouble" in text and "Nothing was changed" in text
    assert apple_server.rating(linked_user, "songs", song) is None


async def test_bad_link_says_why(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    text, _ = await error_reply(
        discord_server, "rating like", {"item": "https://music.example.com/track/4uLU6hMCjMI75M1A2tKUQC"}
    )
    assert "not a music link I can use. Paste a link from Apple Music, Spotify, YouTube" in text
    text, _ = await error_reply(
        discord_server, "rating like", {"item": "https://music.apple.com/us/artist/beach-bunny/1051350374"}
    )
    assert "Artists can't be rated" in text
    text, _ = await error_reply(discord_server, "rating like", {"item": "123456", "kind": "library-songs"})
    assert "not a library song id" in text
    assert apple_server.count("PUT") == 0


def no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("songs:..", "That is not a song id: song ids are digits, like 1440857781."),
        ("songs:-x", "That is not a song id: song ids are digits, like 1440857781."),
        ("playlists:123", "That is not a playlist id: playlist ids are pl. followed by letters and digits."),
        ("library-albums:i.abc", "That is not a library album id: library album ids are l. followed by letters"),
    ],
)
async def test_a_malformed_id_is_a_message_naming_what_is_accepted(
    running_bot: RatingsBot,
    linked_user: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    caplog: pytest.LogCaptureFixture,
    item: str,
    words: str,
) -> None:
    text, ids = await error_reply(discord_server, "rating like", {"item": item})
    assert words in text and ids == []
    assert apple_server.count("PUT") == 0
    no_error_logged(caplog)


def registered_as_before(
    discord_server: LoopbackDiscord, subcommand: str, edit: Callable[[list[Any]], list[Any]]
) -> None:
    """Discord still has an older ``/rating <subcommand>`` (the bot changed it and has not synced since): its
    options are ``edit(current options)``."""
    guild = discord_server.guild_id
    commands = [dict(c) for c in discord_server.commands[guild]]
    rating = next(c for c in commands if c["name"] == "rating")
    rating["options"] = [
        {**o, "options": edit(list(o.get("options") or []))} if o["name"] == subcommand else o
        for o in rating["options"]
    ]
    discord_server.register_commands(commands, guild)


STALE = "Discord showed you an older version of this command"


@pytest.mark.parametrize(
    ("edit", "options"),
    [
        pytest.param(
            lambda opts: [*opts, {"type": 3, "name": "note", "description": "an option since removed"}],
            {"note": "great"},
            id="unknown-option",
        ),
        pytest.param(lambda opts: [{**o, "required": False} for o in opts], {}, id="missing-required-option"),
        pytest.param(lambda opts: [], {}, id="no-options"),
    ],
)
async def test_options_from_an_older_registration_are_a_message_not_a_bug(
    running_bot: RatingsBot,
    linked_user: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    caplog: pytest.LogCaptureFixture,
    edit: Callable[[list[Any]], list[Any]],
    options: dict[str, Any],
) -> None:
    song = apple_server.add_song()
    registered_as_before(discord_server, "like", edit)
    rec = await discord_server.send_command(
        "rating like",
        discord_server.alice_id,
        discord_server.channel_id,
        {**options, **({"item": song} if options else {})},
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    message = await discord_server.wait_for_original(rec)
    assert message.ephemeral and len(message.embeds) == 1
    assert STALE in str(message.embeds[0]["description"]) and "Nothing was changed" in str(
        message.embeds[0]["description"]
    )
    assert apple_server.rating(linked_user, "songs", song) is None and apple_server.count("PUT") == 0
    no_error_logged(caplog)


async def test_autocomplete_of_an_older_registrations_option_offers_nothing_and_logs_no_error(
    running_bot: RatingsBot,
    linked_user: str,
    discord_server: LoopbackDiscord,
    apple_server: LoopbackApple,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registered_as_before(
        discord_server,
        "like",
        lambda opts: [*opts, {"type": 3, "name": "note", "description": "since removed", "autocomplete": True}],
    )
    rec = await discord_server.send_autocomplete(
        "rating like", discord_server.alice_id, discord_server.channel_id, {"item": "x", "note": "gre"}, "note"
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.type == 8 and callback.data == {"choices": []}
    assert apple_server.count("GET") == 0
    no_error_logged(caplog)


async def test_a_sharers_library_link_is_explained(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    text, _ = await error_reply(
        discord_server, "rating like", {"item": "https://music.apple.com/library/playlist/p.YJXV7mWSG0L3ZMd"}
    )
    assert "someone's personal library" in text
    assert apple_server.count("PUT") == 0


async def test_item_not_in_your_storefront(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    text, _ = await error_reply(discord_server, "rating like", {"item": "https://music.apple.com/gb/song/x/999000111"})
    assert "no song with id `999000111` in your country or region (US)" in text
    assert apple_server.count("PUT") == 0
    text, _ = await error_reply(discord_server, "rating show", {"item": "999000111"})
    assert "in your country or region (US)" in text
    text, _ = await error_reply(
        discord_server, "rating tracks", {"item": "https://music.apple.com/us/album/x/999000222"}
    )
    assert "no album with id `999000222` in your country or region" in text
    text, _ = await error_reply(discord_server, "rating like", {"item": "no such thing anywhere"})
    assert "Nothing in Apple Music matches" in text


async def test_tracks_of_a_song_is_refused(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    text, _ = await error_reply(discord_server, "rating tracks", {"item": song})
    assert "needs an album or a playlist" in text


async def test_public_show_error_is_private_and_removes_the_public_placeholder(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    rec = await discord_server.send_command(
        "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song, "public": True}
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    followup = await discord_server.wait_for_followup(rec)
    assert followup.ephemeral and "Link your Apple Music first" in followup.embeds[0]["description"]
    placeholder = discord_server.messages[rec.original_message_id or 0]
    assert not placeholder.ephemeral and placeholder.deleted, "the public 'thinking…' is removed, not left hanging"
    assert followup.id != placeholder.id


async def test_the_first_response_never_waits_for_apple(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    """However slow Apple is, the bot defers before Apple answers (Discord's 3 s deadline is met), then shows
    the answer as an edit (allowed for 15 minutes)."""
    song = apple_server.add_song(name="Slow Song")
    apple_server.add_user(ALICE_MUT)
    apple_server.set_state(ALICE_MUT, "songs", song, 1)
    await running_bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
    apple_server.hold("/v1/")  # Apple receives the requests and answers none of them yet
    rec = await discord_server.send_command(
        "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song}
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.type == 5
    await eventually(lambda: apple_server.in_flight >= 1, what="the bot waiting on Apple")
    assert all(r.status is None for r in apple_server.requests), "the bot deferred while Apple had answered nothing"
    discord_server.age_interaction(rec, 60.0)  # Apple answers a minute later: far past 3 s, within 15 minutes
    apple_server.release()
    edit = await discord_server.wait_for_original_edit(rec)
    embed = edit["embeds"][0]
    assert embed["title"] == "👍 You like this" and "Slow Song" in embed["description"]
    assert all(c.accepted for c in discord_server.callbacks), "no callback was refused as late"


async def test_apple_slower_than_the_retry_timeout_gives_a_clear_timeout_message(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    apple_server.add_user(ALICE_MUT)
    short = RetryPolicy(max_attempts=1, base_delay=0.01, max_delay=0.05, max_total_wait=1.0, timeout=0.5)
    async with bot_factory(apple_retry=short) as bot:
        await bot.svc.store.link_account(discord_server.alice_id, ALICE_MUT, "us")
        apple_server.hold("/v1/")  # Apple never answers within the bot's 0.5 s per-attempt timeout
        text, _ = await error_reply(discord_server, "rating like", {"item": song})
        assert "did not answer in time" in text and "try again" in text
        apple_server.release()
    assert all(c.accepted for c in discord_server.callbacks), "no callback was refused as late"
