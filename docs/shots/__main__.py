"""``python -m docs.shots``: draw the README's pictures of the bot (see :mod:`docs.shots`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m docs.shots",
        description=(
            "Run the real bot against the loopback Discord and Apple servers, drive the main moments (/link and "
            "the linking page, /rating like|show|tracks, /share, a button press, an error, the unlinked-reaction "
            "DM, the message menu, /about), and draw what it sent as Discord messages in headless Chromium "
            "(@skyra/discord-components-core, installed with npm at a pinned version into docs/.npm). "
            "Writes PNGs to docs/. Slow (about a minute); not part of the tests."
        ),
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    parser.add_argument(
        "--npm-cache", type=Path, default=ROOT / "docs" / ".npm", help="npm install dir (default: docs/.npm)"
    )
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: the tests' /usr/bin/chromium)")
    parser.add_argument("--payloads", type=Path, default=None, help="also write the captured payloads as JSON here")
    parser.add_argument("--html", type=Path, default=None, help="also write each scene's HTML into this directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    from docs.shots import drive, render
    from playground import render as renderer
    from playground.markdown import Markdown
    from tests.fixtures.musickit import CHROMIUM, CHROMIUM_ARGS

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - before anything runs
    modules = renderer.install(args.npm_cache)
    emoji = renderer.Twemoji(modules)
    if not render.system_emoji_font():
        logging.getLogger("docs.shots").warning(
            "no colour emoji font on this machine: the linking page's emoji will show as boxes "
            "(apt-get install -y fonts-noto-color-emoji)"
        )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=args.chromium or CHROMIUM, args=CHROMIUM_ARGS)
        try:
            linking = render.LinkingPage(browser, out)
            captured = await drive.capture(linking)
            shown_at = dt.datetime(2025, 3, 14, 20, 15)
            md = Markdown(emoji, captured.names, captured_at=captured.captured_at, shown_at=shown_at)
            page = renderer.Page(md, emoji, renderer.import_map(modules))
            pages = {scene.name: page.scene(scene) for scene in captured.scenes}
            if args.payloads:
                args.payloads.write_text(
                    json.dumps([asdict(s) for s in captured.scenes], indent=2, ensure_ascii=False) + "\n"
                )
            if args.html:
                args.html.mkdir(parents=True, exist_ok=True)
                for name, text in pages.items():
                    (args.html / f"{name}.html").write_text(text)
            assets = render.Assets(modules, pages)
            await assets.start()
            try:
                written = await render.screenshot_scenes(browser, assets, list(pages), out)
            finally:
                await assets.close()
        finally:
            await browser.close()
    for path in [*linking.written, *written]:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    for failure in captured.failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if captured.failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
