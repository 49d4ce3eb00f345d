"""The README's pictures: scenes drawn with the shared renderer (:mod:`playground.render`), screenshotted in
headless Chromium.

The renderer's npm packages are installed by :func:`playground.render.install` at pinned versions into ``docs/.npm``
(git-ignored) and served from there by a small local server; nothing is fetched from a CDN while drawing (every other
request is refused).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp import web

from playground.render import WIDTH, add_asset_routes, artwork_svg, avatar_svg

log = logging.getLogger("docs.shots")


def system_emoji_font() -> bool:
    """Whether Chromium has a colour emoji font for pages drawn as they are (the linking page): without one
    (``apt-get install -y fonts-noto-color-emoji``) their emoji show as boxes. The Discord pictures do not need it."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return False
    fonts = subprocess.run([fc_list, ":", "family"], capture_output=True, text=True, check=False).stdout  # noqa: S603
    return "emoji" in fonts.lower()


# ---------------------------------------------------------------------------------------------------- server
class Assets:
    """A local HTTP server for the pictures: the npm install, fonts, avatars and each scene's page."""

    def __init__(self, modules: Path, pages: dict[str, str]) -> None:
        self.modules = modules
        self.pages = pages
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        add_asset_routes(app, self.modules)
        app.router.add_get("/scene/{name}", self._scene)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _scene(self, request: web.Request) -> web.Response:
        page = self.pages.get(request.match_info["name"])
        if page is None:
            raise web.HTTPNotFound()
        return web.Response(text=page, content_type="text/html")


async def offline(context: Any, allowed: Callable[[str], bool] = lambda host: host == "127.0.0.1") -> None:
    """Route every request of a Playwright ``context``: loopback passes, Apple's artwork host gets a drawn cover,
    Discord's CDN a drawn avatar, anything else is refused (no CDN, no network)."""

    async def handle(route: Any) -> None:
        url = urlsplit(route.request.url)
        host = url.hostname or ""
        if url.scheme in ("data", "blob") or allowed(host):
            await route.continue_()
        elif host.endswith("mzstatic.com"):
            parts = url.path.split("/")
            key = parts[-2] if len(parts) > 1 else "art"
            await route.fulfill(status=200, content_type="image/svg+xml", body=artwork_svg(key))
        elif host == "cdn.discordapp.com":
            await route.fulfill(status=200, content_type="image/svg+xml", body=avatar_svg("alice"))
        else:
            log.info("refused a request to %s while drawing", host)
            await route.abort()

    await context.route("**/*", handle)


SETTLE_JS = """async () => {
  await customElements.whenDefined('discord-message');
  await document.fonts.ready;
  const all = (root) => [...root.querySelectorAll('*')].flatMap(e => [e, ...(e.shadowRoot ? all(e.shadowRoot) : [])]);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const images = all(document).filter(e => e.tagName === 'IMG');
  await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  await document.fonts.ready;
}"""


async def screenshot_scenes(browser: Any, assets: Assets, names: list[str], out: Path) -> list[Path]:
    context = await browser.new_context(viewport={"width": WIDTH, "height": 900}, device_scale_factor=2)
    await offline(context)
    page = await context.new_page()
    written: list[Path] = []
    try:
        for name in names:
            await page.goto(f"{assets.base_url}/scene/{name}")
            await page.evaluate(SETTLE_JS)
            path = out / f"{name}.png"
            await page.locator("#shot").screenshot(path=str(path), animations="disabled")
            written.append(path)
            log.info("wrote %s", path)
    finally:
        await context.close()
    return written


class LinkingPage:
    """The linking page (served by the bot), in light and dark mode at desktop width, before and after signing
    in with the stand-in MusicKit."""

    VIEWPORT: ClassVar[dict[str, int]] = {"width": 1280, "height": 860}

    def __init__(self, browser: Any, out: Path) -> None:
        self.browser = browser
        self.out = out
        self.written: list[Path] = []

    async def _shoot(self, page: Any, name: str) -> None:
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            await page.evaluate("() => document.fonts.ready.then(() => null)")
            path = self.out / f"{name}-{scheme}.png"
            await page.screenshot(path=str(path), animations="disabled")
            self.written.append(path)
            log.info("wrote %s", path)

    async def __call__(self, url: str) -> None:
        context = await self.browser.new_context(viewport=self.VIEWPORT)
        await offline(context)
        page = await context.new_page()
        try:
            await page.goto(url)
            await page.wait_for_selector("body[data-ready='true']", state="attached", timeout=15_000)
            await self._shoot(page, "linking")
            if await page.is_visible("#confirm") and not await page.is_checked("#confirm"):
                await page.check("#confirm")
            await page.click("#connect")
            await page.wait_for_selector("body[data-linked='true'], body[data-error]", state="attached", timeout=15_000)
            await self._shoot(page, "linking-done")
        finally:
            await context.close()
