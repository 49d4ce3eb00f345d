"""The member's language: message catalogs (gettext, managed with Babel) and locale-aware numbers and dates.

Every word the bot writes goes through this module::

    from bot.i18n import N_, t, tn

    t(interaction.locale, "Linked since {when}.", when=date(interaction.locale, since))
    tn(interaction.guild_locale, "{n} track", "{n} tracks", count)
    GREETING = N_("Hello!")          # a module-level constant: marked here, translated at use with t(locale, GREETING)

* ``locale`` is whatever Discord gives (``interaction.locale``, ``interaction.guild_locale``: a ``discord.Locale``,
  its string value such as ``"pt-BR"``, or ``None``). A locale the bot does not ship, and ``None``, mean English.
  The member's locale is for what only the member reads (ephemeral answers, DMs, errors); the server's locale
  (:func:`server_locale`) for public posts (share cards, recaps).
* Placeholders are ``str.format`` named fields, plain names only: ``{name}`` (no ``{0}``, ``{}``, ``{a.b}``,
  ``{a!r}`` or ``{a:>3}``); a literal brace is doubled (``{{``). Every msgid is formatted, with or without
  placeholders. A translation must use exactly the placeholders of its source (tests/test_i18n_catalogs.py).
* Plurals: :func:`tn` picks the catalog's plural form for ``n``; ``{n}`` in either form is ``n`` formatted for
  the locale (:func:`number`), unless the caller passes its own ``n``.
* Catalogs (``bot/locales/<ll or ll_CC>/LC_MESSAGES/bot.po``, compiled to ``bot.mo`` by ``scripts/setup``) are
  read once per process, at first use.
"""

from __future__ import annotations

import gettext
import logging
import string
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date as _date
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Final, Literal

import babel
import babel.dates
import babel.numbers
import discord

log = logging.getLogger(__name__)

#: the language the code is written in: the msgids are US English
SOURCE: Final = "en-US"
#: Discord locale code → catalog directory under ``bot/locales`` (a gettext / Babel locale name)
SHIPPED: Final[Mapping[str, str]] = {
    "de": "de",
    "fr": "fr",
    "es-ES": "es_ES",
    "es-419": "es_419",
    "pt-BR": "pt_BR",
    "ja": "ja",
    "ko": "ko",
    "it": "it",
    "nl": "nl",
}
#: the English variants Discord has: they need no catalog (the msgids are English) but format dates their own way
ENGLISH: Final[Mapping[str, str]] = {"en-US": "en_US", "en-GB": "en_GB"}
DOMAIN: Final = "bot"
LOCALES_DIR: Final = Path(__file__).resolve().parent.parent / "locales"

LocaleLike = discord.Locale | str | None


def resolve(locale: LocaleLike) -> str:
    """The Discord locale code the bot answers ``locale`` in: a shipped one, ``en-GB``, or ``en-US`` (the fallback
    for ``None`` and every locale the bot does not ship). ``es-ES`` and ``es-419`` stay distinct."""
    code = locale.value if isinstance(locale, discord.Locale) else locale
    if code is not None and (code in SHIPPED or code in ENGLISH):
        return code
    return SOURCE


def server_locale(guild_locale: LocaleLike, member_locale: LocaleLike) -> str:
    """The language of a public post: the server's; outside a server (a DM, a user-installed command), the member's."""
    return resolve(guild_locale if guild_locale is not None else member_locale)


def N_(msgid: str) -> str:
    """Mark a module-level constant for extraction; translate it where it is used, with :func:`t`."""
    return msgid


def t(locale: LocaleLike, msgid: str, /, **placeholders: object) -> str:
    """``msgid`` in ``locale`` (English if not shipped or not translated), its ``{placeholders}`` filled in."""
    code = resolve(locale)
    return _fill(code, msgid, catalog(code).gettext(msgid), placeholders)


def tn(locale: LocaleLike, singular: str, plural: str, n: int, /, **placeholders: object) -> str:
    """The plural form of the catalog's language for ``n`` (English: ``singular`` when ``n == 1``); ``{n}`` is ``n``
    formatted for the locale unless ``placeholders`` has its own ``n``."""
    code = resolve(locale)
    values: dict[str, object] = {"n": number(code, n), **placeholders}
    source = singular if n == 1 else plural
    return _fill(code, source, catalog(code).ngettext(singular, plural, n), values)


