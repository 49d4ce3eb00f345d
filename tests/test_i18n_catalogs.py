"""Must-show 1: every user-facing string (every msgid extracted from bot/ and cogs/, and every string of the command
tree) has a translation in every shipped locale, with exactly the placeholders of its source and every plural form;
the commands' localized names and descriptions keep Discord's rules. The checker is shown to fail on bad catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, SHIPPED, placeholders
from bot.i18n.commands import problem
from bot.i18n.extract import TEMPLATE, build_template

HOW = "run `python -m bot.i18n extract`, then `pybabel update` (README, Languages)"


def _key(message: Message) -> tuple[str, str | None]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def catalog_problems(template: Catalog, catalog: Catalog) -> list[str]:
    """What is wrong with ``catalog`` (one locale) against ``template``: a message missing, untranslated, fuzzy,
    with other placeholders than its source, a plural form missing, or breaking Discord's rules for commands."""
    problems: list[str] = []
    nplurals = catalog.num_plurals
    for source in template:
        if not source.id:
            continue
        key = _key(source)
        found = catalog.get(source.id, context=source.context)
        if found is None or found.fuzzy:
            problems.append(f"{key}: {'fuzzy' if found else 'missing'}")
            continue
        sources = [source.id] if isinstance(source.id, str) else list(source.id)
        try:
            expected = [placeholders(s) for s in sources]
        except ValueError as exc:
            problems.append(f"{key}: source {exc}")
            continue
        strings = [found.string] if isinstance(found.string, str) else list(found.string)
        if isinstance(source.id, str) != isinstance(found.string, str):
            problems.append(f"{key}: singular/plural mismatch")
            continue
        if not isinstance(source.id, str) and len(strings) != nplurals:
            problems.append(f"{key}: {len(strings)} plural forms, the language has {nplurals}")
        want = set().union(*expected) if len(expected) > 1 else expected[0]
        for index, text in enumerate(strings):
            if not text:
                problems.append(f"{key}: form {index} untranslated")
                continue
            try:
                got = placeholders(text)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            # a plural form may leave {n} out ("one song"), never add or lose another placeholder
            if got != want and not (len(expected) > 1 and got | {"n"} == want | {"n"} and got - want == set()):
                problems.append(f"{key}: placeholders {sorted(got)} in {text!r}, the source has {sorted(want)}")
            if source.context is not None:
                why = problem(source.context, text)
                if why is not None:
                    problems.append(f"{key}: {text!r} {why}")
    return problems


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read(TEMPLATE)


async def test_the_committed_template_holds_every_string_of_the_code_and_the_commands(template: Catalog) -> None:
    fresh = await build_template()
    committed = {_key(m) for m in template if m.id}
    extracted = {_key(m) for m in fresh if m.id}
    assert extracted - committed == set(), f"strings not in bot/locales/bot.pot: {HOW}"
    assert committed - extracted == set(), f"strings no longer in the code: {HOW}"
    for message in fresh:
        if message.id:
            for text in [message.id] if isinstance(message.id, str) else message.id:
                placeholders(text)  # only {name} placeholders in the source


@pytest.mark.parametrize("directory", sorted(SHIPPED.values()))
def test_every_string_is_translated_with_the_same_placeholders(template: Catalog, directory: str) -> None:
    catalog = _read(LOCALES_DIR / directory / "LC_MESSAGES" / "bot.po", locale=directory)
    assert catalog_problems(template, catalog) == []


def test_the_checker_refuses_what_it_must() -> None:
    template = Catalog()
    template.add("Hello {name}")
    template.add(("{n} song", "{n} songs"))
    template.add("rating", context="command name")
    template.add("Missing")
    bad = Catalog(locale="fr")
    bad.add("Hello {name}", "Bonjour {nom}")
    bad.add(("{n} song", "{n} songs"), ("{n} morceau",))  # French has 3 forms
    bad.add("rating", "Note", context="command name")  # capital letter
    problems = catalog_problems(template, bad)
    assert len(problems) == 4, problems
    assert any("'nom'" in p for p in problems)
    assert any("plural forms" in p for p in problems)
    assert any("lowercase" in p for p in problems)
    assert any("missing" in p for p in problems)
    good = Catalog(locale="fr")
    good.add("Hello {name}", "Bonjour {name}")
    good.add(("{n} song", "{n} songs"), ("un morceau", "{n} de morceaux", "{n} morceaux"))
    good.add("rating", "note", context="command name")
    good.add("Missing", "Manquant")
    assert catalog_problems(template, good) == []


def test_the_compiled_catalogs_match_the_po_files() -> None:
    """The .mo files are built by scripts/setup (`pybabel compile`); a stale one would show old words."""
    from bot.i18n import catalog

    for code, directory in SHIPPED.items():
        po = _read(LOCALES_DIR / directory / "LC_MESSAGES" / "bot.po", locale=directory)
        mo = catalog(code)
        for message in po:
            if message.id and isinstance(message.id, str) and message.string:
                got = mo.gettext(message.id) if message.context is None else mo.pgettext(message.context, message.id)
                assert got == message.string, f"{code}: {message.id!r}: run scripts/setup or `pybabel compile`"
