"""Buttons. They are ``DynamicItem``s: their ``custom_id`` carries what they act on, so they keep working after
a restart, and they act for whoever presses them. Their labels are in the language of the message they are on
(``locale``); a button rebuilt from its ``custom_id`` to handle a press needs none.

A press calls the cog that owns the action directly (``interaction.client.get_cog``), as RoboDanny's buttons do;
whatever it raises is answered to the presser by the one error path (:func:`bot.ui.errors.reply_with_error`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, cast

import discord

from bot.applemusic import ResourceType
from bot.i18n import N_, LocaleLike, t
from bot.logs import about_this_task
from bot.services.ratings import ItemRef, RatedItem
from bot.ui.errors import reply_with_error
from bot.ui.texts import MATCH_DECLINED, NOT_YOUR_BUTTON

RATING_ACTIONS = ("like", "dislike", "clear")
_TYPES = "|".join(re.escape(t.value) for t in ResourceType)


class RatingActions(Protocol):
    async def rate_button(
        self, interaction: discord.Interaction[Any], action: str, rtype: ResourceType, item_id: str
    ) -> None: ...

    async def page_button(
        self, interaction: discord.Interaction[Any], rtype: ResourceType, item_id: str, page: int
    ) -> None: ...

    async def tracks_button(self, interaction: discord.Interaction[Any], rtype: ResourceType, item_id: str) -> None: ...


class MatchActions(Protocol):
    async def confirm_match(
        self, interaction: discord.Interaction[Any], action: str, rtype: ResourceType, item_id: str
    ) -> None: ...


class LinkActions(Protocol):
    async def start_link(self, interaction: discord.Interaction[Any]) -> None: ...


class PrivacyActions(Protocol):
    async def forget_button(self, interaction: discord.Interaction[Any], confirmed: bool) -> None: ...


def _cog(interaction: discord.Interaction[Any], name: str) -> Any:
    cog = interaction.client.get_cog(name)
    if cog is None:
        raise RuntimeError(f"the {name} cog is not loaded")
    return cog


class _Action(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?!)"):
    """A persistent button whose press each subclass handles in ``run``; errors go to the presser."""

    run: Callable[[discord.Interaction[Any]], Awaitable[None]]

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        error: Exception | None = None
        # the press's own task: its log lines name the guild and the member
        about_this_task(
            guild=interaction.guild_id, user=interaction.user.id, shard_count=interaction.client.shard_count
        )
        try:
            await self.run(interaction)
        except Exception as exc:
            error = exc
            await reply_with_error(interaction, exc)
        # counted by the bot's metrics as "button <the custom id's first part>" (rating, tracks, link, ...)
        interaction.client.count_interaction(interaction, "button " + self.custom_id.split(":", 1)[0], error)


_RATING_ID = re.compile(rf"rating:(?P<action>like|dislike|clear):(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}})")


class RatingButton(_Action, template=_RATING_ID):
    """Like / Dislike / Clear for one item: ``rating:like:songs:1440857781``. Its look (label, style) is the card's
    business; a press is the same whatever it looked like."""

    LABEL: ClassVar[dict[str, str]] = {"like": N_("Like"), "dislike": N_("Dislike"), "clear": N_("Clear rating")}
    CHOSEN: ClassVar[dict[str, str]] = {"like": N_("Liked ✓"), "dislike": N_("Disliked ✓")}
    EMOJI: ClassVar[dict[str, str | None]] = {"like": "👍", "dislike": "👎", "clear": None}

    def __init__(
        self,
        action: str,
        rtype: ResourceType,
        item_id: str,
        *,
        chosen: bool = False,
        name: str | None = None,
        row: int | None = None,
        locale: LocaleLike = None,
    ) -> None:
        self.action = action
        self.rtype = rtype
        self.item_id = item_id
        label = t(locale, self.CHOSEN[action] if chosen else self.LABEL[action])
        if name:
            label = f"{label} · {_short(name)}"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary if chosen else discord.ButtonStyle.secondary,
                label=label,
                emoji=self.EMOJI[action],
                custom_id=f"rating:{action}:{rtype.value}:{item_id}",
                row=row,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RatingButton:
        return cls(match["action"], ResourceType(match["type"]), match["id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        ratings = cast(RatingActions, _cog(interaction, "Ratings"))
        await ratings.rate_button(interaction, self.action, self.rtype, self.item_id)


def _short(name: str, limit: int = 40) -> str:
    """An item's name short enough for a button (Discord allows 80 characters in a label)."""
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


