"""How the loopback Discord answers a bot's responses to interactions: callbacks, follow-ups, ``@original``.

* ``POST /interactions/{id}/{token}/callback`` (no bot auth): the first callback must arrive within
  ``interaction_deadline`` of the dispatch, on the server's clock, else 404 10062 "Unknown interaction"; a second
  is 400 40060; a callback type the interaction does not allow is 400 50035. Every callback, accepted or refused,
  is recorded (:attr:`Responses.callbacks`, and on the :class:`InteractionRecord`) with its ``elapsed`` time.
  ``?with_response=true`` answers the InteractionCallbackResponse (``{"interaction": ..., "resource": ...}``).
* ``/webhooks/{application_id}/{token}`` (no bot auth): follow-ups (the first one after a "thinking" defer
  replaces the loading message), and GET/PATCH/DELETE of ``@original`` and follow-up messages, for
  ``interaction_token_lifetime`` after the dispatch (then 401 50027), once the interaction is acknowledged (else
  10015).
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

from loopback.discord.model import (
    ALLOWED_CALLBACKS,
    JSON,
    CallbackRecord,
    CallbackType,
    InteractionRecord,
    InteractionType,
    Message,
    MessageFlags,
)
from loopback.discord.rest import Ctx, DiscordApiError, invalid_form, query_flag, unknown
from loopback.discord.routes import Routes
from loopback.discord.validation import FormErrors, validate_command_choices, validate_modal


class Responses(Routes):
    """Interaction callbacks and webhooks (see the module docstring)."""

    def __init__(self, **routes: Any) -> None:
        super().__init__(**routes)
        self.callbacks: list[CallbackRecord] = []

    # interaction callbacks ------------------------------------------------------------
    def _interaction_message_type(self, rec: InteractionRecord) -> int:
        if rec.type == InteractionType.APPLICATION_COMMAND:
            return 20 if int(rec.data.get("type", 1)) == 1 else 23
        return 0 if rec.type == InteractionType.MESSAGE_COMPONENT else 20

    def _interaction_message(self, rec: InteractionRecord, body: JSON, files: list[JSON], *, flags: int = 0) -> Message:
        channel = self.channels[rec.channel_id]
        msg = self._new_message(channel, self.bot_user_id, {}, type_=self._interaction_message_type(rec))
        msg.webhook_id = self.application_id
        msg.application_id = self.application_id
        msg.interaction_id = rec.id
        self._apply_body(msg, body, files, creating=True)
        msg.flags |= flags
        return msg

    async def _h_callback(self, ctx: Ctx) -> tuple[int, Any]:
        now = self.clock()
        try:
            iid = ctx.int_param("interaction_id")
        except ValueError:
            iid = 0
        rec = self.interactions.get(iid)
        body = ctx.body if isinstance(ctx.body, dict) else {}
        cb_type = body.get("type") if isinstance(body.get("type"), int) else None
        cb_data = body.get("data") if isinstance(body.get("data"), dict) else None
        with_response = query_flag(ctx.query.get("with_response"))
        cb = CallbackRecord(iid, cb_type, cb_data, now - rec.dispatched_at if rec else 0.0, 0, None, with_response)
        self.callbacks.append(cb)
        try:
            if rec is None or not hmac.compare_digest(rec.token.encode(), ctx.params["token"].encode()):
                raise unknown("interaction", 10062)
            rec.callbacks.append(cb)
            if rec.acknowledged:
                raise DiscordApiError(400, 40060, "Interaction has already been acknowledged.")
            if cb.elapsed > self.interaction_deadline:
                raise unknown("interaction", 10062)
            status, response = await self._accept_callback(rec, cb_type, cb_data or {}, ctx.files, with_response)
            cb.status = status
            return status, response
        except DiscordApiError as exc:
            cb.status, cb.error_code = exc.status, exc.code
            raise
        finally:
            self._notify()

    async def _accept_callback(
        self, rec: InteractionRecord, cb_type: int | None, data: JSON, files: list[JSON], with_response: bool
    ) -> tuple[int, Any]:
        errors = FormErrors()
        if cb_type is None:
            errors.add(["type"], "BASE_TYPE_REQUIRED", "This field is required")
            raise invalid_form(errors)
        if cb_type not in ALLOWED_CALLBACKS.get(rec.type, frozenset()) or (
            cb_type in (6, 7) and rec.source_message_id is None
        ):
            errors.add(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid")
            raise invalid_form(errors)
        message: Message | None = None
        if cb_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            self._check_message_body(data, files=files)
            message = self._interaction_message(rec, data, files)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = MessageFlags.LOADING | (int(data.get("flags") or 0) & MessageFlags.EPHEMERAL)
            message = self._interaction_message(rec, {}, [], flags=flags)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            rec.original_message_id = rec.source_message_id
        elif cb_type == CallbackType.UPDATE_MESSAGE:
            self._check_message_body(data, require_content=False)
            assert rec.source_message_id is not None
            message = self.messages[rec.source_message_id]
            self._apply_body(message, data, files, creating=False)
            message.edited_at = dt.datetime.now(dt.UTC)
            rec.original_message_id = message.id
        elif cb_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            errors = validate_command_choices(data)
            if errors:
                raise invalid_form(errors)
        elif cb_type == CallbackType.MODAL:
            errors = validate_modal(data)
            if errors:
                raise invalid_form(errors)
            rec.modal = data
        rec.response_type = cb_type
        if message is not None:
            event = "MESSAGE_UPDATE" if cb_type == CallbackType.UPDATE_MESSAGE else "MESSAGE_CREATE"
            await self._dispatch_message(event, message)
        if not with_response:
            return 204, None
        interaction: JSON = {"id": str(rec.id), "type": rec.type}
        response: JSON = {"interaction": interaction}
        if message is not None:
            interaction["response_message_id"] = str(message.id)
            interaction["response_message_loading"] = bool(message.flags & MessageFlags.LOADING)
            interaction["response_message_ephemeral"] = message.ephemeral
            response["resource"] = {"type": cb_type, "message": self._message_payload(message)}
        elif cb_type not in (
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
        ):
            response["resource"] = {"type": cb_type}
        return 200, response

    # webhooks (follow-ups, @original) --------------------------------------------------------------------
    def _webhook_interaction(self, ctx: Ctx) -> InteractionRecord:
        if ctx.params["webhook_id"] != str(self.application_id):
            raise unknown("Webhook", 10015)
        rec = self._by_token.get(ctx.params["token"])
        if rec is None or self.clock() - rec.dispatched_at > self.interaction_token_lifetime:
            raise DiscordApiError(401, 50027, "Invalid Webhook Token")
        return rec

    def _webhook_message(self, ctx: Ctx, rec: InteractionRecord) -> Message:
        target = ctx.params["message_id"]
        if target == "@original":
            mid = rec.original_message_id
        else:
            try:
                mid = int(target)
            except ValueError:
                mid = None
            if mid != rec.original_message_id and mid not in rec.followup_ids:
                mid = None
        msg = self.messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted:
            raise unknown("Message", 10008)
        return msg

    async def _h_followup(self, ctx: Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        if not rec.acknowledged:
            raise unknown("Webhook", 10015)
        body = ctx.json_object() if ctx.body is not None else {}
        self._check_message_body(body, files=ctx.files)
        original = self.messages.get(rec.original_message_id or 0)
        if (
            rec.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original.flags & MessageFlags.LOADING
            and not original.deleted
        ):
            # Discord: the first follow-up after a "thinking" defer replaces the loading message; its
            # ephemerality is the defer's.
            ephemeral = original.flags & MessageFlags.EPHEMERAL
            self._apply_body(original, body, ctx.files, creating=True)
            original.flags = (original.flags & ~(MessageFlags.LOADING | MessageFlags.EPHEMERAL)) | ephemeral
            rec.followup_ids.append(original.id)
            await self._dispatch_message("MESSAGE_UPDATE", original)
            msg = original
        else:
            msg = self._interaction_message(rec, body, ctx.files)
            rec.followup_ids.append(msg.id)
            await self._dispatch_message("MESSAGE_CREATE", msg)
        self._notify()
        if query_flag(ctx.query.get("wait")):
            return 200, self._message_payload(msg)
        return 204, None

    async def _h_webhook_get(self, ctx: Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        return 200, self._message_payload(self._webhook_message(ctx, rec))

    async def _h_webhook_edit(self, ctx: Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        msg = self._webhook_message(ctx, rec)
        body = ctx.json_object() if ctx.body is not None else {}
        self._check_message_body(body, require_content=False)
        was_loading = bool(msg.flags & MessageFlags.LOADING)
        self._apply_body(msg, body, ctx.files, creating=False)
        msg.flags &= ~MessageFlags.LOADING
        if not (msg.content or msg.embeds or msg.components or msg.attachments or msg.poll):
            raise DiscordApiError(400, 50006, "Cannot send an empty message")
        if not was_loading:
            msg.edited_at = dt.datetime.now(dt.UTC)
        if ctx.params["message_id"] == "@original" or msg.id == rec.original_message_id:
            rec.original_edits.append(body)
        await self._dispatch_message("MESSAGE_UPDATE", msg)
        self._notify()
        return 200, self._message_payload(msg)

    async def _h_webhook_delete(self, ctx: Ctx) -> tuple[int, Any]:
        rec = self._webhook_interaction(ctx)
        msg = self._webhook_message(ctx, rec)
        msg.deleted = True
        await self._dispatch_message("MESSAGE_DELETE", msg)
        return 204, None
