"""Must-show 2 (replies): the real bot on the loopback Discord answers in the language Discord reports. A member
whose Discord is German (``locale: de``) gets German answers to ``/link``, ``/rating like`` and an error; a server
whose language is Japanese (``guild_locale: ja``) gets a Japanese ``/share`` card, whoever shares it, with Apple's
item names untouched; a member whose language the bot does not ship (``sv-SE``) gets English. The expected words
come from the catalogs (``t``) and, so that an untranslated catalog cannot pass, from literal sentences too."""

from __future__ import annotations

from typing import Any

import pytest

from bot.app import RatingsBot
from bot.i18n import t, tn
from bot.i18n.commands import slash
from loopback.apple import LoopbackApple
from loopback.discord import LoopbackDiscord
from tests.fixtures.e2e import share

EPHEMERAL = 1 << 6

pytestmark = pytest.mark.usefixtures("no_late_callbacks")


async def answer(
    discord_server: LoopbackDiscord, command: str, options: dict[str, Any] | None, locale: str
) -> dict[str, Any]:
    """Run ``command`` as Alice with Discord in ``locale``; the ephemeral answer that replaced "thinking…"."""
    rec = await discord_server.send_command(
        command, discord_server.alice_id, discord_server.channel_id, options, locale=locale
    )
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None and callback.data["flags"] & EPHEMERAL
    return await discord_server.wait_for_original_edit(rec)


async def test_a_german_member_gets_german_answers_to_link(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    edit = await answer(discord_server, "link", None, "de")
    minutes = running_bot.svc.linking.minutes
    assert edit["content"] == tn(
        "de",
        "📬 I sent you a DM with your personal link (valid {n} minute).",
        "📬 I sent you a DM with your personal link (valid {n} minutes).",
        minutes,
    )
    assert (
        edit["content"] == f"📬 Ich habe dir eine DM mit deinem persönlichen Link geschickt (gültig {minutes} Minuten)."
    )
    dm = discord_server.messages[max(m for m in discord_server.messages if m != 0)]
    embed = dm.embeds[0]
    assert embed["title"] == "Verknüpfe dein Apple-Music-Konto"
    # the command to run is the one a German member types
    assert "führe `/verknüpfen` selbst aus" in embed["description"] and slash("de", "link") == "`/verknüpfen`"
    assert "Never forward" not in embed["description"]


async def test_a_german_member_gets_a_german_card_for_rating_like_and_german_errors(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song("1613600188", name="Entropy", artist="Beach Bunny", album="Emotional Creature")
    edit = await answer(discord_server, "rating like", {"item": f"https://music.apple.com/us/song/x/{song}"}, "de")
    embed = edit["embeds"][0]
    assert embed["title"] == t("de", "👍 You like this") == "👍 Gefällt dir"
    assert "**[Entropy](" in embed["description"], "Apple's name of the item, as Apple gives it"
    labels = [b["label"] for row in edit["components"] for b in row["components"]]
    assert labels == ["Gefällt mir ✓", "Gefällt mir nicht", "Bewertung entfernen"]
    assert apple_server.rating(linked_user, "songs", song) == 1

    # an error: a link that is not a music link
    edit = await answer(discord_server, "rating like", {"item": "https://example.org/not-music"}, "de")
    words = edit["embeds"][0]["description"]
    assert words == "⚠️ " + t(
        "de",
        "That is not a music link I can use. Paste a link from Apple Music, Spotify, YouTube, YouTube Music, "
        "Deezer, Tidal, SoundCloud or Amazon Music.",
    )
    assert words.startswith("⚠️ Mit diesem Musiklink kann ich nichts anfangen.")


async def test_a_german_member_not_linked_is_told_in_german_with_the_german_command(
    running_bot: RatingsBot, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Entropy", artist="Beach Bunny")
    edit = await answer(discord_server, "rating like", {"item": f"https://music.apple.com/us/song/x/{song}"}, "de")
    assert edit["embeds"][0]["description"] == (
        "⚠️ Verknüpfe zuerst dein Apple Music: Führe `/verknüpfen` aus, das dauert eine Minute."
    )
    button = edit["components"][0]["components"][0]
    assert button["label"] == "Apple Music verknüpfen" and button["custom_id"] == "link:start"


async def test_a_japanese_server_gets_a_japanese_share_card_with_apples_names(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    discord_server.guilds[discord_server.guild_id].preferred_locale = "ja"
    album = apple_server.add_album(name="Hounds of Love", artist="Kate Bush")
    mid = await share(
        running_bot, discord_server, discord_server.alice_id, f"https://music.apple.com/us/album/x/{album}"
    )
    embed = discord_server.messages[mid].embeds[0]
    assert embed["title"] == "Hounds of Love", "item names stay Apple's"
    assert embed["description"].split(" · ") == [t("ja", "Album"), "Kate Bush"] == ["アルバム", "Kate Bush"]
    assert embed["footer"]["text"] == t("ja", "React 👍 or 👎 to rate it in your own Apple Music.")
    assert embed["footer"]["text"] == "👍か👎でリアクションすると、あなた自身のApple Musicで評価されます。"
    labels = [b["label"] for row in discord_server.messages[mid].components for b in row["components"]]
    assert "Listen on other services" not in labels


async def test_an_unshipped_language_gets_english(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord, apple_server: LoopbackApple
) -> None:
    song = apple_server.add_song(name="Entropy", artist="Beach Bunny")
    edit = await answer(discord_server, "rating like", {"item": f"https://music.apple.com/us/song/x/{song}"}, "sv-SE")
    assert edit["embeds"][0]["title"] == "👍 You like this"
    edit = await answer(discord_server, "rating like", {"item": "https://example.org/not-music"}, "tr")
    assert edit["embeds"][0]["description"].startswith("⚠️ That is not a music link I can use.")
