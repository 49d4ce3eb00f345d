"""``/rating show|like|dislike|clear|tracks``, the "Apple Music ratings" message menu, and the buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.applemusic import ResourceType, find_links
from bot.crossref import Match
from bot.errors import NoLinksInMessage
from bot.i18n import resolve, server_locale
from bot.services.matching import Matched, elsewhere_url, foreign_link
from bot.services.ratings import ItemRef, RatedItem, UserContext
from bot.ui.embeds import confirm_embed, item_embed, items_embed, tracks_embed
from bot.ui.views import card_items, card_view, confirm_view, menu_view, pager_view

if TYPE_CHECKING:
    from bot.app import RatingsBot

KIND_CHOICES = [
    app_commands.Choice(name="Song", value=ResourceType.SONGS.value),
    app_commands.Choice(name="Album", value=ResourceType.ALBUMS.value),
    app_commands.Choice(name="Playlist", value=ResourceType.PLAYLISTS.value),
    app_commands.Choice(name="Music video", value=ResourceType.MUSIC_VIDEOS.value),
    app_commands.Choice(name="Station", value=ResourceType.STATIONS.value),
    app_commands.Choice(name="Library song", value=ResourceType.LIBRARY_SONGS.value),
    app_commands.Choice(name="Library album", value=ResourceType.LIBRARY_ALBUMS.value),
    app_commands.Choice(name="Library music video", value=ResourceType.LIBRARY_MUSIC_VIDEOS.value),
    app_commands.Choice(name="Library playlist", value=ResourceType.LIBRARY_PLAYLISTS.value),
]
VALUES = {"like": 1, "dislike": -1, "clear": 0}
ACTIONS = {value: action for action, value in VALUES.items()}
ITEM_HELP = "A link (Apple Music, Spotify, YouTube, Deezer, Tidal, SoundCloud, Amazon Music), an id or a name"
KIND_HELP = "The kind of item, when an id could mean several (e.g. a song in your library)"


def _kind(choice: app_commands.Choice[str] | None) -> ResourceType | None:
    return ResourceType(choice.value) if choice is not None else None


def _card_locale(interaction: discord.Interaction[RatingsBot]) -> str:
    """The language of a card: the server's for one shown to the channel, else the member's."""
    if interaction.extras.get("public"):
        return server_locale(interaction.guild_locale, interaction.locale)
    return resolve(interaction.locale)


def _locale(interaction: discord.Interaction[RatingsBot]) -> str:
    return str(interaction.locale.value if isinstance(interaction.locale, discord.Locale) else interaction.locale)


@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class Ratings(commands.GroupCog, group_name="rating", group_description="Your Apple Music ratings"):
    def __init__(self, bot: RatingsBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name="Apple Music ratings", callback=self.message_menu)
        self.menu.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
        self.menu.allowed_contexts = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    # ------------------------------------------------------------------ shared steps

    async def _rate(
        self, interaction: discord.Interaction[RatingsBot], item: str, kind: ResourceType | None, value: int
    ) -> None:
        # deferred first: matching another service's link may ask outside services (longer than Discord's 3 s)
        await interaction.response.defer(ephemeral=True, thinking=True)
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        matched = await self._item(ctx, item, kind)
        if matched.match is not None and not matched.confident:
            # not sure: ask first; the rating happens only after "Yes" (``confirm_match``)
            items = await svc.catalog_items([matched.ref], ctx.storefront, ctx.language)
            unsure = RatedItem(matched.ref, items.get(matched.ref), None)
            locale = interaction.locale
            await interaction.edit_original_response(
                embed=confirm_embed(unsure, matched.match, locale=locale),
                view=confirm_view(ACTIONS[value], interaction.user.id, matched.ref, locale=locale),
            )
            return
        rated = await svc.rate(ctx, matched.ref, value)
        await self._card(interaction, rated, matched.match)

    async def _item(self, ctx: UserContext, item: str, kind: ResourceType | None) -> Matched:
        return await self.bot.svc.matching.item_for(item, kind, ctx.storefront, user_id=ctx.user_id)

    async def _card(
        self, interaction: discord.Interaction[RatingsBot], rated: RatedItem, match: Match | None = None
    ) -> None:
        """Show a member's card for one item (in the interaction's answer, or in place of the card pressed); an item
        matched from another service's link says how, and leads to its song.link page (unless the server turned
        "Listen on other services" off). A card shown to the channel (``/rating show public``) is in the server's
        language; the member's own, in theirs."""
        elsewhere = None
        if match is not None and await self.bot.svc.sharing.listen_elsewhere(interaction.guild_id):
            elsewhere = elsewhere_url(rated.ref, match)
        locale = _card_locale(interaction)
        view = card_view(rated.ref, rated.rating, locale=locale, elsewhere=elsewhere)
        await interaction.edit_original_response(embed=item_embed(rated, match, locale=locale), view=view)

    async def confirm_match(
        self, interaction: discord.Interaction[RatingsBot], action: str, rtype: ResourceType, item_id: str
    ) -> None:
        """ "Yes" to "Is this the song you meant?": rate it now; the question becomes the member's card."""
        await interaction.response.defer()  # DEFERRED_UPDATE_MESSAGE: the question is the card edited
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        await self._card(interaction, await svc.rate(ctx, ItemRef(rtype, item_id), VALUES[action]))

    async def item_autocomplete(
        self, interaction: discord.Interaction[RatingsBot], current: str
    ) -> list[app_commands.Choice[str]]:
        suggestions = await self.bot.svc.ratings.suggest_for(interaction.user.id, current)
        return [app_commands.Choice(name=s.name, value=s.value) for s in suggestions]

    # ------------------------------------------------------------------ commands

    @app_commands.command(name="show", description="Your current rating of a song, album, playlist, video or station")
    @app_commands.describe(item=ITEM_HELP, kind=KIND_HELP, public="Show the card to the channel (default: only you)")
    @app_commands.choices(kind=KIND_CHOICES)
    async def show(
        self,
        interaction: discord.Interaction[RatingsBot],
        item: str,
        kind: app_commands.Choice[str] | None = None,
        public: bool = False,
    ) -> None:
        interaction.extras["public"] = public
        await interaction.response.defer(ephemeral=not public, thinking=True)
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        matched = await self._item(ctx, item, _kind(kind))
        await self._card(interaction, await svc.show(ctx, matched.ref), matched.match)

    @app_commands.command(name="like", description="Like a song, album, playlist, video or station")
    @app_commands.describe(item=ITEM_HELP, kind=KIND_HELP)
    @app_commands.choices(kind=KIND_CHOICES)
    async def like(
        self,
        interaction: discord.Interaction[RatingsBot],
        item: str,
        kind: app_commands.Choice[str] | None = None,
    ) -> None:
        await self._rate(interaction, item, _kind(kind), 1)

    @app_commands.command(name="dislike", description="Dislike a song, album, playlist, video or station")
    @app_commands.describe(item=ITEM_HELP, kind=KIND_HELP)
    @app_commands.choices(kind=KIND_CHOICES)
    async def dislike(
        self,
        interaction: discord.Interaction[RatingsBot],
        item: str,
        kind: app_commands.Choice[str] | None = None,
    ) -> None:
        await self._rate(interaction, item, _kind(kind), -1)

    @app_commands.command(name="clear", description="Remove your rating of a song, album, playlist, video or station")
    @app_commands.describe(item=ITEM_HELP, kind=KIND_HELP)
    @app_commands.choices(kind=KIND_CHOICES)
    async def clear(
        self,
        interaction: discord.Interaction[RatingsBot],
        item: str,
        kind: app_commands.Choice[str] | None = None,
    ) -> None:
        await self._rate(interaction, item, _kind(kind), 0)

    @app_commands.command(name="tracks", description="Every track of an album or playlist, with your rating of each")
    @app_commands.describe(item="An album or playlist: link, id or name")
    async def tracks(self, interaction: discord.Interaction[RatingsBot], item: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._show_tracks(interaction, item, None, 0)

    async def _show_tracks(
        self, interaction: discord.Interaction[RatingsBot], item: str, kind: ResourceType | None, page: int
    ) -> None:
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        ref = (await self._item(ctx, item, kind)).ref
        parent, rows = await svc.tracks(ctx, ref)
        embed, pages = tracks_embed(parent, rows, page, locale=interaction.locale)
        view = pager_view(ref.type, ref.id, min(page, pages - 1), pages, locale=interaction.locale)
        if view is None:
            await interaction.edit_original_response(embed=embed)
        else:
            await interaction.edit_original_response(embed=embed, view=view)

    show.autocomplete("item")(item_autocomplete)
    like.autocomplete("item")(item_autocomplete)
    dislike.autocomplete("item")(item_autocomplete)
    clear.autocomplete("item")(item_autocomplete)
    tracks.autocomplete("item")(item_autocomplete)

    # ------------------------------------------------------------------ message menu

    async def message_menu(self, interaction: discord.Interaction[RatingsBot], message: discord.Message) -> None:
        """Ratings of the Apple Music links in a message, with buttons (works without the content intent:
        Discord sends the target message's content with the interaction); a message with only another service's link
        gets the card of its match (rating it takes a press: no question needed)."""
        text = "\n".join([message.content, *(e.url or "" for e in message.embeds)])
        links = find_links(text)
        other = None if links else foreign_link(text)
        if not links and other is None:
            raise NoLinksInMessage()
        await interaction.response.defer(ephemeral=True, thinking=True)
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        if other is not None:
            matched = await self._item(ctx, other.url, None)
            await self._card(interaction, await svc.show(ctx, matched.ref), matched.match)
            return
        refs = [ItemRef(link.type, link.id) for link in links[:5]]
        rows = await svc.show_many(ctx, refs)
        if len(rows) == 1:
            await self._card(interaction, rows[0])
        else:
            locale = interaction.locale
            await interaction.edit_original_response(
                embed=items_embed(rows, locale=locale), view=menu_view(rows, locale=locale)
            )

    # ------------------------------------------------------------------ buttons (bot.ui.views calls these)

    async def rate_button(
        self, interaction: discord.Interaction[RatingsBot], action: str, rtype: ResourceType, item_id: str
    ) -> None:
        """A Like / Dislike / Clear press, for whoever pressed it. The presser's own (ephemeral) card is updated in
        place, a message-menu card with all its items; on a public card the presser gets a private card, and a press
        on a shared post in a server is also their vote in its tops (before Apple is asked, as a reaction's is)."""
        message = interaction.message
        own = message is not None and message.flags.ephemeral
        if own:
            await interaction.response.defer()  # DEFERRED_UPDATE_MESSAGE: the card pressed is the one edited
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        ref = ItemRef(rtype, item_id)
        if not own and message is not None and interaction.guild_id is not None:
            # a press on a public /share card is the member's vote in the server, as a 👍/👎 reaction is
            taste = self.bot.svc.taste
            await taste.button_vote(interaction.guild_id, message.id, interaction.user.id, ref, VALUES[action])
        svc = self.bot.svc.ratings
        ctx = await svc.user(interaction.user.id, _locale(interaction))
        rated = await svc.rate(ctx, ref, VALUES[action])
        items = card_items(message) if own else []
        if len(items) <= 1:
            await self._card(interaction, rated)
            return
        read = {r.ref: r for r in await svc.show_many(ctx, [r for r in items if r != ref])}
        rows = [rated if r == ref else read[r] for r in items if r == ref or r in read]
        locale = interaction.locale
        await interaction.edit_original_response(
            embed=items_embed(rows, locale=locale), view=menu_view(rows, locale=locale)
        )

    async def tracks_button(
        self, interaction: discord.Interaction[RatingsBot], rtype: ResourceType, item_id: str
    ) -> None:
        """An album's or playlist's card leads to its tracks, in a private answer (the card stays as it was)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._show_tracks(interaction, f"{rtype.value}:{item_id}", rtype, 0)

    async def page_button(
        self, interaction: discord.Interaction[RatingsBot], rtype: ResourceType, item_id: str, page: int
    ) -> None:
        await interaction.response.defer()
        await self._show_tracks(interaction, f"{rtype.value}:{item_id}", rtype, page)


async def setup(bot: RatingsBot) -> None:
    await bot.add_cog(Ratings(bot))
