"""Sharing: ``/share``, 👍/👎 reactions on shared posts, auto-reactions in chosen channels, ``/ratings-admin``.

Reactions become durable intents in the outbox (``bot.services.sharing``); the outbox worker applies them.
No privileged intent is needed for ``/share`` and reactions; auto-reacting to links posted by people needs
``MESSAGE_CONTENT_INTENT=true`` (and the intent enabled in the developer portal).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import NotRatable
from bot.services.linking import Linked
from bot.services.ratings import RatedItem
from bot.services.sharing import (
    EMOJI_FOR_VALUE,
    REACTION_EMOJIS,
    ReactionStatus,
    SharingService,
    ratable_link,
    reaction_value,
)
from bot.storage import SharedMessage, StoreUnavailable
from bot.ui.embeds import item_embed
from bot.ui.views import link_button_view, rating_view

if TYPE_CHECKING:
    from bot.app import RatingsBot

log = logging.getLogger(__name__)

ITEM_HELP = "An Apple Music link, an id, or a name (pick a suggestion)"
SHARE_FOOTER = "React 👍 or 👎 (or press a button) to rate it in your own Apple Music."
LINK_PROMPT = (
    "You reacted to a shared Apple Music post, but your Apple Music account is not linked yet. "
    "Link it in the next 10 minutes and your rating is applied; press the button to start."
)
RELINK_PROMPT = (
    "Apple Music no longer accepts your linked account (the authorization expired or was revoked). "
    "Your ratings are waiting: link again and they are applied. Press the button to start."
)
#: a reaction (or its removal) that could not be saved: the database stayed unavailable
UNSAVED_REACTION = (
    "I could not save your {what} on {link}: my database is unavailable right now, so it did not reach Apple "
    "Music. Please {again} in a few minutes."
)
#: how long a reaction the bot removed itself is expected to come back as a removal event
_EXPECTED_REMOVAL_TTL = 30.0


class Sharing(commands.Cog):
    admin = app_commands.Group(
        name="ratings-admin",
        description="Set up the Apple Music ratings bot in this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    channels = app_commands.Group(
        name="channels", description="Channels where shared Apple Music links get 👍 👎", parent=admin
    )

    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot
        self.sharing: SharingService | None = None
        #: (message, user, value) of reactions the bot removed itself, with when: their removal events are ours
        self._expected_removals: OrderedDict[tuple[int, int, int], float] = OrderedDict()
        self._background: set[asyncio.Task[Any]] = set()
        self._caught_up = False
        #: 👍/👎 reactions by people handled so far (tests wait on it before stopping the bot)
        self.reactions_handled = 0
        #: while the database is unavailable, a reaction is retried for this long (in order, per user) before the
        #: user is told it was not saved
        self.store_retry_for = 120.0
        #: ids of bots seen reacting (removal events carry no member to tell)
        self._bots: OrderedDict[int, None] = OrderedDict()
        #: channel -> id of the /ratings-admin interaction that chose it (a snowflake, so a time by Discord's clock):
        #: a message posted before that, but handled after, is not the channel's business
        self._chosen_at: dict[int, int] = {}

    # ------------------------------------------------------------------ lifecycle

    async def cog_load(self) -> None:
        svc = self.bot.services
        if svc is None:  # mode="sync": commands only
            return
        outbox = svc.outbox
        self.sharing = SharingService(
            svc.store,
            outbox.config if outbox is not None else None,
            apple=svc.apple,
            wake=outbox.wake if outbox is not None else None,
        )
        if outbox is not None:
            outbox.on_stale = self.notify_stale
        svc.linking.on_linked.append(self._on_linked)

    async def cog_unload(self) -> None:
        svc = self.bot.services
        if svc is not None:
            if svc.outbox is not None and svc.outbox.on_stale == self.notify_stale:
                svc.outbox.on_stale = None
            if self._on_linked in svc.linking.on_linked:
                svc.linking.on_linked.remove(self._on_linked)
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_linked(self, linked: Linked) -> None:
        """Linking released the user's held reactions: apply them now."""
        svc = self.bot.services
        if svc is not None and svc.outbox is not None:
            svc.outbox.wake()

    # ------------------------------------------------------------------ /share

    @app_commands.command(name="share", description="Share a song, album or playlist; everyone rates it with 👍 👎")
    @app_commands.describe(item=ITEM_HELP)
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction[RatingsBot], item: str) -> None:
        await interaction.response.defer(thinking=True)
        svc = self.bot.svc
        account = await svc.store.get_account(interaction.user.id)
        storefront = account.storefront if account is not None else "us"
        ref = await svc.ratings.resolve(item, None, storefront)
        if ref.type.is_library:
            raise NotRatable("A library item is yours alone: share a catalog link so others can rate it.")
        items = await svc.ratings.catalog_items([ref], storefront, None)
        embed = item_embed(RatedItem(ref, items.get(ref), None))
        for index, field in enumerate(embed.fields):  # a shared card has no "your rating"
            if field.name == "Your rating":
                embed.remove_field(index)
                break
        embed.set_author(name=f"Shared by {interaction.user.display_name}"[:256])
        embed.set_footer(text=SHARE_FOOTER)
        message = await interaction.edit_original_response(
            embed=embed, view=rating_view(ref.type, ref.id, actions=("like", "dislike"))
        )
        assert self.sharing is not None
        await self.sharing.record(message.id, message.channel.id, interaction.guild_id, ref.type.value, ref.id)
        await self._add_reactions(message)

    @share.autocomplete("item")
    async def item_autocomplete(
        self, interaction: discord.Interaction[RatingsBot], current: str
    ) -> list[app_commands.Choice[str]]:
        svc = self.bot.svc
        account = await svc.store.get_account(interaction.user.id)
        storefront = account.storefront if account is not None else "us"
        suggestions = await svc.ratings.suggest(current, storefront, None, budget=svc.autocomplete_budget)
        return [app_commands.Choice(name=s.name, value=s.value) for s in suggestions[:25]]

    async def _add_reactions(self, message: discord.Message | discord.PartialMessage) -> None:
        for emoji in REACTION_EMOJIS:
            try:
                await message.add_reaction(emoji)
            except discord.HTTPException as exc:
                log.info("could not add %s to message %d: %s", emoji, message.id, exc.status)
                return

    # ------------------------------------------------------------------ links posted in chosen channels

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if self.sharing is None or not self.bot.settings.message_content_intent:
            return
        if message.guild is None or message.author.bot or message.webhook_id is not None:
            return
        if not await self.bot.svc.store.is_share_channel(message.guild.id, message.channel.id):
            return
        if message.id < self._chosen_at.get(message.channel.id, 0):
            return  # posted before the channel was chosen
        link = ratable_link("\n".join([message.content, *(e.url or "" for e in message.embeds)]))
        if link is None:
            return
        await self.sharing.record(message.id, message.channel.id, message.guild.id, link.type.value, link.id)
        await self._add_reactions(message)

    # ------------------------------------------------------------------ reactions

    def _is_bot_user(self, user_id: int) -> bool:
        me = self.bot.user
        if me is not None and user_id == me.id:
            return True
        if user_id in self._bots:
            return True
        user = self.bot.get_user(user_id)
        return user is not None and user.bot

    def _remember_bot(self, user_id: int) -> None:
        self._bots[user_id] = None
        self._bots.move_to_end(user_id)
        while len(self._bots) > 10_000:
            self._bots.popitem(last=False)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        value = reaction_value(payload.emoji.name) if payload.emoji.is_unicode_emoji() else None
        if value is None or self.sharing is None:
            return
        if payload.member is not None and payload.member.bot:
            self._remember_bot(payload.user_id)
            return
        if self._is_bot_user(payload.user_id):
            return
        await self._handle_reaction(payload, value, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        value = reaction_value(payload.emoji.name) if payload.emoji.is_unicode_emoji() else None
        if value is None or self.sharing is None:
            return
        if self._is_bot_user(payload.user_id):
            return
        await self._handle_reaction(payload, value, added=False)

    async def _handle_reaction(self, payload: discord.RawReactionActionEvent, value: int, *, added: bool) -> None:
        sharing = self.sharing
        assert sharing is not None
        user_id = payload.user_id
        # taken before any other await: one user's reactions are handled in the order they arrived
        async with sharing.user_lock(user_id):
            try:
                await self._handle_reaction_retrying(payload, value, added=added)
            except StoreUnavailable:
                log.warning(
                    "a reaction on message %d was not saved: the database stayed unavailable", payload.message_id
                )
                self._spawn(self._tell_unsaved(payload, value, added=added), f"unsaved {user_id}")
            except Exception:
                log.exception("handling a reaction on message %d failed", payload.message_id)
            finally:
                self.reactions_handled += 1

    async def _handle_reaction_retrying(
        self, payload: discord.RawReactionActionEvent, value: int, *, added: bool
    ) -> None:
        """Handle one reaction; while the database is unavailable, try again with backoff (the caller holds the
        user's lock, so their later reactions wait behind this one and keep their order)."""
        sharing = self.sharing
        assert sharing is not None
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.store_retry_for
        delay = 0.25
        while True:
            try:
                shared = await sharing.resolve(payload.message_id)
                if shared is None:
                    return
                if not added and self._expected_removal(payload.message_id, payload.user_id, value):
                    return  # the bot removed it to show the user's newer choice
                result = await sharing.react(payload.user_id, shared, value, added=added)
                break
            except StoreUnavailable:
                if loop.time() + delay > give_up_at:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        if result.notify is not None:
            self._spawn(self._prompt(payload.user_id, result.notify), f"prompt {payload.user_id}")
        if added and result.status is not ReactionStatus.IGNORED and result.previous == -value:
            await self._remove_opposite(payload, shared, -value)

    async def _tell_unsaved(self, payload: discord.RawReactionActionEvent, value: int, *, added: bool) -> None:
        guild = payload.guild_id if payload.guild_id is not None else "@me"
        link = f"https://discord.com/channels/{guild}/{payload.channel_id}/{payload.message_id}"
        emoji = EMOJI_FOR_VALUE[value]
        text = UNSAVED_REACTION.format(
            what=emoji if added else f"removal of {emoji}",
            link=link,
            again="react again" if added else f"add {emoji} and remove it again",
        )
        await self._dm(payload.user_id, text, link_button=False)

    def _expected_removal(self, message_id: int, user_id: int, value: int) -> bool:
        now = time.monotonic()
        while self._expected_removals:
            key, at = next(iter(self._expected_removals.items()))
            if now - at <= _EXPECTED_REMOVAL_TTL:
                break
            del self._expected_removals[key]
        return self._expected_removals.pop((message_id, user_id, value), None) is not None

    async def _remove_opposite(
        self, payload: discord.RawReactionActionEvent, shared: SharedMessage, value: int
    ) -> None:
        """Remove the user's other reaction (when allowed) so the message shows their newest choice."""
        channel = self.bot.get_channel(payload.channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread | discord.VoiceChannel):
            return
        if not channel.permissions_for(channel.guild.me).manage_messages:
            return
        key = (payload.message_id, payload.user_id, value)
        self._expected_removals[key] = time.monotonic()
        try:
            await channel.get_partial_message(payload.message_id).remove_reaction(
                EMOJI_FOR_VALUE[value], discord.Object(id=payload.user_id)
            )
        except discord.HTTPException as exc:
            self._expected_removals.pop(key, None)
            log.info("could not remove a reaction on message %d: %s", shared.message_id, exc.status)

    # ------------------------------------------------------------------ notices

    async def _dm(self, user_id: int, text: str, *, link_button: bool = True) -> bool:
        try:
            user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
            if link_button:
                await user.send(text, view=link_button_view())
            else:
                await user.send(text)
        except discord.HTTPException as exc:
            log.info("could not DM user %d (%s)", user_id, exc.status)
            return False
        return True

    async def _prompt(self, user_id: int, kind: str) -> None:
        await self._dm(user_id, LINK_PROMPT if kind == "link" else RELINK_PROMPT)

    async def notify_stale(self, user_id: int) -> None:
        """The outbox found the user's token rejected: tell them once, by DM."""
        if await self._dm(user_id, RELINK_PROMPT):
            await self.bot.svc.store.mark_stale_notified(user_id)

    # ------------------------------------------------------------------ catch-up after a restart

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._caught_up or self.sharing is None:
            return
        self._caught_up = True
        self._spawn(self.catch_up(), "reaction catch-up")

    async def catch_up(self) -> int:
        """Read the 👍/👎 reactions of shared messages of the last 24 hours and queue what changed offline."""
        sharing = self.sharing
        if sharing is None:
            return 0
        since = sharing.generation()
        seen: list[tuple[SharedMessage, dict[int, set[int]]]] = []
        try:
            shard_ids = self.bot.shard_ids  # None: this process runs every shard
            for shared in await sharing.recent(shard_ids=shard_ids, shard_count=self.bot.shard_count or 1):
                reactions = await self._read_reactions(shared)
                if reactions:
                    seen.append((shared, reactions))
            return await sharing.catch_up(seen, since_generation=since)
        except Exception:
            log.exception("catching up reactions failed")
            return 0

    async def _read_reactions(self, shared: SharedMessage) -> dict[int, set[int]]:
        channel = self.bot.get_partial_messageable(shared.channel_id, guild_id=shared.guild_id)
        try:
            message = await channel.fetch_message(shared.message_id)
        except discord.HTTPException:
            return {}
        found: dict[int, set[int]] = {}
        for reaction in message.reactions:
            value = reaction_value(reaction.emoji) if isinstance(reaction.emoji, str) else None
            if value is None or reaction.count <= (1 if reaction.me else 0):
                continue
            async for user in reaction.users(limit=100):
                if not user.bot:
                    found.setdefault(user.id, set()).add(value)
        return found

    # ------------------------------------------------------------------ /ratings-admin channels

    @channels.command(name="add", description="Add 👍 👎 to Apple Music links shared in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_add(
        self, interaction: discord.Interaction[RatingsBot], channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        target = channel.id if channel is not None else interaction.channel_id
        assert target is not None
        added = await self.bot.svc.store.add_share_channel(interaction.guild_id, target)
        if added:
            self._chosen_at[target] = interaction.id
        text = f"<#{target}> is {'now' if added else 'already'} a sharing channel."
        if not self.bot.settings.message_content_intent:
            text += (
                "\nNote: the message content intent is off, so I cannot see links in messages yet; "
                "`/share` works anyway. The bot's operator can set `MESSAGE_CONTENT_INTENT=true`."
            )
        await interaction.response.send_message(text, ephemeral=True)

    @channels.command(name="remove", description="Stop adding 👍 👎 to links in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_remove(
        self, interaction: discord.Interaction[RatingsBot], channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None
        target = channel.id if channel is not None else interaction.channel_id
        assert target is not None
        removed = await self.bot.svc.store.remove_share_channel(interaction.guild_id, target)
        self._chosen_at.pop(target, None)
        text = f"<#{target}> is no longer a sharing channel." if removed else f"<#{target}> was not a sharing channel."
        await interaction.response.send_message(text, ephemeral=True)

    @channels.command(name="list", description="The channels where I add 👍 👎 to shared links")
    async def channels_list(self, interaction: discord.Interaction[RatingsBot]) -> None:
        assert interaction.guild_id is not None
        ids = await self.bot.svc.store.list_share_channels(interaction.guild_id)
        text = "Sharing channels: " + ", ".join(f"<#{c}>" for c in ids) if ids else "No sharing channels yet."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Sharing(bot))
