"""The one place where an error becomes words for the member who caused it: :data:`MESSAGES`, a table keyed by
error type (the most specific type in an error's class hierarchy wins), in the member's language: a string there is
a msgid (marked with ``N_``, translated by :func:`describe_error`), a function gets the error and the locale.

A static message may name commands through the placeholders of :func:`_commands` (``{link}`` is ```/link```
as the member types it; ``{link_name}`` the same without the code marks, for the linking page).

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
from bot.applemusic.links import FIXED_REASONS
from bot.errors import kind_of
from bot.i18n import N_, LocaleLike, number, t, tn
from bot.i18n.commands import command, slash
from bot.storage import StoreUnavailable
from bot.ui.embeds import kind_noun
from bot.ui.texts import service_name

log = logging.getLogger(__name__)

ERROR_COLOUR = discord.Colour(0xE74C3C)
UNEXPECTED = N_("Something went wrong on our side. Nothing was changed; please try again.")

Words = str | Callable[[Any, LocaleLike], str]


#: discord.py's permission names that Discord's app shows under another name (Discord's own words for them)
_PERMISSION_NAMES = {"manage_guild": N_("Manage Server"), "manage_channels": N_("Manage Channels")}


def _permissions(error: app_commands.MissingPermissions, locale: LocaleLike) -> str:
    names = [
        t(locale, _PERMISSION_NAMES[p]) if p in _PERMISSION_NAMES else p.replace("_", " ").title()
        for p in error.missing_permissions
    ]
    return t(
        locale,
        "You need the {permission} permission in this server to do that. Nothing was changed.",
        permission=", ".join(names),
    )


#: Discord still shows the member an older version of a command (the bot changed it since)
_STALE_COMMAND = N_(
    "Discord showed you an older version of this command, so I could not read it. Nothing was changed: "
    "restart Discord (or wait a few minutes) and try again."
)


def _expired(error: e.StateExpired, locale: LocaleLike) -> str:
    return tn(
        locale,
        "This link has expired (links last {n} minute). Run {link_name} in Discord to get a new one.",
        "This link has expired (links last {n} minutes). Run {link_name} in Discord to get a new one.",
        error.minutes,
        link_name=command(locale, "link"),
    )


def _wait(seconds: float, locale: LocaleLike) -> str:
    """A wait in words: "a minute", "12 minutes", "30 seconds"."""
    if seconds <= 60:
        return tn(locale, "{n} second", "{n} seconds", max(1, round(seconds)))
    minutes = round(seconds / 60)
    return t(locale, "a minute") if minutes == 1 else tn(locale, "{n} minute", "{n} minutes", minutes)


def _wrong_account(error: e.WrongDiscordAccount, locale: LocaleLike) -> str:
    link_name = command(locale, "link")
    if error.owner:
        return t(
            locale,
            "This link was made for another Discord account ({owner}), not the one you signed in with. Nothing was "
            "linked. Someone may have sent you their link: do not use it. To link your own Apple Music, run "
            "{link_name} yourself in Discord.",
            owner=error.owner,
            link_name=link_name,
        )
    return t(
        locale,
        "This link was made for another Discord account, not the one you signed in with. Nothing was linked. "
        "Someone may have sent you their link: do not use it. To link your own Apple Music, run {link_name} "
        "yourself in Discord.",
        link_name=link_name,
    )


def _not_in_catalog(error: e.NotInCatalog, locale: LocaleLike) -> str:
    return t(
        locale,
        "Apple Music has no {kind} with id `{id}` in your country or region ({country}). "
        "It may be unavailable there; check the link or pick the item from the suggestions.",
        kind=kind_noun(locale, error.kind),
        id=error.item_id,
        country=error.storefront.upper(),
    )


#: Apple stopped accepting the member's link (found by a command, or by a rating sent in the background)
_RELINK = N_(
    "Apple Music no longer accepts your Apple Music link (it expired or was turned off). "
    "Run {link} to link it again; nothing else is lost."
)


def _cannot_match_now(error: e.CannotMatchNow, locale: LocaleLike) -> str:
    return t(
        locale,
        "Couldn't reach the services that match {service} links just now. "
        "Try again in a few minutes, or use an Apple Music link.",
        service=service_name(error.link_service),
    )


def _no_foreign_match(error: e.NoForeignMatch, locale: LocaleLike) -> str:
    return t(
        locale,
        "I couldn't find the song of this {service} link in Apple Music. It may not be there; search for it by "
        "name, or use an Apple Music link.",
        service=service_name(error.link_service),
    )


def _no_match(error: e.NoMatch, locale: LocaleLike) -> str:
    return t(locale, "Nothing in Apple Music matches “{text}”. Try a link or pick a suggestion.", text=error.text)


def _too_many_lookups(error: e.TooManyLookups, locale: LocaleLike) -> str:
    return t(
        locale,
        "You matched many links of other music services just now. Try again in {wait}, or use an Apple Music link.",
        wait=_wait(error.retry_after, locale),
    )


def _too_many_waiting(error: e.TooManyWaiting, locale: LocaleLike) -> str:
    return t(
        locale,
        "You already have {limit} ratings waiting to reach your Apple Music account, the most I keep for one "
        "person, so this one was not saved. Every rating already waiting is kept and will be applied; try again "
        "once some of them have gone through (a new choice for an item already waiting is always saved).",
        limit=number(locale, error.limit),
    )


def _invalid_link(error: am.InvalidLink, locale: LocaleLike) -> str:
    """The link parser says precisely what is wrong with the link; a reason that names an id's shape stays English."""
    return t(locale, error.reason) if error.reason in FIXED_REASONS else str(error)


