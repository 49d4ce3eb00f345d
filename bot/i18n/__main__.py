"""``python -m bot.i18n extract``: write bot/locales/bot.pot (then ``pybabel update``; README, Languages)."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.i18n.extract import TEMPLATE, build_template, write_template


def main(argv: list[str]) -> int:
    if argv != ["extract"]:
        sys.stderr.write("usage: python -m bot.i18n extract\n")
        return 2
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)  # no voice warnings: nothing connects
    catalog = asyncio.run(build_template())
    write_template(catalog)
    sys.stderr.write(f"wrote {len(catalog)} messages to {TEMPLATE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
