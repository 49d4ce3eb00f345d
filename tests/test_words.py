"""Plain words (issue 16): no member reads "storefront" or "token"; ``/about`` grouped by purpose, Admin only for
members who may use it and ``/link`` first for someone not linked; a reaction DM names the song, the server and
the post."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import applemusic as am
from bot import errors as e
from bot.app import RatingsBot
from bot.i18n import SHIPPED, SOURCE, t
from bot.services import notices
from bot.services.linking import AccountStatus as LinkAccountStatus
from bot.storage import Account
from bot.storage import AccountStatus as StoredAccountStatus
from bot.ui import texts
from bot.ui.about import GROUPS
from bot.ui.embeds import account_embed
from bot.ui.errors import MESSAGES, describe_error
from bot.ui.linking import link_embed
from bot.ui.notices import render
from loopback.discord import LoopbackDiscord, Permissions
from tests.fixtures.e2e import embed_text

JARGON = ("storefront", "token")

#: an instance of each error whose words are a function of it
SAMPLE_ERRORS: list[BaseException] = [
    e.NotInCatalog("song", "1440857781", "us"),
    e.NoMatch("some song"),
    e.CannotMatchNow("spotify", "odesli", 30.0),
    e.NoForeignMatch("youtube"),
    e.TooManyLookups(42.0),
    e.TooManyWaiting(500),
    am.InvalidLink("That is not a music link I can use."),
    e.StateExpired(30),
    e.TooManyTries(90.0),
    e.NotNamedHere(),
    e.BadTimeZone("Mars/Olympus"),
    e.BadRecapTime("hour", 24),
    e.WrongDiscordAccount("@bob"),
    e.WrongDiscordAccount(None),
    app_commands.MissingPermissions(["manage_guild"]),
    app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10.0), 4.0),
]

POST = notices.Post(1, 2, 3, "song", "A Song", "An Artist", "https://music.apple.com/us/song/3")
NOTICES: list[notices.Notice] = [
    notices.LinkPrompt(30, POST),
    notices.LinkPrompt(30),
    notices.RelinkPrompt(POST),
    notices.RelinkPrompt(),
    notices.Linked("us"),
    notices.ReactionNotSaved(POST, 1, True),
    notices.ReactionNotSaved(notices.Post(None, 2, 3), -1, False),
    notices.ReactionNotSaved(POST, -1, True, e.TooManyWaiting(500)),
]


#: English (the source) and every shipped language: no translation may bring the jargon back ("Token" in German)
LOCALES = [SOURCE, *SHIPPED]


def error_words(locale: str) -> Iterator[tuple[str, str]]:
    covered = {type(error) for error in SAMPLE_ERRORS}
    for kind, words in MESSAGES.items():
        if isinstance(words, str):
            yield kind.__name__, describe_error(kind.__new__(kind), locale)
        else:
            assert kind in covered, f"add a sample {kind.__name__} to SAMPLE_ERRORS"
    for error in SAMPLE_ERRORS:
        words = MESSAGES[type(error)]
        assert not isinstance(words, str)
        yield type(error).__name__, words(error, locale)


def text_words(locale: str) -> Iterator[tuple[str, str]]:
    for name, value in vars(texts).items():
        if name.startswith("_"):
            continue
        if isinstance(value, str) and name.isupper():
            yield name, t(locale, value)
        elif isinstance(value, dict) and name != "SERVICE_NAMES":
            yield from ((f"{name}[{k}]", t(locale, str(v))) for k, v in value.items())
    calls: list[tuple[str, Callable[[], str | None]]] = [
        ("dm_help", lambda: texts.dm_help(locale)),
        ("ratings_expired", lambda: texts.ratings_expired(locale)),
        ("forget_confirm", lambda: texts.forget_confirm(locale)),
        ("link_sent_by_dm", lambda: texts.link_sent_by_dm(30, locale=locale)),
        ("unlinked", lambda: texts.unlinked(True, 2, locale=locale)),
        ("unlinked", lambda: texts.unlinked(False, 0, locale=locale)),
        ("token_in_channel", lambda: texts.token_in_channel(True, locale=locale)),
        ("token_in_channel", lambda: texts.token_in_channel(False, locale=locale)),
        ("waiting_reasons", lambda: texts.waiting_reasons(["stale", "unlinked", "retrying", "queued"], locale=locale)),
        ("channel_added", lambda: texts.channel_added(5, True, sees_messages=False, locale=locale)),
        ("forgotten", lambda: texts.forgotten(True, 3, locale=locale)),
    ]
    for name, function in calls:
        yield name, function() or ""
    for in_dm in (True, False):
        embed = link_embed("https://link.example.org/l/x", in_dm=in_dm, minutes=30, locale=locale)
        yield "link_embed", embed_text(embed.to_dict())
    for account in (
        None,
        Account(1, "us", 1.0, 2.0, StoredAccountStatus.ACTIVE, False),
        Account(1, "gb", 1.0, 2.0, StoredAccountStatus.STALE, True),
    ):
        status = LinkAccountStatus(account, 2, frozenset({"stale", "queued"}), expired=True)
        yield "account_embed", embed_text(account_embed(status, locale=locale).to_dict())


def notice_words(locale: str) -> Iterator[tuple[str, str]]:
    for notice in NOTICES:
        sent = render(notice, "Music Lovers", locale)
        words = sent.get("content", "")
        if "embed" in sent:
            words += embed_text(sent["embed"].to_dict())
        yield type(notice).__name__, words


@pytest.mark.parametrize(
    ("locale", "where", "words"),
    [
        (locale, where, words)
        for locale in LOCALES
        for where, words in (*error_words(locale), *text_words(locale), *notice_words(locale))
    ],
)
def test_no_member_reads_jargon(locale: str, where: str, words: str) -> None:
    assert words.strip(), where
    for jargon in JARGON:
        assert jargon not in words.lower(), (where, words)


def command_descriptions(bot: RatingsBot) -> Iterator[tuple[str, str]]:
    for command in bot.tree.walk_commands():
        yield command.qualified_name, command.description
        if isinstance(command, app_commands.Command):
            for parameter in command.parameters:
                yield f"{command.qualified_name} {parameter.name}", parameter.description
                yield from ((f"{command.qualified_name} {parameter.name}", c.name) for c in parameter.choices)
    for menu in bot.tree.get_commands(type=discord.AppCommandType.message):
        yield "menu", menu.name


async def test_no_command_or_option_description_has_jargon_and_none_says_it(running_bot: RatingsBot) -> None:
    described = list(command_descriptions(running_bot))
    assert len(described) > 20
    for where, words in described:
        assert words.strip(), where
        for jargon in JARGON:
            assert jargon not in words.lower(), (where, words)
        assert " it " not in f" {words} ".replace(",", " ").replace(";", " "), (where, words)


async def test_every_command_has_its_place_in_about(running_bot: RatingsBot) -> None:
    placed = [name for _, names in GROUPS for name in names]
    commands = {c.qualified_name for c in running_bot.tree.walk_commands() if not isinstance(c, app_commands.Group)}
    assert sorted(placed) == sorted(commands)


# ---------------------------------------------------------------------------------------------- /about


async def about(discord_server: LoopbackDiscord, user: int, channel: int | None = None) -> dict[str, Any]:
    rec = await discord_server.send_command("about", user, channel or discord_server.channel_id)
    callback = await discord_server.wait_for_callback(rec)
    assert callback.accepted and callback.data is not None
    embed: dict[str, Any] = callback.data["embeds"][0]
    return embed


def groups(embed: dict[str, Any]) -> list[str]:
    return [f["name"] for f in embed["fields"]]


async def test_about_groups_commands_and_puts_link_first_for_a_member_not_linked(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    embed = await about(discord_server, discord_server.alice_id)
    assert groups(embed) == ["Get started", "Rate", "Share", "Your data"], "no Admin for a member"
    start = embed["fields"][0]["value"]
    assert start.startswith("`/link` — ")
    assert "First, link your Apple Music" in embed["description"] and "`/link`" in embed["description"]
    data = embed["fields"][3]["value"]
    assert [line.split("`")[1] for line in data.splitlines()] == [
        "/account",
        "/privacy",
        "/export",
        "/forget-me",
        "/unlink",
    ]
    assert "/ratings-admin" not in embed_text(embed)
    assert "Apple's personal ratings API" not in embed_text(embed)


async def test_a_linked_member_is_told_so(
    running_bot: RatingsBot, linked_user: str, discord_server: LoopbackDiscord
) -> None:
    embed = await about(discord_server, discord_server.alice_id)
    assert embed["description"].splitlines()[-1].startswith("✅ Your Apple Music is linked")
    assert "First, link" not in embed["description"]


async def test_about_shows_admin_to_a_member_with_manage_server_only_and_never_in_dms(
    running_bot: RatingsBot, discord_server: LoopbackDiscord
) -> None:
    admin = discord_server.add_user("admin")
    discord_server.add_member(discord_server.guild_id, admin, Permissions.MEMBER_DEFAULT | Permissions.MANAGE_GUILD)
    embed = await about(discord_server, admin)
    assert groups(embed) == ["Get started", "Rate", "Share", "Your data", "Admin"]
    assert "`/ratings-admin channels add` — " in embed["fields"][4]["value"]
    await running_bot.sync_commands(None)  # global: /about in a DM
    embed = await about(discord_server, admin, discord_server.dm_channel(admin))
    assert "Admin" not in groups(embed)
