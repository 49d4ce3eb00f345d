"""Discord messages as Discord draws them: HTML for ``@skyra/discord-components-core`` (the renderer the README's
pictures and the playground share).

The npm packages are installed by :func:`install` at pinned versions into a git-ignored folder (``docs/.npm`` by
default) and served from there by :func:`add_asset_routes`; nothing is fetched from a CDN. Text is set in Noto Sans
(the renderer's second font after Discord's own), emoji are Twemoji SVGs (as in Discord), covers are drawn from the
catalog's colours, avatars are plain circles with an initial.

A loopback Discord message becomes a :class:`~playground.model.Shot` (:func:`~playground.model.shot_of`), and a shot
becomes HTML with :meth:`Page.message`. Buttons carry their ``custom_id`` and reactions their emoji as ``data-``
attributes, so a page can make them pressable (the playground does; the renderer ignores them).
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from aiohttp import web

from playground.markdown import Markdown
from playground.model import JSON, Panel, Scene, Shot

log = logging.getLogger("playground.render")

#: where the npm packages go unless told otherwise (git-ignored; ``python -m docs.shots`` uses the same folder)
DEFAULT_NPM_DIR = Path(__file__).resolve().parents[1] / "docs" / ".npm"

#: the npm packages, pinned (``install`` checks the installed versions against these)
PACKAGES = {
    "@skyra/discord-components-core": "4.0.2",
    "@twemoji/svg": "15.0.0",
    "@fontsource/noto-sans": "5.3.0",
    "@fontsource/noto-color-emoji": "5.3.2",
}
#: what every message's header shows (the renderer takes it as text)
TIMESTAMP = "Today at 8:15 PM"
WIDTH = 760
BUTTON_STYLES = {1: "primary", 2: "secondary", 3: "success", 4: "destructive", 5: "secondary", 6: "secondary"}
AVATAR_COLOURS = {"bot": ("fa2d48", "♪"), "alice": ("e8a33d", "A"), "bob": ("5865f2", "B")}


# ------------------------------------------------------------------------------------------------ npm install
class RendererMissing(RuntimeError):
    """The renderer's npm packages are not installed and cannot be (no ``npm``): the message says how."""


def installed(cache: Path) -> Path | None:
    """The ``node_modules`` of ``cache`` when every package of :data:`PACKAGES` is there at its version."""
    modules = cache / "node_modules"

    def version(name: str) -> str | None:
        manifest = modules / name / "package.json"
        return json.loads(manifest.read_text())["version"] if manifest.exists() else None

    return modules if all(version(n) == v for n, v in PACKAGES.items()) else None