class TracksButton(_Action, template=rf"tracks:(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}})"):
    """An album's or playlist's card leads to its tracks: ``tracks:albums:1613600183``."""

    def __init__(self, rtype: ResourceType, item_id: str, *, locale: LocaleLike = None) -> None:
        self.rtype = rtype
        self.item_id = item_id
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=t(locale, "Tracks"),
                custom_id=f"tracks:{rtype.value}:{item_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> TracksButton:
        return cls(ResourceType(match["type"]), match["id"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        ratings = cast(RatingActions, _cog(interaction, "Ratings"))
        await ratings.tracks_button(interaction, self.rtype, self.item_id)


class LinkButton(_Action, template=r"link:start"):
    """Starts the link flow for whoever presses it."""

    def __init__(self, *, locale: LocaleLike = None) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label=t(locale, "Link Apple Music"),
                emoji="🔗",
                custom_id="link:start",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> LinkButton:
        return cls()

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        linking = cast(LinkActions, _cog(interaction, "Linking"))
        await linking.start_link(interaction)


class PageButton(
    _Action,
    template=rf"page:(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}}):(?P<page>\d{{1,4}}):(?P<dir>prev|next)",
):
    """Previous / next page of a track list: ``page:albums:1613600183:2:next`` (the page to show)."""

    def __init__(
        self,
        rtype: ResourceType,
        item_id: str,
        page: int,
        direction: str,
        *,
        disabled: bool = False,
        locale: LocaleLike = None,
    ) -> None:
        self.rtype = rtype
        self.item_id = item_id
        self.page = page
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=t(locale, "← Previous") if direction == "prev" else t(locale, "Next →"),
                custom_id=f"page:{rtype.value}:{item_id}:{page}:{direction}",
                disabled=disabled,
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(ResourceType(match["type"]), match["id"], int(match["page"]), match["dir"])

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        ratings = cast(RatingActions, _cog(interaction, "Ratings"))
        await ratings.page_button(interaction, self.rtype, self.item_id, self.page)


class ForgetButton(_Action, template=r"privacy:(?P<action>forget|keep):(?P<user>\d{1,20})"):
    """``/forget-me``'s confirmation: ``privacy:forget:<user id>`` deletes, ``privacy:keep:<user id>`` cancels. Only
    that member may press it (anyone else is told so, and nothing happens)."""

    def __init__(self, confirmed: bool, user_id: int, *, locale: LocaleLike = None) -> None:
        self.confirmed = confirmed
        self.user_id = user_id
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.danger if confirmed else discord.ButtonStyle.secondary,
                label=t(locale, "Delete everything") if confirmed else t(locale, "Keep my data"),
                custom_id=f"privacy:{'forget' if confirmed else 'keep'}:{user_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ForgetButton:
        return cls(match["action"] == "forget", int(match["user"]))

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.user.id == self.user_id:
            return True
        await interaction.response.send_message(t(interaction.locale, NOT_YOUR_BUTTON), ephemeral=True)
        return False

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        privacy = cast(PrivacyActions, _cog(interaction, "Privacy"))
        await privacy.forget_button(interaction, self.confirmed)


class ConfirmMatchButton(
    _Action,
    template=rf"match:(?P<answer>yes|no):(?P<action>like|dislike|clear|share):(?P<user>\d{{1,20}}):(?P<type>{_TYPES})"
    r":(?P<id>[A-Za-z0-9._-]{1,64})",
):
    """The answer to "Is this the song you meant?" (a match of another service's link that is not sure):
    ``match:yes:like:<user id>:songs:<id>`` rates it (``share`` posts it), ``match:no:...`` does nothing. Only the
    member who asked may press it."""

    LABEL: ClassVar[dict[str, str]] = {
        "like": N_("Yes, rate it"),
        "dislike": N_("Yes, rate it"),
        "clear": N_("Yes, clear it"),
        "share": N_("Yes, share it"),
    }

    def __init__(
        self,
        confirmed: bool,
        action: str,
        user_id: int,
        rtype: ResourceType,
        item_id: str,
        *,
        locale: LocaleLike = None,
    ) -> None:
        self.confirmed, self.action, self.user_id, self.rtype, self.item_id = confirmed, action, user_id, rtype, item_id
        answer = "yes" if confirmed else "no"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary if confirmed else discord.ButtonStyle.secondary,
                label=t(locale, self.LABEL[action]) if confirmed else t(locale, "No"),
                custom_id=f"match:{answer}:{action}:{user_id}:{rtype.value}:{item_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConfirmMatchButton:
        return cls(
            match["answer"] == "yes", match["action"], int(match["user"]), ResourceType(match["type"]), match["id"]
        )

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.user.id == self.user_id:
            return True
        await interaction.response.send_message(t(interaction.locale, NOT_YOUR_BUTTON), ephemeral=True)
        return False

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        if not self.confirmed:  # nothing happens: the question is replaced by what was (not) done
            declined = t(interaction.locale, MATCH_DECLINED[self.action])
            await interaction.response.edit_message(content=declined, embed=None, view=None)
            return
        owner = cast(MatchActions, _cog(interaction, "Sharing" if self.action == "share" else "Ratings"))
        await owner.confirm_match(interaction, self.action, self.rtype, self.item_id)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    ConfirmMatchButton,
    RatingButton,
    TracksButton,
    LinkButton,
    PageButton,
    ForgetButton,
)


def link_button_view(*, locale: LocaleLike) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(LinkButton(locale=locale))
    return view


def forget_view(user_id: int, *, locale: LocaleLike) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ForgetButton(True, user_id, locale=locale))
    view.add_item(ForgetButton(False, user_id, locale=locale))
    return view


