"""Sharing: ``/share``, 👍/👎 reactions on shared posts, auto-reactions in chosen channels, ``/ratings-admin``.

Reactions become durable intents in the outbox (``bot.services.sharing``); the outbox worker applies them.
No privileged intent is needed for ``/share`` and reactions; auto-reacting to links posted by people needs
``MESSAGE_CONTENT_INTENT=true`` (and the intent enabled in the developer portal).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.applemusic import ResourceType
from bot.crossref import Match
from bot.i18n import server_locale
from bot.logs import about_this_task
from bot.services.matching import elsewhere_url
from bot.services.ratings import ItemRef, RatedItem
from bot.services.recap import zones_matching
from bot.services.sharing import (
    EMOJI_FOR_VALUE,
    REACTION_EMOJIS,
    PostedMessage,
    ReactionEvent,
    SharedMessage,
    reaction_value,
)
from bot.services.weeks import WEEKDAYS
from bot.ui import texts
from bot.ui.embeds import confirm_embed, share_embed
from bot.ui.views import confirm_view, share_view

if TYPE_CHECKING:
    from bot.app import RatingsBot

log = logging.getLogger(__name__)

ITEM_HELP = "A link (Apple Music, Spotify, YouTube, Deezer, Tidal, SoundCloud, Amazon Music), an id or a name"
_REACTABLE = discord.TextChannel | discord.Thread | discord.VoiceChannel


class ServerAdminGroup(app_commands.Group):
    """Commands that change a server's settings. ``default_permissions`` only hides them by default (a server
    can let anyone use them), so every use is checked here: a server that added the bot, and a member who may
    manage it. A refusal becomes words in ``bot.ui.errors``."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.guild_id is None or not interaction.is_guild_integration():
            raise app_commands.NoPrivateMessage()
        if not manages_server(interaction):
            raise app_commands.MissingPermissions(["manage_guild"])
        return True


def manages_server(interaction: discord.Interaction[Any]) -> bool:
    """The member may use ``/ratings-admin`` here: Manage Server (or Administrator) in a server that added the bot."""
    perms = interaction.permissions
    in_server = interaction.guild_id is not None and interaction.is_guild_integration()
    return in_server and (perms.manage_guild or perms.administrator)


