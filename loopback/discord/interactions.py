"""Interactions the loopback Discord sends: slash commands, autocomplete, context menus, components, modals.

Discord only sends interactions for synced commands, so :class:`Interactions` keeps the application's commands
(``PUT``/``POST`` through :mod:`.routes`, or :meth:`Interactions.register_commands` as if a previous run had
synced) and refuses to send an unsynced one. ``send_command`` / ``send_autocomplete`` / ``send_user_command`` /
``send_message_command`` / ``send_component`` / ``send_modal_submit`` build the documented
INTERACTION_CREATE (options checked against the command's definition, USER/CHANNEL/ROLE values resolved) and
dispatch it to the shard of the guild (DMs → shard 0); each returns the :class:`InteractionRecord` the bot's
answers are recorded on (see :mod:`.responses`).

Who may use a command, as Discord decides before it sends anything: a global command's ``contexts`` (0 guild, 1 bot
DM, 2 private channel; unset: all, less DMs when ``dm_permission`` is false) and ``integration_types`` (0 guild
install, 1 user install; unset: the application's, both) must allow where it is run and how the app is installed
there; in a guild, the command permissions v2 overrides set by the server's admins
(:meth:`Interactions.set_command_permissions`, as Server Settings → Integrations does) and otherwise
``default_member_permissions`` must let the member use it. A refused ``send_*`` raises :class:`CommandUnavailable`
(Discord would not have shown the command). A command Discord still has in an older shape (a bot that has not synced
since) is :meth:`Interactions.register_commands` with that shape: interactions then carry its options.

Time: the record's ``dispatched_at`` is read from the server's :attr:`Interactions.clock` (``time.monotonic`` by
default). The first callback must come within :attr:`Interactions.interaction_deadline` (Discord: 3 s), follow-ups
within :attr:`Interactions.interaction_token_lifetime` (15 min). A test about those rules moves an injected clock,
or :meth:`Interactions.age_interaction`, instead of sleeping.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from loopback.discord.events import Events
from loopback.discord.model import JSON, Channel, Guild, InteractionRecord, InteractionType, Permissions
from loopback.discord.validation import validate_commands

#: ``attachment_size_limit`` of an INTERACTION_CREATE (bytes).
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
#: Where a global command is available when it does not say (``integration_types_config`` has both).
APP_INTEGRATION_TYPES = [0, 1]


class CommandUnavailable(LookupError):
    """Discord would not offer this command to this member here (contexts, installs or permissions)."""


class Interactions(Events):
    """Synced commands and the interactions users start (see the module docstring)."""

    def __init__(
        self,
        *,
        interaction_deadline: float,
        interaction_token_lifetime: float,
        **events: Any,
    ) -> None:
        super().__init__(**events)
        #: Interaction timing rules (seconds of :attr:`clock`).
        self.interaction_deadline = interaction_deadline
        self.interaction_token_lifetime = interaction_token_lifetime
        #: Command permissions v2: (guild id, command id or application id) → permission overwrites.
        self.command_permissions: dict[tuple[int, int], list[JSON]] = {}

    # ------------------------------------------------------------------------------------------- timing
    def age_interaction(self, interaction: InteractionRecord | int, seconds: float) -> None:
        """Pretend the interaction was dispatched ``seconds`` earlier (tests the 3 s / 15 min rules fast)."""
        rec = self._interaction(interaction)
        rec.dispatched_at -= seconds

    def _interaction(self, interaction: InteractionRecord | int) -> InteractionRecord:
        iid = interaction.id if isinstance(interaction, InteractionRecord) else interaction
        return self.interactions[iid]

    # --------------------------------------------------------------------------------------- synced commands
    def find_command(self, name: str, *, guild_id: int | None = None, type_: int = 1) -> JSON | None:
        """A synced command by name/type: the guild's first, then the global ones."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and int(command.get("type", 1)) == type_:
                    return command
        return None

    def register_commands(self, commands: list[JSON], guild_id: int | None = None) -> list[JSON]:
        """As if a previous run had bulk-overwritten these commands (no HTTP)."""
        errors = validate_commands(commands)
        if errors:
            raise ValueError(f"invalid commands: {errors.tree}")
        return self._overwrite_commands(commands, guild_id)

    # --------------------------------------------------------------------------- who may use a command
    def set_command_permissions(self, guild_id: int, command_id: int | None, permissions: list[JSON]) -> None:
        """What a server admin sets in Server Settings → Integrations (command permissions v2): overwrites
        ``{"id", "type": 1 role | 2 user | 3 channel, "permission": bool}`` for one command (its id) or, with
        ``command_id=None``, for every command of the application. The ``@everyone`` role's id is the guild's;
        "all channels" is ``guild_id - 1``."""
        self._guild(guild_id)
        key = command_id if command_id is not None else self.application_id
        self.command_permissions[(guild_id, key)] = [dict(p) for p in permissions]

    def _check_available(self, command: JSON, channel_id: int, user_id: int, installed_by_user: bool) -> None:
        channel = self.channels[channel_id]
        context, owners = self._interaction_context(channel, user_id, installed_by_user)
        name = command["name"]
        if command.get("guild_id") is None:
            contexts = command.get("contexts")
            if contexts is None:
                contexts = [0, 1, 2] if command.get("dm_permission", True) else [0]
            if context not in contexts:
                raise CommandUnavailable(f"{name!r} is not available in context {context} (contexts {contexts})")
            installs = command.get("integration_types") or APP_INTEGRATION_TYPES
            if not any(str(t) in owners for t in installs):
                raise CommandUnavailable(
                    f"{name!r} is for integration types {installs}; here the app is installed as {sorted(owners)}"
                )
        if channel.guild_id is not None and "0" in owners:
            if not self._member_may_use(command, self.guilds[channel.guild_id], channel.id, user_id):
                raise CommandUnavailable(f"{name!r}: this member may not use it in this server")

    def _member_may_use(self, command: JSON, guild: Guild, channel_id: int, user_id: int) -> bool:
        """Command permissions v2: channel overwrites, then user, then roles, then @everyone, first on the command,
        then on the application; with none, ``default_member_permissions``."""
        levels = [
            self.command_permissions.get((guild.id, int(command["id"])), []),
            self.command_permissions.get((guild.id, self.application_id), []),
        ]
        for overwrites in levels:
            channels = {int(p["id"]): bool(p["permission"]) for p in overwrites if p["type"] == 3}
            allowed = channels.get(channel_id, channels.get(guild.id - 1))
            if allowed is not None:
                if not allowed:
                    return False
                break
        member_roles = set(self._member(guild, user_id).role_ids)
        for overwrites in levels:
            users = {int(p["id"]): bool(p["permission"]) for p in overwrites if p["type"] == 2}
            if user_id in users:
                return users[user_id]
            roles = {int(p["id"]): bool(p["permission"]) for p in overwrites if p["type"] == 1}
            mine = [roles[r] for r in member_roles if r in roles]
            if mine:
                return any(mine)
            if guild.id in roles:
                return roles[guild.id]
        required = command.get("default_member_permissions")
        if required is None:
            return True
        return self.member_permissions(guild.id, user_id) & int(required) == int(required)

    def _interaction_context(self, channel: Channel, user_id: int, installed_by_user: bool) -> tuple[int, JSON]:
        """The interaction ``context`` and ``authorizing_integration_owners`` of a user acting in ``channel``."""
        guild = self.guilds[channel.guild_id] if channel.guild_id is not None else None
        if guild is not None:
            context = 0
        else:
            context = 1 if self.bot_user_id in channel.recipient_ids or user_id in channel.recipient_ids else 2
        owners: JSON = {}
        if guild is not None and self._bot_in(guild):
            owners["0"] = str(guild.id)
        elif guild is None and context == 1 and not installed_by_user:
            owners["0"] = "0"
        if installed_by_user:
            owners["1"] = str(user_id)
        return context, owners

    def _command_or_raise(self, name: str, guild_id: int | None, type_: int) -> JSON:
        command = self.find_command(name, guild_id=guild_id, type_=type_)
        if command is None:
            raise LookupError(
                f"command {name!r} (type {type_}) is not registered: Discord only sends interactions for "
                "synced commands (sync the tree or call register_commands first)"
            )
        return command

    def _registered_command(self, data: JSON) -> JSON:
        for commands in self.commands.values():
            for command in commands:
                if command["id"] == data["id"]:
                    return command
        raise LookupError(f"command {data.get('name')!r} ({data['id']}) is not registered")

    def _command_object(self, command: JSON, guild_id: int | None, command_id: int, version: int) -> JSON:
        ctype = int(command.get("type") or 1)
        obj: JSON = {
            "id": str(command_id),
            "application_id": str(self.application_id),
            "version": str(version),
            "default_member_permissions": command.get("default_member_permissions"),
            "type": ctype,
            "name": command["name"],
            "name_localizations": command.get("name_localizations"),
            "description": command.get("description", "") if ctype == 1 else "",
            "description_localizations": command.get("description_localizations"),
            "nsfw": bool(command.get("nsfw", False)),
            "integration_types": command.get("integration_types") or list(APP_INTEGRATION_TYPES),
            "contexts": command.get("contexts"),
        }
        if command.get("options"):
            obj["options"] = command["options"]
        if guild_id is not None:
            obj["guild_id"] = str(guild_id)
            obj.pop("contexts")
            obj.pop("integration_types")
        else:
            obj["dm_permission"] = command.get("dm_permission", True)
        return obj

    def _overwrite_commands(self, commands: list[JSON], guild_id: int | None) -> list[JSON]:
        existing = {(c["name"], c["type"]): int(c["id"]) for c in self.commands.get(guild_id, [])}
        version = self._ids.next()
        stored = [
            self._command_object(
                c, guild_id, existing.get((c["name"], int(c.get("type") or 1))) or self._ids.next(), version
            )
            for c in commands
        ]
        self.commands[guild_id] = stored
        return stored

    # ------------------------------------------------------------------------------------ sending interactions
    def _build_options(
        self, definitions: list[JSON], values: dict[str, Any], focused: str | None, resolved: JSON
    ) -> list[JSON]:
        by_name = {d["name"]: d for d in definitions}
        out: list[JSON] = []
        for name, value in values.items():
            definition = by_name.get(name)
            if definition is None:
                raise ValueError(f"unknown option {name!r}; known: {sorted(by_name)}")
            otype = int(definition["type"])
            choices = definition.get("choices")
            if choices and name != focused and value not in [c["value"] for c in choices]:
                raise ValueError(f"{value!r} is not a choice of option {name!r}")
            option: JSON = {"name": name, "type": otype, "value": value}
            if otype in (6, 7, 8, 9) and name != focused:
                option["value"] = str(value)
                self._resolve(otype, int(value), resolved)
            if name == focused:
                option["focused"] = True
            out.append(option)
        if focused is None:
            missing = [d["name"] for d in definitions if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"missing required options {missing}")
        return out

    def _resolve(self, otype: int, target: int, resolved: JSON, guild_id: int | None = None) -> None:
        if otype in (6, 9) and target in self.users:
            resolved.setdefault("users", {})[str(target)] = self.users[target].to_dict()
            if guild_id is not None and target in self.guilds[guild_id].members:
                member = self._member_payload(self.guilds[guild_id], target, with_user=False, permissions=True)
                resolved.setdefault("members", {})[str(target)] = member
        elif otype == 7 and target in self.channels:
            ch = self.channels[target]
            resolved.setdefault("channels", {})[str(target)] = {
                "id": str(ch.id),
                "type": ch.type,
                "name": ch.name,
                "permissions": str(Permissions.ALL),
            }
        elif otype in (8, 9) and guild_id is not None and target in self.guilds[guild_id].roles:
            resolved.setdefault("roles", {})[str(target)] = self.guilds[guild_id].roles[target].to_dict()

    def _command_data(self, name: str, channel_id: int, options: dict[str, Any] | None, focused: str | None) -> JSON:
        parts = name.split()
        guild_id = self.channels[channel_id].guild_id
        command = self._command_or_raise(parts[0], guild_id, 1)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1}
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        resolved: JSON = {}
        definitions: list[JSON] = command.get("options") or []
        # walk subcommand group / subcommand
        containers: list[JSON] = []
        for part in parts[1:]:
            match = next((d for d in definitions if d["name"] == part and d["type"] in (1, 2)), None)
            if match is None:
                raise ValueError(f"{part!r} is not a subcommand/group of {name!r}")
            containers.append({"name": part, "type": match["type"], "options": []})
            definitions = match.get("options") or []
        if any(d["type"] in (1, 2) for d in definitions):
            raise ValueError(f"{name!r} needs a subcommand")
        leaf = self._build_options(definitions, options or {}, focused, resolved)
        # re-resolve with guild context
        for option in leaf:
            if option["type"] in (6, 7, 8, 9) and not option.get("focused"):
                self._resolve(option["type"], int(option["value"]), resolved, guild_id)
        if containers:
            containers[-1]["options"] = leaf
            for outer, inner in zip(containers[-2::-1], containers[:0:-1], strict=False):
                outer["options"] = [inner]
            data["options"] = [containers[0]]
        elif leaf:
            data["options"] = leaf
        if resolved:
            data["resolved"] = resolved
        return data

    async def send_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        options: dict[str, Any] | None = None,
        *,
        installed_by_user: bool = False,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user runs a synced chat-input command. ``name`` may be ``"group sub"`` / ``"cmd sub"``;
        ``options`` maps leaf option names to values (USER/CHANNEL/ROLE ids are put in ``resolved``)."""
        data = self._command_data(name, channel_id, options, None)
        return await self.send_interaction(
            InteractionType.APPLICATION_COMMAND,
            user_id,
            channel_id,
            data,
            installed_by_user=installed_by_user,
            locale=locale,
        )

    async def send_autocomplete(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        options: dict[str, Any],
        focused: str,
        *,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user types in an autocomplete option (``focused``); other options are what they typed so far."""
        data = self._command_data(name, channel_id, options, focused)
        return await self.send_interaction(InteractionType.AUTOCOMPLETE, user_id, channel_id, data, locale=locale)

    async def send_user_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        target_user_id: int,
        *,
        installed_by_user: bool = False,
    ) -> InteractionRecord:
        """A user context menu on ``target_user_id`` (resolved as user and, in a guild, member)."""

        def resolved(guild_id: int | None) -> JSON:
            found: JSON = {}
            self._resolve(6, target_user_id, found, guild_id)
            return found

        return await self._send_context_menu(
            name, 2, user_id, channel_id, target_user_id, resolved, installed_by_user=installed_by_user
        )

    async def send_message_command(
        self,
        name: str,
        user_id: int,
        channel_id: int,
        target_message_id: int,
        *,
        installed_by_user: bool = False,
    ) -> InteractionRecord:
        """A message context menu; the target message keeps its content (Discord's intent exception)."""

        def resolved(_guild_id: int | None) -> JSON:
            target = self._message_in(channel_id, target_message_id)
            return {"messages": {str(target.id): self._message_payload(target)}}

        return await self._send_context_menu(
            name, 3, user_id, channel_id, target_message_id, resolved, installed_by_user=installed_by_user
        )

    async def _send_context_menu(
        self,
        name: str,
        type_: int,
        user_id: int,
        channel_id: int,
        target_id: int,
        resolve: Callable[[int | None], JSON],
        *,
        installed_by_user: bool,
    ) -> InteractionRecord:
        guild_id = self.channels[channel_id].guild_id
        command = self._command_or_raise(name, guild_id, type_)
        data: JSON = {
            "id": command["id"],
            "name": name,
            "type": type_,
            "target_id": str(target_id),
            "resolved": resolve(guild_id),
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return await self.send_interaction(
            InteractionType.APPLICATION_COMMAND,
            user_id,
            channel_id,
            data,
            installed_by_user=installed_by_user,
        )

    async def send_component(
        self,
        user_id: int,
        channel_id: int,
        message_id: int,
        custom_id: str,
        *,
        component_type: int | None = None,
        values: list[str] | None = None,
    ) -> InteractionRecord:
        """A user clicks a button / picks in a select of a stored message (the component must exist on it)."""
        msg = self._message_in(channel_id, message_id)
        component = _find_component(msg.components, custom_id)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        ctype = component_type or int(component.get("type", 2))
        data: JSON = {"custom_id": custom_id, "component_type": ctype}
        if component.get("id") is not None:
            data["id"] = component["id"]
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        return await self.send_interaction(
            InteractionType.MESSAGE_COMPONENT, user_id, channel_id, data, message_id=message_id
        )

    async def send_modal_submit(
        self, interaction: InteractionRecord | int, values: dict[str, Any], *, user_id: int | None = None
    ) -> InteractionRecord:
        """The user submits the modal the bot answered ``interaction`` with (callback type 9)."""
        rec = self._interaction(interaction)
        if rec.modal is None:
            raise ValueError(f"interaction {rec.id} was not answered with a modal")
        data: JSON = {
            "custom_id": rec.modal["custom_id"],
            "components": [_submitted(c, values) for c in rec.modal.get("components") or []],
        }
        return await self.send_interaction(
            InteractionType.MODAL_SUBMIT,
            user_id or rec.user_id,
            rec.channel_id,
            data,
            message_id=rec.source_message_id,
        )

    async def send_interaction(
        self,
        type_: int,
        user_id: int,
        channel_id: int,
        data: JSON,
        *,
        message_id: int | None = None,
        installed_by_user: bool = False,
        locale: str | None = None,
    ) -> InteractionRecord:
        """Build a complete INTERACTION_CREATE (every documented field) and dispatch it to the right shard
        (guild shard; DMs → shard 0). Returns the handle (id, token, records of what the bot did)."""
        channel = self.channels[channel_id]
        user = self._user(user_id)
        guild = self.guilds[channel.guild_id] if channel.guild_id is not None else None
        iid = self._ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        context, owners = self._interaction_context(channel, user_id, installed_by_user)
        if guild is not None:
            self._member(guild, user_id)
            # a user-installed app in a server without its bot acts with what @everyone may do there
            app_permissions = (
                self.member_permissions(guild.id, self.bot_user_id)
                if self._bot_in(guild)
                else guild.roles[guild.id].permissions
            )
        else:
            app_permissions = Permissions.DM
        if type_ in (InteractionType.APPLICATION_COMMAND, InteractionType.AUTOCOMPLETE):
            command = self._registered_command(data)
            self._check_available(command, channel_id, user_id, installed_by_user)
        channel_payload = self._channel_payload(channel)
        if guild is not None:
            channel_payload["permissions"] = str(self.member_permissions(guild.id, user_id))
        payload: JSON = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel_payload,
            "locale": locale or user.locale,
            "app_permissions": str(app_permissions),
            "entitlements": [],
            "authorizing_integration_owners": owners,
            "context": context,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            payload["guild"] = {"id": str(guild.id), "locale": guild.preferred_locale, "features": []}
            payload["guild_locale"] = guild.preferred_locale
            payload["member"] = self._member_payload(guild, user_id, permissions=True)
        else:
            payload["user"] = user.to_dict()
        if message_id is not None:
            payload["message"] = self._message_payload(self._message_in(channel_id, message_id))
        shard_sessions = self._sessions_for(guild.id if guild else None, None)
        if not shard_sessions:
            raise RuntimeError("no gateway session for this interaction's shard: is the client connected?")
        rec = InteractionRecord(
            iid,
            token,
            type_,
            self.application_id,
            user_id,
            channel.id,
            channel.guild_id,
            data,
            payload,
            shard_sessions[0].shard_id,
            source_message_id=message_id,
        )
        self.interactions[iid] = rec
        self._by_token[token] = rec
        await self._drain()
        rec.dispatched_at = self.clock()
        for session in shard_sessions:
            await self._dispatch(session, "INTERACTION_CREATE", payload)
        return rec


# ------------------------------------------------------------ component helpers
def _find_component(components: list[Any], custom_id: str) -> JSON | None:
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id:
            return component
        for key in ("components",):
            found = _find_component(component.get(key) or [], custom_id)
            if found is not None:
                return found
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                found = _find_component([child], custom_id)
                if found is not None:
                    return found
    return None


def _submitted(component: JSON, values: dict[str, Any]) -> JSON:
    """The modal-submit shape of one modal component, filled with the user's ``values`` by custom_id."""
    ctype = component.get("type")
    out: JSON = {"type": ctype}
    if component.get("id") is not None:
        out["id"] = component["id"]
    if ctype == 1:
        out["components"] = [_submitted(c, values) for c in component.get("components") or []]
    elif ctype == 18:
        out["component"] = _submitted(component["component"], values)
    elif ctype == 4:
        out["custom_id"] = component["custom_id"]
        out["value"] = str(values.get(component["custom_id"], component.get("value") or ""))
    elif ctype in (3, 5, 6, 7, 8):
        out["custom_id"] = component["custom_id"]
        value = values.get(component["custom_id"], [])
        out["values"] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out
