"""The answer to ``/link``: the one-time linking page, and the DM paste as the fallback it is."""

from __future__ import annotations

import discord

from bot.ui.embeds import APPLE_RED

#: the DM paste: for those who cannot use the page (the one place a person handles the Apple Music code)
PASTE_FALLBACK_IN_DM = (
    "Can't use the page? As a fallback, if you have your Apple Music code (a long string of letters and digits "
    "that Apple gives apps), paste it here in this DM."
)
PASTE_FALLBACK_ELSEWHERE = (
    "Can't use the page? As a fallback, if you have your Apple Music code (a long string of letters and digits "
    "that Apple gives apps), open a DM with me and paste it there."
)


def link_embed(url: str, *, in_dm: bool, minutes: int) -> discord.Embed:
    embed = discord.Embed(title="Link your Apple Music account", url=url, colour=APPLE_RED)
    embed.description = (
        f"**[Open the linking page]({url})** and sign in with Apple. The link works once, for {minutes} minutes.\n"
        "**Never forward it or share it:** it links an Apple Music account to *your* Discord account, whoever "
        "opens it. If someone sends you a link like this, do not use it: run `/link` yourself.\n\n"
        + (PASTE_FALLBACK_IN_DM if in_dm else PASTE_FALLBACK_ELSEWHERE)
    )
    embed.set_footer(text="Your Apple Music link is stored encrypted and used only to read and set your ratings.")
    return embed
