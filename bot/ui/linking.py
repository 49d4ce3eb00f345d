"""The answer to ``/link``: the one-time linking page, and the DM paste as the fallback it is."""

from __future__ import annotations

import discord

from bot.i18n import N_, LocaleLike, t, tn
from bot.i18n.commands import slash
from bot.ui.embeds import APPLE_RED

#: the DM paste: for those who cannot use the page (the one place a person handles the Apple Music code)
PASTE_FALLBACK_IN_DM = N_(
    "Can't use the page? As a fallback, if you have your Apple Music code (a long string of letters and digits "
    "that Apple gives apps), paste it here in this DM."
)
PASTE_FALLBACK_ELSEWHERE = N_(
    "Can't use the page? As a fallback, if you have your Apple Music code (a long string of letters and digits "
    "that Apple gives apps), open a DM with me and paste it there."
)


def link_embed(url: str, *, in_dm: bool, minutes: int, locale: LocaleLike) -> discord.Embed:
    """The one-time link, in the member's language (``locale``)."""
    embed = discord.Embed(title=t(locale, "Link your Apple Music account"), url=url, colour=APPLE_RED)
    open_it = tn(
        locale,
        "**[Open the linking page]({url})** and sign in with Apple. The link works once, for {n} minute.",
        "**[Open the linking page]({url})** and sign in with Apple. The link works once, for {n} minutes.",
        minutes,
        url=url,
    )
    never = t(
        locale,
        "**Never forward it or share it:** it links an Apple Music account to *your* Discord account, whoever "
        "opens it. If someone sends you a link like this, do not use it: run {link} yourself.",
        link=slash(locale, "link"),
    )
    fallback = t(locale, PASTE_FALLBACK_IN_DM if in_dm else PASTE_FALLBACK_ELSEWHERE)
    embed.description = f"{open_it}\n{never}\n\n{fallback}"
    embed.set_footer(
        text=t(locale, "Your Apple Music link is stored encrypted and used only to read and set your ratings.")
    )
    return embed