#: kinds whose card leads to their tracks
HAS_TRACKS = frozenset(
    {ResourceType.ALBUMS, ResourceType.PLAYLISTS, ResourceType.LIBRARY_ALBUMS, ResourceType.LIBRARY_PLAYLISTS}
)


def _rating_buttons(
    view: discord.ui.View,
    ref: ItemRef,
    rating: int | None,
    *,
    locale: LocaleLike,
    name: str | None = None,
    row: int | None = None,
) -> None:
    """Like and Dislike, the current choice marked; Clear only when there is a rating to clear."""
    for action, value in (("like", 1), ("dislike", -1)):
        chosen = rating == value
        view.add_item(RatingButton(action, ref.type, ref.id, chosen=chosen, name=name, row=row, locale=locale))
    if rating is not None:
        view.add_item(RatingButton("clear", ref.type, ref.id, name=name, row=row, locale=locale))


#: the label of the link to an item's song.link page
ELSEWHERE_LABEL = N_("Listen on other services")


def _elsewhere(view: discord.ui.View, url: str | None, locale: LocaleLike) -> None:
    """A link button to the item's song.link page, so members without Apple Music can hear it too."""
    if url:
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label=t(locale, ELSEWHERE_LABEL), url=url))


def card_view(ref: ItemRef, rating: int | None, *, locale: LocaleLike, elsewhere: str | None = None) -> discord.ui.View:
    """The buttons of a member's card (``bot.ui.embeds.item_embed``); an album's or playlist's card adds Tracks; a card
    of an item matched from another service's link, its song.link page (``elsewhere``)."""
    view = discord.ui.View(timeout=None)
    _rating_buttons(view, ref, rating, locale=locale)
    if ref.type in HAS_TRACKS:
        view.add_item(TracksButton(ref.type, ref.id, locale=locale))
    _elsewhere(view, elsewhere, locale)
    return view


def share_view(
    ref: ItemRef, *, buttons: bool, locale: LocaleLike, elsewhere: str | None = None
) -> discord.ui.View | None:
    """Quiet Like / Dislike on a public ``/share`` card (in the server's language), for servers that turned them on
    (nobody's state: each press answers the presser privately), and "Listen on other services" (``elsewhere``)
    unless the server turned it off. None: no buttons at all."""
    view = discord.ui.View(timeout=None)
    if buttons:
        _rating_buttons(view, ref, None, locale=locale)
    _elsewhere(view, elsewhere, locale)
    return view if view.children else None


def confirm_view(action: str, user_id: int, ref: ItemRef, *, locale: LocaleLike) -> discord.ui.View:
    """Yes / No under "Is this the song you meant?" (``action``: like, dislike, clear or share), for ``user_id``
    only."""
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmMatchButton(True, action, user_id, ref.type, ref.id, locale=locale))
    view.add_item(ConfirmMatchButton(False, action, user_id, ref.type, ref.id, locale=locale))
    return view


def menu_view(rows: list[RatedItem], *, locale: LocaleLike) -> discord.ui.View:
    """The message menu's buttons: a row per item (at most five: Discord's five rows), each button naming its
    item, numbered as the card numbers them."""
    view = discord.ui.View(timeout=None)
    for row, rated in enumerate(rows[:5]):
        name = f"{row + 1}. {rated.item.name if rated.item is not None and rated.item.name else rated.ref.id}"
        _rating_buttons(view, rated.ref, rated.rating, locale=locale, name=name, row=row)
    return view


def card_items(message: discord.Message | None) -> list[ItemRef]:
    """The items a card's rating buttons act on, in order (several on a message-menu card)."""
    found: list[ItemRef] = []
    for row in message.components if message is not None else ():
        for child in getattr(row, "children", ()):
            match = _RATING_ID.fullmatch(getattr(child, "custom_id", None) or "")
            if match is not None and (ref := ItemRef(ResourceType(match["type"]), match["id"])) not in found:
                found.append(ref)
    return found


def pager_view(
    rtype: ResourceType, item_id: str, page: int, pages: int, *, locale: LocaleLike
) -> discord.ui.View | None:
    if pages <= 1:
        return None
    page = min(max(page, 0), pages - 1)
    view = discord.ui.View(timeout=None)
    # a disabled button still needs a valid custom_id: it names the page it would show, clamped
    view.add_item(PageButton(rtype, item_id, max(page - 1, 0), "prev", disabled=page <= 0, locale=locale))
    view.add_item(
        PageButton(rtype, item_id, min(page + 1, pages - 1), "next", disabled=page >= pages - 1, locale=locale)
    )
    return view
