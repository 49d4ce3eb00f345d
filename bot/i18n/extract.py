"""Building the message template ``bot/locales/bot.pot``: the strings marked in bot/ and cogs/ (``t``, ``tn``,
``tc``, ``N_``, found by Babel's extractor as ``pybabel extract`` would) and every string of the command tree
(names, descriptions, options, choices, under the msgctxt of :mod:`bot.i18n.commands`), which no source scan can
see. ``python -m bot.i18n extract`` writes it; tests/test_i18n_catalogs.py checks that it is current."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po
from discord import app_commands
from discord.app_commands import TranslationContextTypes

from bot.i18n import DOMAIN, LOCALES_DIR
from bot.i18n.commands import context_of

ROOT: Final = LOCALES_DIR.parent.parent
TEMPLATE: Final = LOCALES_DIR / f"{DOMAIN}.pot"
#: Babel keyword specs: the locale is the first argument of t / tn / tc
KEYWORDS: Final = {"t": (2,), "tn": (2, 3), "tc": ((2, "c"), 3), "N_": None}
SOURCE_DIRS: Final = ("bot", "cogs")

Message = tuple[str | tuple[str, str], str | None, list[tuple[str, int]]]  # id (or singular, plural), context, where


def source_messages(root: Path = ROOT) -> list[Message]:
    found: list[Message] = []
    for directory in SOURCE_DIRS:
        for filename, lineno, message, _comments, context in extract_from_dir(
            root / directory, method_map=[("**.py", "python")], keywords=KEYWORDS, strip_comment_tags=True
        ):
            msgid = message if isinstance(message, str) else (message[0], message[1])
            found.append((msgid, context, [(f"{directory}/{filename}", lineno)]))
    return found


class _Recorder(app_commands.Translator):
    """Says nothing; notes what discord.py asks (once: for one locale)."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, str]] = []

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: TranslationContextTypes
    ) -> str | None:
        if locale is discord.Locale.german:
            self.asked.append((string.message, context_of(context), _where(context)))
        return None


def _where(context: TranslationContextTypes) -> str:
    """Where a command string is used, for the translator: ``/rating like``, ``/share item``, ``menu``."""
    data = context.data
    if isinstance(data, app_commands.Parameter):
        path = f"{data.command.qualified_name} {data.name}"
    elif isinstance(data, app_commands.ContextMenu):
        path = "menu"
    elif isinstance(data, app_commands.Command | app_commands.Group):
        path = data.qualified_name
    else:
        path = "choice"
    return "/" + path.replace(" ", "/")


async def tree_messages(tree: app_commands.CommandTree[discord.Client]) -> list[Message]:
    recorder = _Recorder()
    for command in tree.get_commands():
        await command.get_translated_payload(tree, recorder)
    return [(msgid, ctx, [(where, 0)]) for msgid, ctx, where in recorder.asked]


async def bot_tree() -> app_commands.CommandTree[discord.Client]:
    """The bot's command tree, built as ``python -m bot sync`` builds it, without connecting anywhere."""
    from bot.app import INITIAL_EXTENSIONS, RatingsBot
    from bot.config import load_settings

    bot = RatingsBot(load_settings({}, env_file=None), mode="sync")
    for extension in INITIAL_EXTENSIONS:
        await bot.load_extension(extension)
    return bot.tree


def template(messages: Iterable[Message]) -> Catalog:
    catalog = Catalog(project="applemusic-ratings-bot", domain=DOMAIN, charset="utf-8", fuzzy=False)
    for msgid, context, locations in messages:
        existing = catalog.get(msgid, context=context)
        if existing is not None:
            existing.locations = sorted({*existing.locations, *locations})
            continue
        catalog.add(msgid, locations=locations, context=context)
    return catalog


async def build_template(root: Path = ROOT) -> Catalog:
    return template([*source_messages(root), *await tree_messages(await bot_tree())])


def write_template(catalog: Catalog, path: Path = TEMPLATE) -> None:
    with path.open("wb") as fp:
        write_po(fp, catalog, width=120, sort_output=True, include_lineno=False, omit_header=False)
