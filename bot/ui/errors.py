"""The one place where an error becomes words for the user who caused it.

Every message is ephemeral, specific, and free of secrets and tracebacks. A deferred ("thinking…")
answer is always replaced, never left hanging.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot import applemusic as am
from bot.errors import BotError, LinkStale, NotLinked
from bot.storage import StoreUnavailable

log = logging.getLogger(__name__)

ERROR_COLOUR = discord.Colour(0xE74C3C)


def describe_error(error: BaseException) -> str:
    """A short, specific sentence for ``error``; unknown errors get a generic one (and are logged)."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(error, BotError):
        return str(error)
    if isinstance(error, am.InvalidLink):
        return str(error)
    if isinstance(error, am.UserTokenInvalid):
        return str(LinkStale())
    if isinstance(error, am.RateLimited):
        return "Apple Music is asking us to slow down. Nothing was changed; try again in a moment."
    if isinstance(error, am.UpstreamTimeout):
        return (
            "Apple Music did not answer in time, so I can't tell whether anything changed. "
            "Please try again in a moment."
        )
    if isinstance(error, am.UpstreamError):
        return "Apple Music is having trouble right now. Nothing was changed; please try again in a few minutes."
    if isinstance(error, am.DeveloperTokenRejected):
        return (
            "Apple Music refused this bot's developer credentials, or your Apple Music subscription is not "
            "active. If your subscription is fine, tell the bot's operator to check the MusicKit key."
        )
    if isinstance(error, am.NotFound):
        return "Apple Music does not know that item in your storefront. Check the link or pick it from the suggestions."
    if isinstance(error, am.BadRequest):
        return "Apple Music could not use that request (it may not be ratable). Nothing was changed."
    if isinstance(error, am.AppleMusicError):
        return "Apple Music answered with an error. Nothing was changed; please try again."
    if isinstance(error, StoreUnavailable):
        return "My database is unavailable right now, so I could not do that. Please try again in a minute."
    if isinstance(error, app_commands.CheckFailure):
        if isinstance(error, app_commands.MissingPermissions):
            perms = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
            return f"You need the {perms} permission to do that."
        if isinstance(error, app_commands.CommandOnCooldown):
            return f"Slow down a little: try again in {error.retry_after:.0f} s."
        if isinstance(error, app_commands.NoPrivateMessage):
            return "That command works only in a server."
        return "You cannot use that command here."
    log.error("unhandled error in an interaction", exc_info=error)
    return "Something went wrong on our side. Nothing was changed; please try again."


def error_embed(message: str) -> discord.Embed:
    return discord.Embed(description=f"⚠️ {message}", colour=ERROR_COLOUR)


async def reply_with_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the user what went wrong, ephemerally, whatever state the interaction is in."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    message = describe_error(original)
    view: discord.ui.View | None = None
    if isinstance(original, NotLinked | LinkStale | am.UserTokenInvalid):
        from bot.ui.views import link_button_view

        view = link_button_view()
    embed = error_embed(message)
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if not interaction.response.is_done():
            if view is None:
                await interaction.response.send_message(embed=embed, ephemeral=True)
            else:
                await interaction.response.send_message(embed=embed, ephemeral=True, view=view)
        elif (
            interaction.response.type is discord.InteractionResponseType.deferred_channel_message
            and not interaction.extras.get("public")
        ):
            # replace the ephemeral "thinking…" placeholder
            kwargs: dict[str, Any] = {"embed": embed, "content": None}
            if view is not None:
                kwargs["view"] = view
            await interaction.edit_original_response(**kwargs)
        else:
            if interaction.extras.get("public"):
                # a public "thinking…" must not turn into a public error: remove it, answer privately
                await interaction.delete_original_response()
            if view is None:
                await interaction.followup.send(embed=embed, ephemeral=True)
            else:
                await interaction.followup.send(embed=embed, ephemeral=True, view=view)
    except discord.HTTPException:
        log.warning("could not deliver an error message to the user", exc_info=True)