def _not_named_here(error: e.NotNamedHere, locale: LocaleLike) -> str:
    return t(
        locale,
        "Taste matches are only for members who chose to be named in this server, and you have not. "
        "Run {on} to choose it ({off} undoes it at any time), then try again.",
        on=slash(locale, "ratings name-me", setting="on"),
        off=slash(locale, "ratings name-me", setting="off"),
    )


def _too_many_tries(error: e.TooManyTries, locale: LocaleLike) -> str:
    return t(
        locale, "Too many tries. Nothing was stored; wait {wait} and try again.", wait=_wait(error.retry_after, locale)
    )


def _bad_time_zone(error: e.BadTimeZone, locale: LocaleLike) -> str:
    return t(
        locale,
        "“{name}” is not a time zone I know. Pick one from the suggestions (a name like Europe/Berlin or "
        "America/New_York). Nothing was changed.",
        name=discord.utils.escape_markdown(error.name),
    )


def _bad_recap_time(error: e.BadRecapTime, locale: LocaleLike) -> str:
    if error.what == "hour":
        return t(locale, "The hour is a whole hour from 0 to 23 (0 is midnight). Nothing was changed.")
    return t(locale, "The day is one of Monday to Sunday. Nothing was changed.")


def _cooldown(error: app_commands.CommandOnCooldown, locale: LocaleLike) -> str:
    return t(locale, "Slow down a little: try again in {seconds} s.", seconds=number(locale, round(error.retry_after)))


#: error type → the words a member reads (a string, or a function of the error)
MESSAGES: dict[type[BaseException], Words] = {
    # accounts
    e.NotLinked: N_("Link your Apple Music first: run {link}, it takes a minute."),
    e.LinkStale: _RELINK,
    am.UserTokenInvalid: _RELINK,
    e.UnlinkedMeanwhile: N_(
        "You unlinked your Apple Music account, so I stopped this before it finished: nothing more was sent to "
        "Apple Music. Run {link} to link it again."
    ),
    # items
    e.NotInCatalog: _not_in_catalog,
    e.NoMatch: _no_match,
    e.NeedsAlbumOrPlaylist: N_("{tracks} needs an album or a playlist."),
    e.LibraryItemNotShareable: N_("A library item is yours alone: share a catalog link so others can rate it."),
    e.NoLinksInMessage: N_("That message has no music links I can rate."),
    # links of other music services
    e.CannotMatchNow: _cannot_match_now,
    e.MatchUnavailable: N_(
        "Couldn't reach the services that match links of other music services just now. "
        "Try again in a few minutes, or use an Apple Music link."
    ),
    e.NoForeignMatch: _no_foreign_match,
    e.TooManyLookups: _too_many_lookups,
    e.TooManyWaiting: _too_many_waiting,
    am.InvalidLink: _invalid_link,
    # server taste (never names the other member: they may not have chosen to be named)
    e.NotNamedHere: _not_named_here,
    e.MemberNotNamed: N_(
        "That member has not chosen to be named in this server, so I can't compare your votes with theirs."
    ),
    e.MatchWithSelf: N_("Pick another member of this server to compare your votes with."),
    # linking
    e.StateInvalid: N_("This link is not valid. Run {link_name} in Discord to get a new one."),
    e.StateExpired: _expired,
    e.StateUsed: N_("This link was already used. Run {link_name} in Discord if you want to link again."),
    e.NoPendingLink: N_(
        "Run {link_name} first: I only accept an Apple Music code right after you ask to link. It was not stored."
    ),
    e.NotAToken: N_("That does not look like an Apple Music code."),
    e.AppleRefusedToken: N_(
        "Apple Music refused this authorization. Try signing in again; make sure you allow access when Apple asks."
    ),
    e.NoSubscription: N_(
        "Apple Music did not accept this account: it needs an active Apple Music subscription. "
        "Subscribe, then link again."
    ),
    e.AppleUnavailable: N_("Apple Music could not be reached to check your sign-in. Nothing was stored; try again."),
    e.StateSpent: N_(
        "This link was tried too many times and no longer works. Run {link_name} in Discord to get a new one."
    ),
    e.TooManyTries: _too_many_tries,
    e.NotConfirmed: N_("Confirm first that the Discord account shown on the page is yours."),
    e.NotSignedIn: N_(
        "This browser has not shown which Discord account it belongs to. Open the link from your Discord DM "
        "again, in this browser."
    ),
    e.WrongDiscordAccount: _wrong_account,
    e.DiscordSignInCancelled: N_(
        "You cancelled the Discord sign-in, so nothing was linked. Open the link again to retry."
    ),
    e.DiscordSignInFailed: N_(
        "The Discord sign-in did not complete (it may have taken too long). Nothing was linked; open the link again."
    ),
    e.DiscordUnavailable: N_("Discord could not be reached to check your account. Nothing was linked; try again soon."),
    # server settings
    e.BadTimeZone: _bad_time_zone,
    e.BadRecapTime: _bad_recap_time,
    # Apple Music
    am.RateLimited: N_("Apple Music is asking us to slow down. Nothing was changed; try again in a moment."),
    am.UpstreamTimeout: N_(
        "Apple Music did not answer in time, so I can't tell whether anything changed. Please try again in a moment."
    ),
    am.UpstreamError: N_(
        "Apple Music is having trouble right now. Nothing was changed; please try again in a few minutes."
    ),
    am.DeveloperTokenRejected: N_(
        "Apple Music refused this bot's developer credentials, or your Apple Music subscription is not "
        "active. If your subscription is fine, tell the bot's operator to check the MusicKit key."
    ),
    am.NotFound: N_(
        "Apple Music does not have that item in your country or region. Check the link or pick it from the suggestions."
    ),
    am.BadRequest: N_("Apple Music could not use that request (it may not be ratable). Nothing was changed."),
    am.ResponseTooLarge: N_(
        "Apple Music sent back far more than this needs, so I stopped reading it. "
        "I can't tell whether anything changed; please try again later."
    ),
    am.Redirected: N_(
        "Apple Music sent me somewhere else instead of answering, and I only talk to Apple Music directly. "
        "I can't tell whether anything changed; please try again later."
    ),
    am.AppleMusicError: N_("Apple Music answered with an error. Nothing was changed; please try again."),
    # the bot itself
    # (unreachable, disk full, read-only, failing disk, locked: to a member it is all the same)
    StoreUnavailable: N_(
        "I can't save anything right now: my database is unavailable. Nothing was changed; "
        "please try again in a few minutes."
    ),
    e.Restarting: N_("The bot is restarting; try again in a moment."),
    # Discord's checks
    app_commands.MissingPermissions: _permissions,
    app_commands.CommandOnCooldown: _cooldown,
    app_commands.NoPrivateMessage: N_("That command works only in a server that has added the bot."),
    app_commands.CommandSignatureMismatch: _STALE_COMMAND,
    app_commands.CommandNotFound: _STALE_COMMAND,
    app_commands.CheckFailure: N_("You cannot use that command here."),
}

