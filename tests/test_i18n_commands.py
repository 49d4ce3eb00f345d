"""Commands in the member's language: the loopback Discord checks localizations as Discord documents them; the
translator drops a translation Discord would refuse; the real tree, synced with every localization, is accepted
(must-show 3) and a ``de`` member sees German names (must-show 2, the command part)."""

from __future__ import annotations

import gettext
import io
import logging
from typing import Any

import aiohttp
import discord
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from discord import app_commands

from bot.app import RatingsBot
from bot.i18n import SHIPPED, t, tn
from bot.i18n.commands import COMMAND_NAME, OPTION_NAME, CommandTranslator, slash_name_ok
from loopback.discord import LoopbackDiscord


async def test_the_loopback_refuses_bad_localizations_like_discord(discord_server: LoopbackDiscord) -> None:
    server = discord_server
    url = f"{server.api_base}/applications/{server.application_id}/guilds/{server.guild_id}/commands"
    headers = {"Authorization": f"Bot {server.bot_token}"}

    async def put(command: dict[str, Any]) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.put(url, json=[command], headers=headers) as resp:
            return resp.status, await resp.json()

    base = {"name": "rate", "description": "Rate it", "type": 1}
    status, body = await put({**base, "name_localizations": {"xx": "noter"}})
    assert status == 400 and body["code"] == 50035
    assert body["errors"]["0"]["name_localizations"]["xx"]["_errors"][0]["code"] == "ENUM_TYPE_COERCE"
    status, body = await put({**base, "name_localizations": {"de": "Bewerten"}})  # not lowercase
    assert status == 400
    assert body["errors"]["0"]["name_localizations"]["de"]["_errors"][0]["code"] == "APPLICATION_COMMAND_INVALID_NAME"
    status, body = await put({**base, "name_localizations": {"fr": "noter ça"}})  # a space
    assert status == 400 and "fr" in body["errors"]["0"]["name_localizations"]
    status, body = await put({**base, "description_localizations": {"ja": "あ" * 101}})
    assert status == 400
    assert body["errors"]["0"]["description_localizations"]["ja"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    option = {"type": 3, "name": "kind", "description": "d", "choices": [{"name": "Song", "value": "s"}]}
    status, body = await put({**base, "options": [{**option, "name_localizations": {"ko": "x" * 33}}]})
    assert status == 400 and "ko" in body["errors"]["0"]["options"]["0"]["name_localizations"]
    choice = {"name": "Song", "value": "s", "name_localizations": {"pt-BR": ""}}
    status, body = await put({**base, "options": [{**option, "choices": [choice]}]})
    assert status == 400 and "pt-BR" in body["errors"]["0"]["options"]["0"]["choices"]["0"]["name_localizations"]
    menu = {"name": "Rate this", "type": 3, "name_localizations": {"de": "Das Bewerten"}}  # menus may hold spaces
    good = {
        **base,
        "name_localizations": {"de": "bewerten", "ja": "評価", "hi": "रेटिंग", "th": "ให้คะแนน", "es-419": "calificar"},
        "description_localizations": {"de": "Bewerte es"},
        "options": [{**option, "name_localizations": {"de": "art"}}],
    }
    status, body = await put(good)
    assert status == 200
    status, body = await put(menu)
    assert status == 200, body


def _catalog(translations: dict[tuple[str, str | None], str]) -> gettext.GNUTranslations:
    source = Catalog(locale="de")
    for (msgid, context), text in translations.items():
        source.add(msgid, text, context=context)
    buffer = io.BytesIO()
    write_mo(buffer, source)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


async def test_the_translator_drops_a_name_discord_would_refuse(caplog: pytest.LogCaptureFixture) -> None:
    german = _catalog({("rate", COMMAND_NAME): "Bewerten Sie", ("kind", OPTION_NAME): "art"})
    translator = CommandTranslator(lambda code: german if code == "de" else gettext.NullTranslations())
    tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.none()))

    @tree.command(name="rate", description="Rate it")
    async def rate(interaction: discord.Interaction, kind: str) -> None:
        del interaction, kind

    with caplog.at_level(logging.WARNING, logger="bot.i18n.commands"):
        payload = await tree.get_commands()[0].get_translated_payload(tree, translator)
    assert "name_localizations" not in payload or "de" not in payload["name_localizations"]
    assert payload["options"][0]["name_localizations"] == {"de": "art"}
    assert "Discord gets the English one" in caplog.text


def test_discords_name_rule() -> None:
    assert slash_name_ok("gefällt-mir") and slash_name_ok("高く評価") and slash_name_ok("रेटिंग")
    assert not slash_name_ok("Gefällt") and not slash_name_ok("a b") and not slash_name_ok("x" * 33)
    assert not slash_name_ok("")


def test_t_and_tn_in_shipped_and_unshipped_locales() -> None:
    assert t("de", "Your data") == "Deine Daten"
    assert t(discord.Locale.japanese, "Shard {shard} of {count}.", shard=1, count=4) == "シャード 1/4。"
    assert t("sv-SE", "Your data") == "Your data"  # not shipped: English
    assert t(None, "Your data") == "Your data"
    assert t("es-419", "Rate") == "Calificar" and t("es-ES", "Rate") == "Valorar"
    assert tn("de", "{n} song", "{n} songs", 1234) == "1.234 songs"  # untranslated words, German number
    assert tn("en-US", "{n} song", "{n} songs", 1) == "1 song"


async def test_the_real_tree_syncs_with_every_localization(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    puts = discord_server.requests_to("PUT", rf"/applications/\d+/guilds/{discord_server.guild_id}/commands$")
    assert len(puts) == 1 and puts[0].status == 200, puts[0].response
    sent = {c["name"]: c for c in puts[0].json}
    assert sent["rating"]["name_localizations"]["de"] == "bewertung"
    assert sent["link"]["name_localizations"]["de"] == "verknüpfen"
    like = next(o for o in sent["rating"]["options"] if o["name"] == "like")
    assert like["name_localizations"]["de"] == "gefällt-mir"
    assert like["description_localizations"]["ja"]
    for command in sent.values():
        assert set(command.get("name_localizations") or {}) <= set(SHIPPED), "only shipped locales are localized"
    # a member with locale de is shown the registered German names (what the loopback keeps is what Discord shows)
    registered = {c["name"]: c for c in discord_server.commands[discord_server.guild_id]}
    assert registered["rating"]["name_localizations"]["de"] == "bewertung"