def install(cache: Path) -> Path:
    """``npm install`` :data:`PACKAGES` into ``cache`` unless already there at those versions; the node_modules."""
    modules = installed(cache)
    if modules is not None:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        wanted = " ".join(f"{n}@{v}" for n, v in PACKAGES.items())
        raise RendererMissing(
            f"The Discord message renderer is not installed in {cache} and npm is not on this machine.\n"
            "Install npm (Debian/Ubuntu: apt-get install -y npm; macOS: brew install node), then run this again: "
            f"it installs {wanted} there by itself.\n"
            f"Or install them yourself: npm install --prefix {cache} --save-exact {wanted}"
        )
    cache.mkdir(parents=True, exist_ok=True)
    manifest = {"name": "discord-renderer", "private": True, "dependencies": PACKAGES}
    (cache / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("installing %s into %s", ", ".join(f"{n}@{v}" for n, v in PACKAGES.items()), cache)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--save-exact"], cwd=cache, check=True)  # noqa: S603
    return cache / "node_modules"


def import_map(modules: Path) -> dict[str, Any]:
    """Bare module names → files under ``/node_modules/`` (what a bundler would resolve), from each package's
    ``exports``."""
    imports: dict[str, str] = {}
    for manifest in sorted(modules.glob("**/package.json")):
        if "node_modules" in manifest.relative_to(modules).parts[:-1] or manifest.parent.name == "files":
            continue
        data = json.loads(manifest.read_text())
        name = data.get("name")
        if not name or manifest.parent != modules / name:
            continue
        base = f"/node_modules/{name}/"
        exports = data.get("exports")
        entry = data.get("module") or data.get("main") or "index.js"
        if isinstance(exports, dict) and "." in exports:
            entry = _browser_target(exports["."]) or entry
        elif isinstance(exports, str):
            entry = exports
        imports[name] = base + entry.removeprefix("./")
        imports[name + "/"] = base
        if isinstance(exports, dict):
            for key, target in exports.items():
                resolved = _browser_target(target)
                if key.startswith("./") and resolved and "*" not in key:
                    imports[name + key[1:]] = base + resolved.removeprefix("./")
    return {"imports": imports}


def _browser_target(target: Any) -> str | None:
    if isinstance(target, str):
        return target
    if isinstance(target, dict):
        for condition in ("browser", "import", "module", "default"):
            if condition in target:
                return _browser_target(target[condition])
    return None


def fonts_css(modules: Path) -> str:
    """``@font-face`` rules that give the renderer's first font, 'gg sans', Noto Sans's letters and Noto Color
    Emoji's emoji (for emoji the renderer draws as text, e.g. in titles)."""
    rules: list[str] = []
    sources = [
        ("@fontsource/noto-color-emoji", ["400.css"]),
        ("@fontsource/noto-sans", ["400.css", "500.css", "600.css", "700.css"]),
    ]
    for package, files in sources:
        for name in files:
            css = (modules / package / name).read_text()
            css = re.sub(r"font-family:\s*'[^']+'", "font-family: 'gg sans'", css)
            css = css.replace("url(./files/", f"url(/node_modules/{package}/files/")
            rules.append(css)
    return "\n".join(rules)


class Twemoji:
    """Unicode emoji → ``/twemoji/<codepoints>.svg`` (``@twemoji/svg``'s file names)."""

    #: shown as text by Discord unless asked for as emoji
    TEXT_BY_DEFAULT = frozenset("©®™#*0123456789")

    def __init__(self, modules: Path) -> None:
        self.dir = modules / "@twemoji" / "svg"
        self.names = {p.stem for p in self.dir.glob("*.svg")}

    @staticmethod
    def file_name(sequence: str) -> str:
        keep_fe0f = "\u200d" in sequence
        return "-".join(f"{ord(c):x}" for c in sequence if keep_fe0f or c != "\ufe0f")

    def __call__(self, text: str) -> tuple[str, int] | None:
        """The image of the emoji ``text`` starts with, and how many characters it takes."""
        for length in range(min(10, len(text)), 0, -1):
            sequence = text[:length]
            if sequence[-1] in "\u200d":
                continue
            if length == 1 and sequence in self.TEXT_BY_DEFAULT:
                return None
            name = self.file_name(sequence)
            if name in self.names:
                return f"/twemoji/{name}.svg", length
        return None


# --------------------------------------------------------------------------------------------- fixed images
def artwork_svg(key: str) -> str:
    """A cover for ``<type>-<id>-<rrggbb>``: the item's own colour, a record and a light, always the same."""
    colour = key.rsplit("-", 1)[-1] if re.fullmatch(r".*-[0-9a-fA-F]{6}", key) else "888888"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300" viewBox="0 0 300 300">'
        f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#{colour}"/>'
        f'<stop offset="1" stop-color="#{colour}" stop-opacity="0.55"/></linearGradient></defs>'
        '<rect width="300" height="300" fill="#111"/><rect width="300" height="300" fill="url(#g)"/>'
        '<circle cx="150" cy="150" r="96" fill="#000" fill-opacity="0.35"/>'
        '<circle cx="150" cy="150" r="70" fill="none" stroke="#fff" stroke-opacity="0.18" stroke-width="2"/>'
        '<circle cx="150" cy="150" r="44" fill="none" stroke="#fff" stroke-opacity="0.18" stroke-width="2"/>'
        f'<circle cx="150" cy="150" r="22" fill="#{colour}"/><circle cx="150" cy="150" r="5" fill="#111"/></svg>'
    )


def avatar_svg(name: str) -> str:
    colour, letter = AVATAR_COLOURS.get(name, ("747f8d", (name[:1] or "?").upper()))
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
        f'<rect width="128" height="128" fill="#{colour}"/>'
        '<text x="64" y="84" font-family="DejaVu Sans, sans-serif" font-size="60" font-weight="bold" '
        f'fill="#fff" text-anchor="middle">{html.escape(letter)}</text></svg>'
    )


def avatar_key(author: str, bot: bool) -> str:
    return "bot" if bot else re.sub(r"[^a-z0-9]", "", author.lower()) or "user"


# ------------------------------------------------------------------------------------------------------ HTML
def inline_places(fields: list[JSON], thumbnail: bool) -> list[str]:
    """The renderer's attributes that put inline fields side by side as Discord does: up to 3 a row (2 beside a
    thumbnail), a field that is not inline starts a new row."""
    per_row = 2 if thumbnail else 3
    places: list[str] = []
    column = 0
    for f in fields:
        if f.get("inline"):
            column = column % per_row + 1
            places.append(f' inline inline-index="{column}"')
        else:
            column = 0
            places.append("")
    return places


