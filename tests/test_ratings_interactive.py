"""End to end: autocomplete, the "Apple Music ratings" message menu, buttons (also after a restart) and
``/rating tracks`` paging."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RatingsBot
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.bot import BotFactory
from tests.fixtures.e2e import buttons

EPHEMERAL = 1 << 6


#: every command is answered within Discord's deadline (the loopback refuses a late callback with 10062)
pytestmark = pytest.mark.usefixtures("no_late_callbacks")


LIKED, DISLIKED, UNRATED = "👍 You like this", "👎 You dislike this", "Not rated yet"
PRIMARY, SECONDARY = 1, 2


def custom_ids(components: list[Any]) -> list[str]:
    return [c["custom_id"] for row in components for c in row["components"]]


async def autocomplete(discord_server: LoopbackDiscord, text: str) -> Any:
    rec = await discord_server.send_autocomplete(
        "rating like", discord_server.alice_id, discord_server.channel_id, {"item": text}, "item"
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.type == 8, callback
    return callback


async def test_autocomplete_offers_up_to_25_choices_naming_kind_title_and_artist(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    for n in range(8):
        apple_server.add_song(name=f"Starlight {n}", artist="Muse")
    for n in range(8):
        apple_server.add_album(name=f"Starlight Album {n}", artist="Muse", tracks=1)
    for n in range(8):
        apple_server.add_playlist(name=f"Starlight Mix {n}", curator="Apple Music", n_tracks=1)
    apple_server.add_music_video(name="Starlight", artist="Muse")
    apple_server.add_station(name="Starlight Radio")
    callback = await autocomplete(discord_server, "starlight")
    choices = callback.data["choices"]
    assert 0 < len(choices) <= 25
    song = next(c for c in choices if c["name"].startswith("Song"))
    assert song["name"] == "Song · Starlight 0 — Muse" and song["value"].startswith("songs:")
    kinds = {c["name"].split(" · ")[0] for c in choices}
    assert {"Song", "Album", "Playlist", "Music video", "Station"} <= kinds
    playlist = next(c for c in choices if c["name"].startswith("Playlist"))
    assert playlist["name"].endswith("— Apple Music")
    # the value picked from the box is understood by the command
    rec = await discord_server.send_command(
        "rating like", discord_server.alice_id, discord_server.channel_id, {"item": song["value"]}
    )
    edit = await discord_server.wait_for_original_edit(rec)
    assert edit["embeds"][0]["title"] == LIKED and "Starlight 0" in edit["embeds"][0]["description"]
    assert apple_server.rating(linked_user, "songs", song["value"].split(":")[1]) == 1


async def test_autocomplete_with_apple_slow_answers_in_time_then_from_the_cache(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    apple_server.add_song(name="Slowdive Song", artist="Slowdive")
    async with bot_factory(env={"AUTOCOMPLETE_BUDGET_SECONDS": "0.3"}) as bot:
        apple_server.hold("/v1/catalog/us/search")  # Apple is slower than the budget
        callback = await autocomplete(discord_server, "slowdive")
        assert callback.data["choices"] == [], "the box is answered empty, in time, while Apple is still searching"
        assert apple_server.in_flight == 1
        # the search goes on in the background and fills the cache
        apple_server.release()
        await bot.svc.ratings.idle()
        callback = await autocomplete(discord_server, "slowdive")
        assert [c["name"] for c in callback.data["choices"]] == ["Song · Slowdive Song — Slowdive"]
        assert apple_server.count("GET", "/v1/catalog/us/search") == 1, "the second answer came from the cache"


async def test_autocomplete_with_a_link_offers_the_linked_item(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    callback = await autocomplete(discord_server, "https://music.apple.com/us/album/x/1613600183?i=1613600188")
    assert [c["value"] for c in callback.data["choices"]] == ["songs:1613600188"]
    assert apple_server.count() == 0


async def message_menu(discord_server: LoopbackDiscord, text: str) -> Any:
    """alice posts ``text`` and opens "Apple Music ratings" on it."""
    other = await discord_server.send_message(discord_server.channel_id, discord_server.alice_id, text)
    return await discord_server.send_message_command(
        "Apple Music ratings", discord_server.alice_id, discord_server.channel_id, other.id
    )


async def test_message_menu_shows_ratings_of_the_links_with_buttons(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Linked Song")
    album = apple_server.add_album(name="Linked Album", tracks=2)
    apple_server.set_state(linked_user, "albums", album, -1)
    rec = await message_menu(
        discord_server,
        f"listen https://music.apple.com/us/song/linked-song/{song} and https://music.apple.com/gb/album/x/{album} !",
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.type == 5
    assert (callback.data or {}).get("flags", 0) & EPHEMERAL
    edit = await discord_server.wait_for_original_edit(rec)
    lines = edit["embeds"][0]["description"].splitlines()
    assert lines[0].startswith("**1. [Linked Song](") and lines[1].endswith(f"— {UNRATED}")
    assert lines[2].startswith("**2. [Linked Album](") and lines[3].startswith("Album") and lines[3].endswith(DISLIKED)
    # a row per item, each button naming its item; Clear only for the rated one; kinds capitalised
    rows = [[(b["label"], b["style"], b["custom_id"]) for b in row["components"]] for row in edit["components"]]
    assert rows == [
        [
            ("Like · 1. Linked Song", SECONDARY, f"rating:like:songs:{song}"),
            ("Dislike · 1. Linked Song", SECONDARY, f"rating:dislike:songs:{song}"),
        ],
        [
            ("Like · 2. Linked Album", SECONDARY, f"rating:like:albums:{album}"),
            ("Disliked ✓ · 2. Linked Album", PRIMARY, f"rating:dislike:albums:{album}"),
            ("Clear rating · 2. Linked Album", SECONDARY, f"rating:clear:albums:{album}"),
        ],
    ]
    assert apple_server.count("GET", "/v1/me/ratings/") == 2  # one batched read per kind


async def test_message_menu_on_a_message_without_links_says_so(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord
) -> None:
    other = await discord_server.send_message(discord_server.channel_id, discord_server.alice_id, "no music here")
    rec = await discord_server.send_message_command(
        "Apple Music ratings", discord_server.alice_id, discord_server.channel_id, other.id
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted
    message = await discord_server.wait_for_original(rec)
    await discord_server.wait_for_message(predicate=lambda m: m.id == message.id and bool(m.embeds))
    assert message.ephemeral
    assert "no music links I can rate" in discord_server.messages[message.id].embeds[0]["description"]


async def test_buttons_work_for_the_presser_and_after_a_restart(
    bot_factory: BotFactory, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Button Song")
    apple_server.add_user("ALICE_TOKEN_" + "x" * 100)
    alice_token = "ALICE_TOKEN_" + "x" * 100
    apple_server.set_state(alice_token, "songs", song, -1)  # rated: the card offers Clear too
    async with bot_factory() as bot:
        await bot.svc.store.link_account(discord_server.alice_id, alice_token, "us")
        rec = await discord_server.send_command(
            "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song, "public": True}
        )
        await discord_server.wait_for_original_edit(rec)
        card = await discord_server.wait_for_original(rec)
        assert not card.ephemeral
        press = await discord_server.send_component(
            discord_server.alice_id, discord_server.channel_id, card.id, f"rating:like:songs:{song}"
        )
        callback = await discord_server.wait_for_callback(press)
        assert callback.accepted
        edit = await discord_server.wait_for_original_edit(press)
        assert edit["embeds"][0]["title"] == LIKED
        assert apple_server.rating(alice_token, "songs", song) == 1

    async with bot_factory():
        for action, expected in (("dislike", -1), ("clear", None)):
            press = await discord_server.send_component(
                discord_server.alice_id, discord_server.channel_id, card.id, f"rating:{action}:songs:{song}"
            )
            callback = await discord_server.wait_for_callback(press)
            assert callback.accepted and callback.type == 5
            assert (callback.data or {}).get("flags", 0) & EPHEMERAL, "a shared card answers the presser privately"
            edit = await discord_server.wait_for_original_edit(press)
            assert edit["embeds"][0]["title"] == {-1: DISLIKED, None: UNRATED}[expected]
            assert apple_server.rating(alice_token, "songs", song) == expected
        # the public card itself is untouched
        assert discord_server.messages[card.id].embeds[0]["title"] == DISLIKED


async def test_another_user_pressing_a_public_card_rates_for_themselves_or_is_asked_to_link(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Shared Song")
    apple_server.set_state(linked_user, "songs", song, 1)
    rec = await discord_server.send_command(
        "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song, "public": True}
    )
    await discord_server.wait_for_original_edit(rec)
    card = await discord_server.wait_for_original(rec)

    bob = discord_server.add_user("bob")
    discord_server.add_member(discord_server.guild_id, bob)
    press = await discord_server.send_component(bob, discord_server.channel_id, card.id, f"rating:dislike:songs:{song}")
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted
    message = await discord_server.wait_for_original(press)
    assert message.id != card.id and message.ephemeral
    await discord_server.wait_for_message(predicate=lambda m: m.id == message.id and bool(m.embeds))
    reply = discord_server.messages[message.id]
    assert "Link your Apple Music first" in reply.embeds[0]["description"]
    assert custom_ids(reply.components) == ["link:start"]
    assert apple_server.rating(linked_user, "songs", song) == 1, "alice's rating is untouched"

    bob_token = apple_server.add_user("BOB_TOKEN_" + "y" * 100)
    await running_bot.svc.store.link_account(bob, bob_token, "us")
    press = await discord_server.send_component(bob, discord_server.channel_id, card.id, f"rating:dislike:songs:{song}")
    edit = await discord_server.wait_for_original_edit(press)
    assert edit["embeds"][0]["title"] == DISLIKED
    assert apple_server.rating(bob_token, "songs", song) == -1
    assert apple_server.rating(linked_user, "songs", song) == 1


async def test_tracks_of_a_250_track_playlist_cost_3_ratings_requests_and_page(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    playlist = apple_server.add_playlist(name="Big Mix", curator="DJ Loop", n_tracks=250)
    tracks = [i for _, i in apple_server.tracks[("playlists", playlist)]]
    apple_server.set_state(linked_user, "songs", tracks[0], 1)
    apple_server.set_state(linked_user, "songs", tracks[21], -1)
    apple_server.set_state(linked_user, "songs", tracks[249], 1)
    apple_server.reset_requests()
    rec = await discord_server.send_command(
        "rating tracks",
        discord_server.alice_id,
        discord_server.channel_id,
        {"item": f"https://music.apple.com/us/playlist/big-mix/{playlist}"},
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.type == 5
    edit = await discord_server.wait_for_original_edit(rec)
    assert apple_server.count("GET", "/v1/me/ratings/songs") == 3
    track_pages = apple_server.count("GET", f"/v1/catalog/us/playlists/{playlist}/tracks")
    assert track_pages == 3
    lookups = apple_server.count("GET", "/v1/catalog/us/playlists") - track_pages
    assert lookups <= 1
    others = [
        r.path
        for r in apple_server.requests
        if not r.path.startswith(("/v1/me/ratings/songs", "/v1/catalog/us/playlists"))
    ]
    assert others in ([], ["/v1/me/storefront"])
    embed = edit["embeds"][0]
    assert embed["title"] == "Big Mix"
    assert "250 tracks · 👍 2 · 👎 1 · page 1/" in embed["footer"]["text"]
    assert embed["description"].splitlines()[0].startswith("`  1` 👍")
    ids = custom_ids(edit["components"])
    assert len(ids) == 2 and ids[1].endswith(":1:next")
    # words, not emoji that render as blue boxes
    assert [(b["label"], b.get("emoji")) for b in buttons(edit["components"])] == [
        ("← Previous", None),
        ("Next →", None),
    ]

    card = await discord_server.wait_for_original(rec)
    apple_server.reset_requests()
    press = await discord_server.send_component(discord_server.alice_id, discord_server.channel_id, card.id, ids[1])
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted
    edit = await discord_server.wait_for_original_edit(press)
    lines = edit["embeds"][0]["description"].splitlines()
    assert lines[0].startswith("` 21`") and lines[1].startswith("` 22` 👎")
    assert "page 2/" in edit["embeds"][0]["footer"]["text"]
    assert custom_ids(edit["components"])[0].endswith(":0:prev")
    # the track list is cached: a page costs only the (fresh) ratings
    assert apple_server.count("GET", "/v1/me/ratings/songs") == 3
    assert apple_server.count("GET", "/v1/catalog/") == 0


async def press_in_place(discord_server: LoopbackDiscord, card_id: int, custom_id: str) -> dict[str, Any]:
    """Press a button on alice's private card; the card itself is edited (DEFERRED_UPDATE_MESSAGE, then a PATCH of
    that very message), no message is added. Returns the edit."""
    before = len(discord_server.channel_messages(discord_server.channel_id))
    press = await discord_server.send_component(discord_server.alice_id, discord_server.channel_id, card_id, custom_id)
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted and callback.type == 6, callback
    edit = await discord_server.wait_for_original_edit(press)
    assert (await discord_server.wait_for_original(press)).id == card_id
    assert discord_server.messages[card_id].embeds == edit["embeds"]
    assert len(discord_server.channel_messages(discord_server.channel_id)) == before, "no new message"
    return edit


async def test_pressing_a_button_on_your_own_private_card_updates_it_in_place(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Own Card Song")
    rec = await discord_server.send_command(
        "rating show", discord_server.alice_id, discord_server.channel_id, {"item": song}
    )
    edit = await discord_server.wait_for_original_edit(rec)
    card = await discord_server.wait_for_original(rec)
    assert card.ephemeral
    # not rated: the state says so first; Like and Dislike, neither marked; nothing to clear
    assert edit["embeds"][0]["title"] == UNRATED
    assert [(b["label"], b["style"]) for b in buttons(edit["components"])] == [
        ("Like", SECONDARY),
        ("Dislike", SECONDARY),
    ]

    edit = await press_in_place(discord_server, card.id, f"rating:like:songs:{song}")
    assert edit["embeds"][0]["title"] == LIKED
    assert [(b["label"], b["style"]) for b in buttons(edit["components"])] == [
        ("Liked ✓", PRIMARY),
        ("Dislike", SECONDARY),
        ("Clear rating", SECONDARY),
    ]
    assert apple_server.rating(linked_user, "songs", song) == 1

    edit = await press_in_place(discord_server, card.id, f"rating:dislike:songs:{song}")
    assert edit["embeds"][0]["title"] == DISLIKED
    assert [b["label"] for b in buttons(edit["components"])] == ["Like", "Disliked ✓", "Clear rating"]

    edit = await press_in_place(discord_server, card.id, f"rating:clear:songs:{song}")
    assert edit["embeds"][0]["title"] == UNRATED
    assert custom_ids(edit["components"]) == [f"rating:like:songs:{song}", f"rating:dislike:songs:{song}"]
    assert apple_server.rating(linked_user, "songs", song) is None


async def test_pressing_a_row_of_the_message_menu_updates_that_item_in_place(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    first = apple_server.add_song(name="First Song")
    second = apple_server.add_song(name="Second Song")
    apple_server.set_state(linked_user, "songs", second, 1)
    rec = await message_menu(
        discord_server, f"https://music.apple.com/us/song/a/{first} https://music.apple.com/us/song/b/{second}"
    )
    await discord_server.wait_for_original_edit(rec)
    card = await discord_server.wait_for_original(rec)
    edit = await press_in_place(discord_server, card.id, f"rating:dislike:songs:{first}")
    lines = edit["embeds"][0]["description"].splitlines()
    assert lines[0].startswith("**1. [First Song](") and lines[1].endswith(DISLIKED)
    assert lines[2].startswith("**2. [Second Song](") and lines[3].endswith(LIKED)
    rows = [[b["label"] for b in row["components"]] for row in edit["components"]]
    assert rows == [
        ["Like · 1. First Song", "Disliked ✓ · 1. First Song", "Clear rating · 1. First Song"],
        ["Liked ✓ · 2. Second Song", "Dislike · 2. Second Song", "Clear rating · 2. Second Song"],
    ]
    assert apple_server.rating(linked_user, "songs", first) == -1
    assert apple_server.rating(linked_user, "songs", second) == 1


async def test_an_album_card_leads_to_its_tracks(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    album = apple_server.add_album(name="Tracked Album", tracks=3)
    song = apple_server.add_song(name="A Song")
    _, song_card = await show_card(discord_server, song)
    assert all(not i.startswith("tracks:") for i in custom_ids(song_card["components"])), "a song has no tracks"
    rec, edit = await show_card(discord_server, f"albums:{album}")
    assert custom_ids(edit["components"])[-1] == f"tracks:albums:{album}"
    assert buttons(edit["components"])[-1]["label"] == "Tracks"
    card = await discord_server.wait_for_original(rec)
    press = await discord_server.send_component(
        discord_server.alice_id, discord_server.channel_id, card.id, f"tracks:albums:{album}"
    )
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted and callback.type == 5 and (callback.data or {}).get("flags", 0) & EPHEMERAL
    tracks = await discord_server.wait_for_original_edit(press)
    assert tracks["embeds"][0]["title"] == "Tracked Album"
    assert len(tracks["embeds"][0]["description"].splitlines()) == 3
    assert discord_server.messages[card.id].embeds[0]["title"] == UNRATED, "the card stays as it was"


async def show_card(discord_server: LoopbackDiscord, item: str) -> tuple[Any, dict[str, Any]]:
    rec = await discord_server.send_command(
        "rating show", discord_server.alice_id, discord_server.channel_id, {"item": item}
    )
    return rec, await discord_server.wait_for_original_edit(rec)


async def test_the_link_button_of_the_not_linked_message_starts_the_link_flow(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song()
    rec = await discord_server.send_command(
        "rating like", discord_server.alice_id, discord_server.channel_id, {"item": song}
    )
    await discord_server.wait_for_original_edit(rec)
    card = await discord_server.wait_for_original(rec)
    assert custom_ids(card.components) == ["link:start"]
    press = await discord_server.send_component(
        discord_server.alice_id, discord_server.channel_id, card.id, "link:start"
    )
    callback = await discord_server.wait_for_callback(press)
    assert callback.accepted
