"""`bot/applemusic/` (and the helpers it uses, `bot/aio.py` and `bot/retrying.py`) never imports discord:
checked in the source (AST) and in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "bot" / "applemusic"
SOURCES = [*sorted(PACKAGE.rglob("*.py")), REPO / "bot" / "aio.py", REPO / "bot" / "retrying.py"]


def _discord_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "__import__",
            "import_module",
        ):
            names = [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        found += [n for n in names if n == "discord" or n.startswith("discord.")]
    return found


def test_the_checker_catches_discord_imports() -> None:
    assert _discord_imports("import discord") == ["discord"]
    assert _discord_imports("from discord.ext import commands") == ["discord.ext"]
    assert _discord_imports("import os, discord.ui as ui") == ["discord.ui"]
    assert _discord_imports("def f():\n    import discord") == ["discord"]
    assert _discord_imports("importlib.import_module('discord')") == ["discord"]
    assert _discord_imports("import discordant\nfrom . import discord_like") == []


def test_the_package_has_sources() -> None:
    assert PACKAGE / "__init__.py" in SOURCES and len(SOURCES) >= 5


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_discord_import_in_source(path: Path) -> None:
    assert _discord_imports(path.read_text(encoding="utf-8")) == []


def test_importing_the_package_loads_no_discord_module() -> None:
    code = (
        "import sys, bot.applemusic as am, bot.aio, bot.retrying\n"
        "bad = sorted(m for m in sys.modules if m == 'discord' or m.startswith('discord.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
