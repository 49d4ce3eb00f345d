"""The one place where an error becomes words for the member who caused it: :data:`MESSAGES`, a table keyed by
error type (the most specific type in an error's class hierarchy wins).

Every message is ephemeral, specific, and free of secrets and tracebacks. A deferred ("thinking…") answer is
always replaced, never left hanging. The linking page shows the same words (``bot.web.server``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from bot import applemusic as am
from bot import errors as e
from bot.storage import StoreUnavailable

log = logging.getLogger(__name__)

ERROR_COLOUR = discord.Colour(0xE74C3C)
UNEXPECTED = "Something went wrong on our side. Nothing was changed; please try again."

Words = str | Callable[[Any], str]


#: discord.py's permission names that Discord's app shows under another name
_PERMISSION_NAMES = {"manage_guild": "Manage Server", "manage_channels": "Manage Channels"}


def _permissions(error: app_commands.MissingPermissions) -> str:
    names = [_PERMISSION_NAMES.get(p, p.replace("_", " ").title()) for p in error.missing_permissions]
    return f"You need the {', '.join(names)} permission in this server to do that. Nothing was changed."


#: Discord still shows the member an older version of a command (the bot changed it since)
_STALE_COMMAND = (
    "Discord showed you an older version of this command, so I could not read it. Nothing was changed: "
    "restart Discord (or wait a few minutes) and try again."
)


def _expired(error: e.StateExpired) -> str:
    return f"This link has expired (links last {error.minutes} minutes). Run /link in Discord to get a new one."


def _wait(seconds: float) -> str:
    """A wait in words: "a minute", "12 minutes", "30 seconds"."""
    if seconds <= 60:
        return f"{max(1, round(seconds))} seconds"
    minutes = round(seconds / 60)
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _wrong_account(error: e.WrongDiscordAccount) -> str:
    owner = f" ({error.owner})" if error.owner else ""
    return (
        f"This link was made for another Discord account{owner}, not the one you signed in with. Nothing was "
        "linked. Someone may have sent you their link: do not use it. To link your own Apple Music, run /link "
        "yourself in Discord."
    )


def _not_in_catalog(error: e.NotInCatalog) -> str:
    return (
        f"Apple Music has no {error.kind} with id `{error.item_id}` in your country or region "
        f"({error.storefront.upper()}). "
        "It may be unavailable there; check the link or pick the item from the suggestions."
    )


#: Apple stopped accepting the member's link (found by a command, or by a rating sent in the background)
_RELINK = (
    "Apple Music no longer accepts your Apple Music link (it expired or was turned off). "
    "Run `/link` to link it again; nothing else is lost."
)


#: error type → the words a member reads (a string, or a function of the error)
MESSAGES: dict[type[BaseException], Words] = {
    # accounts
    e.NotLinked: "Link your Apple Music first: run `/link`, it takes a minute.",
    e.LinkStale: _RELINK,
    am.UserTokenInvalid: _RELINK,
    e.UnlinkedMeanwhile: (
        "You unlinked your Apple Music account, so I stopped this before it finished: nothing more was sent to "
        "Apple Music. Run `/link` to link it again."
    ),
    # items
    e.NotInCatalog: _not_in_catalog,
    e.NoMatch: lambda error: f"Nothing in Apple Music matches “{error.text}”. Try a link or pick a suggestion.",
    e.NeedsAlbumOrPlaylist: "`/rating tracks` needs an album or a playlist.",
    e.LibraryItemNotShareable: "A library item is yours alone: share a catalog link so others can rate it.",
    e.NoLinksInMessage: "That message has no Apple Music links I can rate.",
    e.TooManyWaiting: lambda error: (
        f"You already have {error.limit} ratings waiting to reach your Apple Music account, the most I keep for "
        "one person, so this one was not saved. Every rating already waiting is kept and will be applied; try "
        "again once some of them have gone through (a new choice for an item already waiting is always saved)."
    ),
    am.InvalidLink: str,  # the link parser says precisely what is wrong with the link
    # linking
    e.StateInvalid: "This link is not valid. Run /link in Discord to get a new one.",
    e.StateExpired: _expired,
    e.StateUsed: "This link was already used. Run /link in Discord if you want to link again.",
    e.NoPendingLink: (
        "Run /link first: I only accept an Apple Music code right after you ask to link. It was not stored."
    ),
    e.NotAToken: "That does not look like an Apple Music code.",
    e.AppleRefusedToken: (
        "Apple Music refused this authorization. Try signing in again; make sure you allow access when Apple asks."
    ),
    e.NoSubscription: (
        "Apple Music did not accept this account: it needs an active Apple Music subscription. "
        "Subscribe, then link again."
    ),
    e.AppleUnavailable: "Apple Music could not be reached to check your sign-in. Nothing was stored; try again.",
    e.StateSpent: "This link was tried too many times and no longer works. Run /link in Discord to get a new one.",
    e.TooManyTries: lambda error: f"Too many tries. Nothing was stored; wait {_wait(error.retry_after)} and try again.",
    e.NotConfirmed: "Confirm first that the Discord account shown on the page is yours.",
    e.NotSignedIn: (
        "This browser has not shown which Discord account it belongs to. Open the link from your Discord DM "
        "again, in this browser."
    ),
    e.WrongDiscordAccount: _wrong_account,
    e.DiscordSignInCancelled: "You cancelled the Discord sign-in, so nothing was linked. Open the link again to retry.",
    e.DiscordSignInFailed: (
        "The Discord sign-in did not complete (it may have taken too long). Nothing was linked; open the link again."
    ),
    e.DiscordUnavailable: "Discord could not be reached to check your account. Nothing was linked; try again soon.",
    # server settings
    e.BadTimeZone: lambda error: (
        f"“{discord.utils.escape_markdown(error.name)}” is not a time zone I know. Pick one from the suggestions "
        "(a name like Europe/Berlin or America/New_York). Nothing was changed."
    ),
    e.BadRecapTime: lambda error: (
        "The hour is a whole hour from 0 to 23 (0 is midnight). Nothing was changed."
        if error.what == "hour"
        else "The day is one of Monday to Sunday. Nothing was changed."
    ),
    # Apple Music
    am.RateLimited: "Apple Music is asking us to slow down. Nothing was changed; try again in a moment.",
    am.UpstreamTimeout: (
        "Apple Music did not answer in time, so I can't tell whether anything changed. Please try again in a moment."
    ),
    am.UpstreamError: (
        "Apple Music is having trouble right now. Nothing was changed; please try again in a few minutes."
    ),
    am.DeveloperTokenRejected: (
        "Apple Music refused this bot's developer credentials, or your Apple Music subscription is not "
        "active. If your subscription is fine, tell the bot's operator to check the MusicKit key."
    ),
    am.NotFound: (
        "Apple Music does not have that item in your country or region. Check the link or pick it from the suggestions."
    ),
    am.BadRequest: "Apple Music could not use that request (it may not be ratable). Nothing was changed.",
    am.ResponseTooLarge: (
        "Apple Music sent back far more than this needs, so I stopped reading it. "
        "I can't tell whether anything changed; please try again later."
    ),
    am.Redirected: (
        "Apple Music sent me somewhere else instead of answering, and I only talk to Apple Music directly. "
        "I can't tell whether anything changed; please try again later."
    ),
    am.AppleMusicError: "Apple Music answered with an error. Nothing was changed; please try again.",
    # the bot itself
    # (unreachable, disk full, read-only, failing disk, locked: to a member it is all the same)
    StoreUnavailable: (
        "I can't save anything right now: my database is unavailable. Nothing was changed; "
        "please try again in a few minutes."
    ),
    # Discord's checks
    app_commands.MissingPermissions: _permissions,
    app_commands.CommandOnCooldown: lambda error: f"Slow down a little: try again in {error.retry_after:.0f} s.",
    app_commands.NoPrivateMessage: "That command works only in a server that has added the bot.",
    app_commands.CommandSignatureMismatch: _STALE_COMMAND,
    app_commands.CommandNotFound: _STALE_COMMAND,
    app_commands.CheckFailure: "You cannot use that command here.",
}

#: errors after which the answer carries a "Link Apple Music" button
_OFFER_LINK = (e.NotLinked, e.LinkStale, am.UserTokenInvalid)


def unwrap(error: BaseException) -> BaseException:
    """The error a command raised, out of discord.py's wrappers."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        return error.original if isinstance(error, app_commands.CommandInvokeError) else error
    return error