class Page:
    """The HTML of scenes; ``md`` draws the bot's markdown."""

    def __init__(self, md: Markdown, emoji: Twemoji, imports: dict[str, Any]) -> None:
        self.md = md
        self.emoji = emoji
        self.imports = imports

    def emoji_attrs(self, emoji: JSON | None) -> str:
        if not emoji:
            return ""
        if emoji.get("id"):
            return f' emoji="/emoji/custom.svg" emoji-name="{html.escape(str(emoji.get("name") or ""))}"'
        name = str(emoji.get("name") or "")
        found = self.emoji(name)
        if found is None:
            return ""
        return f' emoji="{found[0]}" emoji-name="{html.escape(name)}"'

    def component(self, c: JSON) -> str:
        ctype = c.get("type")
        if ctype == 1:
            inner = "".join(self.component(x) for x in c.get("components", []))
            return f"<discord-action-row>{inner}</discord-action-row>"
        if ctype == 2:
            attrs = f' type="{BUTTON_STYLES.get(int(c.get("style", 2)), "secondary")}"'
            if c.get("url"):
                attrs += f' url="{html.escape(str(c["url"]), quote=True)}"'
            if c.get("custom_id"):
                attrs += f' data-custom-id="{html.escape(str(c["custom_id"]), quote=True)}"'
            if c.get("disabled"):
                attrs += " disabled"
            attrs += self.emoji_attrs(c.get("emoji"))
            return f"<discord-button{attrs}>{html.escape(str(c.get('label') or ''))}</discord-button>"
        if ctype == 3:
            placeholder = html.escape(str(c.get("placeholder") or "Make a selection"), quote=True)
            options = "".join(
                f'<discord-string-select-menu-option label="{html.escape(str(o.get("label", "")), quote=True)}"'
                f' description="{html.escape(str(o.get("description") or ""), quote=True)}"'
                f"{self.emoji_attrs(o.get('emoji'))}></discord-string-select-menu-option>"
                for o in c.get("options", [])
            )
            disabled = " disabled" if c.get("disabled") else ""
            return (
                f'<discord-string-select-menu placeholder="{placeholder}"{disabled}>{options}'
                "</discord-string-select-menu>"
            )
        log.warning("component type %s is not drawn by the renderer; shown as its JSON", ctype)
        return f'<pre class="unknown">{html.escape(json.dumps(c, ensure_ascii=False))}</pre>'

    def embed(self, e: JSON) -> str:
        attrs = ""
        if e.get("color") is not None:
            attrs += f' color="#{int(e["color"]):06x}"'
        if e.get("title"):
            attrs += f' embed-title="{html.escape(str(e["title"]), quote=True)}"'
        if e.get("url"):
            attrs += f' url="{html.escape(str(e["url"]), quote=True)}"'
        author = e.get("author") or {}
        if author.get("name"):
            attrs += f' author-name="{html.escape(str(author["name"]), quote=True)}"'
            if author.get("icon_url"):
                attrs += f' author-image="{html.escape(str(author["icon_url"]), quote=True)}"'
            if author.get("url"):
                attrs += f' author-url="{html.escape(str(author["url"]), quote=True)}"'
        for key in ("thumbnail", "image"):
            if (e.get(key) or {}).get("url"):
                attrs += f' {key}="{html.escape(str(e[key]["url"]), quote=True)}"'
        body = ""
        if e.get("description"):
            text = self.md.render(str(e["description"]))
            body += f'<discord-embed-description slot="description">{text}</discord-embed-description>'
        fields = e.get("fields") or []
        if fields:
            items = "".join(
                f'<discord-embed-field field-title="{html.escape(str(f.get("name", "")), quote=True)}"{place}>'
                f"{self.md.render(str(f.get('value', '')))}</discord-embed-field>"
                for f, place in zip(fields, inline_places(fields, bool(e.get("thumbnail"))), strict=True)
            )
            body += f'<discord-embed-fields slot="fields">{items}</discord-embed-fields>'
        footer = e.get("footer") or {}
        if footer.get("text") or e.get("timestamp"):
            fattrs = ""
            if footer.get("icon_url"):
                fattrs = f' footer-image="{html.escape(str(footer["icon_url"]), quote=True)}"'
            if e.get("timestamp"):
                fattrs += f' timestamp="{TIMESTAMP}"'
            # one span: the footer lays its children out as flex items, which would eat the spaces around emoji
            text = self.md.inline(str(footer.get("text") or ""))
            body += f'<discord-embed-footer slot="footer"{fattrs}><span>{text}</span></discord-embed-footer>'
        return f'<discord-embed slot="embeds"{attrs}>{body}</discord-embed>'

    def message(self, s: Shot) -> str:
        attrs = f' author="{html.escape(s.author, quote=True)}" avatar="/avatar/{avatar_key(s.author, s.bot)}.svg"'
        attrs += f' timestamp="{TIMESTAMP}"'
        if s.bot:
            attrs += " bot"
        if s.ephemeral:
            attrs += " ephemeral"
        if s.edited:
            attrs += " edited"
        parts: list[str] = []
        if s.command:
            user = s.command_user or "alice"
            name = f"/{s.command}" if s.command_type == "slash_command" else s.command
            context = ""
            if s.command_target:  # a message menu: "alice used Apple Music ratings > bob"
                target = html.escape(s.command_target, quote=True)
                context = f' context-user-name="{target}" context-user-image="/avatar/{avatar_key(target, False)}.svg"'
            parts.append(
                f'<discord-command slot="reply" author="{html.escape(user, quote=True)}"'
                f' avatar="/avatar/{avatar_key(user, False)}.svg" command="{html.escape(name, quote=True)}"'
                f' type="{s.command_type}"{context}></discord-command>'
            )
        if s.content:
            parts.append(self.md.render(s.content))
        parts.extend(self.embed(e) for e in s.embeds)
        for a in s.attachments:
            parts.append(f'<div class="file">📎 {html.escape(str(a.get("filename", "file")))}</div>')
        if s.components:
            rows = "".join(self.component(c) for c in s.components)
            parts.append(f'<discord-attachments slot="components">{rows}</discord-attachments>')
        if s.reactions:
            reactions = "".join(
                f"<discord-reaction{self.emoji_attrs(emoji)}"
                f' name="{html.escape(str(emoji.get("name", "")), quote=True)}"'
                f' data-emoji="{html.escape(str(emoji.get("name", "")), quote=True)}"'
                f' count="{count}"{" reacted" if mine else ""}></discord-reaction>'
                for emoji, count, mine in s.reactions
            )
            parts.append(f'<discord-reactions slot="reactions">{reactions}</discord-reactions>')
        return f"<discord-message{attrs}>{''.join(parts)}</discord-message>"

    def panel(self, p: Panel) -> str:
        caption = f'<div class="caption">{html.escape(p.caption)}</div>' if p.caption else ""
        messages = "".join(self.message(s) for s in p.shots)
        return f"<section>{caption}<discord-messages>{messages}</discord-messages></section>"

    def scene(self, scene: Scene) -> str:
        panels = "".join(self.panel(p) for p in scene.panels)
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(scene.name)}</title>
<script type="importmap">{json.dumps(self.imports)}</script>
<link rel="stylesheet" href="/fonts.css">
<style>
  html, body {{ margin: 0; background: #36393e; }}
  #shot {{ width: {WIDTH}px; padding: 0; background: #36393e; }}
  section + section {{ margin-top: 10px; border-top: 1px solid #3f4147; padding-top: 6px; }}
  .caption {{ font: 600 12px 'gg sans', sans-serif; letter-spacing: .02em; text-transform: uppercase;
              color: #b5bac1; padding: 6px 16px 0; }}
  discord-messages {{ border: 0 !important; }}
  img.emoji {{ width: 1.375em; height: 1.375em; vertical-align: -0.3em; object-fit: contain; }}
  .md-li {{ display: block; padding-left: calc(1.2em + var(--depth) * 1.2em); text-indent: -0.9em; }}
  .md-li::before {{ content: "•"; display: inline-block; width: 0.9em; text-indent: 0; }}
  .file, pre.unknown {{ font: 13px 'gg sans', sans-serif; color: #dbdee1; background: #2b2d31; padding: 8px;
                        border-radius: 4px; white-space: pre-wrap; }}
</style>
<script type="module" src="/node_modules/@skyra/discord-components-core/dist/index.js"></script>
</head><body><div id="shot">{panels}</div></body></html>"""


# ---------------------------------------------------------------------------------------------------- assets
def add_asset_routes(app: web.Application, modules: Path) -> None:
    """What a page of rendered messages loads: the npm install, Twemoji, the fonts, avatars and covers
    (``/artwork/<type>-<id>-<rrggbb>/<w>x<h>bb.jpg``, drawn by :func:`artwork_svg`)."""
    fonts = fonts_css(modules)

    async def fonts_handler(_: web.Request) -> web.Response:
        return web.Response(text=fonts, content_type="text/css")

    async def avatar(request: web.Request) -> web.Response:
        return svg_response(avatar_svg(request.match_info["name"]))

    async def custom_emoji(_: web.Request) -> web.Response:
        return svg_response(avatar_svg("?"))

    async def artwork(request: web.Request) -> web.Response:
        return svg_response(artwork_svg(request.match_info["key"]))

    app.router.add_static("/node_modules", modules)
    app.router.add_static("/twemoji", modules / "@twemoji" / "svg")
    app.router.add_get("/fonts.css", fonts_handler)
    app.router.add_get("/avatar/{name}.svg", avatar)
    app.router.add_get("/emoji/custom.svg", custom_emoji)
    app.router.add_get("/artwork/{key}/{size}", artwork)


def svg_response(text: str) -> web.Response:
    return web.Response(text=text, content_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})
