"""The linking page's words, in the visitor's language (the browser's ``Accept-Language``).

Every string here is marked with ``N_`` so that ``python -m bot.i18n extract`` puts it in the same gettext
catalogs as the bot's replies; the page's script gets its words translated by the server, in the page's JSON
configuration block (:func:`script_texts`), never from a catalog of its own. Errors keep their one place
(:func:`bot.ui.errors.describe_error`); here are the page's headlines, its fixed text and its script's messages.

Placeholders: ``{link}`` and ``{unlink}`` are the commands' names in the page's language (what Discord shows a
member with that language), ``{name}`` in a script text is filled in by the script.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Final

from bot.i18n import N_, LocaleLike, t, tc
from bot.i18n.commands import COMMAND_NAME

#: the page's headline before anything happened
PAGE_TITLE: Final = N_("Link your Apple Music")
#: the page's headline for each outcome (the message under it says what happened and what to do)
PAGE_TITLES: Final[Mapping[str, str]] = {
    "linked": N_("Your Apple Music is linked"),
    "invalid_link": N_("This link is not valid"),
    "expired": N_("This link has expired"),
    "already_used": N_("This link was already used"),
    "too_many_attempts": N_("This link no longer works"),
    "rate_limited": N_("Too many tries"),
    "not_confirmed": N_("Confirm your Discord account first"),
    "not_signed_in": N_("Sign in with Discord first"),
    "wrong_account": N_("This link is for another Discord account"),
    "discord_cancelled": N_("Discord sign-in cancelled"),
    "discord_failed": N_("Discord sign-in did not work"),
    "discord_unavailable": N_("Discord could not be reached"),
    "apple_refused": N_("Apple Music did not accept the sign-in"),
    "no_subscription": N_("No Apple Music subscription"),
    "apple_unavailable": N_("Apple Music could not be reached"),
    "database_unavailable": N_("Linking is unavailable right now"),
    "not_found": N_("Page not found"),
    "bad_request": N_("The page could not send this"),
}
#: the headline of a failure without its own
PAGE_TITLE_FAILED: Final = N_("Linking did not work")
LINKED: Final = N_(
    "Your Apple Music account is linked (country or region: {region}). You can close this page and go back to Discord."
)

#: what a request the page's script would never send is told (JSON ``message``), by what is wrong with it
SEND_JSON: Final = N_("Send JSON.")
SEND_UTF8: Final = N_("Send JSON in UTF-8.")
INCOMPLETE: Final = N_("The page sent an incomplete request.")
TOO_LARGE: Final = N_("The page sent too much at once.")
#: an address or a method the page server does not serve (404, 405, any other 4xx)
NOT_FOUND: Final = N_("There is nothing at this address. To link your Apple Music, run {link} in Discord.")
NOT_ALLOWED: Final = N_("This address does not answer this kind of request.")
REFUSED: Final = N_("This request could not be handled.")

#: the page's fixed text (HTML: the markup placeholders are filled in after the words are escaped)
INTRO: Final = N_(
    "Sign in with Apple so your 👍 and 👎 in Discord rate songs in {strong}your{strong_end} Apple Music account."
)
SCOPE: Final = N_(
    "{bot} can read and set your ratings, nothing else. You can unlink at any time with {unlink} in Discord."
)
DISCORD_ACCOUNT: Final = N_("Discord account")
CONFIRM_NOTE: Final = N_(
    "Not you? Close this page: signing in here would link your Apple Music to someone else's Discord account. "
    "Run {link} yourself instead."
)
LOADING: Final = N_("Loading Apple Music…")

#: the script's messages, by the name link.js reads them under (``config.text.<name>``)
SCRIPT: Final[Mapping[str, str]] = {
    "confirm": N_("This is me, {name}"),
    "waiting": N_("Waiting for Apple…"),
    "cancelled": N_("The Apple sign-in was cancelled or did not finish. Press the button to try again."),
    "notLinkedYet": N_("Not linked yet"),
    "checking": N_("Checking with Apple Music…"),
    "linkedTitle": PAGE_TITLES["linked"],
    "linked": N_("Linked. You can close this page and go back to Discord."),
    "retry": N_("Linking did not work. Press the button to try again."),
    "failedTitle": PAGE_TITLE_FAILED,
    "failed": N_("Linking did not work. Run {link} in Discord to try again."),
    "invalid": N_("This link is not valid. Run {link} in Discord to get a new one."),
    "signIn": N_("Sign in with Apple Music"),
    "noMusicKit": N_("Apple Music could not start on this page. Try again later."),
    "noMusicKitTitle": N_("Apple Music is unavailable"),
}


def command(locale: LocaleLike, name: str) -> str:
    """``/name`` as Discord shows it to a member with this language (the command's localized name)."""
    return "/" + tc(locale, COMMAND_NAME, name)


def page_title(locale: LocaleLike, code: str) -> str:
    return t(locale, PAGE_TITLES.get(code, PAGE_TITLE_FAILED))


def linked_message(locale: LocaleLike, storefront: str) -> str:
    """What the page says after a link: what happened, and that the visitor is done."""
    return t(locale, LINKED, region=storefront.upper())


def not_found(locale: LocaleLike) -> str:
    return t(locale, NOT_FOUND, link=command(locale, "link"))


def script_texts(locale: LocaleLike) -> dict[str, str]:
    """The script's messages in ``locale``; ``{name}`` is left for the script to fill in."""
    values = {"link": command(locale, "link"), "name": "{name}"}
    return {key: t(locale, msgid, **values) for key, msgid in SCRIPT.items()}


def markup(locale: LocaleLike, msgid: str, /, text: Mapping[str, str], tags: Mapping[str, str]) -> str:
    """``msgid`` in ``locale`` as HTML: the words and the ``text`` values escaped, the ``tags`` (trusted markup)
    put in after escaping, so that neither a translation nor a name can add markup."""
    sentinels = {name: f"\x00{index}\x00" for index, name in enumerate(tags)}
    clean = {name: value.replace("\x00", "") for name, value in text.items()}
    escaped = html.escape(t(locale, msgid, **clean, **sentinels))
    for name, sentinel in sentinels.items():
        escaped = escaped.replace(sentinel, tags[name])
    return escaped


def page_html(locale: LocaleLike, bot: str) -> dict[str, str]:
    """The page's fixed text in ``locale`` as HTML, by the template's marker."""
    code = "<code>{}</code>"
    return {
        "__INTRO__": markup(locale, INTRO, {}, {"strong": "<strong>", "strong_end": "</strong>"}),
        "__SCOPE__": markup(
            locale, SCOPE, {"bot": bot}, {"unlink": code.format(html.escape(command(locale, "unlink")))}
        ),
        "__DISCORD_ACCOUNT__": html.escape(t(locale, DISCORD_ACCOUNT)),
        "__CONFIRM_NOTE__": markup(
            locale, CONFIRM_NOTE, {}, {"link": code.format(html.escape(command(locale, "link")))}
        ),
        "__LOADING__": html.escape(t(locale, LOADING)),
    }
