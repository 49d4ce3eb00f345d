"""The commands in the member's language: discord.py asks :class:`CommandTranslator` for every name, description,
option and choice of the tree, for every locale Discord has, when the tree is synced.

The catalogs hold these strings under a ``msgctxt`` naming what they are (:data:`CONTEXTS`), so that the command
name ``share`` and the word "share" in prose are translated separately. A translation that breaks Discord's
rules (:func:`problem`) is dropped with a warning: that locale then shows the English one, and the sync succeeds.
"""

from __future__ import annotations

import gettext
import logging
import unicodedata
from collections.abc import Callable
from typing import Final

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.app_commands import TranslationContextTypes

from bot.i18n import SHIPPED, LocaleLike, catalog, tc

log = logging.getLogger(__name__)

#: msgctxt of each kind of command string (context menus' names may hold spaces and capitals, slash names not)
COMMAND_NAME: Final = "command name"
MENU_NAME: Final = "menu name"
COMMAND_DESCRIPTION: Final = "command description"
OPTION_NAME: Final = "option name"
OPTION_DESCRIPTION: Final = "option description"
CHOICE_NAME: Final = "choice name"
CONTEXTS: Final = (COMMAND_NAME, MENU_NAME, COMMAND_DESCRIPTION, OPTION_NAME, OPTION_DESCRIPTION, CHOICE_NAME)

#: Discord's length limits of localized strings, by msgctxt
LIMITS: Final = {
    COMMAND_NAME: 32,
    MENU_NAME: 32,
    OPTION_NAME: 32,
    COMMAND_DESCRIPTION: 100,
    OPTION_DESCRIPTION: 100,
    CHOICE_NAME: 100,
}
#: the strings that follow the slash-command name rule (Discord: ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``,
#: lowercase where a letter has a lowercase form)
SLASH_NAMES: Final = frozenset({COMMAND_NAME, OPTION_NAME})

_DEVANAGARI = ((0x0900, 0x097F), (0xA8E0, 0xA8FF), (0x11B00, 0x11B5F))
_THAI = ((0x0E01, 0x0E3A), (0x0E40, 0x0E5B))


def _name_char(char: str) -> bool:
    if char in "-_'" or unicodedata.category(char)[0] in "LN":
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in (*_DEVANAGARI, *_THAI))


def slash_name_ok(name: str) -> bool:
    """Discord's rule for slash-command and option names (in every locale)."""
    return 1 <= len(name) <= 32 and all(_name_char(c) for c in name) and name == name.lower()


def problem(context: str, text: str) -> str | None:
    """Why Discord would refuse ``text`` as a localized string of kind ``context``, or None when it is fine."""
    limit = LIMITS.get(context)
    if limit is None:
        return None
    if not 1 <= len(text) <= limit:
        return f"must be 1 to {limit} characters long"
    if context in SLASH_NAMES and not slash_name_ok(text):
        return "must be lowercase letters, digits, '-', '_' or \"'\" only"
    return None


def context_of(context: TranslationContextTypes) -> str | None:
    """The msgctxt of a string discord.py asks about (None: prose, translated without a context)."""
    where = context.location
    if where is Where.command_name:
        return MENU_NAME if isinstance(context.data, app_commands.ContextMenu) else COMMAND_NAME
    return {
        Where.group_name: COMMAND_NAME,
        Where.command_description: COMMAND_DESCRIPTION,
        Where.group_description: COMMAND_DESCRIPTION,
        Where.parameter_name: OPTION_NAME,
        Where.parameter_description: OPTION_DESCRIPTION,
        Where.choice_name: CHOICE_NAME,
    }.get(where)


class CommandTranslator(app_commands.Translator):
    """Localizes the command tree from the catalogs; English (no localization) where a locale is not shipped, a
    string is not translated, or its translation breaks Discord's rules."""

    def __init__(self, catalogs: Callable[[str], gettext.NullTranslations] = catalog) -> None:
        #: the compiled catalog of a shipped locale code (tests give their own)
        self.catalogs = catalogs

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        if locale.value not in SHIPPED:
            return None
        msgctxt = context_of(context)
        source = string.message
        gnu = self.catalogs(locale.value)
        text = gnu.gettext(source) if msgctxt is None else gnu.pgettext(msgctxt, source)
        if text == source:
            return None
        if msgctxt is not None:
            why = problem(msgctxt, text)
            if why is not None:
                log.warning(
                    "%s translation %r of %r (%s) %s: Discord gets the English one",
                    locale.value,
                    text,
                    source,
                    msgctxt,
                    why,
                )
                return None
        return text


def command(locale: LocaleLike, qualified_name: str, **options: str) -> str:
    """A command as the member types it, in their language: ``command("de", "rating like")`` → ``/bewertung
    gefällt-mir``; ``options`` (option name → choice) follow as ``setting:on``, names and choices localized too."""
    words = [tc(locale, COMMAND_NAME, part) for part in qualified_name.split()]
    words += [f"{tc(locale, OPTION_NAME, name)}:{tc(locale, CHOICE_NAME, value)}" for name, value in options.items()]
    return "/" + " ".join(words)


def slash(locale: LocaleLike, qualified_name: str, **options: str) -> str:
    """:func:`command` as code in a Discord message: ```/bewertung gefällt-mir```."""
    return f"`{command(locale, qualified_name, **options)}`"