#: errors after which the answer carries a "Link Apple Music" button
_OFFER_LINK = (e.NotLinked, e.LinkStale, am.UserTokenInvalid)


def unwrap(error: BaseException) -> BaseException:
    """The error a command raised, out of discord.py's wrappers."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        return error.original if isinstance(error, app_commands.CommandInvokeError) else error
    return error


def _words_for(error: BaseException) -> Words | None:
    """The entry of :data:`MESSAGES` for ``error`` (the most specific type wins); None for an unexpected error."""
    for cls in type(error).__mro__:
        words = MESSAGES.get(cls)
        if words is not None:
            return words
    return None


def _commands(locale: LocaleLike) -> dict[str, str]:
    """The commands a static message of :data:`MESSAGES` may name, as the member types them in their language."""
    return {
        "link": slash(locale, "link"),
        "link_name": command(locale, "link"),
        "tracks": slash(locale, "rating tracks"),
    }


def describe_error(error: BaseException, locale: LocaleLike = None) -> str:
    """A short, specific sentence for ``error`` in ``locale`` (the member's; None: English); an unexpected error gets
    a generic one (and is logged)."""
    error = unwrap(error)
    words = _words_for(error)
    if words is not None:
        return t(locale, words, **_commands(locale)) if isinstance(words, str) else words(error, locale)
    log.error("unhandled error in an interaction", exc_info=error)
    return t(locale, UNEXPECTED)


def outcome_of(error: BaseException | None) -> str:
    """An interaction's outcome as a metric label: ``ok``, the kind of an error the member was told about
    (``not_linked``, ``store_unavailable``...), or ``unexpected``."""
    if error is None:
        return "ok"
    error = unwrap(error)
    return kind_of(error) if _words_for(error) is not None else "unexpected"


def error_embed(message: str) -> discord.Embed:
    return discord.Embed(description=f"⚠️ {message}", colour=ERROR_COLOUR)


async def reply_with_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the member what went wrong, ephemerally, in their language, whatever state the interaction is in."""
    original = unwrap(error)
    embed = error_embed(describe_error(original, interaction.locale))
    extra: dict[str, Any] = {}
    if isinstance(original, _OFFER_LINK):
        from bot.ui.views import link_button_view

        extra["view"] = link_button_view(locale=interaction.locale)
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


async def refuse_while_restarting(interaction: discord.Interaction[Any]) -> None:
    """Answer an interaction that arrived while the process stops: suggestions are none, anything else gets
    the short ephemeral "restarting" words (nothing was done)."""
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
            return
    except discord.HTTPException:
        log.warning("could not answer an interaction while restarting", exc_info=True)
        return
    await reply_with_error(interaction, e.Restarting())
