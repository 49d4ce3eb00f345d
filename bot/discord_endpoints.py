"""Point the unmodified discord.py client at Discord, or at a Discord-compatible server.

discord.py keeps its REST base and default gateway in class attributes, so this is process-wide: one
process talks to one Discord. Tests and self-hosted deployments (Spacebar and the like) set
``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``; the defaults are Discord's own.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def configure_discord_endpoints(api_base: str, gateway_url: str) -> None:
    """Set discord.py's REST base (``…/api/v10``) and the gateway a non-sharded client connects to."""
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
