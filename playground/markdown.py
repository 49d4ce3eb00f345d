"""Discord's markdown (the part a bot's messages use) as HTML for ``@skyra/discord-components-core``.

Block level: ``# `` headers, ``> `` quotes, ``-# `` small text, ``- `` list items, code blocks. Inline: code,
``**bold**``, ``__underline__``, ``*italic*``/``_italic_``, ``~~strike~~``, ``[text](url)``, bare URLs, mentions
(``<@id>``, ``<#id>``, ``<@&id>``, ``</name:id>``), timestamps (``<t:unix:style>``, drawn against a fixed "now")
and emoji (Twemoji images, as Discord draws them).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable

#: unicode emoji → image URL (``None``: not an emoji the renderer knows)
EmojiUrl = Callable[[str], "tuple[str, int] | None"]

_TOKEN = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|(?P<link>\[(?P<ltext>[^\]\n]+)\]\((?P<lurl><?https?://[^)\s]+>?)\))"
    r"|(?P<url>https?://[^\s<>()]+)"
    r"|(?P<cmd></(?P<cmdname>[\w -]+):\d+>)"
    r"|(?P<user><@!?(?P<uid>\d+)>)"
    r"|(?P<chan><#(?P<cid>\d+)>)"
    r"|(?P<role><@&\d+>)"
    r"|(?P<time><t:(?P<ts>-?\d+)(?::(?P<tstyle>[tTdDfFR]))?>)"
    r"|(?P<cemoji><(?P<canim>a?):(?P<cname>\w+):(?P<cid2>\d+)>)"
)
_STYLES = [
    (re.compile(r"\*\*(.+?)\*\*", re.S), "discord-bold"),
    (re.compile(r"__(.+?)__", re.S), "discord-underlined"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", re.S), "discord-italic"),
    (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])", re.S), "discord-italic"),
    (re.compile(r"~~(.+?)~~", re.S), "s"),
]


class Markdown:
    """Renders text; ``names`` gives a user's or channel's name by id, ``now_shift`` moves ``<t:…>`` times from
    the moment they were captured to the fixed moment the pictures show."""

    def __init__(
        self,
        emoji_url: EmojiUrl,
        names: dict[int, str],
        *,
        captured_at: float,
        shown_at: dt.datetime,
    ) -> None:
        self.emoji_url = emoji_url
        self.names = names
        self.captured_at = captured_at
        self.shown_at = shown_at

    # -------------------------------------------------------------------------------------------- inline
    def emoji(self, text: str) -> str:
        """Escaped text with every unicode emoji as an ``<img class="emoji">``."""
        out: list[str] = []
        i = 0
        while i < len(text):
            found = self.emoji_url(text[i:])
            if found is not None:
                url, length = found
                alt = html.escape(text[i : i + length])
                out.append(f'<img class="emoji" src="{url}" alt="{alt}" draggable="false">')
                i += length
            else:
                out.append(html.escape(text[i]))
                i += 1
        return "".join(out)

    def _time(self, seconds: int, style: str) -> str:
        moment = self.shown_at + dt.timedelta(seconds=seconds - self.captured_at)
        if style == "R":
            delta = (moment - self.shown_at).total_seconds()
            minutes = round(abs(delta) / 60)
            if minutes < 1:
                span = "a few seconds"
            elif minutes < 60:
                span = "a minute" if minutes == 1 else f"{minutes} minutes"
            elif minutes < 60 * 24:
                hours = round(minutes / 60)
                span = "an hour" if hours == 1 else f"{hours} hours"
            else:
                days = round(minutes / 1440)
                span = "a day" if days == 1 else f"{days} days"
            return f"in {span}" if delta >= 0 else f"{span} ago"
        formats = {
            "t": "%-I:%M %p",
            "T": "%-I:%M:%S %p",
            "d": "%m/%d/%Y",
            "D": "%B %-d, %Y",
            "F": "%A, %B %-d, %Y %-I:%M %p",
        }
        return moment.strftime(formats.get(style, "%B %-d, %Y %-I:%M %p"))

    def inline(self, text: str) -> str:
        """One line: tokens (code, links, mentions…) are drawn first and held aside, then bold/italic/… are applied
        over the whole line, so ``**[a link](url)**`` is a bold link."""
        held: list[str] = []
        out: list[str] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            out.append(self.emoji(text[pos : m.start()]))
            pos = m.end()
            held.append(self._token(m))
            out.append(f"\x00{len(held) - 1}\x00")
        out.append(self.emoji(text[pos:]))
        rendered = "".join(out)
        for pattern, tag in _STYLES:
            rendered = pattern.sub(rf"<{tag}>\1</{tag}>", rendered)
        return re.sub("\x00(\\d+)\x00", lambda m: held[int(m.group(1))], rendered)

    def _token(self, m: re.Match[str]) -> str:
        if m.group("code"):
            return f"<discord-code>{html.escape(m.group('code')[1:-1])}</discord-code>"
        if m.group("link"):
            url = html.escape(m.group("lurl").strip("<>"), quote=True)
            return f'<discord-link href="{url}">{self.inline(m.group("ltext"))}</discord-link>'
        if m.group("url"):
            url = html.escape(m.group("url"), quote=True)
            return f'<discord-link href="{url}">{url}</discord-link>'
        if m.group("cmd"):
            return f'<discord-mention type="slash">{html.escape(m.group("cmdname"))}</discord-mention>'
        if m.group("user"):
            name = self.names.get(int(m.group("uid")), "user")
            return f'<discord-mention type="user">{html.escape(name)}</discord-mention>'
        if m.group("chan"):
            name = self.names.get(int(m.group("cid")), "channel")
            return f'<discord-mention type="channel">{html.escape(name)}</discord-mention>'
        if m.group("role"):
            return '<discord-mention type="role">role</discord-mention>'
        if m.group("time"):
            stamp = self._time(int(m.group("ts")), m.group("tstyle") or "f")
            return f"<discord-time>{html.escape(stamp)}</discord-time>"
        name = html.escape(m.group("cname"))
        return f'<img class="emoji" alt=":{name}:" src="/emoji/custom.svg">'

    # --------------------------------------------------------------------------------------------- blocks
    def render(self, text: str) -> str:
        lines = text.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("```"):
                body: list[str] = []
                i += 1
                while i < len(lines) and not lines[i].startswith("```"):
                    body.append(lines[i])
                    i += 1
                out.append(f"<discord-code multiline>{html.escape(chr(10).join(body))}</discord-code>")
                i += 1
                continue
            if line.startswith("> ") or line == ">":
                quoted: list[str] = []
                while i < len(lines) and (lines[i].startswith("> ") or lines[i] == ">"):
                    quoted.append(self.inline(lines[i][2:]))
                    i += 1
                out.append(f"<discord-quote>{'<br>'.join(quoted)}</discord-quote>")
                continue
            header = re.match(r"(#{1,3}) (.*)", line)
            if header:
                level = len(header.group(1))
                out.append(f'<discord-header level="{level}">{self.inline(header.group(2))}</discord-header>')
            elif line.startswith("-# "):
                out.append(f"<discord-subscript>{self.inline(line[3:])}</discord-subscript>")
            elif re.match(r"\s*[-*] ", line):
                depth = (len(line) - len(line.lstrip())) // 2
                item = self.inline(line.lstrip()[2:])
                out.append(f'<span class="md-li" style="--depth:{depth}">{item}</span>')
            else:
                out.append(self.inline(line) + "<br>")
            i += 1
        rendered = "".join(out)
        return rendered[:-4] if rendered.endswith("<br>") else rendered
