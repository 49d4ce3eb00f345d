"""The shape of the house (``../shared/architecture.md``): cogs only adapt Discord; services never build embeds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COGS = sorted((REPO / "cogs").glob("*.py"))
SERVICES = sorted((REPO / "bot" / "services").glob("*.py"))
#: what a cog must not reach for: the store, HTTP clients, SQL drivers
NOT_IN_COGS = ("bot.storage", "aiohttp", "asyncpg", "aiosqlite", "sqlite3", "bot.applemusic.client")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def attributes(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import aiohttp\nfrom bot.storage import Store\nx = bot.svc.store.get_account\n")
    assert {"aiohttp", "bot.storage"} <= imports(sample) and "store" in attributes(sample)


@pytest.mark.parametrize("path", COGS, ids=lambda p: p.name)
def test_cogs_have_no_store_http_or_sql_access(path: Path) -> None:
    bad = {name for name in imports(path) if any(name == n or name.startswith(n + ".") for n in NOT_IN_COGS)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
    assert "store" not in attributes(path), f"{path.name} reaches for the store"
    assert "execute" not in attributes(path), f"{path.name} runs SQL"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_services_never_import_discord(path: Path) -> None:
    assert not {name for name in imports(path) if name == "discord" or name.startswith("discord.")}


BOT_FILES = sorted((REPO / "bot").rglob("*.py"))


@pytest.mark.parametrize("path", BOT_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_bot_never_imports_the_tests_the_loopback_servers_or_the_playground(path: Path) -> None:
    """The bot ships alone: only ``python -m bot playground``'s entry (in ``bot/__main__.py``) imports the
    playground, inside the function that runs it."""
    bad = {n for n in imports(path) if n.split(".")[0] in ("tests", "playground", "docs", "loopback")}
    if path == REPO / "bot" / "__main__.py":
        assert bad == {"playground.cli"}
        top_level = {
            node.module for node in ast.parse(path.read_text(encoding="utf-8")).body if isinstance(node, ast.ImportFrom)
        }
        assert "playground.cli" not in top_level
    else:
        assert not bad, f"{path.name} imports {sorted(bad)}"


LOOPBACK_FILES = sorted((REPO / "loopback").rglob("*.py"))


@pytest.mark.parametrize("path", LOOPBACK_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_the_loopback_servers_stand_alone(path: Path) -> None:
    """The loopback servers ship with the project and follow the services' documentation, not the bot: they import
    neither the bot nor the tests."""
    bad = {n for n in imports(path) if n.split(".")[0] in ("bot", "cogs", "tests", "playground", "docs")}
    assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"
