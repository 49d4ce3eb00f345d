"""The linking page: a small aiohttp.web server that runs Apple's MusicKit JS sign-in."""

from bot.web.server import SIGNIN_RETURN_PATH, LinkWebServer

__all__ = ["SIGNIN_RETURN_PATH", "LinkWebServer"]
