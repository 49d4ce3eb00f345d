"""The ``/about`` card: what the bot does, and its commands grouped by what a member wants to do.

Groups, in order: Get started (``/link`` first for someone not linked), Rate, Share, Your data, and Admin, which is
shown only to a member who may use it (Manage Server, in a server). Each line is a command and the description it
is registered with, so the card and Discord's command picker say the same thing -- in the member's language: the
names and descriptions come from the same catalog entries as the command picker's (bot/i18n/commands.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.i18n import N_, LocaleLike, t, tc
from bot.i18n.commands import COMMAND_DESCRIPTION, MENU_NAME, slash
from bot.ui.embeds import APPLE_RED

#: the groups, in order, and the commands of each, in order (qualified names)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Get started"), ("link", "about")),
    (N_("Rate"), ("rating show", "rating like", "rating dislike", "rating clear", "rating tracks")),
    (N_("Share"), ("share", "ratings top", "ratings match", "ratings name-me", "mixtape join", "mixtape leave")),
    (N_("Your data"), ("account", "privacy", "export", "forget-me", "unlink")),
    (
        N_("Admin"),
        (
            "ratings-admin channels add",
            "ratings-admin channels remove",
            "ratings-admin channels list",
            "ratings-admin share-buttons",
            "ratings-admin listen-elsewhere",
            "ratings-admin recap set",
            "ratings-admin recap off",
        ),
    ),
)
ADMIN = GROUPS[-1][0]

#: said under a group's commands (things to do that are not commands)
EXTRA = {
    GROUPS[1][0]: N_(
        "React 👍 or 👎 on a shared song. On any message with Apple Music links: **Apps → {menu}** "
        "(right-click it, or long-press on a phone)."
    ),
    ADMIN: N_("Only members who may manage this server see this group."),
}

TITLE = N_("Apple Music ratings")
INTRO = N_("Like or dislike the songs your server shares, and the rating is saved in **your own** Apple Music account.")
START_UNLINKED = N_("**First, link your Apple Music:** run {link}, it takes a minute.")
START_LINKED = N_("✅ Your Apple Music is linked: react 👍 or 👎 on a shared song, or use the commands below.")
FOOTER = N_("Your ratings go to your own Apple Music account, nowhere else.")
PACE = N_("Apple Music pace (owner only)")
#: the context menu's name, as Discord shows it in the member's language
MENU = "Apple Music ratings"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the card: whether their Apple Music is linked, and whether they may use the admin commands."""

    linked: bool
    admin: bool = False


def about_embed(
    commands: Iterable[app_commands.Command | app_commands.Group],  # type: ignore[type-arg]
    reader: Reader,
    locale: LocaleLike = None,
    *,
    shard: tuple[int, int] | None = None,
    pace: str | None = None,
) -> discord.Embed:
    """The ``/about`` card for ``reader``.

    ``pace`` (for the bot's owner only) says how many requests a second Apple is asked, as the pacer learned it.
    ``shard`` = (shard id, shard count) of the process answering, shown in the footer when the bot is sharded
    (it tells an operator which process served a server). ``locale`` is the member's (``interaction.locale``).
    """
    start = t(locale, START_LINKED) if reader.linked else t(locale, START_UNLINKED, link=slash(locale, "link"))
    embed = discord.Embed(title=t(locale, TITLE), colour=APPLE_RED, description=f"{t(locale, INTRO)}\n\n{start}")
    described = {c.qualified_name: c.description for c in commands if not isinstance(c, app_commands.Group)}
    for group, names in GROUPS:
        if group == ADMIN and not reader.admin:
            continue
        lines = [
            f"{slash(locale, name)} — {tc(locale, COMMAND_DESCRIPTION, described[name])}"
            for name in names
            if name in described
        ]
        if group in EXTRA:
            lines.append(t(locale, EXTRA[group], menu=tc(locale, MENU_NAME, MENU)))
        if lines:
            embed.add_field(name=t(locale, group), value="\n".join(lines)[:1024], inline=False)
    if pace is not None:
        embed.add_field(name=t(locale, PACE), value=pace[:1024], inline=False)
    footer = t(locale, FOOTER)
    if shard is not None and shard[1] > 1:
        footer += " " + t(locale, "Shard {shard} of {count}.", shard=shard[0], count=shard[1])
    embed.set_footer(text=footer)
    return embed
