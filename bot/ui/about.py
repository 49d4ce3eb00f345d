"""The ``/about`` card: what the bot does, and its commands grouped by what a member wants to do.

Groups, in order: Get started (``/link`` first for someone not linked), Rate, Share, Your data, and Admin, which is
shown only to a member who may use it (Manage Server, in a server). Each line is a command and the description it
is registered with, so the card and Discord's command picker say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.ui.embeds import APPLE_RED

#: the groups, in order, and the commands of each, in order (qualified names)
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Get started", ("link", "about")),
    ("Rate", ("rating show", "rating like", "rating dislike", "rating clear", "rating tracks")),
    ("Share", ("share",)),
    ("Your data", ("account", "privacy", "export", "forget-me", "unlink")),
    (
        "Admin",
        (
            "ratings-admin channels add",
            "ratings-admin channels remove",
            "ratings-admin channels list",
            "ratings-admin share-buttons",
            "ratings-admin recap set",
            "ratings-admin recap off",
        ),
    ),
)
ADMIN = "Admin"

#: said under a group's commands (things to do that are not commands)
EXTRA = {
    "Rate": (
        "React 👍 or 👎 on a shared song. On any message with Apple Music links: **Apps → Apple Music ratings** "
        "(right-click it, or long-press on a phone)."
    ),
    ADMIN: "Only members who may manage this server see this group.",
}

INTRO = "Like or dislike the songs your server shares, and the rating is saved in **your own** Apple Music account."
START_UNLINKED = "**First, link your Apple Music:** run `/link`, it takes a minute."
START_LINKED = "✅ Your Apple Music is linked: react 👍 or 👎 on a shared song, or use the commands below."
FOOTER = "Your ratings go to your own Apple Music account, nowhere else."


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the card: whether their Apple Music is linked, and whether they may use the admin commands."""

    linked: bool
    admin: bool = False


def about_embed(
    commands: Iterable[app_commands.Command | app_commands.Group],  # type: ignore[type-arg]
    reader: Reader,
    *,
    shard: tuple[int, int] | None = None,
    pace: str | None = None,
) -> discord.Embed:
    """The ``/about`` card for ``reader``.

    ``pace`` (for the bot's owner only) says how many requests a second Apple is asked, as the pacer learned it.
    ``shard`` = (shard id, shard count) of the process answering, shown in the footer when the bot is sharded
    (it tells an operator which process served a server).
    """
    start = START_LINKED if reader.linked else START_UNLINKED
    embed = discord.Embed(title="Apple Music ratings", colour=APPLE_RED, description=f"{INTRO}\n\n{start}")
    described = {c.qualified_name: c.description for c in commands if not isinstance(c, app_commands.Group)}
    for group, names in GROUPS:
        if group == ADMIN and not reader.admin:
            continue
        lines = [f"`/{name}` — {described[name]}" for name in names if name in described]
        if group in EXTRA:
            lines.append(EXTRA[group])
        if lines:
            embed.add_field(name=group, value="\n".join(lines)[:1024], inline=False)
    if pace is not None:
        embed.add_field(name="Apple Music pace (owner only)", value=pace[:1024], inline=False)
    footer = FOOTER
    if shard is not None and shard[1] > 1:
        footer += f" Shard {shard[0]} of {shard[1]}."
    embed.set_footer(text=footer)
    return embed
