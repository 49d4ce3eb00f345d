"""End to end: ``/rating show|like|dislike|clear`` through the real discord.py client, the loopback Discord and the
loopback Apple Music API."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.e2e import buttons

EPHEMERAL = 1 << 6


#: every command is answered within Discord's deadline (the loopback refuses a late callback with 10062)
pytestmark = pytest.mark.usefixtures("no_late_callbacks")


async def run(
    discord_server: LoopbackDiscord, command: str, options: dict[str, Any], user_id: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """Run a command; return (first callback, first @original edit)."""
    rec = await discord_server.send_command(
        command, user_id or discord_server.alice_id, discord_server.channel_id, options
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted, callback
    edit = await discord_server.wait_for_original_edit(rec)
    return callback, edit


LIKED, DISLIKED, UNRATED = "👍 You like this", "👎 You dislike this", "Not rated yet"
PRIMARY, SECONDARY = 1, 2


def state(embed: dict[str, Any]) -> str:
    """A card's first line: the member's state."""
    return str(embed["title"])


def about(embed: dict[str, Any]) -> list[str]:
    """The lines under it: the item (its name linked to Apple Music), then kind, artist and album."""
    return str(embed["description"]).splitlines()


async def test_like_a_shared_song_link_sets_the_rating_and_shows_the_full_embed(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(
        "1613600188",
        name="Entropy",
        artist="Beach Bunny",
        album="Emotional Creature",
        album_id="1613600183",
        bg_color="fa5fb3",
    )
    callback, edit = await run(
        discord_server,
        "rating like",
        {"item": "https://music.apple.com/us/album/entropy/1613600183?i=1613600188"},
    )
    assert callback.type == 5 and callback.data is not None and callback.data["flags"] & EPHEMERAL
    assert apple_server.rating(linked_user, "songs", song) == 1
    embed = edit["embeds"][0]
    assert state(embed) == LIKED
    assert about(embed) == [
        "**[Entropy](https://music.apple.com/us/album/emotional-creature/1613600183?i=1613600188)**",
        "Beach Bunny · Emotional Creature",  # one line, no "Kind: Song"
    ]
    assert "fields" not in embed and "footer" not in embed, "the card says it once"
    assert embed["color"] == 0x57F287, "the state's colour, not the (often dark) artwork's"
    thumb = embed["thumbnail"]["url"]
    assert thumb.startswith("https://is1-ssl.mzstatic.com/") and thumb.endswith("/300x300bb.jpg")
    assert "{w}" not in thumb
    found = [(b["custom_id"], b["label"], b["style"]) for b in buttons(edit["components"])]
    assert found == [
        ("rating:like:songs:1613600188", "Liked ✓", PRIMARY),  # the current choice, marked
        ("rating:dislike:songs:1613600188", "Dislike", SECONDARY),
        ("rating:clear:songs:1613600188", "Clear rating", SECONDARY),
    ]
    assert not discord_server.unknown_requests


async def test_show_dislike_clear_by_bare_id_autocomplete_value_and_name(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Cloudbusting", artist="Kate Bush")
    album = apple_server.add_album(name="Hounds of Love", artist="Kate Bush", tracks=3)
    apple_server.set_state(linked_user, "songs", song, 1)

    _, edit = await run(discord_server, "rating show", {"item": song})
    assert state(edit["embeds"][0]) == LIKED
    assert apple_server.count("PUT") == 0 and apple_server.count("DELETE") == 0

    _, edit = await run(discord_server, "rating dislike", {"item": f"songs:{song}"})
    assert apple_server.rating(linked_user, "songs", song) == -1
    assert state(edit["embeds"][0]) == DISLIKED
    assert edit["embeds"][0]["color"] == 0xED4245

    _, edit = await run(discord_server, "rating like", {"item": "hounds of love"})
    assert apple_server.rating(linked_user, "albums", album) == 1
    assert state(edit["embeds"][0]) == LIKED
    assert about(edit["embeds"][0])[0].startswith("**[Hounds of Love](") and about(edit["embeds"][0])[1] == (
        "Album · Kate Bush"
    )

    _, edit = await run(discord_server, "rating clear", {"item": f"songs:{song}"})
    assert apple_server.rating(linked_user, "songs", song) is None
    assert state(edit["embeds"][0]) == UNRATED
    assert [b["custom_id"] for b in buttons(edit["components"])] == [
        f"rating:like:songs:{song}",
        f"rating:dislike:songs:{song}",
    ]

    # a bare number is a song unless `kind` says otherwise
    _, edit = await run(discord_server, "rating dislike", {"item": album, "kind": "albums"})
    assert apple_server.rating(linked_user, "albums", album) == -1
    assert state(edit["embeds"][0]) == DISLIKED and "Hounds of Love" in about(edit["embeds"][0])[0]


async def test_kind_override_rates_a_library_item(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    album = apple_server.add_album(name="Blue", tracks=2)
    apple_server.add_library_item(linked_user, "l.AbCdEf1", "albums", album)
    _, edit = await run(discord_server, "rating like", {"item": "l.AbCdEf1", "kind": "library-albums"})
    assert apple_server.rating(linked_user, "library-albums", "l.AbCdEf1") == 1
    assert apple_server.rating(linked_user, "albums", album) == 1, "a library item shares its catalog twin's rating"
    embed = edit["embeds"][0]
    assert state(embed) == LIKED and about(embed)[1].startswith("Library album")
    assert [r.path for r in apple_server.requests if r.method == "PUT"] == ["/v1/me/ratings/library-albums/l.AbCdEf1"]


async def test_show_public_is_visible_to_the_channel(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Public Song")
    callback, edit = await run(discord_server, "rating show", {"item": song, "public": True})
    assert callback.type == 5 and not (callback.data or {}).get("flags", 0) & EPHEMERAL
    assert state(edit["embeds"][0]) == UNRATED and "Public Song" in about(edit["embeds"][0])[0]
    message = next(m for m in discord_server.channel_messages(discord_server.channel_id) if m.embeds)
    assert not message.ephemeral and "Public Song" in message.embeds[0]["description"]


async def test_like_answers_every_command_ephemerally(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    for command in ("rating show", "rating like", "rating dislike", "rating clear"):
        callback, _ = await run(discord_server, command, {"item": song})
        assert callback.type == 5 and (callback.data or {}).get("flags", 0) & EPHEMERAL, command
    messages = [m for m in discord_server.channel_messages(discord_server.channel_id) if m.embeds]
    assert len(messages) == 4 and all(m.ephemeral for m in messages)


async def test_names_follow_the_discord_locale_when_the_storefront_supports_it(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    token = apple_server.add_user("CA_USER_TOKEN_" + "z" * 100, storefront="ca")
    await running_bot.svc.store.link_account(discord_server.alice_id, token, "ca")
    song = apple_server.add_song(name="Chanson")
    for _ in range(2):
        rec = await discord_server.send_command(
            "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song}, locale="fr"
        )
        await discord_server.wait_for_original_edit(rec)
        await running_bot.svc.ratings.idle()  # the background lookup of the storefront's languages is done
    catalog = [r for r in apple_server.requests if r.path.startswith("/v1/catalog/ca/songs")]
    ratings = [r for r in apple_server.requests if r.path.startswith("/v1/me/ratings/songs")]
    # the first answer does not wait for the storefront's languages; the next one uses them
    assert [r.query.get("l") for r in catalog] == [None, "fr-CA"]
    assert ratings[-1].query.get("l") == "fr-CA"
    assert apple_server.count("GET", "/v1/me/storefront") == 1