class Sharing(commands.Cog):
    admin = ServerAdminGroup(
        name="ratings-admin",
        description="Set up the Apple Music ratings bot in this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
        allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False),
    )
    channels = ServerAdminGroup(
        name="channels", description="Channels where shared Apple Music links get 👍 👎", parent=admin
    )
    recap = ServerAdminGroup(
        name="recap", description="A weekly post of the songs this server liked most", parent=admin
    )

    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot
        self._caught_up = False

    # ------------------------------------------------------------------ /share

    @app_commands.command(name="share", description="Post a song, album or playlist for everyone here to rate 👍 👎")
    @app_commands.describe(item=ITEM_HELP)
    @app_commands.guild_only()
    async def share(self, interaction: discord.Interaction[RatingsBot], item: str) -> None:
        interaction.extras["public"] = True  # an error is told to the sharer alone
        # deferred first: matching another service's link may ask outside services (longer than Discord's 3 s)
        await interaction.response.defer(thinking=True)
        shared, matched = await self.bot.svc.sharing.prepare_share(interaction.user.id, item)
        if matched.match is not None and not matched.confident:
            # not sure: ask the sharer first, privately; the post is made only after "Yes" (``confirm_match``)
            await interaction.delete_original_response()
            locale = interaction.locale  # the question is the sharer's alone
            view = confirm_view("share", interaction.user.id, shared.ref, locale=locale)
            embed = confirm_embed(shared, matched.match, locale=locale)
            await interaction.followup.send(embed=embed, view=view, ephemeral=True)
            return
        await self._post_share(interaction, shared, matched.match)

    async def confirm_match(
        self, interaction: discord.Interaction[RatingsBot], action: str, rtype: ResourceType, item_id: str
    ) -> None:
        """ "Yes" to "Is this the song you meant?" after ``/share``: post it now, as ``/share`` would have."""
        interaction.extras["public"] = True
        await interaction.response.defer(thinking=True)  # a new public message: the post
        sharing = self.bot.svc.sharing
        storefront = await self.bot.svc.ratings.storefront(interaction.user.id)
        await self._post_share(interaction, await sharing.share_item(ItemRef(rtype, item_id), storefront), None)

    async def _post_share(
        self, interaction: discord.Interaction[RatingsBot], shared: RatedItem, match: Match | None
    ) -> None:
        """Post the public card of a shared item (in place of the deferred answer), in the server's language, record
        it, add 👍 👎."""
        sharing = self.bot.svc.sharing
        guild_id = interaction.guild_id
        assert guild_id is not None
        ref = shared.ref
        locale = server_locale(interaction.guild_locale, interaction.locale)
        elsewhere = elsewhere_url(ref, match) if await sharing.listen_elsewhere(guild_id) else None
        buttons = await sharing.share_buttons(guild_id)
        view = share_view(ref, buttons=buttons, locale=locale, elsewhere=elsewhere)
        embed = share_embed(shared, match, locale=locale)
        if view is not None:
            message = await interaction.edit_original_response(embed=embed, view=view)
        else:
            message = await interaction.edit_original_response(embed=embed)
        await sharing.record(message.id, message.channel.id, guild_id, ref, sharer_id=interaction.user.id)
        await self._add_reactions(message)

    @share.autocomplete("item")
    async def item_autocomplete(
        self, interaction: discord.Interaction[RatingsBot], current: str
    ) -> list[app_commands.Choice[str]]:
        suggestions = await self.bot.svc.ratings.suggest_for(interaction.user.id, current)
        return [app_commands.Choice(name=s.name, value=s.value) for s in suggestions]

    async def _add_reactions(self, message: discord.Message | discord.PartialMessage) -> None:
        for emoji in REACTION_EMOJIS:
            try:
                await message.add_reaction(emoji)
            except discord.HTTPException as exc:
                log.info("could not add %s to message %d: %s", emoji, message.id, exc.status)
                return

    # ------------------------------------------------------------------ links posted in chosen channels

    @staticmethod
    def _posted(message: discord.Message) -> PostedMessage | None:
        if message.guild is None:
            return None
        return PostedMessage(
            message_id=message.id,
            channel_id=message.channel.id,
            guild_id=message.guild.id,
            text="\n".join([message.content, *(e.url or "" for e in message.embeds)]),
            by_a_person=not message.author.bot and message.webhook_id is None,
            author_id=message.author.id,
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """discord.py runs each listener call as its own task: matching a link of another service here (bounded by
        ``MATCH_CONCURRENCY``) never holds up the gateway's other events."""
        posted = self._posted(message)
        if self.bot.services is None or posted is None:
            return
        if await self.bot.svc.sharing.message_posted(posted):
            await self._add_reactions(message)

    # ------------------------------------------------------------------ posts waiting to be matched (PostActions)

    async def add_reactions(self, shared: SharedMessage) -> None:
        """The bot's 👍 and 👎 on a post matched after it waited."""
        channel = self.bot.get_partial_messageable(shared.channel_id, guild_id=shared.guild_id)
        await self._add_reactions(channel.get_partial_message(shared.message_id))

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """A share post edited to another item stops counting: the bot takes its own 👍 👎 back."""
        posted = self._posted(payload.message)
        if self.bot.services is None or posted is None or "content" not in payload.data:
            return  # an update that does not carry the text cannot say the link changed
        if not await self.bot.svc.sharing.message_edited(posted) or self.bot.user is None:
            return
        for emoji in REACTION_EMOJIS:
            try:
                await payload.message.remove_reaction(emoji, self.bot.user)
            except discord.HTTPException as exc:
                log.info("could not remove my %s from edited message %d: %s", emoji, payload.message_id, exc.status)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if self.bot.services is not None:
            await self.bot.svc.sharing.messages_deleted([payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if self.bot.services is not None:
            await self.bot.svc.sharing.messages_deleted(payload.message_ids)

    # ------------------------------------------------------------------ reactions

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await self._reaction(payload, added=False)

    async def _reaction(self, payload: discord.RawReactionActionEvent, *, added: bool) -> None:
        # the reaction's own task (a listener): its log lines name the guild and the member
        about_this_task(guild=payload.guild_id, user=payload.user_id, shard_count=self.bot.shard_count)
        value = reaction_value(payload.emoji.name) if payload.emoji.is_unicode_emoji() else None
        if self.bot.services is None or value is None:
            return
        channel = self.bot.get_channel(payload.channel_id)
        event = ReactionEvent(
            user_id=payload.user_id,
            message_id=payload.message_id,
            channel_id=payload.channel_id,
            guild_id=payload.guild_id,
            value=value,
            added=added,
            member_is_bot=payload.member.bot if payload.member is not None else None,
            known_bot=self._known_bot(payload.user_id),
            may_remove_reactions=isinstance(channel, _REACTABLE)
            and channel.permissions_for(channel.guild.me).manage_messages,
        )
        outcome = await self.bot.svc.sharing.on_reaction(event)
        if outcome.remove is not None and isinstance(channel, _REACTABLE):
            try:
                await channel.get_partial_message(payload.message_id).remove_reaction(
                    EMOJI_FOR_VALUE[outcome.remove], discord.Object(id=payload.user_id)
                )
            except discord.HTTPException as exc:
                self.bot.svc.sharing.removal_failed(payload.message_id, payload.user_id, outcome.remove)
                log.info("could not remove a reaction on message %d: %s", payload.message_id, exc.status)

    def _known_bot(self, user_id: int) -> bool:
        me = self.bot.user
        user = self.bot.get_user(user_id)
        return (me is not None and user_id == me.id) or (user is not None and user.bot)

    # ------------------------------------------------------------------ catch-up after a restart

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._caught_up or self.bot.services is None:
            return
        self._caught_up = True
        catch_up = self.bot.svc.sharing.catch_up(
            self.read_reactions, shard_ids=self.bot.shard_ids, shard_count=self.bot.shard_count or 1
        )
        self.bot.background.spawn(catch_up, "reaction catch-up")
        self.bot.background.spawn(self.bot.svc.sharing.run_pending(self), "posts waiting to be matched")

    async def read_reactions(self, shared: SharedMessage) -> dict[int, set[int]]:
        """Who shows 👍 or 👎 on a shared message now (the bots' own reactions aside)."""
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
            async for user in reaction.users(limit=None):  # every reactor, 100 a page (``after`` the last id)
                if not user.bot:
                    found.setdefault(user.id, set()).add(value)
        return found

    # ------------------------------------------------------------------ /ratings-admin channels

    @channels.command(name="add", description="Add 👍 👎 to Apple Music links shared in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_add(
        self, interaction: discord.Interaction[RatingsBot], channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        target = channel.id if channel is not None else interaction.channel_id
        added = await self.bot.svc.sharing.add_channel(interaction.guild_id, target, chosen_by=interaction.id)
        sees = self.bot.svc.sharing.watch_channels
        text = texts.channel_added(target, added, sees_messages=sees, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)

    @channels.command(name="remove", description="Stop adding 👍 👎 to links in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channels_remove(
        self, interaction: discord.Interaction[RatingsBot], channel: discord.TextChannel | None = None
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        target = channel.id if channel is not None else interaction.channel_id
        removed = await self.bot.svc.sharing.remove_channel(interaction.guild_id, target)
        text = texts.channel_removed(target, removed, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)

    @admin.command(name="share-buttons", description="Buttons on /share cards, or 👍 👎 only")
    @app_commands.describe(setting="on: Like and Dislike buttons too; off (the default): 👍 👎 only")
    async def share_buttons(self, interaction: discord.Interaction[RatingsBot], setting: Literal["on", "off"]) -> None:
        assert interaction.guild_id is not None
        on = setting == "on"
        changed = await self.bot.svc.sharing.set_share_buttons(interaction.guild_id, on)
        text = texts.share_buttons_set(on, changed, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)

    @admin.command(name="listen-elsewhere", description="A “Listen on other services” button on shared songs")
    @app_commands.describe(setting="on (the default): shared songs lead to their song.link page; off: no such button")
    async def listen_elsewhere(
        self, interaction: discord.Interaction[RatingsBot], setting: Literal["on", "off"]
    ) -> None:
        assert interaction.guild_id is not None  # ServerAdminGroup checked the server and Manage Server
        on = setting == "on"
        changed = await self.bot.svc.sharing.set_listen_elsewhere(interaction.guild_id, on)
        text = texts.listen_elsewhere_set(on, changed, locale=interaction.locale)
        await interaction.response.send_message(text, ephemeral=True)

    @channels.command(name="list", description="The channels where I add 👍 👎 to shared links")
    async def channels_list(self, interaction: discord.Interaction[RatingsBot]) -> None:
        assert interaction.guild_id is not None
        ids = await self.bot.svc.sharing.channels(interaction.guild_id)
        await interaction.response.send_message(texts.channel_list(ids, locale=interaction.locale), ephemeral=True)

    # ------------------------------------------------------------------ /ratings-admin recap

    @recap.command(name="set", description="Post the week's most liked songs in a channel, every week")
    @app_commands.describe(
        channel="Where the recap is posted",
        day="The day the week ends and the recap is posted",
        hour="The hour of the post, 0 to 23 (0 is midnight)",
        time_zone="This server's time zone, like Europe/Berlin (default: the one set before, or UTC)",
    )
    async def recap_set(
        self,
        interaction: discord.Interaction[RatingsBot],
        channel: discord.TextChannel,
        day: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        hour: app_commands.Range[int, 0, 23],
        time_zone: str | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        weekday = WEEKDAYS.index(day.lower()) if day.lower() in WEEKDAYS else -1
        recaps = self.bot.svc.recaps
        settings = await recaps.configure(interaction.guild_id, channel.id, weekday, hour, time_zone)
        next_post = recaps.next_post(settings)
        text = texts.recap_set(
            channel.id, settings.weekday, hour, settings.timezone, next_post, locale=interaction.locale
        )
        await interaction.response.send_message(text, ephemeral=True)

    @recap_set.autocomplete("time_zone")
    async def time_zone_autocomplete(
        self, interaction: discord.Interaction[RatingsBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=zone, value=zone) for zone in zones_matching(current)]

    @recap.command(name="off", description="Stop the weekly recap")
    async def recap_off(self, interaction: discord.Interaction[RatingsBot]) -> None:
        assert interaction.guild_id is not None
        was_on = await self.bot.svc.recaps.turn_off(interaction.guild_id)
        await interaction.response.send_message(texts.recap_off(was_on, locale=interaction.locale), ephemeral=True)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Sharing(bot))
