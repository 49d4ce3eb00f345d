"""The linking page: a small aiohttp.web server that runs Apple's MusicKit JS sign-in."""

from bot.web.server import LinkWebServer

__all__ = ["LinkWebServer"]
