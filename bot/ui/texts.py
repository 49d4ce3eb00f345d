"""Short member-facing sentences the cogs send (embeds are in ``bot.ui.embeds``, errors in ``bot.ui.errors``).

Each one is in the language it is given (``locale``: the member's for private answers, see :mod:`bot.i18n`); a
command named in a sentence is the one the member types in their language (:func:`bot.i18n.commands.slash`).
"""

from __future__ import annotations

from collections.abc import Collection

import babel.dates

from bot.i18n import N_, LocaleLike, babel_locale, t, tn
from bot.i18n.commands import command, slash

FORGET_CANCELLED = N_("Nothing was deleted.")
NOT_YOUR_BUTTON = N_("This button belongs to the member who ran the command; run it yourself if you want it.")
EXPORT_READY = N_("📦 Everything the bot keeps about you, as a JSON file (your Apple Music access is never included).")


def dm_help(locale: LocaleLike) -> str:
    """The answer to a DM that is not an Apple Music code."""
    return t(
        locale,
        "Hi! To link your Apple Music, run {link} (here or in a server) and open the page I send you. "
        "{about} lists what I can do.\n"
        "Can't use the page? As a fallback, if you have your Apple Music code, paste it here right after {link}.",
        link=slash(locale, "link"),
        about=slash(locale, "about"),
    )


def ratings_expired(locale: LocaleLike) -> str:
    """``/account`` after reactions made before linking waited in vain (told once)."""
    return t(
        locale,
        "Some 👍/👎 you gave before linking were not applied: you did not link your Apple Music account in time. "
        "React again now that you are linked (or after {link}).",
        link=slash(locale, "link"),
    )


#: the music services whose links the bot matches to Apple Music, as members know them (brands: never translated)
SERVICE_NAMES = {
    "spotify": "Spotify",
    "youtube": "YouTube",
    "youtube-music": "YouTube Music",
    "deezer": "Deezer",
    "tidal": "Tidal",
    "soundcloud": "SoundCloud",
    "amazon-music": "Amazon Music",
}


#: the answer "No" to "Is this the song you meant?" leaves
MATCH_DECLINED = {
    "like": N_("Nothing was rated. Try an Apple Music link, or search for the song by name."),
    "dislike": N_("Nothing was rated. Try an Apple Music link, or search for the song by name."),
    "clear": N_("Nothing was changed. Try an Apple Music link, or search for the song by name."),
    "share": N_("Nothing was shared. Try an Apple Music link, or search for the song by name."),
}


def service_name(service: str) -> str:
    """A music service's name as members know it ("Spotify", "YouTube Music")."""
    return SERVICE_NAMES.get(service, service)


def listen_elsewhere_set(on: bool, changed: bool, *, locale: LocaleLike) -> str:
    """The answer to ``/ratings-admin listen-elsewhere``."""
    if on:
        if changed:
            return t(locale, "From now on, shared songs in this server carry a “Listen on other services” button.")
        return t(locale, "Shared songs already carry a “Listen on other services” button.")
    if changed:
        return t(locale, "From now on, shared songs in this server have no “Listen on other services” button.")
    return t(locale, "Shared songs already have no “Listen on other services” button.")


def link_sent_by_dm(minutes: int, *, locale: LocaleLike) -> str:
    return tn(
        locale,
        "📬 I sent you a DM with your personal link (valid {n} minute).",
        "📬 I sent you a DM with your personal link (valid {n} minutes).",
        minutes,
    )


def unlinked(removed: bool, dropped: int = 0, *, locale: LocaleLike) -> str:
    """The answer to ``/unlink``: what was deleted, and how many ratings waiting to be sent were dropped."""
    if removed:
        said = [
            t(
                locale,
                "🗑️ Unlinked. The bot no longer has access to your Apple Music account and sends nothing more to it.",
            )
        ]
    else:
        said = [t(locale, "You had no Apple Music account linked; there was nothing to delete.")]
    if dropped:
        said.append(
            tn(
                locale,
                "{n} rating waiting to be sent to Apple Music was dropped.",
                "{n} ratings waiting to be sent to Apple Music were dropped.",
                dropped,
            )
        )
    return " ".join(said)