def describe_error(error: BaseException) -> str:
    """A short, specific sentence for ``error``; an unexpected error gets a generic one (and is logged)."""
    error = unwrap(error)
    for cls in type(error).__mro__:
        words = MESSAGES.get(cls)
        if words is not None:
            return words if isinstance(words, str) else words(error)
    log.error("unhandled error in an interaction", exc_info=error)
    return UNEXPECTED


def error_embed(message: str) -> discord.Embed:
    return discord.Embed(description=f"⚠️ {message}", colour=ERROR_COLOUR)


async def reply_with_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the member what went wrong, ephemerally, whatever state the interaction is in."""
    original = unwrap(error)
    embed = error_embed(describe_error(original))
    extra: dict[str, Any] = {}
    if isinstance(original, _OFFER_LINK):
        from bot.ui.views import link_button_view

        extra["view"] = link_button_view()
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if not interaction.response.is_done():
            await interaction.response.send_message(embed=embed, ephemeral=True, **extra)
        elif (
            interaction.response.type is discord.InteractionResponseType.deferred_channel_message
            and not interaction.extras.get("public")
        ):
            # replace the ephemeral "thinking…" placeholder
            await interaction.edit_original_response(embed=embed, content=None, **extra)
        else:
            if interaction.extras.get("public"):
                # a public "thinking…" must not turn into a public error: remove it, answer privately
                await interaction.delete_original_response()
            await interaction.followup.send(embed=embed, ephemeral=True, **extra)
    except discord.HTTPException:
        log.warning("could not deliver an error message to the user", exc_info=True)
