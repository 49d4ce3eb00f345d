"""The Discord application: one ``RatingsBot`` per process.

``setup_hook`` opens everything the bot holds for its lifetime (the one aiohttp session and the services:
store, Apple Music client, linking, ratings, sharing, the linking web server, the health and metrics listener,
the outbox worker and housekeeping, all built in :func:`start_services`), loads the cogs and registers the
persistent buttons;
``close`` releases them in the reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import applemusic as am
from bot.aio import Sleep, TaskSet
from bot.config import Settings
from bot.crossref import LinkResolver
from bot.discord_endpoints import configure_discord_endpoints
from bot.discord_signin import DiscordSignIn
from bot.health import Gateway, Health
from bot.i18n import RecentLocales
from bot.i18n.commands import CommandTranslator
from bot.identify import IDENTIFY_INTERVAL, IdentifyTurns
from bot.logs import about, about_this_task, install_token_redaction
from bot.metrics import Metrics
from bot.services.budget import SharedBudget
from bot.services.guard import LinkGuard
from bot.services.housekeeping import Housekeeping, RetentionPolicy
from bot.services.linking import LinkLimits, LinkService
from bot.services.matching import MatchingService
from bot.services.mixtape import MixtapeService, MixtapeWorker
from bot.services.notices import Notifier
from bot.services.outbox import OutboxConfig, OutboxWorker
from bot.services.presence import Presence, this_process
from bot.services.privacy import PrivacyService
from bot.services.ratings import CacheSizes, RatingService
from bot.services.recap import RecapPoster, Recaps
from bot.services.sharing import CatchUpWindow, PendingPolicy, SharingService, shard_of
from bot.services.taste import TasteService
from bot.services.weeks import Week
from bot.storage import Store, StoreOptions, StoreUnavailable, open_store
from bot.ui.errors import outcome_of, refuse_while_restarting, reply_with_error
from bot.ui.notices import DirectMessages
from bot.ui.recaps import ChannelRecaps
from bot.ui.views import DYNAMIC_ITEMS
from bot.web import SIGNIN_RETURN_PATH, LinkWebServer
from bot.web.ops import OpsEndpoints, OpsServer

log = logging.getLogger(__name__)

INITIAL_EXTENSIONS: tuple[str, ...] = (
    "cogs.meta",
    "cogs.linking",
    "cogs.ratings",
    "cogs.sharing",
    "cogs.taste",
    "cogs.privacy",
    "cogs.mixtape",
)


@dataclass(slots=True)
class Services:
    """What the cogs call. Built once, by :func:`start_services`; every part shares the one HTTP session."""

    developer_token: am.DeveloperToken
    apple: am.AppleMusicClient
    store: Store
    linking: LinkService
    ratings: RatingService
    #: links of other music services matched to Apple Music (commands and posts)
    matching: MatchingService
    sharing: SharingService
    outbox: OutboxWorker
    web: LinkWebServer
    housekeeping: Housekeeping
    #: this process's row in the database (which keys it holds: ``rotate-keys`` asks)
    presence: Presence
    privacy: PrivacyService
    metrics: Metrics
    #: readiness and the gauges of a scrape (``/readyz``, ``/metrics``)
    health: Health
    #: the operator's own listener (``OPS_LISTENER=own``), else None
    ops: OpsServer | None
    #: the server's taste: tops, matches, who chose to be named
    taste: TasteService
    mixtape: MixtapeService
    #: the servers' weeks: the weekly recap, and what runs when a week ends (``recaps.on_week_closed``)
    recaps: Recaps

    def apple_pace(self) -> str | None:
        """How fast Apple is asked, as the pacer learned it (None: a pacer that does not learn)."""
        pacer = self.apple.pacer
        return pacer.view().describe() if isinstance(pacer, am.AdaptivePacer) else None

    async def close(self) -> None:
        """Stop the background work, then close what the services hold (the store last)."""
        if self.ops is not None:
            await self.ops.close()
        await self.outbox.stop()
        await self.mixtape.worker.stop()
        await self.recaps.stop()
        await self.housekeeping.stop()
        await self.sharing.close()
        await self.ratings.close()
        await self.web.close()
        await self.presence.stop()
        if isinstance(self.apple.pacer, am.AdaptivePacer):
            await self.apple.pacer.close()  # this process's share of the Apple budget returns to the others
        await self.store.close()


def outbox_config_from(settings: Settings) -> OutboxConfig:
    """The outbox settings an operator can change (``OUTBOX_*``, ``UNLINKED_REACTION_MINUTES``)."""
    return OutboxConfig(
        lease=float(settings.outbox_lease_seconds),
        concurrency=settings.outbox_concurrency,
        unlinked_hold=settings.unlinked_reaction_minutes * 60.0,
        max_per_user=settings.outbox_max_per_user,
    )


def retention_from(settings: Settings) -> RetentionPolicy:
    """How long data without a fixed end is kept (``SHARED_MESSAGE_DAYS``, ``NOTICE_DAYS``, ``LEFT_GUILD_DAYS``,
    ``TASTE_DAYS``)."""
    return RetentionPolicy(
        shared_message_days=settings.shared_message_days,
        notice_days=settings.notice_days,
        left_guild_days=settings.left_guild_days,
        taste_days=settings.taste_days,
        pending_match_hours=settings.pending_match_hours,
    )


def pending_policy_from(settings: Settings) -> PendingPolicy:
    """How posts waiting to be matched are kept and tried again (``PENDING_MATCH_*``, ``MATCH_CONCURRENCY``)."""
    return PendingPolicy(
        per_guild=settings.pending_matches_per_guild,
        attempts=settings.pending_match_attempts,
        retry=settings.pending_match_retry_seconds,
        concurrency=settings.match_concurrency,
    )


def store_options_from(settings: Settings) -> StoreOptions:
    return StoreOptions(
        token_cache_seconds=settings.token_cache_seconds,
        token_cache_size=settings.token_cache_size,
        pool_min_size=settings.database_pool_min_size,
        pool_max_size=settings.database_pool_max_size,
    )


async def start_services(
    settings: Settings,
    session: aiohttp.ClientSession,
    notifier: Notifier,
    *,
    gateway: Gateway,
    metrics: Metrics,
    apple_retry: am.RetryPolicy | None = None,
    apple_pacer: am.Pacer | None = None,
    apple_sleep: Sleep | None = None,
    outbox_config: OutboxConfig | None = None,
    application_id: int | None = None,
    clock: Callable[[], float] = time.time,
    store_clock: Callable[[], float] = time.time,
    pending_clock: Callable[[], float] = time.time,
    recap_poster: RecapPoster | None = None,
    recap_sleep: Sleep = asyncio.sleep,
) -> Services:
    """Build and start every service, wired to each other: the one place services are made.

    ``apple_sleep`` is what the Apple client waits between retries with (tests decide when a retry fires);
    ``application_id`` is the Discord client id of the linking page's sign-in unless ``DISCORD_CLIENT_ID`` is set;
    ``clock`` is the linking's (link lifetimes and limits; tests freeze it); ``store_clock`` the store's (when what it
    records happened: tests simulate a server's week with it), the server taste's periods and the weekly recaps'
    weeks (one clock: a week's votes, its settings and its end are read on the same one); ``gateway`` is the
    Discord side of readiness and ``metrics`` what every part counts into (both the bot's); ``pending_clock``
    decides when posts waiting to be matched are due again (tests move it); ``recap_sleep`` is how the weekly recaps
    wait for the end of a week on ``store_clock`` (tests end it when they move that clock); ``recap_poster`` posts
    recaps (None: weeks close without a post).
    """
    settings.require()
    developer_token = settings.developer_token()
    cipher = settings.cipher()
    store = await open_store(settings.database_url, cipher, clock=store_clock, options=store_options_from(settings))
    store.on_fault = metrics.store_fault
    ops: OpsServer | None = None
    presence = Presence(store, this_process(cipher.fingerprints))
    try:
        if apple_pacer is None:
            apple_pacer = apple_pacer_from(settings, store, presence.process.id)
        apple = am.AppleMusicClient(
            developer_token,
            session=session,
            base_url=settings.apple_music_api_base,
            retry=apple_retry,
            pacer=apple_pacer,
            max_response_bytes=settings.apple_max_response_bytes,
            sleep=apple_sleep or asyncio.sleep,
            observer=metrics.apple_request,
        )
        outbox_config = outbox_config or outbox_config_from(settings)
        _warn_if_lease_too_short(outbox_config, apple.retry)
        guard = LinkGuard(store)  # the one registry of work with members' tokens, which /unlink stops
        outbox = OutboxWorker(store, apple, outbox_config, worker_id=presence.process.id, guard=guard)
        ratings = RatingService(
            apple,
            store,
            caches=CacheSizes(
                catalog=(settings.catalog_cache_size, settings.catalog_cache_seconds),
                search=(settings.search_cache_size, settings.search_cache_seconds),
                track_lists=(settings.track_list_cache_size, settings.track_list_cache_seconds),
                languages=(settings.language_cache_size, settings.language_cache_seconds),
            ),
            autocomplete_budget=settings.autocomplete_budget_seconds,
            guard=guard,
        )
        # one resolver per process: the process's session and Apple client, its caches shared by every member
        resolver = LinkResolver.from_settings(settings, apple=apple, session=session)
        matching = MatchingService(resolver, ratings, lookups_per_minute=settings.match_lookups_per_minute)
        signin = discord_signin_from(settings, session, application_id)
        linking = LinkService(
            store,
            apple,
            settings.link_base_url or "",
            notifier,
            ttl=settings.link_minutes * 60.0,
            limits=LinkLimits(
                max_attempts=settings.link_max_attempts,
                checks_per_user=settings.link_checks_per_user,
                checks_per_ip=settings.link_checks_per_ip,
                window=settings.link_check_window_minutes * 60.0,
            ),
            signin_required=signin is not None,
            on_linked=outbox.wake,  # linking released the member's held ratings: apply them now
            guard=guard,
            clock=clock,
            on_refused=metrics.refused_link,
        )
        outbox.on_stale = linking.tell_stale
        sharing = SharingService(
            store,
            ratings,
            notifier,
            outbox_config,
            apple=apple,
            wake=outbox.wake,
            watch_channels=settings.message_content_intent,
            reaction_retry=settings.reaction_retry_seconds,
            intent_cache_size=settings.reaction_cache_size,
            catch_up=CatchUpWindow(settings.catch_up_hours * 3600.0, settings.catch_up_messages),
            matching=matching,
            pending=pending_policy_from(settings),
            pending_clock=pending_clock,
        )
        health = Health(gateway, store, outbox, metrics, apple.pacer)
        endpoints = OpsEndpoints(
            health.readiness,
            health.scrape,
            metrics_token=settings.metrics_bearer() if settings.ops_listener == "web" else None,
        )
        if settings.ops_listener == "own":
            ops = OpsServer(endpoints, host=settings.ops_host, port=settings.ops_port)
            await ops.start()
        web = LinkWebServer(
            linking,
            developer_token,
            link_base_url=settings.link_base_url or "",
            musickit_js_url=settings.musickit_js_url,
            host=settings.web_host,
            port=settings.web_port,
            token_lifetime=settings.link_page_token_minutes * 60.0,
            signin=signin,
            avatar_base_url=settings.discord_cdn_url,
            requests_per_ip_minute=settings.link_requests_per_ip_minute,
            trusted_proxies=settings.trusted_proxies or (),
            ops=endpoints if settings.ops_listener == "web" else None,
        )
        await web.start()
        await outbox.start()
        mixtape_worker = MixtapeWorker(
            store,
            apple,
            notifier,
            outbox_config,
            concurrency=settings.mixtape_concurrency,
            worker_id=presence.process.id,
            guard=guard,
            clock=store_clock,  # its jobs are queued (due) at the store's time, when a week closes
        )
        mixtape = MixtapeService(store, mixtape_worker, size=settings.mixtape_size)
        await mixtape_worker.start()
        retention = retention_from(settings)
        privacy = PrivacyService(store, linking, retention, unlinked_hold=outbox_config.unlinked_hold)
        recaps = Recaps(
            store,
            ratings,
            presence.process.id,
            poster=recap_poster,
            lease=settings.recap_lease_seconds,
            interval=settings.recap_check_seconds,
            clock=store_clock,
            sleep=recap_sleep,
        )

        async def queue_mixtapes(week: Week) -> None:  # a week closed: its playlists for the mixtape's members
            await mixtape.week_closed(week)

        recaps.on_week_closed(queue_mixtapes)
        # "this week" of /ratings top is the server's week when its admins chose one for the recap
        taste = TasteService(
            store, sharing, ratings, taste_days=retention.taste_days, clock=store_clock, week_slot=recaps.slot
        )
        housekeeping = Housekeeping(store, retention)
        await housekeeping.start()
        await presence.start()
        await recaps.start()
    except BaseException:
        if ops is not None:
            await ops.close()
        await store.close()
        raise
    return Services(
        developer_token,
        apple,
        store,
        linking,
        ratings,
        matching,
        sharing,
        outbox,
        web,
        housekeeping,
        presence,
        privacy,
        metrics,
        health,
        ops,
        taste,
        mixtape,
        recaps,
    )


def apple_pacer_from(settings: Settings, store: Store, process_id: str) -> am.AdaptivePacer | None:
    """The pacer of every Apple request: it learns the rate Apple allows (``APPLE_REQUESTS_PER_SECOND``, when set,
    is its ceiling), and shares it through the database with the other processes on PostgreSQL. None with
    ``APPLE_PACING=off`` (every request goes at once, as before the pacer; the benchmarks' baseline)."""
    if settings.apple_pacing == "off":
        return None
    budget = SharedBudget(store, process_id) if store.shared_by_processes else None
    return am.AdaptivePacer(
        settings.apple_requests_per_second,
        reserve=settings.apple_interactive_reserve,
        budget=budget,
    )


def discord_signin_from(
    settings: Settings, session: aiohttp.ClientSession, application_id: int | None
) -> DiscordSignIn | None:
    """The linking page's Discord sign-in, when ``DISCORD_CLIENT_SECRET`` is set (else None, and a warning)."""
    secret = settings.client_secret()
    client_id = settings.discord_client_id or application_id
    if secret is None or client_id is None:
        log.warning(
            "DISCORD_CLIENT_SECRET is not set: the linking page cannot check which Discord account opens a link, "
            "and asks the visitor to confirm it instead (see the README, Security)"
        )
        return None
    return DiscordSignIn(
        session,
        client_id=client_id,
        client_secret=secret,
        authorize_url=settings.discord_oauth_authorize_url,
        api_base=settings.discord_api_base,
        redirect_uri=(settings.link_base_url or "") + SIGNIN_RETURN_PATH,
    )


def _warn_if_lease_too_short(config: OutboxConfig, policy: am.RetryPolicy) -> None:
    longest_apply = policy.max_attempts * policy.timeout + policy.max_total_wait
    if config.lease <= longest_apply:
        log.warning(
            "OUTBOX_LEASE_SECONDS (%.0f s) is not longer than one rating can take with retries (%.0f s): "
            "another process may apply a slow rating a second time",
            config.lease,
            longest_apply,
        )


def _log_shard(shard_id: int, level: int, what: str) -> None:
    with about(shard=shard_id):
        log.log(level, "shard %d %s", shard_id, what)


def bot_intents(settings: Settings) -> discord.Intents:
    """The gateway intents the bot asks for (``doctor`` checks the application may have them)."""
    intents = discord.Intents.default()
    intents.message_content = settings.message_content_intent
    return intents


class RatingsTree(app_commands.CommandTree["RatingsBot"]):
    """The command tree; its error handler is the one place errors become words for the user."""

    async def interaction_check(self, interaction: discord.Interaction[RatingsBot], /) -> bool:
        """Options this code does not know mean Discord still has an older registration of the command (discord.py
        would ignore them, and act on what is left): refuse it as a mismatch. A missing required option is
        refused the same way by discord.py itself. Autocomplete of such an option is answered with no suggestions.

        It runs first in the interaction's task: from here on, that task's log lines name the guild and the user."""
        about_this_task(guild=interaction.guild_id, user=interaction.user.id, shard_count=self.client.shard_count)
        command = interaction.command
        if not isinstance(command, app_commands.Command):
            return True
        known = {p.display_name for p in command.parameters}
        sent = _leaf_options(interaction.data.get("options", []) if interaction.data else [])
        if all(option.get("name") in known for option in sent):
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            # suggestions for an option the command no longer has: offer none (discord.py would log an ERROR)
            await interaction.response.autocomplete([])
            return False
        raise app_commands.CommandSignatureMismatch(command)

    async def on_error(self, interaction: discord.Interaction[RatingsBot], error: app_commands.AppCommandError) -> None:
        await reply_with_error(interaction, error)
        if interaction.type is not discord.InteractionType.autocomplete:
            command = interaction.command.qualified_name if interaction.command is not None else "unknown"
            interaction.client.count_interaction(interaction, command, error)


def _leaf_options(options: Any) -> list[dict[str, Any]]:
    """The options of the invoked subcommand (inside its subcommand group / subcommand wrappers)."""
    while isinstance(options, list) and len(options) == 1 and options[0].get("type") in (1, 2):
        options = options[0].get("options", [])
    return [o for o in options if isinstance(o, dict)] if isinstance(options, list) else []


def lean_cache_options() -> dict[str, Any]:
    """discord.py's caches this bot has no use for, turned off: a process's memory then grows with the servers'
    channels, roles and emojis only (``python -m bench --only capacity`` measures it; README, Deployment, Capacity).

    * no member cache (``MemberCacheFlags.none()``; discord.py's default keeps the members it sees in voice): the bot
      reads who acts from each interaction and reaction, never from a guild's member list; its own member
      (``guild.me``, for its permissions) is kept whatever the flags say;
    * no chunking at start (the bot has no members intent, so nothing to chunk anyway: stated, not inferred);
    * no message cache (``max_messages=None``; default 1,000 messages): reactions, edits and deletions are handled
      from the raw events (``on_raw_*``), which carry what the bot needs without the cached message.
    """
    return {
        "member_cache_flags": discord.MemberCacheFlags.none(),
        "chunk_guilds_at_startup": False,
        "max_messages": None,
    }


class RatingsBot(commands.AutoShardedBot):
    """The bot. ``mode="run"`` starts everything; ``mode="sync"`` only what command sync needs."""

    def __init__(
        self,
        settings: Settings,
        *,
        mode: str = "run",
        apple_retry: am.RetryPolicy | None = None,
        apple_pacer: am.Pacer | None = None,
        apple_sleep: Sleep | None = None,
        outbox_config: OutboxConfig | None = None,
        identify_clock: Callable[[], float] = time.time,
        identify_sleep: Sleep = asyncio.sleep,
        link_clock: Callable[[], float] = time.time,
        store_clock: Callable[[], float] = time.time,
        pending_clock: Callable[[], float] = time.time,
        recap_sleep: Sleep = asyncio.sleep,
        **options: Any,
    ) -> None:
        metrics = Metrics()
        # discord.py's HTTP session tells the metrics when each interaction's first response was accepted
        options.setdefault("http_trace", metrics.http_trace())
        configure_discord_endpoints(settings.discord_api_base, settings.discord_gateway_url, settings.discord_cdn_url)
        intents = bot_intents(settings)
        if settings.shard_count is not None:
            options.setdefault("shard_count", settings.shard_count)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        options = {**lean_cache_options(), **options}
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
        #: this bot's Prometheus metrics (its own registry)
        self.metrics = metrics
        self.apple_retry = apple_retry
        self.apple_pacer = apple_pacer
        self.apple_sleep = apple_sleep
        self.outbox_config = outbox_config
        #: the time of identify turns (:class:`IdentifyTurns`; tests share a clock they move with the loopback Discord)
        self.identify_clock = identify_clock
        self.identify_sleep = identify_sleep
        #: ``max_concurrency`` of ``GET /gateway/bot``, asked once, at the first IDENTIFY
        self._max_concurrency: int | None = None
        #: the clock of link lifetimes and linking limits (tests freeze it)
        self.link_clock = link_clock
        #: the store's clock (when shares and votes happened; tests simulate a week with it)
        self.store_clock = store_clock
        #: when posts waiting to be matched are due again (tests move it)
        self.pending_clock = pending_clock
        #: how the weekly recaps wait on ``store_clock`` for a week's end (tests end the wait as they move that clock)
        self.recap_sleep = recap_sleep
        #: background work of the Discord side (the start-up catch-up), cancelled at close
        self.background = TaskSet("bot")
        self._session: aiohttp.ClientSession | None = None
        #: None until ``setup_hook`` (and always in ``mode="sync"``, which needs no Apple or storage)
        self.services: Services | None = None
        self._closing: asyncio.Future[None] | None = None
        #: set once the servers the bot is in were compared with the database at start (see ``on_ready``)
        self.guilds_reconciled = asyncio.Event()
        #: each member's language as their latest interaction gave it: the language of DMs sent outside one
        self.member_locales = RecentLocales()
        #: set once the drain is under way: the outbox claims nothing more (:meth:`wait_until_draining`)
        self._drain_started = asyncio.Event()
        self._refuse_interactions_while_draining()

    @property
    def draining(self) -> bool:
        """True from the moment the process starts stopping (SIGTERM, SIGINT, ``close()``): it takes no new work
        (the outbox claims nothing, interactions are answered "restarting"); reactions are still recorded. A
        readiness check reports such a process as not ready."""
        return self._closing is not None

    async def wait_until_draining(self) -> None:
        """Return once the process is draining and its outbox claims nothing more (as ``wait_until_ready`` waits
        for ready): whatever arrives from then on meets the drain."""
        await self._drain_started.wait()

    def _refuse_interactions_while_draining(self) -> None:
        """While draining, every interaction (command, autocomplete, button, form) gets the short "restarting"
        answer instead of being run. One gate for every kind: discord.py's parser of ``INTERACTION_CREATE`` (the
        one place all of them pass; the gateway reads this same table) is wrapped."""
        parsers = self._connection.parsers
        parse = parsers["INTERACTION_CREATE"]

        def gate(data: Any) -> None:
            if not self.draining:
                parse(data)
                return
            interaction: discord.Interaction[Any] = discord.Interaction(data=data, state=self._connection)
            self.background.spawn(refuse_while_restarting(interaction), name="refuse while restarting")

        parsers["INTERACTION_CREATE"] = gate

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
        # DMs carry pasted tokens: keep them out of discord.py's DEBUG logs of gateway events and HTTP bodies
        install_token_redaction()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30),
            headers={"User-Agent": "applemusic-ratings-bot (+https://github.com/)"},
        )
        if self.mode == "run":
            self.services = await start_services(
                self.settings,
                self._session,
                DirectMessages(self, self.member_locales),
                apple_retry=self.apple_retry,
                apple_pacer=self.apple_pacer,
                apple_sleep=self.apple_sleep,
                outbox_config=self.outbox_config,
                application_id=self.application_id,
                clock=self.link_clock,
                pending_clock=self.pending_clock,
                gateway=self,
                metrics=self.metrics,
                store_clock=self.store_clock,
                recap_poster=ChannelRecaps(self),
                recap_sleep=self.recap_sleep,
            )
        # the commands' names and descriptions in the members' languages, from the catalogs (bot/i18n)
        await self.tree.set_translator(CommandTranslator())
        for extension in INITIAL_EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self.mode == "run":
            await self._learn_owners()
        if self.mode == "run" and self.settings.dev_guild_id is not None:
            await self._sync_dev_guild(self.settings.dev_guild_id)

    async def _learn_owners(self) -> None:
        """Who owns the application, as discord.py read it at login: ``is_owner`` (``/about``) then never asks
        Discord, so a burst of commands cannot become a burst of application lookups. Unknown owners (Discord
        failed) are asked again by discord.py at the first ``is_owner``."""
        try:
            info = self.application or await self.application_info()  # discord.py read it at login
        except discord.HTTPException as exc:
            log.warning("could not read the application's owner from Discord (HTTP %s); asked again later", exc.status)
            return
        if info.team is not None:
            self.owner_ids = {member.id for member in info.team.members}
        else:
            self.owner_id = info.owner.id

    async def _sync_dev_guild(self, guild_id: int) -> None:
        """``DEV_GUILD_ID``'s sync at start: a failure is logged with what to do, and the bot starts anyway (the
        commands Discord already has keep working)."""
        try:
            await self.sync_commands(guild_id)
        except discord.HTTPException as exc:
            log.error(
                "could not sync the commands to DEV_GUILD_ID %d (HTTP %d, Discord code %d): the bot starts with the "
                "commands Discord already has. Check that the bot is in that server and was invited with the "
                "applications.commands scope (Discord allows 200 command creations a day per server), then run "
                "`python -m bot sync --guild %d`, or empty DEV_GUILD_ID",
                guild_id,
                exc.status,
                exc.code,
                guild_id,
            )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for the turn of the shard's bucket (``shard_id % max_concurrency``), shared through the database
        with every process on it (:mod:`bot.identify`); even the first IDENTIFY waits, as another process (or the
        run before this one) may just have identified."""
        if self.services is None:  # nothing to share turns through (never in ``mode="run"``)
            await self.identify_sleep(0.0 if initial else IDENTIFY_INTERVAL)
            return
        bucket = (shard_id or 0) % await self.max_concurrency()
        turns = IdentifyTurns(self.services.store, clock=self.identify_clock, sleep=self.identify_sleep)
        await turns.wait(bucket)

    async def max_concurrency(self) -> int:
        """How many buckets of shards may identify at once (``GET /gateway/bot``; 1, the strictest, if Discord
        cannot say)."""
        if self._max_concurrency is None:
            try:
                limits = await self.fetch_session_start_limits()
            except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
                log.warning("could not read max_concurrency from Discord (%s); identifying one shard at a time", exc)
                return 1
            self._max_concurrency = max(1, limits.max_concurrency)
        return self._max_concurrency

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
        if self.services is not None:  # the linking page names the bot the member links with
            self.services.web.bot_name = self.user.display_name
            await self._reconcile_guilds(self.services)

    async def _reconcile_guilds(self, services: Services) -> None:
        """Servers that removed the bot while no process was connected get their departure recorded (their data
        goes ``LEFT_GUILD_DAYS`` later), as if Discord's ``GUILD_DELETE`` had been seen."""
        count = self.shard_count or 1
        mine = set(self.shard_ids if self.shard_ids is not None else range(count))
        try:
            await services.housekeeping.reconcile_guilds(
                [g.id for g in self.guilds], lambda guild_id: shard_of(guild_id, count) in mine
            )
        except StoreUnavailable:
            log.warning("could not compare the servers the bot is in with the database (it is unavailable)")
        self.guilds_reconciled.set()

    async def on_interaction(self, interaction: discord.Interaction[RatingsBot]) -> None:
        """Every interaction (command, menu, button) says the member's Discord language: remembered for their DMs."""
        self.member_locales.remember(interaction.user.id, interaction.locale)

    async def on_app_command_completion(
        self,
        interaction: discord.Interaction[RatingsBot],
        command: app_commands.Command[Any, ..., Any] | app_commands.ContextMenu,
    ) -> None:
        self.count_interaction(interaction, command.qualified_name, None)

    def count_interaction(
        self, interaction: discord.Interaction[Any], command: str, error: BaseException | None
    ) -> None:
        """An interaction (a command, a menu entry, a button) was handled, its answer given: count it."""
        created = interaction.created_at.timestamp()
        self.metrics.interaction(interaction.id, created, command, outcome_of(error))

    # ------------------------------------------------------------------ readiness and metrics (bot.health.Gateway)
    def shards_not_ready(self) -> list[str]:
        """What keeps this process's shards from being ready (empty: all connected and identified)."""
        if not self.is_ready():
            return ["not connected to Discord yet"]
        expected = self.shard_ids if self.shard_ids is not None else range(self.shard_count or 1)
        return [f"shard {i} is disconnected" for i in expected if (s := self.get_shard(i)) is None or s.is_closed()]

    def shutting_down(self) -> bool:
        return self._closing is not None or self.is_closed()

    def shard_latencies(self) -> list[tuple[int, float]]:
        """Each shard's heartbeat latency in seconds (shards without one yet are left out)."""
        return [(shard, latency) for shard, latency in self.latencies if math.isfinite(latency)]

    def guild_count(self) -> int:
        return len(self.guilds)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """The one place an exception that escaped a listener (a reaction, a message) is logged."""
        log.exception("unhandled error in %s", event_method)

    # the gateway's shard events, each logged with its shard
    async def on_shard_connect(self, shard_id: int) -> None:
        _log_shard(shard_id, logging.INFO, "connected to the gateway")

    async def on_shard_ready(self, shard_id: int) -> None:
        _log_shard(shard_id, logging.INFO, "is ready")

    async def on_shard_resumed(self, shard_id: int) -> None:
        _log_shard(shard_id, logging.INFO, "resumed its session")

    async def on_shard_disconnect(self, shard_id: int) -> None:
        _log_shard(shard_id, logging.WARNING, "disconnected from the gateway")

    async def close(self) -> None:
        """Stop everything once, however many times it is called (a signal and ``async with`` both call it).

        First the process drains (:attr:`draining`): the outbox claims nothing more, finishes the Apple calls in
        flight for up to ``SHUTDOWN_GRACE_SECONDS`` (the rest are cancelled) and releases its claims, so another
        process applies them at once; Discord stays connected meanwhile, so reactions are still recorded (for
        another process) and interactions get a "restarting" answer. Then Discord, the services and the session."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_once())
        await asyncio.shield(self._closing)

    async def _close_once(self) -> None:
        # set before the outbox stops, yet no waiter runs before this step ends, by which point ``stop`` has
        # synchronously stopped claiming
        self._drain_started.set()
        if self.services is not None:
            grace = self.settings.shutdown_grace_seconds
            log.info("draining: taking no new work (shutdown grace %g s)", grace)
            mixtape = asyncio.ensure_future(self.services.mixtape.worker.stop(grace))  # the same grace, side by side
            await self.services.outbox.stop(grace)
            await mixtape
            await self.services.recaps.stop()  # before Discord closes: a recap being posted ends first
        try:
            await super().close()
        finally:
            await self.background.close()
            services, self.services = self.services, None
            if services is not None:
                await services.close()
            if self._session is not None:
                await self._session.close()
                self._session = None