def tc(locale: LocaleLike, context: str, msgid: str, /, **placeholders: object) -> str:
    """:func:`t` with a gettext context (``msgctxt``), for one English word with two meanings. The commands'
    translator uses the contexts in :mod:`bot.i18n.commands`; prose rarely needs one."""
    code = resolve(locale)
    return _fill(code, msgid, catalog(code).pgettext(context, msgid), placeholders)


def _fill(code: str, source: str, text: str, values: Mapping[str, object]) -> str:
    try:
        return text.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        if text == source:  # the source itself is wrong: a bug at the call site
            raise
        # a translation that does not match its source (the catalog test refuses it; never fail a reply for it)
        log.warning("translation of %r in %s does not fit its placeholders (%r): using English", source, code, exc)
        return source.format_map(values)


def placeholders(text: str) -> set[str]:
    """The named placeholders of ``text``; raises :class:`ValueError` for anything but plain ``{name}`` fields."""
    names: set[str] = set()
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {field!r} in {text!r}: only plain named fields such as {{name}} are allowed")
        names.add(field)
    return names


@cache
def catalog(code: str) -> gettext.NullTranslations:
    """The compiled catalog of a resolved locale code (English: none), read once per process."""
    directory = SHIPPED.get(code)
    if directory is None:
        return gettext.NullTranslations()
    path = LOCALES_DIR / directory / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    except FileNotFoundError:
        log.warning("no compiled catalog for %s at %s (run scripts/setup or `pybabel compile`): English", code, path)
        return gettext.NullTranslations()


def babel_locale(locale: LocaleLike) -> babel.Locale:
    code = resolve(locale)
    return babel.Locale.parse(SHIPPED.get(code) or ENGLISH[code])


def number(locale: LocaleLike, n: float) -> str:
    """``n`` with the locale's digit grouping and decimal sign: ``1.234`` in German, ``1,234`` in English."""
    return babel.numbers.format_decimal(n, locale=babel_locale(locale))


def date(locale: LocaleLike, when: _date | datetime, fmt: Literal["short", "medium", "long", "full"] = "long") -> str:
    """A calendar date in the locale's words (``3. März 2025``, ``2025年3月3日``)."""
    return babel.dates.format_date(when, format=fmt, locale=babel_locale(locale))


def relative(locale: LocaleLike, delta: timedelta) -> str:
    """A duration relative to now in the locale's words: ``in 3 days`` / ``vor 2 Stunden`` (negative = past)."""
    return babel.dates.format_timedelta(delta, add_direction=True, locale=babel_locale(locale))


def from_accept_language(header: str | None) -> str:
    """The shipped locale a browser prefers (its ``Accept-Language``), as a Discord code; English when none is
    shipped. ``es-MX`` and other Latin American Spanish become ``es-419``, ``pt``/``pt-PT`` ``pt-BR``."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().replace("_", "-")))
    for _q, _i, tag in sorted(ranked):
        code = _match_tag(tag)
        if code is not None:
            return code
    return SOURCE


def _match_tag(tag: str) -> str | None:
    lowered = {code.lower(): code for code in (*SHIPPED, *ENGLISH)}
    exact = lowered.get(tag.lower())
    if exact is not None:
        return exact
    language, _, region = tag.lower().partition("-")
    if language == "es":
        return "es-ES" if region in ("", "es") else "es-419"
    if language == "pt":
        return "pt-BR"
    if language == "en":
        return "en-GB" if region in ("gb", "uk", "ie", "au", "nz") else SOURCE
    return lowered.get(language)


class RecentLocales:
    """The locale of each member's latest interaction with the bot, kept in memory only (lost at a restart; at most
    ``size`` members, the least recently seen forgotten first): the language of a DM sent outside an interaction
    (a reminder, a reaction not saved, a mixtape not made). A member not seen gets English."""

    def __init__(self, size: int = 50_000) -> None:
        self.size = size
        self._seen: OrderedDict[int, str] = OrderedDict()

    def remember(self, user_id: int, locale: LocaleLike) -> None:
        self._seen[user_id] = resolve(locale)
        self._seen.move_to_end(user_id)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def get(self, user_id: int) -> str | None:
        """The member's locale as last seen (a resolved code), or None when the bot has not seen them."""
        return self._seen.get(user_id)


__all__ = [
    "DOMAIN",
    "ENGLISH",
    "LOCALES_DIR",
    "N_",
    "SHIPPED",
    "SOURCE",
    "LocaleLike",
    "RecentLocales",
    "babel_locale",
    "catalog",
    "date",
    "from_accept_language",
    "number",
    "placeholders",
    "relative",
    "resolve",
    "server_locale",
    "t",
    "tc",
    "tn",
]
