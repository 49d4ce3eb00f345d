"""Buttons. They are ``DynamicItem``s: their ``custom_id`` carries what they act on, so they keep working after
a restart, and they act for whoever presses them.

A press calls the cog that owns the action directly (``interaction.client.get_cog``), as RoboDanny's buttons do;
whatever it raises is answered to the presser by the one error path (:func:`bot.ui.errors.reply_with_error`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, cast

import discord

from bot.applemusic import ResourceType
from bot.ui.errors import reply_with_error
from bot.ui.texts import NOT_YOUR_BUTTON

RATING_ACTIONS = ("like", "dislike", "clear")
_TYPES = "|".join(re.escape(t.value) for t in ResourceType)


class RatingActions(Protocol):
    async def rate_button(
        self, interaction: discord.Interaction[Any], action: str, rtype: ResourceType, item_id: str
    ) -> None: ...

    async def page_button(
        self, interaction: discord.Interaction[Any], rtype: ResourceType, item_id: str, page: int
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
        try:
            await self.run(interaction)
        except Exception as exc:
            await reply_with_error(interaction, exc)


class RatingButton(
    _Action,
    template=rf"rating:(?P<action>like|dislike|clear):(?P<type>{_TYPES}):(?P<id>[A-Za-z0-9._-]{{1,64}})",
):
    """Like / Dislike / Clear for one item: ``rating:like:songs:1440857781``."""

    STYLE: ClassVar[dict[str, discord.ButtonStyle]] = {
        "like": discord.ButtonStyle.success,
        "dislike": discord.ButtonStyle.danger,
        "clear": discord.ButtonStyle.secondary,
    }
    LABEL: ClassVar[dict[str, str]] = {"like": "Like", "dislike": "Dislike", "clear": "Clear"}
    EMOJI: ClassVar[dict[str, str]] = {"like": "👍", "dislike": "👎", "clear": "✖️"}

    def __init__(self, action: str, rtype: ResourceType, item_id: str, *, row: int | None = None) -> None:
        self.action = action
        self.rtype = rtype
        self.item_id = item_id
        super().__init__(
            discord.ui.Button(
                style=self.STYLE[action],
                label=self.LABEL[action],
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


class LinkButton(_Action, template=r"link:start"):
    """Starts the link flow for whoever presses it."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label="Link Apple Music",
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

    def __init__(self, rtype: ResourceType, item_id: str, page: int, direction: str, *, disabled: bool = False) -> None:
        self.rtype = rtype
        self.item_id = item_id
        self.page = page
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label="Previous" if direction == "prev" else "Next",
                emoji="◀️" if direction == "prev" else "▶️",
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

    def __init__(self, confirmed: bool, user_id: int) -> None:
        self.confirmed = confirmed
        self.user_id = user_id
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.danger if confirmed else discord.ButtonStyle.secondary,
                label="Delete everything" if confirmed else "Keep my data",
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
        await interaction.response.send_message(NOT_YOUR_BUTTON, ephemeral=True)
        return False

    async def run(self, interaction: discord.Interaction[Any]) -> None:
        privacy = cast(PrivacyActions, _cog(interaction, "Privacy"))
        await privacy.forget_button(interaction, self.confirmed)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (RatingButton, LinkButton, PageButton, ForgetButton)


def link_button_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(LinkButton())
    return view


def forget_view(user_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ForgetButton(True, user_id))
    view.add_item(ForgetButton(False, user_id))
    return view


def rating_view(rtype: ResourceType, item_id: str, *, actions: tuple[str, ...] = RATING_ACTIONS) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(RatingButton(action, rtype, item_id))
    return view


def multi_rating_view(items: list[tuple[ResourceType, str]]) -> discord.ui.View:
    """One row of Like / Dislike / Clear per item (at most five items: Discord's five rows)."""
    view = discord.ui.View(timeout=None)
    for row, (rtype, item_id) in enumerate(items[:5]):
        for action in RATING_ACTIONS:
            view.add_item(RatingButton(action, rtype, item_id, row=row))
    return view


def pager_view(rtype: ResourceType, item_id: str, page: int, pages: int) -> discord.ui.View | None:
    if pages <= 1:
        return None
    page = min(max(page, 0), pages - 1)
    view = discord.ui.View(timeout=None)
    # a disabled button still needs a valid custom_id: it names the page it would show, clamped
    view.add_item(PageButton(rtype, item_id, max(page - 1, 0), "prev", disabled=page <= 0))
    view.add_item(PageButton(rtype, item_id, min(page + 1, pages - 1), "next", disabled=page >= pages - 1))
    return view
