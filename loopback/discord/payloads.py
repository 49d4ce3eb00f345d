"""Discord's JSON for the world: members, channels, guilds, messages, the application.

:class:`Payloads` builds the documented REST/gateway shapes from :mod:`.world`'s records, with every field
discord.py reads (and the rest of what Discord sends). The gateway-only GUILD_CREATE shape, which depends on the
session's intents, is in :mod:`.gateway`.
"""

from __future__ import annotations

from loopback.discord.model import JSON, Channel, ChannelType, Guild, Intents, InteractionType, Message, iso
from loopback.discord.world import World


class Payloads(World):
    """The JSON builders (see the module docstring)."""

    def message_payload(self, message_id: int) -> JSON:
        """The REST representation of a stored message."""
        return self._message_payload(self.messages[message_id])

    def _member_payload(self, guild: Guild, user_id: int, *, with_user: bool = True, permissions: bool = False) -> JSON:
        member = guild.members[user_id]
        data: JSON = {
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.role_ids],
            "joined_at": iso(member.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_user:
            data["user"] = self.users[user_id].to_dict()
        if permissions:
            data["permissions"] = str(self.member_permissions(guild.id, user_id))
        return data

    def _channel_payload(self, channel: Channel) -> JSON:
        if channel.type == 1:
            return {
                "id": str(channel.id),
                "type": 1,
                "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
                "recipients": [self.users[u].to_dict() for u in channel.recipient_ids],
                "flags": 0,
            }
        data: JSON = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(channel.guild_id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [dict(o) for o in channel.overwrites],
            "nsfw": False,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "flags": 0,
        }
        if channel.type == ChannelType.GUILD_CATEGORY:
            return data
        data["last_message_id"] = str(channel.last_message_id) if channel.last_message_id else None
        data["rate_limit_per_user"] = 0
        if channel.type == ChannelType.GUILD_VOICE:
            data.update({"bitrate": 64000, "user_limit": 0, "rtc_region": None, "video_quality_mode": 1})
        else:
            data["topic"] = None
        return data

    def _voice_state_payload(self, guild: Guild, user_id: int) -> JSON:
        """A member's voice state as GUILD_CREATE lists it (without ``guild_id``)."""
        return {
            "channel_id": str(guild.voice_states[user_id]),
            "user_id": str(user_id),
            "session_id": f"{user_id:x}",
            "deaf": False,
            "mute": False,
            "self_deaf": False,
            "self_mute": False,
            "self_video": False,
            "suppress": False,
            "request_to_speak_timestamp": None,
        }

    def _guild_payload(self, guild: Guild) -> JSON:
        system_channel = guild.channel_ids[0] if guild.channel_ids else None
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_dict() for role in guild.roles.values()],
            "emojis": [emoji.to_dict() for emoji in guild.emojis.values()],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": str(system_channel) if system_channel else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "public_updates_channel_id": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "stickers": [],
            "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None,
            "incidents_data": None,
        }

    def _message_payload(self, msg: Message, *, strip_content: bool = False, gateway: bool = False) -> JSON:
        author = self.users[msg.author_id]
        data: JSON = {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "type": msg.type,
            "content": msg.content,
            "author": author.to_dict(),
            "attachments": list(msg.attachments),
            "embeds": list(msg.embeds),
            "mentions": [self.users[u].to_dict() for u in msg.mention_ids if u in self.users],
            "mention_roles": [],
            "mention_everyone": msg.mention_everyone,
            "pinned": False,
            "tts": msg.tts,
            "timestamp": iso(msg.created_at),
            "edited_timestamp": iso(msg.edited_at) if msg.edited_at else None,
            "flags": msg.flags,
            "components": list(msg.components),
        }
        if msg.reactions:
            data["reactions"] = [
                {
                    "count": len(r.user_ids),
                    "count_details": {"burst": 0, "normal": len(r.user_ids)},
                    "me": self.bot_user_id in r.user_ids,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": dict(r.emoji),
                }
                for r in msg.reactions.values()
                if r.user_ids
            ]
        if msg.webhook_id is not None:
            data["webhook_id"] = str(msg.webhook_id)
        if msg.application_id is not None:
            data["application_id"] = str(msg.application_id)
        if msg.interaction_id is not None and msg.interaction_id in self.interactions:
            rec = self.interactions[msg.interaction_id]
            user = self.users[rec.user_id].to_dict()
            owners = rec.payload.get("authorizing_integration_owners", {})
            data["interaction_metadata"] = {
                "id": str(rec.id),
                "type": rec.type,
                "user": user,
                "authorizing_integration_owners": owners,
            }
            if rec.type == InteractionType.APPLICATION_COMMAND:
                data["interaction_metadata"]["name"] = rec.data.get("name")
                data["interaction"] = {
                    "id": str(rec.id),
                    "type": rec.type,
                    "name": rec.data.get("name"),
                    "user": user,
                }
        if msg.message_reference is not None:
            data["message_reference"] = msg.message_reference
            ref_id = int(msg.message_reference.get("message_id") or 0)
            ref = self.messages.get(ref_id)
            data["referenced_message"] = (
                self._message_payload(ref, strip_content=strip_content) if ref and not ref.deleted else None
            )
        if msg.poll is not None:
            data["poll"] = msg.poll
        if msg.nonce is not None:
            data["nonce"] = msg.nonce
        if gateway and msg.guild_id is not None:
            data["guild_id"] = str(msg.guild_id)
            guild = self.guilds[msg.guild_id]
            if msg.author_id in guild.members and msg.webhook_id is None:
                data["member"] = self._member_payload(guild, msg.author_id, with_user=False)
        if strip_content:
            data.update({"content": "", "embeds": [], "attachments": [], "components": []})
            data.pop("poll", None)
        return data

    def _application_payload(self) -> JSON:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & Intents.GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & Intents.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & Intents.MESSAGE_CONTENT:
            flags |= 1 << 19
        bot = self.users[self.bot_user_id]
        return {
            "id": str(self.application_id),
            "name": bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": self.verify_key,
            "owner": self.users[self.app_owner_id].to_dict(),
            "flags": flags,
            "team": None,
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "tags": [],
            "integration_types_config": {"0": {}, "1": {}},
            "approximate_guild_count": sum(1 for g in self.guilds.values() if self._bot_in(g)),
            "approximate_user_install_count": 0,
            "bot": bot.to_dict(),
        }