def token_in_channel(deleted: bool, *, locale: LocaleLike) -> str:
    note = t(locale, "I deleted it.") if deleted else t(locale, "I could not delete it: please delete it yourself.")
    return " ".join(
        (
            t(
                locale,
                "⚠️ You posted what looks like an Apple Music code in a channel: it gives access to your Apple Music.",
            ),
            note,
            t(locale, "It was not stored. Use {link} to link your Apple Music privately.", link=slash(locale, "link")),
        )
    )


_WAITING_WORDS = {
    "stale": N_("your Apple Music link needs renewing: run {link}"),
    "unlinked": N_("waiting for you to link: run {link}"),
    "retrying": N_("Apple Music is busy; retrying"),
    "queued": N_("being sent"),
}


def waiting_reasons(reasons: Collection[str], *, locale: LocaleLike) -> str | None:
    """Why ratings wait, in words (``/account``); None when nothing waits."""
    link = command(locale, "link")
    words = (t(locale, _WAITING_WORDS[r], link=link) if r in _WAITING_WORDS else r for r in sorted(reasons))
    return t(locale, "; ").join(words) or None


def channel_added(channel_id: int, added: bool, *, sees_messages: bool, locale: LocaleLike) -> str:
    channel = f"<#{channel_id}>"
    if added:
        text = t(locale, "{channel} is now a sharing channel.", channel=channel)
    else:
        text = t(locale, "{channel} is already a sharing channel.", channel=channel)
    if not sees_messages:
        text += "\n" + t(
            locale,
            "Note: the message content intent is off, so I cannot see links in messages yet; "
            "{share} works anyway. The bot's operator can set {setting}.",
            share=slash(locale, "share"),
            setting="`MESSAGE_CONTENT_INTENT=true`",
        )
    return text


def channel_removed(channel_id: int, removed: bool, *, locale: LocaleLike) -> str:
    channel = f"<#{channel_id}>"
    if removed:
        return t(locale, "{channel} is no longer a sharing channel.", channel=channel)
    return t(locale, "{channel} was not a sharing channel.", channel=channel)


def channel_list(channel_ids: list[int], *, locale: LocaleLike) -> str:
    if not channel_ids:
        return t(locale, "No sharing channels yet.")
    return t(locale, "Sharing channels: {channels}", channels=", ".join(f"<#{c}>" for c in channel_ids))


def forget_confirm(locale: LocaleLike) -> str:
    """``/forget-me``'s question."""
    return t(
        locale,
        "⚠️ This deletes everything the bot keeps about you, at once: your Apple Music link, your ratings still on "
        "their way to Apple Music, your link requests and the reminders it sent you. Ratings already in your Apple "
        "Music stay there. {export} first if you want a copy. Delete everything?",
        export=slash(locale, "export"),
    )


def forgotten(removed: bool, dropped: int, *, locale: LocaleLike) -> str:
    """The answer once ``/forget-me`` is confirmed."""
    if removed and dropped:
        return tn(
            locale,
            "🗑️ Done: the bot deleted your Apple Music link, {n} rating waiting to be sent, and everything else it "
            "kept about you. It no longer knows you.",
            "🗑️ Done: the bot deleted your Apple Music link, {n} ratings waiting to be sent, and everything else it "
            "kept about you. It no longer knows you.",
            dropped,
        )
    if removed:
        return t(
            locale,
            "🗑️ Done: the bot deleted your Apple Music link and everything else it kept about you. "
            "It no longer knows you.",
        )
    if dropped:
        return tn(
            locale,
            "🗑️ Done: the bot deleted {n} rating waiting to be sent and everything else it kept about you. "
            "It no longer knows you.",
            "🗑️ Done: the bot deleted {n} ratings waiting to be sent and everything else it kept about you. "
            "It no longer knows you.",
            dropped,
        )
    return t(locale, "🗑️ Done: the bot deleted everything it kept about you. It no longer knows you.")


