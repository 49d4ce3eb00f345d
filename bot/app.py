"""The Discord application: one ``RatingsBot`` per process.

``setup_hook`` opens everything the bot holds for its lifetime (the one aiohttp session, the store, the
Apple Music client, the linking web server and the outbox worker), loads the cogs and registers the
persistent buttons; ``close`` releases them in the reverse order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import applemusic as am
from bot.config import Settings
from bot.discord_endpoints import configure_discord_endpoints
from bot.services.linking import LinkService, StateSigner
from bot.services.outbox import OutboxConfig, OutboxWorker
from bot.services.ratings import RatingService
from bot.storage import Store, TokenCipher, open_store
from bot.ui.views import DYNAMIC_ITEMS
from bot.web import LinkWebServer

log = logging.getLogger(__name__)

INITIAL_EXTENSIONS: tuple[str, ...] = ("cogs.meta", "cogs.linking", "cogs.ratings", "cogs.sharing")


@dataclass(slots=True)
class Services:
    """What the cogs call. Built once in ``setup_hook``; every part shares the one HTTP session."""

    developer_token: am.DeveloperToken
    apple: am.AppleMusicClient
    store: Store
    linking: LinkService
    ratings: RatingService
    web: LinkWebServer | None
    autocomplete_budget: float = 2.0
    outbox: OutboxWorker | None = None


def outbox_config_from(settings: Settings) -> OutboxConfig:
    """The outbox settings an operator can change (``OUTBOX_LEASE_SECONDS``, ``OUTBOX_CONCURRENCY``)."""
    config = OutboxConfig()
    changes: dict[str, Any] = {}
    if settings.outbox_lease is not None:
        changes["lease"] = float(settings.outbox_lease)
    if settings.outbox_concurrency is not None:
        changes["concurrency"] = settings.outbox_concurrency
    return dataclasses.replace(config, **changes) if changes else config


class RatingsTree(app_commands.CommandTree["RatingsBot"]):
    """The command tree; its error handler is the one place errors become words for the user."""

    async def on_error(self, interaction: discord.Interaction[RatingsBot], error: app_commands.AppCommandError) -> None:
        from bot.ui.errors import reply_with_error

        await reply_with_error(interaction, error)


class RatingsBot(commands.AutoShardedBot):
    """The bot. ``mode="run"`` starts everything; ``mode="sync"`` only what command sync needs."""

    def __init__(
        self,
        settings: Settings,
        *,
        mode: str = "run",
        apple_retry: am.RetryPolicy | None = None,
        apple_pacer: am.Pacer | None = None,
        autocomplete_budget: float = 2.0,
        outbox_config: OutboxConfig | None = None,
        **options: Any,
    ) -> None:
        configure_discord_endpoints(settings.discord_api_base, settings.discord_gateway_url)
        intents = discord.Intents.default()
        intents.message_content = settings.message_content_intent
        if settings.shard_count is not None:
            options.setdefault("shard_count", settings.shard_count)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            tree_cls=RatingsTree,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.mode = mode
        self.apple_retry = apple_retry
        if apple_pacer is None and settings.apple_requests_per_second is not None:
            # the configuration figure 4 of the benchmarks measures: burst 1, halved on a 429, creeping back up
            apple_pacer = am.TokenBucketPacer(settings.apple_requests_per_second, burst=1)
        self.apple_pacer = apple_pacer
        self.autocomplete_budget = autocomplete_budget
        self.outbox_config = outbox_config or outbox_config_from(settings)
        self._session: aiohttp.ClientSession | None = None
        #: None until ``setup_hook`` (and always in ``mode="sync"``, which needs no Apple or storage)
        self.services: Services | None = None
        self._closing: asyncio.Future[None] | None = None

    @property
    def svc(self) -> Services:
        if self.services is None:
            raise RuntimeError("the bot's services are not running")
        return self.services

    @property
    def session(self) -> aiohttp.ClientSession:
        """The process's one HTTP session for Apple (discord.py keeps its own for Discord)."""
        if self._session is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._session

    async def setup_hook(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            headers={"User-Agent": "applemusic-ratings-bot (+https://github.com/)"},
        )
        if self.mode == "run":
            self.services = await self._start_services(self._session)
        for extension in INITIAL_EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self.mode == "run" and self.settings.dev_guild_id is not None:
            await self.sync_commands(self.settings.dev_guild_id)

    async def _start_services(self, session: aiohttp.ClientSession) -> Services:
        settings = self.settings
        settings.require()
        assert settings.apple_team_id and settings.apple_key_id and settings.apple_private_key_path
        developer_token = am.DeveloperToken(
            settings.apple_team_id,
            settings.apple_key_id,
            am.load_private_key(settings.apple_private_key_path),
        )
        apple = am.AppleMusicClient(
            developer_token,
            session=session,
            base_url=settings.apple_music_api_base,
            retry=self.apple_retry,
            pacer=self.apple_pacer,
        )
        key_setting = settings.encryption_key()
        cipher = TokenCipher.from_setting(key_setting)
        store = await open_store(settings.database_url, cipher)
        try:
            signer = StateSigner(key_setting.split(",")[0].strip().encode())
            linking = LinkService(store, apple, signer, settings.link_base_url)
            ratings = RatingService(apple, store)
            web = LinkWebServer(
                linking,
                developer_token,
                link_base_url=settings.link_base_url,
                musickit_js_url=settings.musickit_js_url,
                host=settings.web_host,
                port=settings.web_port,
            )
            await web.start()
            policy = self.apple_retry or am.RetryPolicy()
            longest_apply = policy.max_attempts * policy.timeout + policy.max_total_wait
            if self.outbox_config.lease <= longest_apply:
                log.warning(
                    "OUTBOX_LEASE_SECONDS (%.0f s) is not longer than one rating can take with retries (%.0f s): "
                    "another process may apply a slow rating a second time",
                    self.outbox_config.lease,
                    longest_apply,
                )
            outbox = OutboxWorker(store, apple, self.outbox_config)
            await outbox.start()
        except BaseException:
            await store.close()
            raise
        return Services(
            developer_token=developer_token,
            apple=apple,
            store=store,
            linking=linking,
            ratings=ratings,
            web=web,
            autocomplete_budget=self.autocomplete_budget,
            outbox=outbox,
        )

    async def sync_commands(self, guild_id: int | None) -> list[app_commands.AppCommand]:
        """Bulk-overwrite the commands in one guild (instant) or globally (``guild_id=None``)."""
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d global commands", len(synced))
            return synced
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d commands to guild %d", len(synced), guild_id)
        return synced

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info("ready as %s (%d) in %d guilds", self.user, self.user.id, len(self.guilds))

    async def close(self) -> None:
        """Stop everything once, however many times it is called (a signal and ``async with`` both call it):
        the outbox first (it finishes in-flight writes), then Discord, then the services and the session."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        if self.services is not None and self.services.outbox is not None:
            await self.services.outbox.stop()
        try:
            await super().close()
        finally:
            services, self.services = self.services, None
            if services is not None:
                await services.ratings.close()
                if services.web is not None:
                    await services.web.close()
                await services.store.close()
            if self._session is not None:
                await self._session.close()
                self._session = None
