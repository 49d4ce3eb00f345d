"""Point the unmodified discord.py client at Discord, or at a Discord-compatible server.

discord.py keeps its REST base and default gateway in class attributes, so this is process-wide: one
process talks to one Discord. Tests and self-hosted deployments (Spacebar and the like) set
``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``; the defaults are Discord's own.
"""

from __future__ import annotations

import discord.asset
import discord.gateway
import discord.http
import yarl


def configure_discord_endpoints(api_base: str, gateway_url: str, cdn_base: str | None = None) -> None:
    """Set discord.py's REST base (``…/api/v10``), the gateway a non-sharded client connects to and, when given,
    the CDN its avatar URLs point at (``DISCORD_CDN_URL``: the linking page shows the member's avatar)."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    if cdn_base is not None:
        discord.asset.Asset.BASE = cdn_base.rstrip("/")