def share_buttons_set(on: bool, changed: bool, *, locale: LocaleLike) -> str:
    """The answer to ``/ratings-admin share-buttons``."""
    share = slash(locale, "share")
    if on:
        if changed:
            return t(
                locale,
                "From now on, {share} cards in this server have Like and Dislike buttons besides 👍 👎.",
                share=share,
            )
        return t(locale, "{share} cards already have Like and Dislike buttons besides 👍 👎.", share=share)
    if changed:
        return t(
            locale, "From now on, {share} cards in this server have only the 👍 👎 reactions, no buttons.", share=share
        )
    return t(locale, "{share} cards already have only the 👍 👎 reactions, no buttons.", share=share)


def taste_named_set(on: bool, changed: bool, *, locale: LocaleLike) -> str:
    """The answer to ``/ratings name-me``."""
    if on:
        undo = slash(locale, "ratings name-me", setting="off")
        if changed:
            return t(
                locale,
                "From now on, you are named in this server's tops and recaps (for what you shared) and taste matches "
                "are on for you. {undo} stops it at any time.",
                undo=undo,
            )
        return t(
            locale,
            "Already so: you are named in this server's tops and recaps (for what you shared) and taste matches are "
            "on for you. {undo} stops it at any time.",
            undo=undo,
        )
    if changed:
        return t(
            locale,
            "From now on, you are not named in this server's tops, recaps or taste matches; your votes still count, "
            "unnamed.",
        )
    return t(
        locale,
        "Already so: you are not named in this server's tops, recaps or taste matches; your votes still count, "
        "unnamed.",
    )


def mixtape_joined(server: str, *, new: bool, linked: bool, locale: LocaleLike) -> str:
    """``/mixtape join``: joined (or already in), and whether a playlist can be made (it needs a link)."""
    if new:
        first = t(locale, "You joined the weekly mixtape of **{server}**.", server=server)
    else:
        first = t(locale, "You are already in **{server}**'s mixtape.", server=server)
    leave = slash(locale, "mixtape leave")
    if linked:
        then = t(
            locale,
            "Each week, a playlist of the songs liked most here that week is added to your Apple Music library. "
            "{leave} stops it.",
            leave=leave,
        )
    else:
        then = t(
            locale,
            "Your Apple Music is not linked yet, so no playlist can be made for you: link it with {link} and next "
            "week's mixtape is added to your library. {leave} stops it.",
            link=slash(locale, "link"),
            leave=leave,
        )
    return f"{first} {then}"


def mixtape_left(server: str, left: bool, *, locale: LocaleLike) -> str:
    if left:
        return t(
            locale,
            "You left **{server}**'s mixtape: no more weekly playlists from this server. Playlists already made stay "
            "in your library.",
            server=server,
        )
    return t(
        locale,
        "You are not in **{server}**'s mixtape. {join} adds you.",
        server=server,
        join=slash(locale, "mixtape join"),
    )


def recap_set(channel_id: int, weekday: int, hour: int, timezone: str, next_post: float, *, locale: LocaleLike) -> str:
    """The answer to ``/ratings-admin recap set`` (``weekday`` 0 = Monday): when the recap comes, and the first one
    (as Discord's timestamp, which each member reads in their own time)."""
    day = babel.dates.get_day_names("wide", locale=babel_locale(locale))[weekday]
    channel, first = f"<#{channel_id}>", f"<t:{int(next_post)}:F>"  # Discord shows them in the reader's own words
    at = f"{hour:02d}:00"
    return t(
        locale,
        "Every {weekday} at {time} ({timezone}), I will post the week's most liked songs in {channel}. The first one "
        "comes {first}. Members who did not choose to be named are counted, never named.",
        weekday=day,
        time=at,
        timezone=timezone,
        channel=channel,
        first=first,
    )


def recap_off(was_on: bool, *, locale: LocaleLike) -> str:
    """The answer to ``/ratings-admin recap off``."""
    if was_on:
        return t(locale, "The weekly recap is off: I will not post it any more.")
    return t(locale, "The weekly recap was already off.")
